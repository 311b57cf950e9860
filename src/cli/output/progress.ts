import type { ProgressEventT } from '../../api/index.js';
import { bytes } from './format.js';

/** Draws progress on stderr: one rewritten line on a terminal, plain lines otherwise. */
export function progressPrinter(label: string): { update: (p: ProgressEventT) => void; done: (message: string) => void } {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let last = '';
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  return {
    update(p) {
      const amount = p.total ? ` ${p.done ?? 0}/${p.total}` : p.done ? ` ${bytes(p.done)}` : '';
      const text = `${label}: ${p.step}${p.message ? ` ${p.message}` : ''}${amount}`;
      if (tty) process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns ?? 80) - 8)} ${elapsed()}`);
      else if (p.step !== last) process.stderr.write(`${text}\n`);
      last = p.step;
    },
    done(message) {
      process.stderr.write(`${tty ? '\r\x1b[2K' : ''}${message} (${elapsed()})\n`);
    },
  };
}
