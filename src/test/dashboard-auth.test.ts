import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ApiClient, WebSessionT } from '../api/index.js';
import { parseApiKey } from '../core/index.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';
import { until } from './helpers/sandbox.js';
import { collect, openSocket, signIn, withCookie } from './helpers/web-session.js';

/**
 * The dashboard's sign-in, sessions, CSRF, socket origins, live events and
 * static pages, against a daemon on the fake runtime (no root, no bridge):
 * what is checked is the API's rules, not what a sandbox does. Its HTTP goes
 * over the daemon's loopback port, as a browser's does: cookies, Origin and
 * WebSocket upgrades are the point.
 */
describe('dashboard API: sessions, CSRF and pages', () => {
  let t: InjectDaemon;
  let webDir: string;
  let aliceKey: string;
  let bobKey: string;
  let alice: ApiClient;
  before(async () => {
    webDir = mkdtempSync(join(tmpdir(), 'bothub-web-'));
    t = await startInjectDaemon({ webDir });
    aliceKey = (await t.api.call('createUser', { body: { name: 'alice' } })).key;
    bobKey = (await t.api.call('createUser', { body: { name: 'bob' } })).key;
    alice = t.as(aliceKey);
  });
  after(async () => {
    await t.cleanup();
    rmSync(webDir, { recursive: true, force: true });
  });

  it('sign-in sets an HttpOnly, SameSite=Strict cookie that is not the key; the key is never echoed; a wrong key is refused', async () => {
    const s = await signIn(t, aliceKey);
    assert.match(s.setCookie, /; HttpOnly/i);
    assert.match(s.setCookie, /; SameSite=Strict/i);
    assert.match(s.setCookie, /; Path=\//i);
    assert.doesNotMatch(s.setCookie, /; Secure/i, 'plain http: no Secure flag');
    assert.ok(!s.setCookie.includes(aliceKey) && !s.cookie.includes(parseApiKey(aliceKey)!.secret), 'the cookie is not the key');
    assert.deepEqual(s.session.user, { name: 'alice', admin: false });
    assert.ok(!JSON.stringify(s.session).includes(aliceKey), 'the reply does not echo the key');
    assert.ok(s.session.csrfToken.length >= 32);
    const wrong = await fetch(`${t.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'bh_aaaaaaaaaaaa_bbbb' }),
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.getSetCookie().length, 0);
  });


  it('the cookie authenticates GETs; a call that changes state needs the CSRF header (403 without, or with a wrong one)', async () => {
    const s = await signIn(t, aliceKey);
    const me = await withCookie(t, s, '/api/v1/whoami');
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), { name: 'alice', admin: false });
    const again = (await (await withCookie(t, s, '/api/v1/session')).json()) as WebSessionT;
    assert.equal(again.csrfToken, s.session.csrfToken);

    const bare = await withCookie(t, s, '/api/v1/secrets/DASH_SECRET', { method: 'PUT', body: { value: 'v' } });
    assert.equal(bare.status, 403);
    const refusal = (await bare.json()) as { code: string; message: string };
    assert.equal(refusal.code, 'FORBIDDEN');
    assert.match(refusal.message, /X-Bothub-CSRF/);
    const wrong = await withCookie(t, s, '/api/v1/secrets/DASH_SECRET', { method: 'PUT', body: { value: 'v' }, csrf: 'x'.repeat(32) });
    assert.equal(wrong.status, 403);
    const ok = await withCookie(t, s, '/api/v1/secrets/DASH_SECRET', { method: 'PUT', body: { value: 'v' }, csrf: s.session.csrfToken });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(
      (await alice.call('listSecrets')).map((x) => x.name),
      ['DASH_SECRET'],
    );
    // Another session's token is not this one's.
    const other = await signIn(t, aliceKey);
    assert.equal((await withCookie(t, s, '/api/v1/secrets/DASH_SECRET', { method: 'DELETE', csrf: other.session.csrfToken })).status, 403);
  });


  it("a WebSocket with the cookie must come from the daemon's own origin", async () => {
    const s = await signIn(t, aliceKey);
    const url = `${t.url}/api/v1/events/ws`;
    assert.equal(await openSocket(url, { cookie: s.cookie, origin: 'http://evil.example' }), 403);
    assert.equal(await openSocket(url, { cookie: s.cookie }), 403, 'no Origin at all');
    const ws = await openSocket(url, { cookie: s.cookie, origin: t.url });
    assert.ok(ws instanceof WebSocket, 'same origin opens');
    ws.close();
    // Bearer callers (the CLI, SDKs) are not browsers: unchanged.
    const bearer = await openSocket(url, { authorization: `Bearer ${aliceKey}` });
    assert.ok(bearer instanceof WebSocket);
    bearer.close();
  });


  it('sign-out ends the session and clears the cookie', async () => {
    const s = await signIn(t, aliceKey);
    const live = await openSocket(`${t.url}/api/v1/events/ws`, { cookie: s.cookie, origin: t.url });
    assert.ok(live instanceof WebSocket);
    const closed = new Promise<number>((resolve) => live.once('close', resolve));
    assert.equal((await withCookie(t, s, '/api/v1/session', { method: 'DELETE' })).status, 403, 'sign-out is a change too: it needs the CSRF header');
    const out = await withCookie(t, s, '/api/v1/session', { method: 'DELETE', csrf: s.session.csrfToken });
    assert.equal(out.status, 204);
    assert.match(out.headers.getSetCookie().join('\n'), /bothub_session=;.*Expires=Thu, 01 Jan 1970/i);
    // Its open sockets close with it.
    assert.equal(await closed, 1008);
    assert.deepEqual(
      collect<{ type: string; code: string }>(live).map((m) => [m.type, m.code]),
      [['error', 'UNAUTHORIZED']],
    );
    const after = await withCookie(t, s, '/api/v1/whoami');
    assert.equal(after.status, 401);
    assert.match(((await after.json()) as { message: string }).message, /sign in again/);
  });


  it("rotating a user's key, or removing the user, ends their sessions", async () => {
    const s = await signIn(t, bobKey);
    assert.equal((await withCookie(t, s, '/api/v1/whoami')).status, 200);
    bobKey = (await t.api.call('rotateUserKey', { params: { name: 'bob' } })).key;
    assert.equal((await withCookie(t, s, '/api/v1/whoami')).status, 401);
    const fresh = await signIn(t, bobKey);
    assert.equal((await withCookie(t, fresh, '/api/v1/whoami')).status, 200);
    const carolKey = (await t.api.call('createUser', { body: { name: 'carol' } })).key;
    const carol = await signIn(t, carolKey);
    await t.api.call('removeUser', { params: { name: 'carol' }, query: {} });
    assert.equal((await withCookie(t, carol, '/api/v1/whoami')).status, 401);
    const left = await t.daemon.db
      .selectFrom('web_sessions')
      .innerJoin('users', 'users.id', 'web_sessions.user_id')
      .select('users.name')
      .where('users.name', '=', 'carol')
      .execute();
    assert.equal(left.length, 0, "a removed user's sessions are gone from the database");
  });


  it('the events socket sends a create and a destroy live, only to whom may see them, and the backlog after an id', async () => {
    const s = await signIn(t, aliceKey);
    const aliceWs = await openSocket(`${t.url}/api/v1/events/ws`, { cookie: s.cookie, origin: t.url });
    const bobWs = await openSocket(`${t.url}/api/v1/events/ws`, { authorization: `Bearer ${bobKey}` });
    assert.ok(aliceWs instanceof WebSocket && bobWs instanceof WebSocket);
    const seen = collect(aliceWs);
    const bobSeen = collect(bobWs);
    await alice.call('createSandbox', { body: { name: 'dash-live' } });
    const created = await until('the created event', async () => seen.find((e) => e.sandbox === 'dash-live' && e.type === 'created'));
    await until('the running event', async () => seen.find((e) => e.sandbox === 'dash-live' && e.type === 'running'));
    await alice.call('destroySandbox', { params: { name: 'dash-live' } });
    await until('the destroyed event', async () => seen.find((e) => e.sandbox === 'dash-live' && e.type === 'destroyed'));
    const ids = seen.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'in order',
    );
    assert.equal(new Set(ids).size, ids.length, 'each once');

    // Bob's first event is his own: none of alice's came before it.
    await t.as(bobKey).call('createSandbox', { body: { name: 'dash-bob' } });
    const first = await until("bob's first event", async () => bobSeen[0]);
    assert.equal(first.sandbox, 'dash-bob');
    assert.ok(!bobSeen.some((e) => e.sandbox === 'dash-live'));
    aliceWs.close();
    bobWs.close();

    // Reconnecting with ?after= sends what was missed, the same events in the same order.
    const replay = await openSocket(`${t.url}/api/v1/events/ws?sandbox=dash-live&after=${created.id - 1}`, { authorization: `Bearer ${aliceKey}` });
    assert.ok(replay instanceof WebSocket);
    const again = collect(replay);
    const types = seen.filter((e) => e.sandbox === 'dash-live').map((e) => e.type);
    await until('the backlog', async () => (again.length >= types.length ? true : undefined));
    assert.deepEqual(
      again.map((e) => e.type),
      types,
    );
    replay.close();
    await t.as(bobKey).call('destroySandbox', { params: { name: 'dash-bob' } });
  });


  it('failed sign-ins count toward the failed-auth limit (429), which then holds for Bearer calls too', async () => {
    const limited = await startInjectDaemon({ authMaxFailures: 2 });
    try {
      const key = limited.adminKey;
      const attempt = (token: string) =>
        fetch(`${limited.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      assert.equal((await attempt('bh_aaaaaaaaaaaa_nope')).status, 401);
      assert.equal((await attempt('bh_aaaaaaaaaaaa_nope')).status, 401);
      const blocked = await attempt(key);
      assert.equal(blocked.status, 429, 'even the right key waits out the window');
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      assert.equal((await fetch(`${limited.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).status, 429);
    } finally {
      await limited.cleanup();
    }
  });


  it('serves the dashboard at / (index.html for app paths, long cache for hashed assets, a strict CSP), and says how to build it when absent', async () => {
    const missing = await fetch(`${t.url}/`);
    assert.equal(missing.status, 200);
    assert.match(await missing.text(), /npm run build:web/);

    writeFileSync(join(webDir, 'index.html'), '<!doctype html><script type="module" src="/assets/app-1a2b3c.js"></script>');
    mkdirSync(join(webDir, 'assets'));
    writeFileSync(join(webDir, 'assets', 'app-1a2b3c.js'), 'console.log("hi")');
    const index = await fetch(`${t.url}/`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /app-1a2b3c\.js/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'.*connect-src 'self' ws: wss:/);
    // Scripts only from the daemon, never inline (xterm.js's run-time <style> elements are the one inline thing allowed).
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self';/);
    assert.doesNotMatch(index.headers.get('content-security-policy') ?? '', /script-src[^;]*unsafe-inline/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const page = await fetch(`${t.url}/sandboxes/some-box`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /app-1a2b3c\.js/, 'a client-side route gets index.html');
    const asset = await fetch(`${t.url}/assets/app-1a2b3c.js`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.match(asset.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/);
    assert.equal((await fetch(`${t.url}/assets/missing-0000.js`)).status, 404, 'a missing asset is not index.html');
    assert.equal((await fetch(`${t.url}/%2e%2e/%2e%2e/etc/passwd`)).status !== 500, true);
    assert.doesNotMatch(await (await fetch(`${t.url}/..%2f..%2fetc%2fpasswd`, { headers: { accept: 'text/html' } })).text(), /root:/);
    const api404 = await fetch(`${t.url}/api/v1/no-such-route`, { headers: { authorization: `Bearer ${aliceKey}` } });
    assert.equal(api404.status, 404);
    assert.equal(((await api404.json()) as { code: string }).code, 'NOT_FOUND');
    // A preview host name still goes to the preview proxy.
    const u = new URL(t.url);
    const preview = await new Promise<{ status: number; body: string }>((resolve, reject) =>
      http
        .get({ host: u.hostname, port: u.port, path: '/', headers: { host: `nothing-8000.localhost:${u.port}`, accept: 'text/html' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject),
    );
    assert.equal(preview.status, 404);
    assert.match(preview.body, /nothing is published/);
  });
});
