import type { Command } from 'commander';
import { BothubError } from '../../core/index.js';
import { printJson } from '../output/format.js';
import { action } from '../runner.js';

function offsetOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new BothubError('INVALID_INPUT', `invalid --offset "${text}": give a byte offset (0 or more)`);
  return n;
}

export function register(program: Command): void {
  program
    .command('logs')
    .description("print a sandbox's console output, or a command's (--exec); --offset resumes where a previous read ended")
    .argument('<name>')
    .option('-f, --follow', 'keep printing new output until the sandbox stops')
    .option('--offset <bytes>', 'start at this byte offset (each read reports the next one)')
    .option('--exec <id>', "a command's output instead (id from `bothub ps` or `bothub history`)")
    .action(
      action(async (ctx, name: string, opts: { follow?: boolean; offset?: string; exec?: string }) => {
        const query = { offset: offsetOf(opts.offset), follow: opts.follow };
        const res = opts.exec ? await ctx.api.fetch('execLogs', { params: { name, id: opts.exec }, query }) : await ctx.api.fetch('logs', { params: { name }, query });
        const start = Number(res.headers.get('x-bothub-offset'));
        if (opts.follow) {
          let next = start;
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            process.stdout.write(chunk);
            next += chunk.length;
          }
          if (process.stderr.isTTY) process.stderr.write(`(next offset ${next})\n`);
          return;
        }
        const data = Buffer.from(await res.arrayBuffer());
        const next = Number(res.headers.get('x-bothub-next-offset'));
        if (ctx.json) return printJson({ offset: start, nextOffset: next, data: data.toString('utf8') });
        process.stdout.write(data);
        if (process.stderr.isTTY) process.stderr.write(`(next offset ${next})\n`);
      }),
    );
}
