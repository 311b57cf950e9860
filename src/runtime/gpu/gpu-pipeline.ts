import type { Logger } from 'pino';
import type { LongOperation } from '../progress.js';
import { StepError } from '../step-error.js';
import type { UuidPair } from '../../core/index.js';
import type { CudaHelper } from './cuda-helper.js';

export interface GpuFreezeOptions extends LongOperation {
  /** How long to wait for each process's CUDA calls to drain before giving up. */
  lockTimeoutMs?: number;
  /** After the dump the processes run on (a --leave-running snapshot): give their GPU state back. */
  leaveRunning: boolean;
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * The freeze of a GPU sandbox, in this order: lock CUDA in every GPU process
 * (their CUDA calls block) → checkpoint CUDA (device memory to host memory, the
 * GPU released) → `dump` (CRIU, which now sees only host memory). A failure at
 * any step undoes what was done, newest first (restore what was checkpointed,
 * unlock what was locked), so the processes run on; the error names the step.
 */
export async function freezeGpuProcesses<T>(helper: CudaHelper, pids: readonly number[], dump: () => Promise<T>, op: GpuFreezeOptions, log: Logger): Promise<T> {
  const locked: number[] = [];
  const checkpointed: number[] = [];
  const undo = async () => {
    for (const pid of [...checkpointed].reverse()) await helper.restore(pid).catch((err) => log.error({ err, pid }, 'CUDA restore during rollback failed'));
    for (const pid of [...locked].reverse()) await helper.unlock(pid).catch((err) => log.error({ err, pid }, 'CUDA unlock during rollback failed'));
  };
  let step = 'cuda lock';
  try {
    op.onProgress?.({ step, total: pids.length });
    for (const pid of pids) {
      await helper.lock(pid, op.lockTimeoutMs ?? 10_000, op.signal);
      locked.push(pid);
    }
    step = 'cuda checkpoint';
    op.onProgress?.({ step, total: pids.length });
    for (const pid of pids) {
      await helper.checkpoint(pid, op.signal);
      checkpointed.push(pid);
    }
    step = 'criu dump';
    const result = await dump();
    if (op.leaveRunning) await undo();
    return result;
  } catch (e) {
    await undo();
    throw e instanceof StepError ? e : new StepError(step, reason(e), e);
  }
}

/**
 * The thaw, in the reverse order: `restoreProcesses` (CRIU; gives the GPU
 * processes' new PIDs) → restore CUDA in each (onto other GPUs of the same
 * model when `remap` says so) → unlock. A failure names its step; the caller
 * removes the half-restored container, and the snapshot is untouched.
 */
export async function thawGpuProcesses(helper: CudaHelper, restoreProcesses: () => Promise<readonly number[]>, remap: readonly UuidPair[], op: LongOperation): Promise<void> {
  let step = 'criu restore';
  try {
    const pids = await restoreProcesses();
    step = 'cuda restore';
    op.onProgress?.({ step, total: pids.length });
    for (const pid of pids) await helper.restore(pid, remap, op.signal);
    step = 'cuda unlock';
    for (const pid of pids) await helper.unlock(pid, op.signal);
  } catch (e) {
    throw e instanceof StepError ? e : new StepError(step, reason(e), e);
  }
}
