import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecRecordT, ImportSandboxT, SandboxT } from '../../api/index.js';
import { BothubError, validateName, type Actor } from '../../core/index.js';
import { DEBIAN_IMAGE, isSealed, type Checkpointer, type ImageStore, type LongOperation, type SandboxRuntime } from '../../runtime/index.js';
import type { Host } from '../../hostexec/index.js';
import type { SandboxRow } from '../db/tables.js';
import { fromExecRecord, type ExecLedger } from '../services/exec-ledger.js';
import { newSandboxRow, specOf, type SandboxService } from '../services/sandbox-service.js';

/** Where a sandbox's state is copied before a daemon takes it over. */
export const incomingDir = (dataDir: string) => join(dataDir, 'incoming');

export interface ImportDeps {
  sandboxes: SandboxService;
  checkpointer: Checkpointer;
  runtime: SandboxRuntime;
  images: ImageStore;
  ledger: ExecLedger;
  /** This machine's files (where the state was copied). */
  host: Host;
  dataDir: string;
}

/** The record a sandbox travels with: its spec, not its identity on the host it left. */
export type TravellingSpec = Omit<ImportSandboxT, 'dir' | 'execs'>;

export function travellingSpec(row: SandboxRow): TravellingSpec {
  // Secret values never leave the control plane's machine, so their names do not travel either.
  const { secrets: _secrets, ...spec } = specOf(row);
  return { name: row.name, ...spec };
}

/**
 * Takes over a sandbox checkpointed on another host: its state was copied to
 * incoming/<dir>; it gets an address here and is restored (connections to its
 * old address cannot follow, so CRIU restores them closed, as for a branch).
 * Either it runs here with its ledger, or nothing of it is left.
 */
export class ImportService {
  constructor(private readonly deps: ImportDeps) {}

  /** A new record (an agent taking a sandbox from the control plane). */
  async adopt(req: ImportSandboxT, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    validateName('sandbox', req.name);
    const dir = await this.stateDir(req.dir, req.image, op);
    const { dir: _dir, execs, ...spec } = req;
    const record = await this.deps.sandboxes.insert(newSandboxRow({ ...spec, diskMb: spec.diskMb ?? null, secrets: [], ownerId: actor.id }));
    return this.deps.sandboxes.present(await this.restoreInto(record, dir, execs, op, () => this.deps.sandboxes.forget(record)));
  }

  /** An existing record comes home (a move to this daemon's own machine): same id, a local address. */
  async adoptInto(row: SandboxRow, dirName: string, execs: ExecRecordT[], op: LongOperation = {}): Promise<SandboxRow> {
    const dir = await this.stateDir(dirName, row.image, op);
    const before = { host: row.host, address: row.address };
    const local = await this.deps.sandboxes.placeLocally(row);
    return this.restoreInto(local, dir, execs, op, async () => {
      await this.deps.ledger.forget(row.id);
      await this.deps.sandboxes.setStatus(row.id, row.status, row.status_reason, { ...before, gpu_uuids_json: row.gpu_uuids_json });
    });
  }

  private async stateDir(name: string, image: string, op: LongOperation): Promise<string> {
    const dir = join(incomingDir(this.deps.dataDir), name);
    if (!existsSync(dir)) throw new BothubError('NOT_FOUND', `nothing was copied to incoming/${name} on this host; copy the sandbox's state first`);
    if (await isSealed(dir, this.deps.host)) throw new BothubError('INVALID_STATE', 'encrypted sandbox state cannot be taken over by another host');
    if (image === DEBIAN_IMAGE) await this.deps.images.ensureDebian(op);
    else if (!(await this.deps.images.get(image)))
      throw new BothubError('NOT_FOUND', `image "${image}" is not on this host; build or import it here first (\`POST /api/v1/images/${image}/build\` or \`POST /api/v1/images?name=${image}\`)`);
    else await this.deps.images.require(image); // made whole here (layers from the store) when recorded through another daemon
    return dir;
  }

  private async restoreInto(row: SandboxRow, dir: string, execs: ExecRecordT[], op: LongOperation, undo: () => Promise<void>): Promise<SandboxRow> {
    const { sandboxes, checkpointer, runtime, ledger } = this.deps;
    return sandboxes.lock.run(row.id, async () => {
      let running: SandboxRow;
      try {
        // GPUs of this machine, as many as it had (a new record has them already): the CUDA restore remaps its state onto them.
        running = await sandboxes.claim(row, async (claimed) => {
          await checkpointer.restore(sandboxes.definition(claimed), dir, { ...op, branch: true });
          await ledger.copyInto(
            row.id,
            execs.map((e) => fromExecRecord(row.id, e)),
          );
          return sandboxes.setStatus(row.id, 'running', null, { started_at: new Date().toISOString(), thermal: 'hot', snapshot_id: null });
        });
      } catch (e) {
        await runtime.destroy(sandboxes.definition(row)).catch(() => undefined);
        await undo();
        throw e;
      }
      await rm(dir, { recursive: true, force: true });
      return running;
    });
  }
}
