import { statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The dashboard's pages may load only this daemon's own scripts, styles and
 * images (Vite's build has no inline script; small assets may be inlined as
 * data: URLs) and talk only to this daemon, over HTTP or WebSocket.
 */
export const WEB_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // xterm.js writes its colour rules into <style> elements at run time; styles cannot run code, scripts stay strict.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': WEB_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Vite names the files under assets/ by their content hash: they never change, so browsers keep them for a year. */
const HASHED = /^\/assets\//;

const NOT_BUILT = (dir: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bothub</title></head>
<body><h1>bothub</h1>
<p>The web dashboard is not built. Build it with <code>npm run build:web</code> in the bothub checkout
(it is looked for in <code>${dir.replace(/[<>&"]/g, '')}</code>; set <code>BOTHUB_WEB_DIR</code> to serve it from elsewhere),
then reload this page.</p>
<p>The API answers at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> meanwhile.</p>
</body></html>
`;

const isFile = (path: string) => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/**
 * Serves the built dashboard (a single-page app) at `/`: its files as they
 * are, and index.html for any other page path, since the app routes on the
 * client. API paths that match no route stay JSON 404s. Preview host names
 * (NAME-PORT.<domain>) never reach here: their route is constrained to those
 * hosts and wins.
 */
export async function registerWebApp(app: FastifyInstance, webDir: string): Promise<void> {
  const root = resolve(webDir);
  await app.register(async (scope) => {
    await scope.register(fastifyStatic, { root, serve: false });
    scope.get('/*', { config: { auth: 'none' }, schema: { hide: true } }, async (req: FastifyRequest, reply: FastifyReply) => {
      const path = req.url.split('?')[0]!;
      if (path.startsWith('/api/')) return reply.callNotFound();
      void reply.headers(SECURITY_HEADERS);
      if (!isFile(`${root}/index.html`)) return reply.type('text/html; charset=utf-8').send(NOT_BUILT(root));
      let file: string;
      try {
        file = resolve(root, `.${decodeURIComponent(path)}`);
      } catch {
        return reply.callNotFound(); // a malformed %-escape
      }
      if (file.startsWith(root + sep) && isFile(file)) {
        return HASHED.test(path)
          ? reply.sendFile(file.slice(root.length + 1), { maxAge: '365d', immutable: true })
          : noCache(reply).sendFile(file.slice(root.length + 1), { cacheControl: false });
      }
      // A missing script or image is a 404; any other path is a page of the app.
      const lastSegment = path.slice(path.lastIndexOf('/') + 1);
      if (lastSegment.includes('.') && !(req.headers.accept ?? '').includes('text/html')) return reply.callNotFound();
      return noCache(reply).sendFile('index.html', { cacheControl: false });
    });
  });
}

/** index.html names the current hashed assets: it is checked again on every load. */
const noCache = (reply: FastifyReply) => reply.header('cache-control', 'no-cache');
