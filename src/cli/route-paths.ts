import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RoutePaths } from '../api/route-client.js';
import type { RouteDef } from '../api/routes.js';

const SOURCE = fileURLToPath(new URL('../api/routes.js', import.meta.url));
/** The per-resource route files the table is spread from: a change to any of them is a new table. */
const PARTS = fileURLToPath(new URL('../api/routes/', import.meta.url));
// Outside dist/: a fleet agent's release is dist/ as built, and this file comes and goes with CLI runs.
const CACHE = fileURLToPath(new URL('../../.cache/cli-route-paths.json', import.meta.url));

/**
 * The method and URL of every route, for the CLI's client. Loading the route
 * table itself means loading TypeBox and building every schema, most of a
 * command's start-up; so the CLI keeps this part of it in a file of the
 * checkout (.cache/), stamped with the size and time of the compiled route
 * table and of each per-resource file it is spread from: a rebuilt table is
 * read again on the next command, never served stale.
 */
export async function routePaths(): Promise<RoutePaths> {
  const files = [SOURCE, ...readdirSync(PARTS).filter((f) => f.endsWith('.js')).sort().map((f) => join(PARTS, f))];
  const stamp = files.map((f) => statSync(f)).map(({ size, mtimeMs }) => `${size}:${mtimeMs}`).join(',');
  try {
    const cached = JSON.parse(readFileSync(CACHE, 'utf8')) as { stamp: string; routes: RoutePaths };
    if (cached.stamp === stamp) return cached.routes;
  } catch {
    // Absent or unreadable: derive it below.
  }
  const { routes } = await import('../api/routes.js');
  const paths = Object.fromEntries(Object.entries(routes).map(([name, r]) => [name, { method: r.method, url: r.url, stream: (r as RouteDef).stream, timeoutMs: (r as RouteDef).timeoutMs }])) as RoutePaths;
  try {
    // Renamed into place, so a command running alongside never reads half a file.
    const tmp = `${CACHE}.${process.pid}`;
    mkdirSync(dirname(CACHE), { recursive: true });
    writeFileSync(tmp, JSON.stringify({ stamp, routes: paths }));
    renameSync(tmp, CACHE);
  } catch {
    // A read-only install: correct, only slower (scripts/setup writes it at build time).
  }
  return paths;
}

// `node dist/cli/route-paths.js` writes the file (scripts/setup, after the build).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void routePaths();
