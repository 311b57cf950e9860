import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';

/** A character device as the OCI config passes it into a container. */
export interface DeviceNode {
  /** Its path inside the container (and, under the driver root, on the host). */
  path: string;
  major: number;
  minor: number;
}

/** A driver file a GPU sandbox gets read-only, under GUEST_NVIDIA_DIR. */
export interface DriverFile {
  source: string;
  /** lib64/libcuda.so.1, bin/nvidia-smi */
  guest: string;
}

/** The NVIDIA driver of a host, as a GPU sandbox sees it. */
export interface NvidiaDriver {
  /** /dev/nvidiactl, /dev/nvidia-uvm…: every GPU sandbox gets these. */
  control: DeviceNode[];
  /** Each GPU's own node (/dev/nvidiaN), by UUID. */
  gpus: Map<string, DeviceNode>;
  files: DriverFile[];
}

/** Where the driver's libraries and tools appear inside a sandbox (the path NVIDIA's device plugins use). */
export const GUEST_NVIDIA_DIR = '/usr/local/nvidia';

/** The user-space parts of the driver a CUDA program and nvidia-smi need (the toolkit's "compute" and "utility" sets). */
const LIBRARIES = [
  'libcuda',
  'libcudadebugger',
  'libnvidia-ml',
  'libnvidia-cfg',
  'libnvidia-nvvm',
  'libnvidia-ptxjitcompiler',
  'libnvidia-opencl',
  'libnvidia-allocator',
  'libnvidia-gpucomp',
];
const BINARIES = ['nvidia-smi', 'nvidia-debugdump', 'nvidia-persistenced', 'nvidia-cuda-mps-control', 'nvidia-cuda-mps-server'];
const LIBRARY_DIRS = ['usr/lib/x86_64-linux-gnu', 'usr/lib/aarch64-linux-gnu', 'usr/lib64', 'lib/x86_64-linux-gnu', 'usr/lib'];
const BINARY_DIRS = ['usr/bin', 'usr/sbin', 'bin'];
const CONTROL_NODES = ['nvidiactl', 'nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset'];

const LIBRARY_NAME = new RegExp(`^(${LIBRARIES.map((l) => l.replace(/[-.]/g, '\\$&')).join('|')})\\.so(\\.\\d+)*$`);

async function deviceNode(host: Host, root: string, name: string): Promise<DeviceNode | undefined> {
  const st = await host.stat(join(root, 'dev', name)).catch(() => undefined);
  if (st?.kind !== 'char-device' || !st.device) return undefined;
  return { path: `/dev/${name}`, ...st.device };
}

/** UUID → device minor, from what the kernel module reports of each GPU. */
async function gpuMinors(host: Host, root: string): Promise<Map<string, number>> {
  const dir = join(root, 'proc/driver/nvidia/gpus');
  const minors = new Map<string, number>();
  for (const { name: bus } of await host.readdir(dir).catch(() => [])) {
    const info = await host.readTextFile(join(dir, bus, 'information')).catch(() => '');
    const uuid = /^GPU UUID:\s*(\S+)/m.exec(info)?.[1];
    const minor = /^Device Minor:\s*(\d+)/m.exec(info)?.[1];
    if (uuid && minor) minors.set(uuid, Number(minor));
  }
  return minors;
}

async function driverFiles(host: Host, root: string): Promise<DriverFile[]> {
  const files = new Map<string, DriverFile>();
  const collect = async (dirs: string[], match: (name: string) => boolean, guestDir: string) => {
    for (const dir of dirs) {
      for (const { name } of await host.readdir(join(root, dir)).catch(() => [])) {
        const guest = `${guestDir}/${name}`;
        if (!match(name) || files.has(guest)) continue;
        // Each name (libcuda.so.1 → libcuda.so.550.54.15) binds the file it resolves to: no symlink has to resolve inside.
        const source = await host.realpath(join(root, dir, name)).catch(() => undefined);
        if (source && (await host.stat(source)).kind === 'file') files.set(guest, { source, guest });
      }
    }
  };
  await collect(LIBRARY_DIRS, (n) => LIBRARY_NAME.test(n), 'lib64');
  await collect(BINARY_DIRS, (n) => BINARIES.includes(n), 'bin');
  return [...files.values()];
}

/**
 * Finds the driver under `root` ("/", or where a driver container mounts it)
 * the way the NVIDIA container toolkit does: the device nodes, the GPUs'
 * minors, the user-space libraries and tools. null: no NVIDIA driver here.
 */
export async function discoverNvidiaDriver(host: Host, root: string): Promise<NvidiaDriver | null> {
  const ctl = await deviceNode(host, root, 'nvidiactl');
  if (!ctl) return null;
  const control = [ctl];
  for (const name of CONTROL_NODES.slice(1)) {
    const node = await deviceNode(host, root, name);
    if (node) control.push(node);
  }
  const gpus = new Map<string, DeviceNode>();
  for (const [uuid, minor] of await gpuMinors(host, root)) {
    const node = await deviceNode(host, root, `nvidia${minor}`);
    if (node) gpus.set(uuid, node);
  }
  return { control, gpus, files: await driverFiles(host, root) };
}

/** The device nodes and driver files for these GPUs; a UUID the driver does not know is refused. */
export function gpuAttachment(driver: NvidiaDriver | null, uuids: readonly string[]): { devices: DeviceNode[]; files: DriverFile[] } {
  if (!driver) throw new BothubError('LIMIT_EXCEEDED', 'the NVIDIA driver is not loaded on this host (no /dev/nvidiactl); GPU sandboxes cannot run here');
  const devices = [...driver.control];
  for (const uuid of uuids) {
    const node = driver.gpus.get(uuid);
    if (!node) throw new BothubError('NOT_FOUND', `the NVIDIA driver on this host has no GPU ${uuid} (/proc/driver/nvidia/gpus); was it removed?`);
    devices.push(node);
  }
  return { devices, files: driver.files };
}
