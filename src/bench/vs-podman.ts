import { join } from 'node:path';
import { BIN, cliEnv, type DaemonProcess } from './daemon-process.js';
import { PODMAN_IMAGE, startPodman } from './podman.js';
import { timeProcess, type ProcessRun } from './processes.js';
import { startRuncFloor } from './runc-floor.js';
import { compareHeader, compareRow, percentile } from './stats.js';

const OPERATIONS = ['create (ready to exec)', 'exec `true`', 'checkpoint', 'restore', 'destroy'] as const;
type Operation = (typeof OPERATIONS)[number];
const SYSTEMS = ['bothub', 'podman', 'runc'] as const;
type System = (typeof SYSTEMS)[number];
const EXECS_PER_RUN = 3;
const WARM_UP = 2;

/**
 * bothub's CLI against podman's, whole processes as a person or an agent runs
 * them, on the same rootfs (bothub's default image imported into podman),
 * runc and CRIU; and runc alone on that rootfs, the floor both stand on.
 * Each run does every operation on all three, one after the other, in an
 * order that rotates, so load from elsewhere falls on all alike.
 * checkpoint stops the container keeping its state (podman's
 * `container checkpoint`, bothub's `snapshot create`, `runc checkpoint`);
 * restore resumes it.
 */
export async function benchVsPodman(t: DaemonProcess, runs: number): Promise<string[]> {
  const rootfs = join(t.imagesDir, 'debian', 'rootfs');
  const podman = await startPodman(rootfs, `10.251.${process.pid % 250}.0/24`);
  const runc = await startRuncFloor(rootfs);
  const env = cliEnv(t);
  const bothub = (args: string[]) => timeProcess(process.execPath, [BIN, ...args], env);
  const samples = new Map<System, Map<Operation, number[]>>(SYSTEMS.map((s) => [s, new Map(OPERATIONS.map((o) => [o, []]))]));
  try {
    for (let i = 0; i < runs + WARM_UP; i++) {
      const id = `vs-${i}`;
      const each = async (op: Operation, calls: Record<System, () => Promise<ProcessRun>>) => {
        for (let k = 0; k < SYSTEMS.length; k++) {
          const system = SYSTEMS[(i + k) % SYSTEMS.length]!;
          const { ms } = await calls[system]();
          if (i >= WARM_UP) samples.get(system)!.get(op)!.push(ms);
        }
      };
      await each('create (ready to exec)', {
        bothub: () => bothub(['create', '--name', id]),
        podman: () => podman.run(['run', '--detach', '--name', id, PODMAN_IMAGE, 'sleep', 'infinity']),
        runc: () => runc.create(id),
      });
      for (let k = 0; k < EXECS_PER_RUN; k++) {
        await each('exec `true`', { bothub: () => bothub(['exec', id, '--', 'true']), podman: () => podman.run(['exec', id, 'true']), runc: () => runc.exec(id) });
      }
      await each('checkpoint', {
        bothub: () => bothub(['snapshot', 'create', id, '--name', `${id}-snap`]),
        podman: () => podman.run(['container', 'checkpoint', id]),
        runc: () => runc.checkpoint(id),
      });
      await each('restore', { bothub: () => bothub(['snapshot', 'restore', `${id}-snap`]), podman: () => podman.run(['container', 'restore', id]), runc: () => runc.restore(id) });
      await each('destroy', { bothub: () => bothub(['destroy', id]), podman: () => podman.run(['rm', '--force', '--time', '0', id]), runc: () => runc.destroy(id) });
      await t.api.call('deleteSnapshot', { params: { name: `${id}-snap` } });
    }
  } finally {
    await runc.close();
    await podman.close();
  }
  const of = (system: System, op: Operation) => samples.get(system)!.get(op)!;
  const p50 = (s: number[]) => percentile(s, 50);
  return [
    `${podman.version} (runc, the same CRIU) against bothub ${(await bothub(['--version'])).stdout.trim()}, both through their CLI`,
    '',
    compareHeader('bothub', 'podman'),
    ...OPERATIONS.map((op) => compareRow(op, of('bothub', op), of('podman', op), 'target ≤ 0.5×')),
    '',
    'the floor: runc (and CRIU) alone, one whole runc process per operation, same rootfs, no network',
    '',
    compareHeader('runc', 'podman'),
    ...OPERATIONS.map((op) => {
      const floor = p50(of('runc', op)) / p50(of('podman', op));
      return compareRow(op, of('runc', op), of('podman', op), floor > 0.5 ? '0.5× podman is below the floor' : `bothub at 0.5× would be ${(0.5 / floor).toFixed(1)}× the floor`);
    }),
  ];
}
