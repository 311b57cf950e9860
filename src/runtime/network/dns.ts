import type { Host } from '../../hostexec/index.js';

/**
 * The resolv.conf a sandbox gets: the host's own nameservers, except loopback
 * ones (127.0.0.53 of systemd-resolved), which mean nothing inside a sandbox.
 */
export async function sandboxResolvConf(host: Host, hostResolvConf = '/etc/resolv.conf'): Promise<string> {
  const text = await host.readTextFile(hostResolvConf).catch(() => '');
  const servers = [...text.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]!).filter((ip) => !ip.startsWith('127.') && ip !== '::1');
  const search = /^search\s+.+$/m.exec(text)?.[0];
  const lines = (servers.length ? servers : ['1.1.1.1', '8.8.8.8']).map((s) => `nameserver ${s}`);
  return [...(search ? [search] : []), ...lines].join('\n') + '\n';
}

export function sandboxHosts(hostname: string, address?: string): string {
  return ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${address ?? '127.0.1.1'}\t${hostname}`].join('\n') + '\n';
}
