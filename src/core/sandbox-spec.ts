/**
 * What defines a sandbox, apart from its identity and state: what a create
 * asks for, what a snapshot manifest records, and what a branch is made from.
 */
export interface SandboxSpec {
  image: string;
  cpus: number | null;
  memoryMb: number | null;
  pidsLimit: number;
  network: 'default' | 'none';
  command: string[];
  env: Record<string, string>;
  /** Names of the owner's secrets the sandbox gets; never their values. */
  secrets: string[];
  idleWarmMs: number | null;
  idleColdMs: number | null;
  keepHot: boolean;
}
