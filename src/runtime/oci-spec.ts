import { GUEST_NVIDIA_DIR, type DeviceNode, type DriverFile } from './gpu/nvidia-driver.js';
import { GUEST } from './paths.js';

/**
 * Builds the OCI runtime config for a sandbox. Pure: the same input always
 * gives the same config, which makes it easy to test and to snapshot.
 */
export interface ContainerSpec {
  hostname: string;
  rootfs: string;
  initBinary: string;
  guestDir: string;
  etcDir: string;
  /** Command the init runs as the sandbox's main process; empty for none. */
  command: readonly string[];
  /** The main process's working directory and numeric user (the image's WorkingDir and User); init stays root in /. */
  mainCwd?: string;
  mainUser?: { uid: number; gid: number };
  env: readonly string[];
  cpus?: number;
  memoryMb?: number;
  pidsLimit: number;
  /** Path of a network namespace to join; undefined for a fresh one with only loopback. */
  netnsPath?: string;
  cgroupsPath: string;
  annotations?: Record<string, string>;
  /** GPUs: their device nodes, and the driver's files bind-mounted read-only. */
  gpu?: { devices: readonly DeviceNode[]; files: readonly DriverFile[] };
}

/**
 * The capabilities a sandbox keeps: enough to install packages and run
 * servers as root inside, nothing that reaches the host (no SYS_ADMIN,
 * NET_ADMIN, SYS_MODULE, SYS_PTRACE, MKNOD, NET_RAW).
 */
export const SANDBOX_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
] as const;

/** Calls no sandbox needs and that open the kernel or the host to it. */
export const BLOCKED_SYSCALLS = [
  'acct',
  'add_key',
  'adjtimex',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'finit_module',
  'fsconfig',
  'fsmount',
  'fsopen',
  'fspick',
  'get_kernel_syms',
  'init_module',
  'ioperm',
  'iopl',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'mount',
  'mount_setattr',
  'move_mount',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'open_tree',
  'perf_event_open',
  'pivot_root',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'setns',
  'settimeofday',
  'swapoff',
  'swapon',
  'syslog',
  'umount2',
  'unshare',
  'userfaultfd',
  'vhangup',
] as const;

const CLONE_NEWUSER = 0x10000000;
const ENOSYS = 38;
const EPERM = 1;

function seccompProfile() {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: [...BLOCKED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      // New user namespaces are the usual first step of a kernel exploit.
      { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }] },
      // clone3 passes its flags in memory seccomp cannot read: answer ENOSYS so libc falls back to clone.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}

const bind = (source: string, destination: string, readonly: boolean) => ({
  destination,
  type: 'bind',
  source,
  options: ['rbind', readonly ? 'ro' : 'rw', 'nosuid', 'nodev'],
});

export const CPU_PERIOD_US = 100_000;
export const cpuQuotaUs = (cpus: number) => Math.round(cpus * CPU_PERIOD_US);

/**
 * What the NVIDIA container toolkit would add: the nodes (created by runc and
 * allowed in the device cgroup), and the driver's files read-only on a small
 * tmpfs of their own, so nothing is written into the sandbox's layer.
 */
function gpuParts(gpu: NonNullable<ContainerSpec['gpu']>) {
  return {
    devices: gpu.devices.map((d) => ({ path: d.path, type: 'c', major: d.major, minor: d.minor, fileMode: 0o666, uid: 0, gid: 0 })),
    allow: gpu.devices.map((d) => ({ allow: true, type: 'c', major: d.major, minor: d.minor, access: 'rwm' })),
    mounts: [
      { destination: GUEST_NVIDIA_DIR, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=1m'] },
      ...gpu.files.map((f) => bind(f.source, `${GUEST_NVIDIA_DIR}/${f.guest}`, true)),
    ],
  };
}

export function buildOciSpec(spec: ContainerSpec): object {
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  namespaces.push(spec.netnsPath ? { type: 'network', path: spec.netnsPath } : { type: 'network' });
  const caps = [...SANDBOX_CAPABILITIES];
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }],
    pids: { limit: spec.pidsLimit },
  };
  if (spec.memoryMb) resources.memory = { limit: spec.memoryMb * 1024 * 1024 };
  if (spec.cpus) resources.cpu = { quota: cpuQuotaUs(spec.cpus), period: CPU_PERIOD_US };
  const gpu = spec.gpu ? gpuParts(spec.gpu) : { devices: [], allow: [], mounts: [] };
  (resources.devices as object[]).push(...gpu.allow);

  return {
    ociVersion: '1.0.2',
    annotations: spec.annotations ?? {},
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [
        GUEST.init,
        '--socket',
        GUEST.socket,
        '--console',
        GUEST.console,
        ...(spec.mainCwd ? ['--cwd', spec.mainCwd] : []),
        ...(spec.mainUser ? ['--user', `${spec.mainUser.uid}:${spec.mainUser.gid}`] : []),
        ...(spec.command.length ? ['--', ...spec.command] : []),
      ],
      env: spec.env,
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: spec.rootfs, readonly: false },
    hostname: spec.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      bind(spec.guestDir, GUEST.dir, false),
      bind(spec.initBinary, GUEST.init, true),
      bind(`${spec.etcDir}/resolv.conf`, '/etc/resolv.conf', true),
      bind(`${spec.etcDir}/hosts`, '/etc/hosts', true),
      bind(`${spec.etcDir}/hostname`, '/etc/hostname', true),
      ...gpu.mounts,
    ],
    linux: {
      namespaces,
      devices: gpu.devices,
      cgroupsPath: spec.cgroupsPath,
      resources,
      seccomp: seccompProfile(),
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
