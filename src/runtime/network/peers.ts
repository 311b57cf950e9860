import type { Host } from '../../hostexec/index.js';

/**
 * Sandbox-to-sandbox traffic. Bridge ports are isolated, so sandboxes never
 * talk at layer 2; the bridge answers their ARP for each other (proxy ARP,
 * private-VLAN style) and routes the packets, which puts every such packet
 * through this chain: allowed between the addresses of one group (one
 * owner's sandboxes created with --network peers), dropped otherwise.
 */
export const peerChain = (bridge: string) => `BH-PEER-${bridge}`;

/** The sysctls that make the host route between isolated ports. */
export const peerSysctls = (bridge: string) => [
  `net.ipv4.conf.${bridge}.proxy_arp=1`,
  `net.ipv4.conf.${bridge}.proxy_arp_pvlan=1`,
  // Proxy ARP replies are delayed up to 0.8 s by default; there is no reason to here.
  `net.ipv4.neigh.${bridge}.proxy_delay=0`,
];

/** Rewrites the chain in one atomic iptables-restore: each group's members may reach each other. */
export async function writePeerRules(host: Host, bridge: string, groups: readonly (readonly string[])[]): Promise<void> {
  const chain = peerChain(bridge);
  const lines = ['*filter', `:${chain} - [0:0]`, `-A ${chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`];
  for (const group of groups) {
    if (group.length < 2) continue;
    for (const from of group) {
      const to = group.filter((a) => a !== from);
      lines.push(`-A ${chain} -s ${from}/32 -d ${to.map((a) => `${a}/32`).join(',')} -j ACCEPT`);
    }
  }
  lines.push(`-A ${chain} -j DROP`, 'COMMIT', '');
  // --noflush: only this chain (declared above, hence emptied) changes; the rest of the table stays.
  await host.run('iptables-restore', ['-w', '--noflush'], { input: lines.join('\n') });
}
