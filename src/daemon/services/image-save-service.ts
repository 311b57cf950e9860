import { BothubError, type Actor } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import type { ImageInfo, ImageStore, LongOperation, SandboxRuntime } from '../../runtime/index.js';
import { LOCAL, type SandboxService } from './sandbox-service.js';

interface Deps {
  host: Host;
  images: ImageStore;
  sandboxes: SandboxService;
  runtime: SandboxRuntime;
}

/**
 * `image save`: a sandbox's writable layer becomes the top layer of a new
 * image. A running sandbox is frozen for the copy, so the files are taken at
 * one instant, and runs again right after (it stays frozen if it already was).
 */
export class ImageSaveService {
  constructor(private readonly deps: Deps) {}

  async save(sandbox: string, imageName: string, actor: Actor, op: LongOperation = {}): Promise<ImageInfo> {
    const { images, sandboxes, runtime, host } = this.deps;
    const first = await sandboxes.row(sandbox, actor);
    if (first.host !== LOCAL)
      throw new BothubError('INVALID_STATE', `sandbox "${sandbox}" runs on host "${first.host}"; move it here first (\`POST /api/v1/sandboxes/${sandbox}/move {"to": "local"}\`) to save it`);
    const base = await images.require(first.image);
    return sandboxes.lock.run(first.id, async () => {
      const row = await sandboxes.row(sandbox, actor);
      const upper = runtime.paths(row.id).upper;
      const thaw = row.status === 'running' && row.thermal === 'hot';
      return images.save(
        imageName,
        base,
        async (dir) => {
          if (thaw) await runtime.cgroup(row.id).setFrozen(true);
          try {
            // -a keeps owners, modes, whiteout devices and overlay xattrs: the layer stays in overlay form.
            await host.run('cp', ['-a', '--reflink=auto', `${upper}/.`, dir], { signal: op.signal });
          } finally {
            if (thaw) await runtime.cgroup(row.id).setFrozen(false);
          }
        },
        actor.admin ? null : actor.id,
        op,
      );
    });
  }
}
