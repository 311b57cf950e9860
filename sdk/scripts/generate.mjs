#!/usr/bin/env node
// Copies the API's pure modules (route table, schemas, exec framing, error
// registry) into sdk/src/generated, so the SDK is typed from the same source
// as the daemon yet ships without any daemon code (the few pure core modules
// the schemas use come along). `--check` exits 1 when a
// copy has drifted from its source, or a copy is left whose source is gone
// (the test suite runs it).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, posix } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FILES = {
  'schemas.ts': 'src/api/schemas.ts',
  'routes.ts': 'src/api/routes.ts',
  'exec-socket.ts': 'src/api/exec-socket.ts',
  'socket-def.ts': 'src/api/socket-def.ts',
  'channels.ts': 'src/api/channels.ts',
  'route-url.ts': 'src/api/route-url.ts',
  'dashboard-sockets.ts': 'src/api/dashboard-sockets.ts',
  'errors.ts': 'src/core/errors.ts',
  'vocabulary.ts': 'src/core/vocabulary.ts',
  'fingerprint.ts': 'src/core/fingerprint.ts',
  'error-reply.ts': 'src/core/error-reply.ts',
};
/** Folders copied whole (one module per resource): every .ts file in them. */
const FOLDERS = { schemas: 'src/api/schemas', routes: 'src/api/routes' };
const out = join(root, 'sdk', 'src', 'generated');

const SOURCES = { ...FILES };
for (const [folder, source] of Object.entries(FOLDERS)) {
  for (const file of readdirSync(join(root, source)).filter((f) => f.endsWith('.ts')).sort()) SOURCES[`${folder}/${file}`] = `${source}/${file}`;
}

/** Where each source is copied to, by its path in the repository. */
const COPY_OF = Object.fromEntries(Object.entries(SOURCES).map(([file, source]) => [source, file]));

/**
 * The copy's text: a banner, then the source with each relative import
 * pointed at the copy of what it imports (the copies sit flatter than the
 * sources: core's modules beside the API's); imports must stay inside the
 * copied set.
 */
function generated(file, source) {
  const text = readFileSync(join(root, source), 'utf8').replace(/from '([^']+)'/g, (whole, spec) => {
    if (spec === 'typebox') return whole;
    const target = spec.startsWith('.') ? COPY_OF[posix.join(posix.dirname(source), spec).replace(/\.js$/, '.ts')] : undefined;
    if (!target) throw new Error(`${source} imports ${spec}: the SDK may only copy pure modules that import each other or typebox`);
    const rel = posix.relative(posix.dirname(file), target).replace(/\.ts$/, '.js');
    return `from '${rel.startsWith('.') ? rel : `./${rel}`}'`;
  });
  return `// GENERATED from ${source} by sdk/scripts/generate.mjs — do not edit; run \`npm run generate -w @bothub/sdk\`.\n${text}`;
}

/** Copies in the generated folders whose source no longer exists. */
function leftovers() {
  const stale = [];
  for (const folder of ['', ...Object.keys(FOLDERS)]) {
    const dir = join(out, folder);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const file = folder ? `${folder}/${f}` : f;
      if (f.endsWith('.ts') && !(file in SOURCES)) stale.push(file);
    }
  }
  return stale;
}

const check = process.argv.includes('--check');
const drifted = [];
for (const [file, source] of Object.entries(SOURCES)) {
  const want = generated(file, source);
  const path = join(out, file);
  if (check) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== want) drifted.push(`sdk/src/generated/${file} (from ${source})`);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, want);
  }
}
for (const file of leftovers()) {
  if (check) drifted.push(`sdk/src/generated/${file} (its source is gone)`);
  else rmSync(join(out, file));
}
if (drifted.length) {
  process.stderr.write(`out of date: ${drifted.join(', ')}; run \`npm run generate -w @bothub/sdk\` and commit\n`);
  process.exit(1);
}
