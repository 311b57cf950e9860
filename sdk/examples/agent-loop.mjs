#!/usr/bin/env node
// An agent loop on bothub: create a sandbox, write code, run it, snapshot
// before a risky step, and when that step fails, branch a fresh sandbox from
// the snapshot and carry on there. Cleans up after itself.
//
//   BOTHUB_URL=http://127.0.0.1:7070 BOTHUB_TOKEN=... node sdk/examples/agent-loop.mjs
import { Bothub } from '@bothub/sdk';

const bothub = new Bothub(); // url and token from BOTHUB_URL / BOTHUB_TOKEN
const tag = Date.now().toString(36);
const say = (msg) => process.stdout.write(`agent: ${msg}\n`);
const made = { sandboxes: [], snapshot: undefined };

async function main() {
  const box = await bothub.sandboxes.create({ name: `agent-${tag}`, keepHot: true });
  made.sandboxes.push(box);
  say(`created sandbox ${box.name}`);

  // 1. Write code and run it.
  await box.files.write('/workspace/solve.py', ['import json, sys', 'data = json.load(open("/workspace/data.json"))', 'print(sum(data["values"]))', ''].join('\n'));
  await box.files.write('/workspace/data.json', JSON.stringify({ values: [1, 2, 3, 4] }));
  const first = await box.exec(['python3', '/workspace/solve.py'], { check: true, onStdout: (s) => say(`solve.py says ${s.trim()}`) });
  say(`first run exited ${first.exitCode}`);

  // 2. A long-lived process whose memory the snapshot keeps: a counter.
  const counter = await box.commands.start(['python3', '-c', 'import time\nn = 0\nwhile True:\n    n += 1\n    open("/tmp/n", "w").write(str(n))\n    time.sleep(0.1)']);
  await box.exec('until [ -s /tmp/n ]; do sleep 0.1; done', { check: true });

  // 3. Snapshot before the risky step (the sandbox keeps running).
  const snap = await box.snapshot(`agent-${tag}-safe`, { leaveRunning: true, onProgress: (p) => say(`snapshot: ${p.step}`) });
  made.snapshot = snap.name;
  say(`snapshot ${snap.name} taken (${Math.round(snap.sizeBytes / 1024)} KiB, frozen ${Math.round(snap.frozenMs ?? 0)} ms)`);

  // 4. The risky step: a "migration" that destroys the data, then a run that fails.
  const risky = await box.exec('rm -f /workspace/data.json && python3 /workspace/solve.py');
  say(`risky step exited ${risky.exitCode}: ${risky.stderr.trim().split('\n').at(-1)}`);
  if (risky.exitCode === 0) throw new Error('the risky step was expected to fail in this example');

  // 5. Branch a fresh sandbox from the snapshot: files, processes and memory as they were.
  const retry = await bothub.snapshots.branch(snap.name, `agent-${tag}-retry`, { onProgress: (p) => say(`branch: ${p.step}`) });
  made.sandboxes.push(retry);
  say(`branched ${retry.name} from ${snap.name}`);
  const again = await retry.exec(['python3', '/workspace/solve.py'], { check: true });
  say(`solve.py in the branch says ${again.stdout.trim()}`);
  const before = Number(await retry.files.readText('/tmp/n'));
  await retry.exec(`until [ "$(cat /tmp/n)" -gt ${before} ]; do sleep 0.1; done`, { check: true, timeoutMs: 30_000 });
  say(`the counter started before the snapshot still counts in the branch (past ${before})`);

  // 6. Continue: a safer version of the step, in the branch.
  await retry.files.write('/workspace/data.json', JSON.stringify({ values: [1, 2, 3, 4, 5] }));
  const done = await retry.exec(['python3', '/workspace/solve.py'], { check: true });
  say(`after the safer step solve.py says ${done.stdout.trim()}`);
  await counter.kill('TERM');
  if (done.stdout.trim() !== '15') throw new Error(`expected 15, got ${done.stdout.trim()}`);
}

async function cleanup() {
  for (const s of made.sandboxes) await s.destroy().catch((e) => say(`could not remove ${s.name}: ${e.message}`));
  if (made.snapshot) await bothub.snapshots.delete(made.snapshot).catch((e) => say(`could not remove snapshot ${made.snapshot}: ${e.message}`));
  say('cleaned up');
}

try {
  await main();
  say('done');
} catch (e) {
  process.stderr.write(`agent: failed: ${e.name}: ${e.message}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
