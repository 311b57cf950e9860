#!/usr/bin/env node
// Copies the API's pure modules (route table, schemas, exec framing, error
// registry) into sdk/src/generated, so the SDK is typed from the same source
// as the daemon yet ships without any daemon code. `--check` exits 1 when a
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
};
/** Folders copied whole (one module per resource): every .ts file in them. */
const FOLDERS = { schemas: 'src/api/schemas', routes: 'src/api/routes' };
const out = join(root, 'sdk', 'src', 'generated');

const SOURCES = { ...FILES };
for (const [folder, source] of Object.entries(FOLDERS)) {
  for (const file of readdirSync(join(root, source)).filter((f) => f.endsWith('.ts')).sort()) SOURCES[`${folder}/${file}`] = `${source}/${file}`;
}

/** The copy's text: a banner, then the source unchanged; imports must stay inside the copied set. */
function generated(file, source) {
  const text = readFileSync(join(root, source), 'utf8');
  for (const [, spec] of text.matchAll(/from '([^']+)'/g)) {
    const target = spec.startsWith('.') ? posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts') : null;
    if (spec !== 'typebox' && !(target && target in SOURCES)) {
      throw new Error(`${source} imports ${spec}: the SDK may only copy pure modules that import each other or typebox`);
    }
  }
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
