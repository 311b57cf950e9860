import type { NetworkMode } from './vocabulary.js';

/**
 * What defines a sandbox, apart from its identity and state: what a create
 * asks for, what a snapshot manifest records, and what a branch is made from.
 */
export interface SandboxSpec {
  image: string;
  cpus: number | null;
  memoryMb: number | null;
  pidsLimit: number;
  network: NetworkMode;
  command: string[];
  env: Record<string, string>;
  /** Names of the owner's secrets the sandbox gets; never their values. */
  secrets: string[];
  idleWarmMs: number | null;
  idleColdMs: number | null;
  keepHot: boolean;
  /** NVIDIA GPUs it holds (which ones is the host's choice, by UUID). */
  gpus: number;
  /** Size limit of its writable layer, MB (an ext4 image of its own); null: none, it shares the data dir's disk. */
  diskMb: number | null;
}
