/**
 * A benchmark script's flags, read before anything starts: `--help` prints the
 * usage and an unknown flag is refused, so a mistyped flag never sets off a run
 * of an hour with the defaults.
 */
export function benchFlags(usage: string, known: readonly string[]): { value: (flag: string) => string | undefined; has: (flag: string) => boolean } {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`usage: ${usage}\n`);
    process.exit(0);
  }
  const unknown = argv.find((a) => a.startsWith('-') && !known.includes(a));
  if (unknown !== undefined) {
    process.stderr.write(`unknown option ${unknown}; usage: ${usage}\n`);
    process.exit(2);
  }
  return { value: (flag) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined), has: (flag) => argv.includes(flag) };
}
