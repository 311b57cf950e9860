import { Type } from 'typebox';
import { CreateSnapshot, RestoreSnapshot, type SandboxT, type SnapshotT } from '../../api/index.js';
import { tool } from '../tool-kit.js';
import { nameArg, sandboxArg, snapshotArg } from './args.js';


export const snapshotTools = [
  tool({
    name: 'snapshot_sandbox',
    description:
      'Save the whole running state of a sandbox under a name: processes, memory, open files and connections, and the filesystem. ' +
      'By default the sandbox stops, snapshotted (restore_snapshot resumes it); leaveRunning: true keeps it running. ' +
      'Use it before a risky step, or to fork work with branch_snapshot. Returns the snapshot record.',
    input: Type.Object({ sandbox: sandboxArg, ...CreateSnapshot.properties, name: nameArg('A name for the snapshot (lowercase letters, digits, dashes).') }, { additionalProperties: false }),
    run: ({ sandbox, ...body }, { api, progress }) => api.progress<SnapshotT>('createSnapshot', { params: { name: sandbox }, body }, progress),
  }),
  tool({
    name: 'list_snapshots',
    description: 'List your snapshots (of one sandbox when sandbox is given): name, the sandbox it was taken of, size, when.',
    input: Type.Object({ sandbox: Type.Optional(sandboxArg) }, { additionalProperties: false }),
    annotations: { readOnlyHint: true },
    run: async ({ sandbox }, { api }) => ({ snapshots: await api.call('listSnapshots', { query: sandbox ? { sandbox } : {} }) }),
  }),
  tool({
    name: 'restore_snapshot',
    description:
      "Put the snapshot's own sandbox back exactly as it was when the snapshot was taken (its processes resume where they were; what happened since is gone). " +
      'To keep the current sandbox and get a second copy instead, use branch_snapshot. Returns the sandbox record.',
    input: Type.Object({ snapshot: snapshotArg, host: RestoreSnapshot.properties.host }, { additionalProperties: false }),
    run: ({ snapshot, host }, { api, progress }) => api.progress<SandboxT>('restoreSnapshot', { params: { name: snapshot }, body: host ? { host } : {} }, progress),
  }),
  tool({
    name: 'branch_snapshot',
    description:
      'Start a new, independent sandbox from a snapshot: same files and running processes, its own address; the original is untouched. ' +
      'Use it to try several approaches from one point. Returns the new sandbox record.',
    input: Type.Object({ snapshot: snapshotArg, name: nameArg('The new sandbox\'s name.'), host: RestoreSnapshot.properties.host }, { additionalProperties: false }),
    run: ({ snapshot, name, host }, { api, progress }) =>
      api.progress<SandboxT>('restoreSnapshot', { params: { name: snapshot }, body: { name, ...(host ? { host } : {}) } }, progress),
  }),
  tool({
    name: 'delete_snapshot',
    description: 'Delete a snapshot and free its disk space. Returns {deleted: name}.',
    input: Type.Object({ snapshot: snapshotArg }, { additionalProperties: false }),
    annotations: { destructiveHint: true },
    run: async ({ snapshot }, { api }) => {
      await api.call('deleteSnapshot', { params: { name: snapshot } });
      return { deleted: snapshot };
    },
  }),
];
