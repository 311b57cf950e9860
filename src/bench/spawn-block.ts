// How long each command a daemon runs stops its event loop: child_process
// forks the whole process (its page tables are copied while the loop waits),
// bothub-spawner is asked over a pipe. Runs COUNT /bin/true one after the
// other in a process holding MB of touched memory (the daemon's ~150 MB), each
// way, and prints per spawn: the synchronous time of LocalHost.run, the event
// loop's busy time (eventLoopUtilization) and the worst delay seen by
// monitorEventLoopDelay. Run it niced:
//   nice -n 19 ionice -c3 node dist/bench/spawn-block.js [MB=150] [COUNT=50]
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { CommandSpawner, LocalHost } from '../hostexec/index.js';

const mb = Number(process.argv[2] ?? 150);
const count = Number(process.argv[3] ?? 50);
const binary = fileURLToPath(new URL('../../native/build/bothub-spawner', import.meta.url));

// Started before the ballast, as the daemon starts it early: its own fork is the only one at the large size.
const spawner = new CommandSpawner(binary);
const ways: [string, LocalHost][] = [
  ['child_process', new LocalHost(null)],
  ['bothub-spawner', new LocalHost(spawner)],
];
await ways[1]![1].run('true', []);
const ballast = Buffer.alloc(mb * 1024 * 1024, 1);

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
console.log(`${count} × /bin/true, rss ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const [name, host] of ways) {
  for (let i = 0; i < 5; i++) await host.run('true', []);
  const sync: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const run = host.run('true', []);
    sync.push(performance.now() - t);
    await run;
  }
  const wall = performance.now() - start;
  const busy = performance.eventLoopUtilization(elu).active;
  delay.disable();
  console.log(
    `${name.padEnd(15)} run() sync median ${quantile(sync, 0.5).toFixed(3)} ms, p95 ${quantile(sync, 0.95).toFixed(3)} ms, max ${Math.max(...sync).toFixed(3)} ms; ` +
      `loop busy ${(busy / count).toFixed(3)} ms/spawn; worst loop delay ${(delay.max / 1e6).toFixed(1)} ms; wall ${(wall / count).toFixed(2)} ms/spawn`,
  );
}
spawner.close();
ballast.fill(0);
