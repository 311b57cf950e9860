import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/**
 * The runtime reaches files, processes and sockets only through its Host
 * (src/hostexec), so the same code runs on this machine and on a fleet host.
 * Each file here still imports node:fs, and says why on the line above its import.
 */
const LOCAL_ONLY: Record<string, string> = {
  'snapshot/manifest.ts': "checksums of the daemon's own snapshot store",
};
/** Not converted yet. */
const NOT_YET_CONVERTED = ['snapshot/chunked-tree.ts'];
const ALLOWED = [...Object.keys(LOCAL_ONLY), ...NOT_YET_CONVERTED];

const RUNTIME = new URL('../../src/runtime/', import.meta.url).pathname;
/** `import … from 'node:fs'`, `import('fs/promises')`, `require('fs')`, `export … from 'fs'`. */
const FS_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s*)['"](?:node:)?fs(?:\/promises)?['"]/m;
/** What only a Host may do: start programs, open sockets, signal processes. */
const HOST_ONLY = /(?:['"](?:node:)?(?:child_process|net)['"])|\bprocess\.kill\s*\(/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('the runtime goes through its Host', () => {
  const files = sources(RUNTIME).map((f) => ({ name: relative(RUNTIME, f), text: readFileSync(f, 'utf8') }));

  it('finds the runtime sources', () => {
    assert.ok(files.length > 30, `only ${files.length} files under ${RUNTIME}`);
  });

  it('imports node:fs nowhere but in the local-only files and those not converted yet', () => {
    const importing = files.filter((f) => FS_IMPORT.test(f.text)).map((f) => f.name);
    assert.deepEqual(
      importing.filter((f) => !ALLOWED.includes(f)),
      [],
      'these use node:fs directly: use the Host (host.readFile, host.writeFile, host.stat...) instead',
    );
    assert.deepEqual(
      ALLOWED.filter((f) => !importing.includes(f)),
      [],
      'these no longer import node:fs (or are gone): take them off the lists',
    );
  });

  it('says why each local-only file is, next to its import', () => {
    for (const name of Object.keys(LOCAL_ONLY)) {
      const lines = files.find((f) => f.name === name)?.text.split('\n') ?? [];
      const at = lines.findIndex((l) => FS_IMPORT.test(l));
      assert.match(lines[at - 1] ?? '', /^\/\/ Local only: /, `${name}: a "// Local only: why" line above its node:fs import`);
    }
  });

  it('never starts programs, opens sockets or signals processes itself', () => {
    assert.deepEqual(
      files.filter((f) => HOST_ONLY.test(f.text)).map((f) => f.name),
      [],
      'use host.run, host.openSocket and host.kill',
    );
  });

  it('loads no AWS SDK through its barrel: every daemon and CLI start would pay for it (the S3 side is runtime/s3.ts, imported when BOTHUB_STORE is s3://)', () => {
    const byName = new Map(files.map((f) => [f.name, f.text]));
    const seen = new Set<string>();
    const walk = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const m of byName.get(name)?.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*'(\.[^']+)\.js'/gm) ?? []) walk(relative(RUNTIME, resolve(dirname(join(RUNTIME, name)), `${m[1]}.ts`)));
    };
    walk('index.ts');
    assert.ok(seen.size > 30, `the barrel reaches ${seen.size} files`);
    assert.deepEqual([...seen].filter((n) => /['"]@aws-sdk\//.test(byName.get(n) ?? '')), []);
    assert.ok(/@aws-sdk\//.test(byName.get('snapshot/s3-chunk-store.ts')!), 'the check looks at the file that does load it');
  });

  it('sees an fs import in each of its forms', () => {
    for (const line of ["import { readFile } from 'node:fs/promises';", "import fs from 'fs';", "const fs = await import('node:fs');", "require('fs')", "import 'node:fs';"])
      assert.match(line, FS_IMPORT, line);
    assert.doesNotMatch("import { readFile } from './fs-helpers.js';", FS_IMPORT);
  });
});
