import { gatewayOf, type Subnet } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';

/**
 * A sandbox's network namespace is named and created by bothub (not by runc),
 * so it outlives the container's processes: a checkpoint leaves it alone and a
 * restore joins it again with the same address, which keeps TCP connections.
 */
export const netnsName = (id: string) => `bothub-${id}`;
export const netnsPath = (id: string) => `/run/netns/${netnsName(id)}`;
/** Host-side veth name; interface names are limited to 15 characters. */
export const hostVethName = (id: string) => `bh${id.slice(0, 12)}`;

export async function createSandboxNetwork(host: Host, id: string, address: string, subnet: Subnet, bridgeName: string): Promise<void> {
  const ns = netnsName(id);
  const veth = hostVethName(id);
  // Two `ip -batch` runs instead of eight `ip` runs: this is on the create path.
  await host.run('ip', ['-batch', '-'], {
    input:
      [
        // The address may have belonged to a destroyed sandbox: forget its old MAC, or the first packets vanish.
        `neigh flush to ${address} dev ${bridgeName}`,
        `netns add ${ns}`,
        `link add ${veth} type veth peer name eth0 netns ${ns}`,
        `link set ${veth} master ${bridgeName} up`,
        // Isolated ports talk to the host, never to each other: one sandbox cannot reach another.
        `link set ${veth} type bridge_slave isolated on`,
      ].join('\n') + '\n',
  });
  await host.run('ip', ['-n', ns, '-batch', '-'], {
    input: ['link set lo up', `addr add ${address}/${subnet.prefix} dev eth0`, 'link set eth0 up', `route add default via ${gatewayOf(subnet)}`].join('\n') + '\n',
  });
}

/**
 * Deleting the namespace deletes eth0 and with it the host end of the pair;
 * the second line removes a host end left without its namespace. One `ip`
 * run (it is on the destroy path); -force goes on past a line that fails, as
 * either does when its object is already gone.
 */
export async function removeSandboxNetwork(host: Host, id: string): Promise<void> {
  await host.run('ip', ['-force', '-batch', '-'], { input: `netns del ${netnsName(id)}\nlink del ${hostVethName(id)}\n`, allowFailure: true });
}
