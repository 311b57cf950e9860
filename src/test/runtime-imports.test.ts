import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/**
 * The runtime reaches files, processes and sockets only through its Host
 * (src/hostexec), so the same code runs on this machine and on a fleet host:
 * node:fs is for the local Host's implementation (hostexec/local-files.ts) alone.
 */
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

  it('imports node:fs nowhere', () => {
    assert.deepEqual(
      files.filter((f) => FS_IMPORT.test(f.text)).map((f) => f.name),
      [],
      'these use node:fs directly: use the Host (host.readFile, host.writeFile, host.stat, host.open...) instead',
    );
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
