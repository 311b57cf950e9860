import { join } from 'node:path';

/** Where everything of a data dir lives; one place, so nothing is guessed. */
export class DataLayout {
  constructor(
    readonly dataDir: string,
    readonly imagesDir: string = join(dataDir, 'images'),
  ) {}

  get db(): string {
    return join(this.dataDir, 'bothub.db');
  }
  get runcRoot(): string {
    return join(this.dataDir, 'runc');
  }
  get sandboxesDir(): string {
    return join(this.dataDir, 'sandboxes');
  }
  get trashDir(): string {
    return join(this.dataDir, 'trash');
  }
  /** Empty writable-layer images made ahead for the next creates (see spare-layers.ts). */
  get spareLayersDir(): string {
    return join(this.dataDir, 'spare-layers');
  }
  /** CRIU's logs of failed restores, kept after the sandbox's own directory is gone. */
  get criuLogsDir(): string {
    return join(this.dataDir, 'criu-logs');
  }
  sandbox(id: string): SandboxPaths {
    return new SandboxPaths(join(this.sandboxesDir, id));
  }
  image(name: string): string {
    return join(this.imagesDir, name);
  }
}

/** One sandbox's directory: its OCI bundle, overlay layers and control files. */
export class SandboxPaths {
  constructor(readonly dir: string) {}
  get config(): string {
    return join(this.dir, 'config.json');
  }
  get rootfs(): string {
    return join(this.dir, 'rootfs');
  }
  /** The writable layer: its own ext4 image mounted here when it has a size limit (see writable-layer.ts). */
  get layer(): string {
    return join(this.dir, 'layer');
  }
  /** That image: a sparse file. */
  get disk(): string {
    return join(this.dir, 'disk.img');
  }
  get upper(): string {
    return join(this.layer, 'upper');
  }
  get work(): string {
    return join(this.layer, 'work');
  }
  /** Bind-mounted at /.bothub inside: init's socket, the console log, detached command logs. */
  get guest(): string {
    return join(this.dir, 'guest');
  }
  get execSocket(): string {
    return join(this.guest, 'exec.sock');
  }
  get consoleLog(): string {
    return join(this.guest, 'console.log');
  }
  /** Every command's output (and a detached one's exit status), by exec id; travels with snapshots. */
  get execs(): string {
    return join(this.guest, 'execs');
  }
  execLog(execId: string): string {
    return join(this.execs, `${execId}.log`);
  }
  execExit(execId: string): string {
    return join(this.execs, `${execId}.exit`);
  }
  get etc(): string {
    return join(this.dir, 'etc');
  }
}

/** Paths as the sandbox sees them. */
export const GUEST = {
  dir: '/.bothub',
  init: '/.bothub/init',
  socket: '/.bothub/exec.sock',
  console: '/.bothub/console.log',
  execLog: (execId: string) => `/.bothub/execs/${execId}.log`,
  execExit: (execId: string) => `/.bothub/execs/${execId}.exit`,
} as const;
