#!/usr/bin/env node
// Runs the whole suite with node's test runner, one file at a time: the tests
// start real sandboxes, and two cores are better spent on one file at a time.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = new URL('../dist/test/', import.meta.url).pathname;
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join(dir, f));
// Without files node --test would look for tests everywhere (the whole suite, and more): a filter that names none is a mistake.
if (only.length && files.length === 0) {
  console.error(`run-tests: no test file in dist/test matches ${only.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
