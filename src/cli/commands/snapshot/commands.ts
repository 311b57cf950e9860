import type { Command } from 'commander';
import { register as create } from './create.js';
import { register as manage } from './manage.js';
import { register as restore } from './restore.js';

export function register(program: Command): void {
  const snapshot = program.command('snapshot').description('checkpoint, resume and branch sandboxes');
  for (const register of [create, manage, restore]) register(snapshot);
}
