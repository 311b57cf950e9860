import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const version = () => (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

// `--version` is answered before commander or any command is loaded: it costs Node's own start and little more.
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) process.stdout.write(`${version()}\n`);
else await (await import('./program.js')).run(args, version());
