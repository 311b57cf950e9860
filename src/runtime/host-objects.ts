import type { Host } from '../hostexec/index.js';
import { CGROUP_ROOT, isCgroupV2 } from './cgroups.js';
import { peerChain } from './network/peers.js';

/**
 * What the kernel holds for sandboxes, read as it is (not as records say it
 * should be): the consistency check compares the two. Each reader names
 * objects the way bothub names them (netns `bothub-<id>`, veth `bh<id>`,
 * cgroup `/bothub/<id>`), so ids come back, not kernel names.
 */
export interface HostObjects {
  /** Sandbox ids with a network namespace `bothub-<id>` (any daemon's on this machine). */
  netns: Set<string>;
  /** Sandbox ids with a host veth `bh<id>` enslaved to this daemon's bridge. */
  veths: Set<string>;
  /** Sandbox ids with a cgroup `/bothub/<id>` (any daemon's on this machine). */
  cgroups: Set<string>;
  /** Mount points under the data directory. */
  mounts: string[];
  /** Addresses named by the rules of this bridge's peer chain. */
  peerRuleAddresses: Set<string>;
}

const ID = /^[0-9a-f]{12}$/;

async function netnsIds(host: Host): Promise<Set<string>> {
  const out = (await host.run('ip', ['netns', 'list'], { allowFailure: true })).stdout;
  const ids = out
    .split('\n')
    .map((l) => /^bothub-(\S+)/.exec(l)?.[1])
    .filter((id): id is string => !!id && ID.test(id));
  return new Set(ids);
}

async function bridgeVethIds(host: Host, bridge: string): Promise<Set<string>> {
  const out = (await host.run('ip', ['-o', 'link', 'show', 'master', bridge], { allowFailure: true })).stdout;
  const ids = out
    .split('\n')
    .map((l) => /^\d+:\s+bh([0-9a-f]{12})@/.exec(l)?.[1])
    .filter((id): id is string => !!id);
  return new Set(ids);
}

/** v2: /sys/fs/cgroup/bothub; v1: every controller has its own tree, the pids one is always there. */
async function cgroupIds(host: Host): Promise<Set<string>> {
  const roots = (await isCgroupV2(host)) ? [`${CGROUP_ROOT}/bothub`] : ['pids', 'memory', 'cpu', 'freezer'].map((c) => `${CGROUP_ROOT}/${c}/bothub`);
  const ids = new Set<string>();
  for (const root of roots) {
    for (const e of await host.readdir(root).catch(() => [])) if (e.kind === 'directory' && ID.test(e.name)) ids.add(e.name);
  }
  return ids;
}

export async function mountsUnder(host: Host, dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const mounts = await host.readTextFile('/proc/self/mounts');
  return mounts
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && m.startsWith(prefix));
}

async function peerRuleAddresses(host: Host, bridge: string): Promise<Set<string>> {
  const out = (await host.run('iptables', ['-t', 'filter', '-S', peerChain(bridge)], { allowFailure: true })).stdout;
  const addresses = new Set<string>();
  for (const m of out.matchAll(/(\d+\.\d+\.\d+\.\d+)\/32/g)) addresses.add(m[1]!);
  return addresses;
}

export async function readHostObjects(host: Host, opts: { bridge: string; dataDir: string }): Promise<HostObjects> {
  const [netns, veths, cgroups, mounts, peers] = await Promise.all([
    netnsIds(host),
    bridgeVethIds(host, opts.bridge),
    cgroupIds(host),
    mountsUnder(host, opts.dataDir),
    peerRuleAddresses(host, opts.bridge),
  ]);
  return { netns, veths, cgroups, mounts, peerRuleAddresses: peers };
}
