// Reads the constants of a C protocol header, to hold them equal to their TypeScript mirror.

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
