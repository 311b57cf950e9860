import type { Host } from '../../hostexec/index.js';
import { gatewayOf, intToIp, type Subnet } from '../../core/index.js';
import { peerChain, peerSysctls, writePeerRules } from './peers.js';

export interface BridgeConfig {
  name: string;
  subnet: Subnet;
  /** Host TCP ports sandboxes may reach on the bridge address; everything else on the host is closed to them. */
  allowedHostPorts?: readonly number[];
}

/**
 * iptables waiting for the xtables lock (`-w`) rather than failing at once
 * when another program (a second daemon, docker) is changing rules: the
 * legacy backend answers such a clash with exit 4.
 */
const iptables = (host: Host, args: string[], options?: { allowFailure: true }) => host.run('iptables', ['-w', ...args], options);

const cidr = (s: Subnet) => `${intToIp(s.network)}/${s.prefix}`;
/** Our own INPUT chain per bridge: rebuilt whole at each start, removed with the bridge. */
const inputChain = (bridge: string) => `BH-IN-${bridge}`;

function forwardRules(bridge: BridgeConfig): string[][] {
  return [
    ['-t', 'nat', 'POSTROUTING', '-s', cidr(bridge.subnet), '!', '-o', bridge.name, '-j', 'MASQUERADE'],
    ['-t', 'filter', 'FORWARD', '-i', bridge.name, '!', '-o', bridge.name, '-j', 'ACCEPT'],
    // Sandbox to sandbox: routed by the host (see peers.ts), decided by the peer chain.
    ['-t', 'filter', 'FORWARD', '-i', bridge.name, '-o', bridge.name, '-j', peerChain(bridge.name)],
    ['-t', 'filter', 'FORWARD', '-o', bridge.name, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    ['-t', 'filter', 'INPUT', '-i', bridge.name, '-j', inputChain(bridge.name)],
  ];
}

/**
 * The host side of sandbox networking: one bridge, forwarding, outbound NAT
 * for the subnet, and a closed door from sandboxes to the host itself (the
 * daemon's API, anything listening on the host) except replies to the host's
 * own connections and explicitly allowed ports. Idempotent.
 */
export async function ensureBridge(host: Host, bridge: BridgeConfig): Promise<void> {
  const exists = (await host.run('ip', ['link', 'show', bridge.name], { allowFailure: true })).code === 0;
  if (!exists) {
    await host.run('ip', ['link', 'add', bridge.name, 'type', 'bridge']);
  }
  const addrs = (await host.run('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge.name])).stdout;
  const gw = `${gatewayOf(bridge.subnet)}/${bridge.subnet.prefix}`;
  if (!addrs.includes(` ${gw} `)) await host.run('ip', ['addr', 'add', gw, 'dev', bridge.name]);
  await host.run('ip', ['link', 'set', bridge.name, 'up']);
  await host.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', ...peerSysctls(bridge.name)]);
  // Closed until the daemon says which sandboxes are peers.
  await writePeerRules(host, bridge.name, []);

  const chain = inputChain(bridge.name);
  await iptables(host, ['-t', 'filter', '-N', chain], { allowFailure: true });
  await iptables(host, ['-t', 'filter', '-F', chain]);
  const input: string[][] = [
    ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    ...(bridge.allowedHostPorts ?? []).map((p) => ['-p', 'tcp', '--dport', String(p), '-j', 'ACCEPT']),
    ['-j', 'DROP'],
  ];
  for (const rule of input) await iptables(host, ['-t', 'filter', '-A', chain, ...rule]);
  for (const [tableFlag, table, builtin, ...rule] of forwardRules(bridge)) {
    const check = await iptables(host, [tableFlag!, table!, '-C', builtin!, ...rule], { allowFailure: true });
    if (check.code !== 0) await iptables(host, [tableFlag!, table!, builtin === 'INPUT' || rule.includes(peerChain(bridge.name)) ? '-I' : '-A', builtin!, ...rule]);
  }
}

/** Removes the bridge and its rules (tests with their own bridge clean up with this). */
export async function removeBridge(host: Host, bridge: BridgeConfig): Promise<void> {
  for (const [tableFlag, table, builtin, ...rule] of forwardRules(bridge)) {
    await iptables(host, [tableFlag!, table!, '-D', builtin!, ...rule], { allowFailure: true });
  }
  await iptables(host, ['-t', 'filter', '-F', inputChain(bridge.name)], { allowFailure: true });
  await iptables(host, ['-t', 'filter', '-X', inputChain(bridge.name)], { allowFailure: true });
  await iptables(host, ['-t', 'filter', '-F', peerChain(bridge.name)], { allowFailure: true });
  await iptables(host, ['-t', 'filter', '-X', peerChain(bridge.name)], { allowFailure: true });
  await host.run('ip', ['link', 'del', bridge.name], { allowFailure: true });
}
