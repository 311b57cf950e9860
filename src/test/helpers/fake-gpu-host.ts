import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const fixture = (name: string) => fileURLToPath(new URL(`../../../src/test/fixtures/${name}`, import.meta.url));
/** The recording stand-in for native/cuda/bothub-cuda-checkpoint (same command line). */
export const FAKE_CUDA_CHECKPOINT = fixture('fake-cuda-checkpoint');

export interface FakeGpu {
  uuid: string;
  minor: number;
}

export interface FakeGpuHost {
  /** A driver root laid out as the NVIDIA driver lays out "/". */
  root: string;
  nvidiaSmi: string;
  gpus: FakeGpu[];
  model: string;
  driverVersion: string;
  /** The text of its libcuda.so.1, to recognise it inside a sandbox. */
  libcuda: string;
  /** What a process elsewhere (an agent started over SSH) needs in its environment for nvidia-smi there to list these GPUs. */
  env: { FAKE_NVIDIA_GPUS: string };
  cleanup(): void;
}

/**
 * A stand-in NVIDIA driver for machines without a GPU: what the driver puts
 * on a host (device nodes, /proc/driver/nvidia, libraries, nvidia-smi), under
 * a driver root. The nodes are the kernel's memory devices (/dev/null's 1:3
 * for the control nodes, 1:5 and 1:7 for the GPUs), so a process in a sandbox
 * can open them as a CUDA process opens the real ones, and CRIU can dump that.
 */
export function fakeGpuHost(): FakeGpuHost {
  const root = mkdtempSync(join(tmpdir(), 'bothub-fake-nvidia-'));
  const model = 'NVIDIA H100 80GB HBM3';
  const driverVersion = '550.54.15';
  const gpus: FakeGpu[] = [
    { uuid: 'GPU-0b6e1c6a-7d1f-4e55-9c2e-3f4a5b6c7d80', minor: 5 },
    { uuid: 'GPU-1c7f2d7b-8e20-4f66-ad3f-405b6c7d8e91', minor: 7 },
  ];
  mkdirSync(join(root, 'dev'));
  const node = (name: string, minor: number) => execFileSync('mknod', ['-m', '666', join(root, 'dev', name), 'c', '1', String(minor)]);
  node('nvidiactl', 3);
  node('nvidia-uvm', 3);
  gpus.forEach((g, i) => {
    node(`nvidia${g.minor}`, g.minor);
    const info = join(root, 'proc/driver/nvidia/gpus', `0000:0${i + 1}:00.0`);
    mkdirSync(info, { recursive: true });
    writeFileSync(join(info, 'information'), `Model: \t\t ${model}\nIRQ:   \t\t 42\nGPU UUID: \t ${g.uuid}\nDevice Minor: \t ${g.minor}\n`);
  });
  const lib = join(root, 'usr/lib/x86_64-linux-gnu');
  mkdirSync(lib, { recursive: true });
  const libcuda = `stand-in libcuda ${driverVersion}\n`;
  writeFileSync(join(lib, `libcuda.so.${driverVersion}`), libcuda);
  symlinkSync(`libcuda.so.${driverVersion}`, join(lib, 'libcuda.so.1'));
  writeFileSync(join(lib, `libnvidia-ml.so.${driverVersion}`), 'stand-in NVML\n');
  symlinkSync(`libnvidia-ml.so.${driverVersion}`, join(lib, 'libnvidia-ml.so.1'));
  writeFileSync(join(lib, 'libunrelated.so.1'), 'not the driver\n');
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  const nvidiaSmi = join(root, 'usr/bin/nvidia-smi');
  copyFileSync(fixture('fake-nvidia-smi'), nvidiaSmi);
  const list = join(root, 'gpus.csv');
  writeFileSync(list, gpus.map((g, i) => `${i}, ${model}, ${g.uuid}, 81559, 0, ${driverVersion}\n`).join(''));
  process.env.FAKE_NVIDIA_GPUS = list;
  return { root, nvidiaSmi, gpus, model, driverVersion, libcuda, env: { FAKE_NVIDIA_GPUS: list }, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
