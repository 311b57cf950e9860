import type { Routes } from '../../../src/api/routes.js';

/**
 * The routes the dashboard calls, by their names in the daemon's route table.
 * `satisfies` checks each method and URL against that table at build time, so
 * the dashboard cannot drift from the daemon without failing to compile.
 */
export const ROUTES = {
  whoami: { method: 'GET', url: '/api/v1/whoami' },
  createSession: { method: 'POST', url: '/api/v1/session' },
  getSession: { method: 'GET', url: '/api/v1/session' },
  deleteSession: { method: 'DELETE', url: '/api/v1/session' },
  eventsStream: { method: 'GET', url: '/api/v1/events/ws' },
  sandboxStatsStream: { method: 'GET', url: '/api/v1/sandboxes/:name/stats/ws' },
  listUsers: { method: 'GET', url: '/api/v1/users' },
  createUser: { method: 'POST', url: '/api/v1/users' },
  rotateUserKey: { method: 'POST', url: '/api/v1/users/:name/rotate-key' },
  removeUser: { method: 'DELETE', url: '/api/v1/users/:name' },
  listSecrets: { method: 'GET', url: '/api/v1/secrets' },
  setSecret: { method: 'PUT', url: '/api/v1/secrets/:name' },
  removeSecret: { method: 'DELETE', url: '/api/v1/secrets/:name' },
  listSandboxes: { method: 'GET', url: '/api/v1/sandboxes' },
  createSandbox: { method: 'POST', url: '/api/v1/sandboxes' },
  getSandbox: { method: 'GET', url: '/api/v1/sandboxes/:name' },
  stopSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/stop' },
  startSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/start' },
  destroySandbox: { method: 'DELETE', url: '/api/v1/sandboxes/:name' },
  pauseSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/pause' },
  resumeSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/resume' },
  freezeSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/freeze' },
  listEvents: { method: 'GET', url: '/api/v1/events' },
  publish: { method: 'POST', url: '/api/v1/sandboxes/:name/publish' },
  unpublish: { method: 'DELETE', url: '/api/v1/sandboxes/:name/publish/:port' },
  createShare: { method: 'POST', url: '/api/v1/sandboxes/:name/shares' },
  listShares: { method: 'GET', url: '/api/v1/sandboxes/:name/shares' },
  revokeShare: { method: 'DELETE', url: '/api/v1/shares/:id' },
  execStream: { method: 'GET', url: '/api/v1/sandboxes/:name/exec/ws' },
  logs: { method: 'GET', url: '/api/v1/sandboxes/:name/logs' },
  startExec: { method: 'POST', url: '/api/v1/sandboxes/:name/execs' },
  listExecs: { method: 'GET', url: '/api/v1/sandboxes/:name/execs' },
  killExec: { method: 'POST', url: '/api/v1/sandboxes/:name/execs/:id/kill' },
  execLogs: { method: 'GET', url: '/api/v1/sandboxes/:name/execs/:id/logs' },
  attachExec: { method: 'GET', url: '/api/v1/sandboxes/:name/execs/:id/attach' },
  listFiles: { method: 'GET', url: '/api/v1/sandboxes/:name/files/list' },
  readFile: { method: 'GET', url: '/api/v1/sandboxes/:name/files/content' },
  writeFile: { method: 'PUT', url: '/api/v1/sandboxes/:name/files/content' },
  getArchive: { method: 'GET', url: '/api/v1/sandboxes/:name/archive' },
  listHosts: { method: 'GET', url: '/api/v1/hosts' },
  snapshotHosts: { method: 'GET', url: '/api/v1/snapshots/:name/hosts' },
  createSnapshot: { method: 'POST', url: '/api/v1/sandboxes/:name/snapshots' },
  listSnapshots: { method: 'GET', url: '/api/v1/snapshots' },
  deleteSnapshot: { method: 'DELETE', url: '/api/v1/snapshots/:name' },
  restoreSnapshot: { method: 'POST', url: '/api/v1/snapshots/:name/restore' },
  moveSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/move' },
} as const satisfies { [K in keyof Routes]?: Pick<Routes[K], 'method' | 'url'> };

export type UsedRoute = keyof typeof ROUTES;
