import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import type { DoctorT } from '../../api/index.js';
import type { Host } from '../../hostexec/index.js';
import { criuCheck, criuVersion, type Runc } from '../../runtime/index.js';

const CAP_NAMES = [
  'chown',
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'linux_immutable',
  'net_bind_service',
  'net_broadcast',
  'net_admin',
  'net_raw',
  'ipc_lock',
  'ipc_owner',
  'sys_module',
  'sys_rawio',
  'sys_chroot',
  'sys_ptrace',
  'sys_pacct',
  'sys_admin',
  'sys_boot',
  'sys_nice',
  'sys_resource',
  'sys_time',
  'sys_tty_config',
  'mknod',
  'lease',
  'audit_write',
  'audit_control',
  'setfcap',
  'mac_override',
  'mac_admin',
  'syslog',
  'wake_alarm',
  'block_suspend',
  'audit_read',
  'perfmon',
  'bpf',
  'checkpoint_restore',
];

/** What CRIU needs from us; CAP_SYS_RESOURCE is optional (CRIU only logs that it cannot raise rlimits). */
const NEEDED = ['sys_admin', 'sys_ptrace', 'net_admin', 'sys_chroot', 'setpcap', 'dac_override'];

async function effectiveCapabilities(): Promise<string[]> {
  const status = await readFile('/proc/self/status', 'utf8');
  const mask = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'}`);
  return CAP_NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

/** Reports what this host can do, and what that means for snapshots. */
export async function doctor(host: Host, runc: Runc, criu: string): Promise<DoctorT> {
  const [version, check, caps, runcVersion, tracking] = await Promise.all([
    criuVersion(host, criu),
    criuCheck(host, criu),
    effectiveCapabilities(),
    runc.version().catch(() => 'missing'),
    host.run(criu, ['check', '--feature', 'mem_dirty_track'], { allowFailure: true }).then(
      (r) => r.code === 0,
      () => false,
    ),
  ]);
  const missing = NEEDED.filter((c) => !caps.includes(c));
  const major = Number(/^(\d+)/.exec(version)?.[1] ?? 0);
  const problems = [
    ...(major < 4 ? [`CRIU ${version || 'is missing'} (need 4.0 or newer: run scripts/install-criu)`] : []),
    ...(!check.ok ? ['`criu check` fails on this kernel'] : []),
    ...(missing.length ? [`missing capabilities ${missing.join(', ')}`] : []),
  ];
  const extra = [
    caps.includes('sys_resource') ? '' : ' CAP_SYS_RESOURCE is absent: CRIU cannot raise RLIMIT_NOFILE and carries on.',
    tracking
      ? ''
      : ' No memory dirty-tracking in this kernel (CONFIG_MEM_SOFT_DIRTY): every snapshot dumps all memory, so the frozen window grows with the memory held, not the memory changed.',
  ].join('');
  return {
    kernel: release(),
    cgroup: existsSync('/sys/fs/cgroup/memory') ? 'v1' : 'v2',
    runc: { path: 'runc', version: runcVersion },
    criu: { path: criu, version, check: check.ok, output: check.output, memoryTracking: tracking },
    capabilities: caps,
    snapshots: problems.length
      ? { available: false, detail: `snapshots will fail: ${problems.join('; ')}` }
      : { available: true, detail: `snapshot, restore and branch work: CRIU ${version} passes its checks.${extra}` },
  };
}
