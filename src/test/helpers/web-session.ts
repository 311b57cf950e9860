import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { EventT, WebSessionT } from '../../api/index.js';

/** The dashboard's way in: a session cookie from an API key, its CSRF token, and sockets that keep what they received. */
export interface SignedIn {
  cookie: string;
  session: WebSessionT;
  setCookie: string;
}

export async function signIn(t: { url: string }, key: string): Promise<SignedIn> {
  const res = await fetch(`${t.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: key }) });
  assert.equal(res.status, 200, await res.clone().text());
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('bothub_session='));
  assert.ok(setCookie, 'sign-in sets the session cookie');
  return { cookie: setCookie.split(';')[0]!, session: (await res.json()) as WebSessionT, setCookie };
}

/** A request made the way the dashboard makes it: the cookie, and the CSRF header when given. */
export function withCookie(t: { url: string }, s: SignedIn, path: string, init: { method?: string; body?: unknown; csrf?: string } = {}): Promise<Response> {
  return fetch(`${t.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      cookie: s.cookie,
      ...(init.csrf ? { 'x-bothub-csrf': init.csrf } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

/** What each test socket received, collected from the start: the first messages may come in the same read as the upgrade. */
const received = new WeakMap<WebSocket, unknown[]>();

/** Opens a WebSocket; resolves with it open, or with the HTTP status it was refused with. */
export function openSocket(url: string, headers: Record<string, string>): Promise<WebSocket | number> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
  const messages: unknown[] = [];
  received.set(ws, messages);
  ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString())));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
}

export const collect = <T = EventT>(ws: WebSocket) => received.get(ws) as T[];
