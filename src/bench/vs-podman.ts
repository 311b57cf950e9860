import { join } from 'node:path';
import { BIN, cliEnv, type DaemonProcess } from './daemon-process.js';
import { PODMAN_IMAGE, startPodman } from './podman.js';
import { timeProcess, type ProcessRun } from './processes.js';
import { compareHeader, compareRow } from './stats.js';

const OPERATIONS = ['create (ready to exec)', 'exec `true`', 'checkpoint', 'restore', 'destroy'] as const;
type Operation = (typeof OPERATIONS)[number];
const EXECS_PER_RUN = 3;
const WARM_UP = 2;

/**
 * bothub's CLI against podman's, whole processes as a person or an agent runs
 * them, on the same rootfs (bothub's default image imported into podman),
 * runc and CRIU. Each run does every operation on both, one after the other,
 * in an order that alternates, so load from elsewhere falls on both alike.
 * checkpoint stops the container keeping its state (podman's
 * `container checkpoint`, bothub's `snapshot create`); restore resumes it.
 */
export async function benchVsPodman(t: DaemonProcess, runs: number): Promise<string[]> {
  const podman = await startPodman(join(t.imagesDir, 'debian', 'rootfs'), `10.251.${process.pid % 250}.0/24`);
  const env = cliEnv(t);
  const bothub = (args: string[]) => timeProcess(process.execPath, [BIN, ...args], env);
  const ours = new Map<Operation, number[]>(OPERATIONS.map((o) => [o, []]));
  const theirs = new Map<Operation, number[]>(OPERATIONS.map((o) => [o, []]));
  try {
    for (let i = 0; i < runs + WARM_UP; i++) {
      const [b, p] = [`vs-${i}`, `vs-${i}`];
      const both = async (op: Operation, mine: () => Promise<ProcessRun>, podmans: () => Promise<ProcessRun>) => {
        const pair = i % 2 ? [podmans, mine] : [mine, podmans];
        const [first, second] = [await pair[0]!(), await pair[1]!()];
        if (i < WARM_UP) return;
        ours.get(op)!.push((i % 2 ? second : first).ms);
        theirs.get(op)!.push((i % 2 ? first : second).ms);
      };
      await both(
        'create (ready to exec)',
        () => bothub(['create', '--name', b]),
        () => podman.run(['run', '--detach', '--name', p, PODMAN_IMAGE, 'sleep', 'infinity']),
      );
      for (let k = 0; k < EXECS_PER_RUN; k++) {
        await both(
          'exec `true`',
          () => bothub(['exec', b, '--', 'true']),
          () => podman.run(['exec', p, 'true']),
        );
      }
      await both(
        'checkpoint',
        () => bothub(['snapshot', 'create', b, '--name', `${b}-snap`]),
        () => podman.run(['container', 'checkpoint', p]),
      );
      await both(
        'restore',
        () => bothub(['snapshot', 'restore', `${b}-snap`]),
        () => podman.run(['container', 'restore', p]),
      );
      await both(
        'destroy',
        () => bothub(['destroy', b]),
        () => podman.run(['rm', '--force', '--time', '0', p]),
      );
      await t.api.call('deleteSnapshot', { params: { name: `${b}-snap` } });
    }
  } finally {
    await podman.close();
  }
  return [
    `${podman.version} (runc, the same CRIU) against bothub ${(await bothub(['--version'])).stdout.trim()}, both through their CLI`,
    '',
    compareHeader('bothub', 'podman'),
    ...OPERATIONS.map((op) => compareRow(op, ours.get(op)!, theirs.get(op)!, 'target ≤ 0.5×')),
  ];
}
