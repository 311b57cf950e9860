import { Type } from 'typebox';
import * as S from '../schemas.js';
import { LONG_MS, type RouteDef } from './route-def.js';

/** The fleet: hosts added over SSH, and where a snapshot may be restored. */
export const hostRoutes = {
  listHosts: { method: 'GET', url: '/api/v1/hosts', summary: 'The fleet: this machine ("local") and the hosts added over SSH.', reply: Type.Array(S.Host) },
  addHost: {
    method: 'POST',
    url: '/api/v1/hosts',
    summary: 'Add a host over SSH: pins its host key, checks it can run and checkpoint sandboxes, records its fingerprint (admin).',
    body: S.AddHost,
    reply: S.Host,
    status: 201,
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  getHost: { method: 'GET', url: '/api/v1/hosts/:name', summary: 'One host with its fingerprint.', params: S.NameParams, reply: S.Host },
  checkHost: {
    method: 'POST',
    url: '/api/v1/hosts/:name/check',
    summary: 'Reconnect (pinned key) and refresh the fingerprint (admin).',
    params: S.NameParams,
    reply: S.Host,
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  removeHost: { method: 'DELETE', url: '/api/v1/hosts/:name', summary: 'Forget a host; refused while it has sandboxes (admin).', params: S.NameParams, status: 204, auth: 'admin' },
  snapshotHosts: {
    method: 'GET',
    url: '/api/v1/snapshots/:name/hosts',
    summary: 'Every host with the compatibility gate’s verdict for restoring this snapshot there, and every reason when not.',
    params: S.NameParams,
    reply: Type.Array(S.HostVerdict),
  },
} as const satisfies Record<string, RouteDef>;
