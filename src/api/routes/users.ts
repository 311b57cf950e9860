import { Type } from 'typebox';
import * as S from '../schemas.js';
import { type RouteDef } from './route-def.js';

/** Liveness, who you are, the web sign-in session, and users (admin). */
export const userRoutes = {
  health: { method: 'GET', url: '/api/v1/health', summary: 'Liveness; needs no key.', reply: S.Health, auth: 'none' },
  whoami: { method: 'GET', url: '/api/v1/whoami', summary: 'The user the API key belongs to.', reply: S.WhoAmI },
  createSession: {
    method: 'POST',
    url: '/api/v1/session',
    summary:
      'Sign in with an API key (the web dashboard): sets an HttpOnly, SameSite=Strict session cookie; calls that change state with it need header X-Bothub-CSRF: <csrfToken>.',
    body: S.CreateSession,
    reply: S.WebSession,
    auth: 'none',
  },
  getSession: { method: 'GET', url: '/api/v1/session', summary: 'The signed-in session, with its CSRF token.', reply: S.WebSession },
  deleteSession: { method: 'DELETE', url: '/api/v1/session', summary: 'Sign out: ends the session and clears its cookie.', status: 204 },
  listUsers: { method: 'GET', url: '/api/v1/users', summary: 'List users (admin).', reply: Type.Array(S.User), auth: 'admin' },
  createUser: {
    method: 'POST',
    url: '/api/v1/users',
    summary: 'Create a user; the reply holds its API key, shown once (admin).',
    body: S.CreateUser,
    reply: S.UserKey,
    status: 201,
    auth: 'admin',
  },
  rotateUserKey: {
    method: 'POST',
    url: '/api/v1/users/:name/rotate-key',
    summary: "Replace a user's API key; the old one stops working (admin).",
    params: S.NameParams,
    reply: S.UserKey,
    auth: 'admin',
  },
  setUserQuota: {
    method: 'PUT',
    url: '/api/v1/users/:name/quota',
    summary: "Change a user's quota; sandboxes already past a lowered limit keep running, and what would take more is refused (admin).",
    params: S.NameParams,
    body: S.SetUserQuota,
    reply: S.User,
    auth: 'admin',
  },
  removeUser: {
    method: 'DELETE',
    url: '/api/v1/users/:name',
    summary: 'Remove a user; refused while it owns sandboxes unless ?force=true (admin).',
    params: S.NameParams,
    query: S.RemoveUserQuery,
    status: 204,
    auth: 'admin',
  },
} as const satisfies Record<string, RouteDef>;
