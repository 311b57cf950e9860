import { Type } from 'typebox';
import { MoveSandbox, type MoveResultT } from '../../api/index.js';
import { tool } from '../tool-kit.js';
import { sandboxArg, snapshotArg } from './args.js';

export const fleetTools = [
  tool({
    name: 'list_hosts',
    description: 'The machines sandboxes can run on ("local" is the daemon\'s own): reachable or not, how many sandboxes, CPUs, memory, GPUs.',
    input: Type.Object({}, { additionalProperties: false }),
    annotations: { readOnlyHint: true },
    run: async (_args, { api }) => ({
      hosts: (await api.call('listHosts')).map((h) => ({
        name: h.name,
        status: h.status,
        ...(h.statusReason ? { statusReason: h.statusReason } : {}),
        sandboxes: h.sandboxes,
        cpus: h.fingerprint.cpus,
        memoryBytes: h.fingerprint.memoryBytes,
        gpus: h.fingerprint.gpu?.devices.map((d) => d.name) ?? [],
        kernel: h.fingerprint.kernel,
      })),
    }),
  }),
  tool({
    name: 'snapshot_hosts',
    description:
      'Which hosts could restore (or branch) a snapshot: for each host, compatible true or false, and for the others every reason (missing CPU features, kernel, CRIU version, GPU driver...).',
    input: Type.Object({ snapshot: snapshotArg }, { additionalProperties: false }),
    annotations: { readOnlyHint: true },
    run: async ({ snapshot }, { api }) => ({ hosts: await api.call('snapshotHosts', { params: { name: snapshot } }) }),
  }),
  tool({
    name: 'move_sandbox',
    description:
      'Move a running sandbox to another host (see list_hosts) with its processes and files: checkpoint, transfer, restore, check. Any failure leaves it running where it was. ' +
      'Returns where it went, the bytes moved and how long each step took.',
    input: Type.Object({ sandbox: sandboxArg, ...MoveSandbox.properties }, { additionalProperties: false }),
    run: async ({ sandbox, to }, { api, progress }) => {
      const r = await api.progress<MoveResultT>('moveSandbox', { params: { name: sandbox }, body: { to } }, progress);
      return { sandbox: r.sandbox.name, from: r.from, to: r.to, address: r.sandbox.address, bytes: r.bytes, snapshotMs: r.snapshotMs, transferMs: r.transferMs, restoreMs: r.restoreMs, totalMs: r.totalMs };
    },
  }),
];
