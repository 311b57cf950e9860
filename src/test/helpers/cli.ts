import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BOTHUB_BIN = fileURLToPath(new URL('../../../bin/bothub', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const tokens = new Map<string, string>();

/** Test daemons register their admin key, so `cli(url, …)` authenticates as the admin. */
export function registerToken(url: string, token: string): void {
  tokens.set(url, token);
}

/** Runs the real CLI binary against a daemon URL. */
export function cli(url: string, args: string[], input?: string, env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const auth = tokens.has(url) ? { BOTHUB_TOKEN: tokens.get(url)! } : {};
    const child = spawn(process.execPath, [BOTHUB_BIN, ...args], { cwd, env: { ...process.env, BOTHUB_URL: url, ...auth, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
