import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/**
 * The directions between folders that tsconfig references cannot enforce
 * (they are inside one project): read from the sources' import lines.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

interface Import {
  file: string;
  target: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every relative import in src/, as paths relative to src/. */
const IMPORTS: Import[] = sources(SRC).flatMap((file) =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => ({
    file: relative(SRC, file),
    target: relative(SRC, resolve(dirname(file), m[1]!)),
  })),
);

const importsOf = (from: string, to: string) => IMPORTS.filter((i) => i.file.startsWith(`${from}/`) && i.target.startsWith(`${to}/`));

describe('layers inside a project', () => {
  it('fleet/ builds on services/, never the reverse (services reach the fleet through FleetPort)', () => {
    assert.deepEqual(importsOf('daemon/services', 'daemon/fleet'), []);
  });

  it('HTTP handlers reach the database only through services', () => {
    assert.deepEqual(importsOf('daemon/http', 'daemon/db'), []);
  });

  it('no two sibling folders import each other', () => {
    const edges = new Set(IMPORTS.map((i) => `${dirname(i.file)}>${dirname(i.target)}`));
    const both = [...edges]
      .map((e) => e.split('>') as [string, string])
      .filter(([a, b]) => a !== b && dirname(a) === dirname(b) && a < b && edges.has(`${b}>${a}`))
      .map(([a, b]) => `${a} <-> ${b}`);
    assert.deepEqual(both, []);
  });
});
