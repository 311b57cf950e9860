import { spawn } from 'node:child_process';

export interface ProcessRun {
  ms: number;
  stdout: string;
}

/**
 * Runs a whole process, as a person or an agent does from a shell, and times
 * it from spawn to exit. A failure is an error with its output: a benchmark
 * of commands that fail measures nothing.
 */
export function timeProcess(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - start;
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`));
    });
  });
}

export interface ProcessCost {
  ms: number;
  /** CPU time (user + system) the process used, all its threads: less sensitive to a busy machine than its wall time. */
  cpuMs: number;
}

/** Times a whole process with bash's `time` (getrusage of the child): its wall time and its CPU time. */
export function costOfProcess(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ProcessCost> {
  const script = 'TIMEFORMAT="%3R %3U %3S"; { time "$@" >/dev/null 2>&1; } 2>&1';
  return timeProcess('bash', ['-c', script, 'bash', command, ...args], env).then(({ stdout }) => {
    const [real, user, sys] = stdout.trim().split('\n').pop()!.split(' ').map(Number);
    return { ms: real! * 1000, cpuMs: (user! + sys!) * 1000 };
  });
}
