import type { Host } from '../../hostexec/index.js';
import { CommandError } from '../../hostexec/index.js';
import { BothubError, type UuidPair } from '../../core/index.js';

export type CudaState = 'running' | 'locked' | 'checkpointed' | 'failed';

/**
 * Talks to native/cuda/bothub-cuda-checkpoint by its command-line protocol
 * (see the C file's header): one process per call, argument arrays only.
 */
export class CudaHelper {
  constructor(
    private readonly host: Host,
    readonly binary: string,
  ) {}

  private async call(args: string[], signal?: AbortSignal): Promise<string> {
    try {
      return (await this.host.run(this.binary, args, { signal })).stdout.trim();
    } catch (e) {
      if (e instanceof CommandError) {
        const line =
          e.result.stderr
            .trim()
            .split('\n')
            .at(-1)
            ?.replace(/^bothub-cuda-checkpoint: /, '') ?? `exit ${e.result.code}`;
        throw new BothubError(e.result.code === 3 ? 'INVALID_STATE' : 'RUNTIME_FAILED', line, { cause: e });
      }
      throw e;
    }
  }

  async state(pid: number): Promise<CudaState> {
    return (await this.call(['get-state', '--pid', String(pid)])) as CudaState;
  }

  lock(pid: number, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    return this.call(['lock', '--pid', String(pid), '--timeout-ms', String(timeoutMs)], signal);
  }

  checkpoint(pid: number, signal?: AbortSignal): Promise<string> {
    return this.call(['checkpoint', '--pid', String(pid)], signal);
  }

  restore(pid: number, remap: readonly UuidPair[] = [], signal?: AbortSignal): Promise<string> {
    return this.call(['restore', '--pid', String(pid), ...remap.flatMap((p) => ['--remap', `${p.from}=${p.to}`])], signal);
  }

  unlock(pid: number, signal?: AbortSignal): Promise<string> {
    return this.call(['unlock', '--pid', String(pid)], signal);
  }
}
