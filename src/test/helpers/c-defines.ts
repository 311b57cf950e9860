// Reads the constants of a C protocol header, to hold them equal to their TypeScript mirror.
import assert from 'node:assert/strict';

/** `#define NAME value` lines (guards without a value are skipped), each value evaluated: a char literal, a string, or a product of integers. */
export function cDefines(text: string): Map<string, number | string> {
  const defines = new Map<string, number | string>();
  for (const [, name, raw] of text.matchAll(/^#define[ \t]+(\w+)[ \t]+(.+?)[ \t]*$/gm)) {
    const value = raw!;
    const char = /^'(.)'$/.exec(value);
    const str = /^"(.*)"$/.exec(value);
    if (char) defines.set(name!, char[1]!.charCodeAt(0));
    else if (str) defines.set(name!, str[1]!);
    else if (/^\(?[\d\s*]+\)?$/.test(value)) defines.set(name!, value.replace(/[()]/g, '').split('*').reduce((a, n) => a * Number(n), 1));
    else throw new Error(`protocol.h: cannot read the value of ${name}: ${value}`);
  }
  return defines;
}

/**
 * Holds a header's frame types (the #defines starting with `prefix`) equal to
 * their TypeScript object; `names` gives each C name's key in it.
 */
export function assertSameFrameTypes(defines: Map<string, number | string>, prefix: string, names: Record<string, string>, frames: Record<string, number>): void {
  const cFrames = [...defines.keys()].filter((k) => k.startsWith(prefix)).sort();
  assert.deepEqual(cFrames, Object.keys(names).sort(), 'every frame type in the header has a TypeScript name in the test');
  assert.deepEqual(Object.values(names).sort(), Object.keys(frames).sort(), 'every TypeScript frame type is in the header');
  for (const [c, ts] of Object.entries(names)) assert.equal(frames[ts], defines.get(c), `${c} (C) and ${ts} (TypeScript)`);
  assert.equal(new Set(Object.values(frames)).size, Object.keys(frames).length, 'no two frame types share a byte');
}
