#!/usr/bin/env node
// Bundles the modules of the commands bin/bothub runs without the parser
// (`bothub exec NAME -- COMMAND...`, `bothub destroy NAME...`, `bothub create
// [--name NAME]`: dist/cli/fast-paths.js, built by tsc) into one CommonJS
// file, dist/cli/fast-bundle.cjs, with the list of files it came from:
// resolving and reading a dozen ES modules was a tenth of a command's
// start-up. bin/bothub uses the bundle only while none of those files is newer
// than it (a `tsc -b` after an edit falls back to dist/ until the next build).
// Run by scripts/setup and `npm run build`, after tsc.
import { writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = await rolldown({
  input: `${root}dist/cli/fast-paths.js`,
  platform: 'node',
  // Kept as written: the route table is loaded only when the cached paths are stale, ws and yaml only when used.
  makeAbsoluteExternalsRelative: false,
  external: (id) => id.startsWith('node:') || builtinModules.includes(id) || ['../api/routes.js', 'ws', 'yaml'].includes(id),
});
const { output } = await bundle.write({ file: `${root}dist/cli/fast-bundle.cjs`, format: 'cjs' });
await bundle.close();
const inputs = output.flatMap((o) => (o.type === 'chunk' ? Object.keys(o.modules) : [])).filter((m) => m.startsWith(root)).map((m) => relative(root, m));
writeFileSync(`${root}dist/cli/fast-bundle.json`, JSON.stringify({ inputs }));
