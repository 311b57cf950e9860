import type { Host } from '../../hostexec/index.js';
import { gatewayOf, intToIp, type Subnet } from '../../core/index.js';

export interface BridgeConfig {
  name: string;
  subnet: Subnet;
}

const cidr = (s: Subnet) => `${intToIp(s.network)}/${s.prefix}`;

/**
 * The host side of sandbox networking: one bridge, forwarding, and outbound
 * NAT for the subnet. Idempotent, so every daemon start can call it.
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
  await host.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  const rules: string[][] = [
    ['-t', 'nat', 'POSTROUTING', '-s', cidr(bridge.subnet), '!', '-o', bridge.name, '-j', 'MASQUERADE'],
    ['-t', 'filter', 'FORWARD', '-i', bridge.name, '!', '-o', bridge.name, '-j', 'ACCEPT'],
    ['-t', 'filter', 'FORWARD', '-o', bridge.name, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ];
  for (const [tableFlag, table, chain, ...rule] of rules) {
    const check = await host.run('iptables', [tableFlag!, table!, '-C', chain!, ...rule], { allowFailure: true });
    if (check.code !== 0) await host.run('iptables', [tableFlag!, table!, '-A', chain!, ...rule]);
  }
}

/** Removes the bridge and its rules (tests with their own bridge clean up with this). */
export async function removeBridge(host: Host, bridge: BridgeConfig): Promise<void> {
  const rules: string[][] = [
    ['-t', 'nat', 'POSTROUTING', '-s', cidr(bridge.subnet), '!', '-o', bridge.name, '-j', 'MASQUERADE'],
    ['-t', 'filter', 'FORWARD', '-i', bridge.name, '!', '-o', bridge.name, '-j', 'ACCEPT'],
    ['-t', 'filter', 'FORWARD', '-o', bridge.name, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ];
  for (const [tableFlag, table, chain, ...rule] of rules) {
    await host.run('iptables', [tableFlag!, table!, '-D', chain!, ...rule], { allowFailure: true });
  }
  await host.run('ip', ['link', 'del', bridge.name], { allowFailure: true });
}
