#!/usr/bin/env node
// Runs the suite with node's test runner, a file at a time in each of
// BOTHUB_TEST_LANES lanes (default 2). Most of a file's time is spent waiting
// on runc, CRIU, sshd and sandboxes, so two files side by side finish much
// sooner than one after the other even on two cores. Files start longest
// first (scripts/test-durations.json; `--record` writes what this run
// measured into it), each lane has its own images directory (linked to the shared
// images prepare-images builds first), and a file's output is printed whole
// when it ends. The last line is `N passed, N failed`.
//
//   node scripts/run-tests.mjs [--record] [name-part | file.test.js ...]
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const dir = new URL('../dist/test/', import.meta.url).pathname;
const durationsFile = new URL('test-durations.json', import.meta.url).pathname;
const args = process.argv.slice(2);
const record = args.includes('--record');
const only = args.filter((a) => a !== '--record');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  // A whole file name (`fleet.test.js`) names that file alone; anything else is a part of names.
  .filter((f) => only.length === 0 || only.some((o) => (o.endsWith('.test.js') ? f === o : f.includes(o))));
// Without files node --test would look for tests everywhere (the whole suite, and more): a filter that names none is a mistake.
if (only.length && files.length === 0) {
  console.error(`run-tests: no test file in dist/test matches ${only.join(', ')}`);
  process.exit(2);
}

const lanes = Math.max(1, Math.min(files.length, Number(process.env.BOTHUB_TEST_LANES ?? 2) || 1));
const imagesDir = process.env.BOTHUB_TEST_IMAGES_DIR ?? '/var/lib/bothub-test/images';
const laneImages = (lane) => (lane === 0 ? imagesDir : `${imagesDir}-lane${lane}`);

const known = readJson(durationsFile);
const typical = median(Object.values(known)) ?? 10;
const expected = (f) => known[f] ?? typical;
const queue = [...files].sort((a, b) => expected(b) - expected(a) || a.localeCompare(b));

// One lane builds what it needs as it goes, as a single file does.
const prepared = lanes === 1 ? { status: 0 } : spawnSync(process.execPath, [join(dir, 'prepare-images.js'), ...Array.from({ length: lanes - 1 }, (_, i) => laneImages(i + 1))], { stdio: 'inherit' });
if (prepared.status !== 0) {
  console.error('run-tests: the shared test images could not be built (above); fix that first');
  process.exit(1);
}

const running = new Set();
const stop = (signal) => {
  for (const child of running) child.kill(signal);
  process.exit(130);
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

const results = [];
const started = Date.now();
await Promise.all(Array.from({ length: lanes }, (_, lane) => runLane(lane)));

const total = (key) => results.reduce((n, r) => n + r[key], 0);
const slowest = [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 10);
console.log(`\nslowest files: ${slowest.map((r) => `${r.file.replace('.test.js', '')} ${r.seconds.toFixed(1)} s`).join(', ')}`);
console.log(`${results.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s on ${lanes} lane(s)`);
const failedFiles = results.filter((r) => r.code !== 0);
if (failedFiles.length) console.log(`failed: ${failedFiles.map((r) => r.file).join(', ')}`);
if (record) {
  const measured = { ...known, ...Object.fromEntries(results.map((r) => [r.file, Math.round(r.seconds)])) };
  const testFiles = new Set(readdirSync(dir));
  const present = Object.entries(measured).filter(([f]) => testFiles.has(f));
  writeFileSync(durationsFile, `${JSON.stringify(Object.fromEntries(present.sort(([a], [b]) => a.localeCompare(b))), null, 1)}\n`);
}
console.log(`${total('pass')} passed, ${total('fail')} failed`);
process.exit(failedFiles.length ? 1 : 0);

async function runLane(lane) {
  for (let file = queue.shift(); file; file = queue.shift()) results.push(await runFile(file, lane));
}

/** One file in its own node --test process; its output is printed whole at the end, so lanes never interleave. */
function runFile(file, lane) {
  const t0 = Date.now();
  const env = { ...process.env, BOTHUB_TEST_IMAGES_DIR: laneImages(lane) };
  const child = spawn(process.execPath, ['--test', '--test-reporter=spec', join(dir, file)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const out = [];
  child.stdout.on('data', (b) => out.push(b));
  child.stderr.on('data', (b) => out.push(b));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      const text = Buffer.concat(out).toString();
      const seconds = (Date.now() - t0) / 1000;
      const count = (what) => Number(new RegExp(`^ℹ ${what} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      const exit = code ?? signal;
      // A file that died before the summary still counts as a failure.
      const fail = count('fail') + count('cancelled') || (exit === 0 ? 0 : 1);
      process.stdout.write(`\n── ${file} (${seconds.toFixed(1)} s, lane ${lane}${exit === 0 ? '' : `, exit ${exit}`})\n${text}`);
      resolve({ file: basename(file), seconds, code: exit === 0 ? 0 : 1, pass: count('pass'), fail });
    });
  });
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
}

function median(values) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
