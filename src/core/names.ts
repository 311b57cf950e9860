import { invalid } from './errors.js';
import { NAME_PATTERN, NAME_RULE } from './vocabulary.js';

const NAME_RE = new RegExp(NAME_PATTERN);

export function validateName(kind: string, name: string): string {
  if (!NAME_RE.test(name)) {
    throw invalid(`invalid ${kind} name "${name}": ${NAME_RULE}`);
  }
  return name;
}

const ADJECTIVES = [
  'amber',
  'brisk',
  'calm',
  'deft',
  'eager',
  'fair',
  'glad',
  'hale',
  'keen',
  'lucid',
  'merry',
  'noble',
  'proud',
  'quiet',
  'rapid',
  'sunny',
  'tidy',
  'vivid',
  'warm',
  'zesty',
];
const NOUNS = [
  'otter',
  'falcon',
  'maple',
  'comet',
  'harbor',
  'lynx',
  'meadow',
  'nebula',
  'orchid',
  'pebble',
  'quartz',
  'raven',
  'spruce',
  'tundra',
  'willow',
  'yak',
  'cedar',
  'dune',
  'ember',
  'fjord',
];

/** A readable generated name; `random` is injected so the core stays free of I/O. */
export function generateName(random: () => number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${suffix}`;
}
