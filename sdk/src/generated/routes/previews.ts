// GENERATED from src/api/routes/previews.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type } from 'typebox';
import * as S from '../schemas.js';
import { type RouteDef } from './route-def.js';

/** Preview URLs of sandbox ports and share links to them. */
export const previewRoutes = {
  publish: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/publish',
    summary: 'Serve a port of the sandbox at a preview URL.',
    params: S.NameParams,
    body: S.Publish,
    reply: S.Sandbox,
  },
  unpublish: { method: 'DELETE', url: '/api/v1/sandboxes/:name/publish/:port', summary: 'Stop serving a port.', params: S.PortParams, reply: S.Sandbox },
  createShare: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/shares',
    summary: 'A signed, expiring, revocable link to a private preview.',
    params: S.NameParams,
    body: S.CreateShare,
    reply: S.ShareLink,
    status: 201,
  },
  listShares: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/shares',
    summary: "A sandbox's share links (the tokens are not shown again).",
    params: S.NameParams,
    reply: Type.Array(S.Share),
  },
  revokeShare: { method: 'DELETE', url: '/api/v1/shares/:id', summary: 'Revoke a share link.', params: S.ShareParams, status: 204 },
} as const satisfies Record<string, RouteDef>;
