import { Type } from 'typebox';
import * as S from '../schemas.js';
import { LONG_MS, type RouteDef } from './route-def.js';

/** Sandboxes: create, inspect, stop, start, destroy, and cool down or wake. */
export const sandboxRoutes = {
  listSandboxes: { method: 'GET', url: '/api/v1/sandboxes', summary: 'List sandboxes.', reply: Type.Array(S.Sandbox) },
  createSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes',
    summary: 'Create and start a sandbox; answers once it is ready to exec.',
    body: S.CreateSandbox,
    reply: S.Sandbox,
    status: 201,
    timeoutMs: LONG_MS,
  },
  getSandbox: { method: 'GET', url: '/api/v1/sandboxes/:name', summary: 'Inspect a sandbox.', params: S.NameParams, reply: S.Sandbox },
  stopSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/stop', summary: 'Stop every process; the files stay.', params: S.NameParams, reply: S.Sandbox },
  startSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/start', summary: 'Start a stopped sandbox.', params: S.NameParams, reply: S.Sandbox, timeoutMs: LONG_MS },
  destroySandbox: { method: 'DELETE', url: '/api/v1/sandboxes/:name', summary: 'Remove a sandbox and everything it holds.', params: S.NameParams, status: 204 },
  pauseSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/pause', summary: 'Freeze in place (warm): no CPU, memory kept.', params: S.NameParams, reply: S.Sandbox },
  resumeSandbox: { method: 'POST', url: '/api/v1/sandboxes/:name/resume', summary: 'Wake a warm or cold sandbox.', params: S.NameParams, reply: S.Sandbox, timeoutMs: LONG_MS },
  freezeSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/freeze',
    summary: 'Put to disk now (cold): processes gone, memory free; the next request wakes it.',
    params: S.NameParams,
    reply: S.Sandbox,
    timeoutMs: LONG_MS,
  },
} as const satisfies Record<string, RouteDef>;
