import { Type } from 'typebox';
import * as S from '../schemas.js';
import { type RouteDef } from './route-def.js';

/** Secrets: sealed values exposed to sandboxes. */
export const secretRoutes = {
  listSecrets: { method: 'GET', url: '/api/v1/secrets', summary: 'Your secrets, names only.', reply: Type.Array(S.Secret) },
  setSecret: {
    method: 'PUT',
    url: '/api/v1/secrets/:name',
    summary: 'Set a secret; its value is sealed at rest and never shown again.',
    params: S.SecretParams,
    body: S.SetSecret,
    reply: S.Secret,
  },
  removeSecret: { method: 'DELETE', url: '/api/v1/secrets/:name', summary: 'Remove a secret.', params: S.SecretParams, status: 204 },
} as const satisfies Record<string, RouteDef>;
