import type { Command } from 'commander';
import { register as build } from './build.js';
import { register as importImage } from './import.js';
import { register as list } from './list.js';
import { register as transfer } from './transfer.js';

export function register(program: Command): void {
  const image = program.command('image').description('manage images');
  for (const register of [list, build, importImage, transfer]) register(image);
}
