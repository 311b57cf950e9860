import * as S from '../schemas.js';
import { type RouteDef } from './route-def.js';

/** What a host can do, and whether the records agree with what runs. */
export const doctorRoutes = {
  doctorConsistency: {
    method: 'GET',
    url: '/api/v1/doctor/consistency',
    summary:
      'Compares the records with what runs on each host: containers, mounts, network namespaces, veths, cgroups, rules, directories and snapshot files; one entry per problem, with what to do (admin).',
    query: S.ConsistencyQuery,
    reply: S.ConsistencyReport,
    auth: 'admin',
  },
  doctor: { method: 'GET', url: '/api/v1/doctor', summary: 'What this host can do: kernel, runc, CRIU, capabilities, snapshots.', reply: S.Doctor },
} as const satisfies Record<string, RouteDef>;
