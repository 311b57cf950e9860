import type { Host, HostFiles } from '../../hostexec/index.js';

/** Where scripts/install-criu puts CRIU 4 (a wrapper around a private prefix, or a link to the host's). */
export const BOTHUB_CRIU = '/usr/local/lib/bothub/criu/criu';

export async function criuBinary(host: HostFiles, configured?: string): Promise<string> {
  if (configured) return configured;
  return (await host.exists(BOTHUB_CRIU)) ? BOTHUB_CRIU : 'criu';
}

export async function criuVersion(host: Host, binary: string): Promise<string> {
  const r = await host.run(binary, ['--version'], { allowFailure: true }).catch(() => undefined);
  return /Version: (\S+)/.exec(r?.stdout ?? '')?.[1] ?? '';
}

export async function criuCheck(host: Host, binary: string): Promise<{ ok: boolean; output: string }> {
  const r = await host.run(binary, ['check'], { allowFailure: true }).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }));
  return {
    ok: r.code === 0,
    output: (r.stdout + r.stderr)
      .trim()
      .split('\n')
      .filter((l) => !/kdat cache/.test(l))
      .join('\n'),
  };
}
