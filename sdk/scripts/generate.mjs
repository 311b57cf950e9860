#!/usr/bin/env node
// Copies the API's pure modules (route table, schemas, exec framing, error
// registry) into sdk/src/generated, so the SDK is typed from the same source
// as the daemon yet ships without any daemon code. `--check` exits 1 when a
// copy has drifted from its source (the test suite runs it).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCES = {
  'schemas.ts': 'src/api/schemas.ts',
  'routes.ts': 'src/api/routes.ts',
  'exec-socket.ts': 'src/api/exec-socket.ts',
  'socket-def.ts': 'src/api/socket-def.ts',
  'channels.ts': 'src/api/channels.ts',
  'route-url.ts': 'src/api/route-url.ts',
  'dashboard-sockets.ts': 'src/api/dashboard-sockets.ts',
  'errors.ts': 'src/core/errors.ts',
};
const out = join(root, 'sdk', 'src', 'generated');

/** The copy's text: a banner, then the source unchanged; imports must stay inside the copied set. */
function generated(file, source) {
  const text = readFileSync(join(root, source), 'utf8');
  for (const [, spec] of text.matchAll(/from '([^']+)'/g)) {
    const local = spec.startsWith('./') && Object.keys(SOURCES).includes(spec.slice(2).replace(/\.js$/, '.ts'));
    if (!local && spec !== 'typebox') throw new Error(`${source} imports ${spec}: the SDK may only copy pure modules that import each other or typebox`);
  }
  return `// GENERATED from ${source} by sdk/scripts/generate.mjs — do not edit; run \`npm run generate -w @bothub/sdk\`.\n${text}`;
}

const check = process.argv.includes('--check');
const drifted = [];
for (const [file, source] of Object.entries(SOURCES)) {
  const want = generated(file, source);
  const path = join(out, file);
  if (check) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== want) drifted.push(`sdk/src/generated/${file} (from ${source})`);
  } else writeFileSync(path, want);
}
if (drifted.length) {
  process.stderr.write(`out of date: ${drifted.join(', ')}; run \`npm run generate -w @bothub/sdk\` and commit\n`);
  process.exit(1);
}
