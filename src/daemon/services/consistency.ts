import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { ConsistencyProblemT, ConsistencyReportT, SandboxT, SnapshotT } from '../../api/index.js';
import { SYSTEM } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { containerId, readHostObjects, SNAPSHOT_PARTS, type DataLayout, type HostObjects, type RuncState, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow, SnapshotRow } from '../db/tables.js';
import type { FleetPort } from './fleet-port.js';
import { coldImageIn } from './cold-images.js';
import { snapshotManifestKey } from './manifest-store.js';
import { LOCAL, type SandboxService } from './sandbox-service.js';
import type { SnapshotService } from './snapshot-service.js';
import { PARTIAL } from './snapshot-ingest.js';

export interface ConsistencyDeps {
  db: Db;
  host: Host;
  runtime: SandboxRuntime;
  layout: DataLayout;
  bridge: string;
  sandboxes: SandboxService;
  snapshots: SnapshotService;
  /** The fleet hosts, whose agents check their own machine. */
  fleet: FleetPort;
  /** Where a cold sandbox's checkpoint is. */
  coldDir: (id: string) => string;
  log: Logger;
}

type Problem = Omit<ConsistencyProblemT, 'host'>;

/** Statuses in which an operation holds the record: judged only once it is over. */
const IN_FLIGHT = new Set(['creating', 'moving']);

/** A cold checkpoint is usable once CRIU's images (or their sealed form, or their chunk list: cold-images.ts) are there. */
const coldCheckpointComplete = (dir: string) =>
  existsSync(join(dir, SNAPSHOT_PARTS.criu, 'inventory.img')) || existsSync(join(dir, SNAPSHOT_PARTS.sealedMarker)) || coldImageIn(dir);

/**
 * `bothub doctor --consistency`: the records against what each host really
 * holds. Every record must match reality (a running sandbox has its
 * container, a cold one its checkpoint, a stopped one nothing), and nothing
 * may exist that no record owns.
 *
 * The kernel's objects are machine-wide while records are per daemon (tests
 * and fleet agents run several daemons on one machine), so an object counts
 * as this daemon's only when something ties it here: a record, a directory in
 * the data dir, a veth on this daemon's bridge, a container in its runc root.
 */
export class ConsistencyChecker {
  constructor(private readonly deps: ConsistencyDeps) {}

  async check(opts: { deep?: boolean } = {}): Promise<ConsistencyReportT> {
    const problems: ConsistencyProblemT[] = [];
    const local = await this.checkLocal(opts.deep ?? false);
    problems.push(...local.problems.map((p) => ({ host: LOCAL, ...p })));
    const hosts = (await this.deps.fleet.remoteHosts()).map((name) => ({ name }));
    let restored = local.restored;
    for (const h of hosts) {
      try {
        const agent = await this.deps.fleet.agent(h.name);
        const there = await agent.call('doctorConsistency', { query: opts.deep ? { deep: true } : {} });
        problems.push(...there.problems.map((p) => ({ ...p, host: h.name })));
        restored += there.checked.restored;
        problems.push(...(await this.fleetRecords(h.name, await agent.call('listSandboxes'))).map((p) => ({ ...p, host: h.name })));
        problems.push(...(await this.fleetSnapshots(h.name, await agent.call('listSnapshots', { query: {} }))).map((p) => ({ ...p, host: h.name })));
      } catch (e) {
        problems.push({ host: h.name, kind: 'host-unreachable', subject: h.name, detail: `its agent did not answer: ${(e as Error).message}`, fix: `check it (\`POST /api/v1/hosts/${h.name}/check\`)` });
      }
    }
    return {
      ok: problems.length === 0,
      checked: { sandboxes: local.sandboxes, snapshots: local.snapshots, restored, hosts: hosts.length + 1 },
      skipped: local.skipped,
      problems,
    };
  }

  private async checkLocal(deep: boolean) {
    const { db, runtime, layout } = this.deps;
    const rows = await db.selectFrom('sandboxes').selectAll().where('host', '=', LOCAL).execute();
    // Those a fleet host keeps are its agent's to check (fleetSnapshots).
    const snapshots = await db.selectFrom('snapshots').selectAll().where('host', '=', LOCAL).execute();
    const containers = new Map((await runtime.runc.list()).map((s) => [s.id, s]));
    const objects = await readHostObjects(this.deps.host, { bridge: this.deps.bridge, dataDir: layout.dataDir });
    const busy = rows.filter((r) => IN_FLIGHT.has(r.status) || this.deps.sandboxes.lock.held(r.id));
    const skip = new Set(busy.map((r) => r.id));
    const settled = rows.filter((r) => !skip.has(r.id));

    const problems: Problem[] = [];
    for (const row of settled) problems.push(...(await this.recheckedRecord(row, containers.get(containerId(row.id)), objects, snapshots)));
    problems.push(...(await this.orphans(rows, snapshots, containers, objects, skip.size > 0)));
    problems.push(...(await this.checkSnapshots(snapshots)));
    let restored = 0;
    if (deep) {
      for (const snap of snapshots) {
        const p = await this.restoreAsBranch(snap);
        if (p) problems.push(p);
        else restored++;
      }
    }
    return { problems, restored, sandboxes: rows.length, snapshots: snapshots.length, skipped: busy.map((r) => r.name) };
  }

  /** The records placing sandboxes on a fleet host against what its agent has: one each, in the same status. */
  private async fleetRecords(host: string, there: SandboxT[]): Promise<Problem[]> {
    const rows = await this.deps.db.selectFrom('sandboxes').selectAll().where('host', '=', host).execute();
    const out: Problem[] = [];
    const byName = new Map(there.map((s) => [s.name, s]));
    for (const row of rows) {
      if (IN_FLIGHT.has(row.status) || this.deps.sandboxes.lock.held(row.id)) continue;
      const s = byName.get(row.name);
      if (!s) out.push({ kind: 'record-mismatch', subject: row.name, detail: `recorded on host "${host}", whose agent does not have it`, fix: `\`DELETE /api/v1/sandboxes/${row.name}\`` });
      else if (s.status !== row.status) out.push({ kind: 'record-mismatch', subject: row.name, detail: `recorded ${row.status}, its agent says ${s.status}`, fix: `wait for the next heartbeat, or check the host (\`POST /api/v1/hosts/${host}/check\`)` });
    }
    for (const s of there)
      if (!rows.some((r) => r.name === s.name))
        out.push({ kind: 'orphan-sandbox', subject: s.name, detail: `host "${host}"'s agent runs it but no record here places it there (a move cut short?)`, fix: 'destroy it on the agent, or look for a copy here (`GET /api/v1/sandboxes`)' });
    return out;
  }

  /**
   * The records of snapshots a fleet host keeps against what its agent has. A
   * control plane records every one it has its agents take, so there an
   * agent's snapshot without a record is an orphan too.
   */
  private async fleetSnapshots(host: string, there: SnapshotT[]): Promise<Problem[]> {
    const rows = await this.deps.db.selectFrom('snapshots').selectAll().where('host', '=', host).execute();
    const ids = new Set(there.map((s) => s.id));
    const out: Problem[] = rows
      .filter((r) => !ids.has(r.id))
      .map((r) => ({ kind: 'record-mismatch', subject: r.name, detail: `recorded as kept on host "${host}", whose agent does not have it`, fix: `\`DELETE /api/v1/snapshots/${r.name}\`` }));
    if (this.deps.fleet.controlPlaneOnly)
      for (const s of there)
        if (!rows.some((r) => r.id === s.id))
          out.push({ kind: 'orphan-snapshot', subject: s.name, detail: `host "${host}"'s agent keeps it but no record here lists it (a snapshot cut short?)`, fix: 'delete it on the agent' });
    return out;
  }

  /**
   * A record is read before the containers and objects: an operation that
   * starts and ends in between (an idle sandbox going warm) would look like a
   * mismatch. What does not match is read again, fresh, inside the sandbox's lock.
   */
  private async recheckedRecord(row: SandboxRow, state: RuncState | undefined, objects: HostObjects, snapshots: SnapshotRow[]): Promise<Problem[]> {
    if (!(await this.checkRecord(row, state, objects, snapshots)).length) return [];
    const { db, runtime, host, layout } = this.deps;
    return this.deps.sandboxes.lock.run(row.id, async () => {
      const fresh = await db.selectFrom('sandboxes').selectAll().where('id', '=', row.id).executeTakeFirst();
      if (!fresh || IN_FLIGHT.has(fresh.status) || fresh.host !== LOCAL) return [];
      const freshObjects = await readHostObjects(host, { bridge: this.deps.bridge, dataDir: layout.dataDir });
      return this.checkRecord(fresh, await runtime.state(fresh), freshObjects, await db.selectFrom('snapshots').selectAll().where('host', '=', LOCAL).execute());
    });
  }

  /** One record against its container, mount, namespace, cgroup and directories. */
  private async checkRecord(row: SandboxRow, state: RuncState | undefined, objects: HostObjects, snapshots: SnapshotRow[]): Promise<Problem[]> {
    const out: Problem[] = [];
    const name = row.name;
    const bad = (kind: string, detail: string, fix: string) => out.push({ kind, subject: name, detail, fix });
    const alive = state && (state.status === 'running' || state.status === 'paused');
    const running = row.status === 'running';
    const cold = running && row.thermal === 'cold';
    const wantContainer = running && !cold;
    const rootfs = this.deps.runtime.paths(row.id).rootfs;
    const mounted = objects.mounts.includes(rootfs);
    const restartFix = `restart the daemon (its start-up check repairs this), or stop and start it (\`POST /api/v1/sandboxes/${name}/stop\`, then \`POST /api/v1/sandboxes/${name}/start\`)`;

    if (wantContainer) {
      const want = row.thermal === 'warm' ? 'paused' : 'running';
      if (!state) bad('record-mismatch', `recorded ${row.status}/${row.thermal} but it has no container`, restartFix);
      else if (state.status !== want) bad('record-mismatch', `recorded ${row.thermal} but its container is ${state.status} (expected ${want})`, restartFix);
      if (!mounted) bad('record-mismatch', `recorded running but its root filesystem (${rootfs}) is not mounted`, restartFix);
    } else if (row.status !== 'error') {
      if (state) bad('orphan-container', `recorded ${cold ? 'cold' : row.status} but a container ${containerId(row.id)} is ${state.status}`, `\`runc --root ${this.deps.runtime.runc.root} delete --force ${containerId(row.id)}\`, or restart the daemon`);
      if (mounted) bad('orphan-mount', `recorded ${cold ? 'cold' : row.status} but ${rootfs} is still mounted`, `\`umount --lazy ${rootfs}\``);
      if (objects.cgroups.has(row.id) && !alive) bad('orphan-cgroup', `recorded ${cold ? 'cold' : row.status} but its cgroup /bothub/${row.id} is still there`, `\`cgdelete -r -g pids,memory,cpu,freezer:/bothub/${row.id}\``);
    }
    if (cold && !coldCheckpointComplete(this.deps.coldDir(row.id)))
      bad('record-mismatch', `recorded cold but its checkpoint (${this.deps.coldDir(row.id)}) is missing or incomplete`, `its state is lost: \`DELETE /api/v1/sandboxes/${name}\` (or stop and start it fresh)`);
    if (row.status === 'snapshotted' && !snapshots.some((s) => s.id === row.snapshot_id))
      bad('record-mismatch', `recorded as stopped into a snapshot (${row.snapshot_id}) that does not exist`, `\`DELETE /api/v1/sandboxes/${name}\``);
    if (!existsSync(this.deps.runtime.paths(row.id).dir)) bad('record-mismatch', `its directory ${this.deps.runtime.paths(row.id).dir} is gone`, `\`DELETE /api/v1/sandboxes/${name}\``);

    // The namespace lives while the sandbox keeps its address: running (any thermal state) or stopped into a snapshot.
    const wantNetns = row.address !== null && (running || row.status === 'snapshotted');
    if (wantNetns && !objects.netns.has(row.id)) bad('record-mismatch', `its network namespace bothub-${row.id} is missing`, restartFix);
    if (!wantNetns && row.status !== 'error' && objects.netns.has(row.id))
      bad('orphan-netns', `recorded ${row.status} but its network namespace bothub-${row.id} is still there`, `\`ip netns del bothub-${row.id}\``);
    if (wantNetns && !objects.veths.has(row.id)) bad('record-mismatch', `its veth bh${row.id} is not on bridge ${this.deps.bridge}`, restartFix);
    if (!wantNetns && row.status !== 'error' && objects.veths.has(row.id)) bad('orphan-veth', `recorded ${row.status} but its veth bh${row.id} is still on the bridge`, `\`ip link del bh${row.id}\``);
    // A disk-limited writable layer is its own ext4 image, loop-mounted exactly while the sandbox runs (the loop device goes with the mount).
    const layer = this.deps.runtime.paths(row.id).layer;
    const layerMounted = objects.mounts.includes(layer);
    if (wantContainer && row.disk_mb !== null && !layerMounted) bad('record-mismatch', `recorded running with a disk limit but its layer (${layer}) is not mounted`, restartFix);
    if (!wantContainer && row.status !== 'error' && layerMounted) bad('orphan-mount', `recorded ${cold ? 'cold' : row.status} but its layer ${layer} is still mounted`, `\`umount ${layer}\``);
    return out;
  }

  /** Objects and directories tied to this daemon that no record owns. */
  private async orphans(rows: SandboxRow[], snapshots: SnapshotRow[], containers: Map<string, RuncState>, objects: HostObjects, anyBusy: boolean): Promise<Problem[]> {
    const { layout, runtime } = this.deps;
    const out: Problem[] = [];
    const ids = new Set(rows.map((r) => r.id));
    const dirIds = new Set([...(await entries(layout.sandboxesDir)), ...(await entries(join(layout.dataDir, 'cold')))]);
    const ours = (id: string) => ids.has(id) || dirIds.has(id) || objects.veths.has(id) || containers.has(containerId(id));

    for (const [cid, state] of containers) {
      if (!rows.some((r) => containerId(r.id) === cid))
        out.push({ kind: 'orphan-container', subject: cid, detail: `a ${state.status} container no record owns`, fix: `\`runc --root ${runtime.runc.root} delete --force ${cid}\`, or restart the daemon` });
    }
    for (const id of objects.netns) if (!ids.has(id) && ours(id)) out.push({ kind: 'orphan-netns', subject: `bothub-${id}`, detail: 'a network namespace no record owns', fix: `\`ip netns del bothub-${id}\`` });
    for (const id of objects.veths) if (!ids.has(id)) out.push({ kind: 'orphan-veth', subject: `bh${id}`, detail: `a veth on bridge ${this.deps.bridge} no record owns`, fix: `\`ip link del bh${id}\`` });
    for (const id of objects.cgroups) if (!ids.has(id) && ours(id)) out.push({ kind: 'orphan-cgroup', subject: `/bothub/${id}`, detail: 'a cgroup no record owns', fix: `\`cgdelete -r -g pids,memory,cpu,freezer:/bothub/${id}\`` });
    const expectedMounts = new Set(rows.flatMap((r) => [runtime.paths(r.id).rootfs, runtime.paths(r.id).layer]));
    // A snapshot still 'saving' keeps its dump on a staging tmpfs, and writes a partial directory, until its durable copy is made;
    // a restore reading a staging area (a lazy one, until every page is in) keeps it after that too.
    const saving = [...snapshots.filter((s) => s.status === 'saving').map((s) => `${PARTIAL}${s.id}.`), ...this.deps.snapshots.stagingInUse()];
    const staged = (m: string) => saving.some((prefix) => basename(m).startsWith(prefix));
    // Scratch mounts of an encrypted snapshot being taken are in flight too.
    if (!anyBusy) for (const m of objects.mounts) if (!expectedMounts.has(m) && !staged(m)) out.push({ kind: 'orphan-mount', subject: m, detail: 'a mount in the data directory no record owns', fix: `\`umount --lazy ${m}\`` });
    const peerAddresses = new Set(rows.filter((r) => r.network === 'peers' && r.address).map((r) => r.address!));
    for (const a of objects.peerRuleAddresses)
      if (!peerAddresses.has(a)) out.push({ kind: 'orphan-rule', subject: a, detail: `a rule of chain BH-PEER-${this.deps.bridge} names an address no peers sandbox has`, fix: 'restart the daemon (it rewrites the chain from the records)' });

    for (const id of await entries(layout.sandboxesDir))
      if (!ids.has(id)) out.push({ kind: 'orphan-dir', subject: join(layout.sandboxesDir, id), detail: 'a sandbox directory no record owns', fix: `\`rm -rf ${join(layout.sandboxesDir, id)}\`` });
    const coldIds = new Set(rows.filter((r) => r.thermal === 'cold').map((r) => r.id));
    for (const id of await entries(join(layout.dataDir, 'cold')))
      if (!coldIds.has(id)) out.push({ kind: 'orphan-dir', subject: join(layout.dataDir, 'cold', id), detail: 'a cold checkpoint no cold sandbox owns', fix: `\`rm -rf ${join(layout.dataDir, 'cold', id)}\`` });
    // A destroy deletes in the background; what is left once nothing runs was cut short.
    if (!anyBusy)
      for (const e of await entries(layout.trashDir))
        if (!runtime.deleting.has(join(layout.trashDir, e))) out.push({ kind: 'orphan-dir', subject: join(layout.trashDir, e), detail: 'a destroyed sandbox whose files were not deleted', fix: `\`rm -rf ${join(layout.trashDir, e)}\`` });
    const snapIds = new Set(snapshots.map((s) => s.id));
    for (const e of await entries(this.deps.snapshots.dir)) {
      // A partial directory is a snapshot being taken; one a crash left is removed at the next start.
      if (snapIds.has(e) || e === '.chunks' || staged(e) || (anyBusy && e.startsWith('.partial-'))) continue;
      out.push({ kind: 'orphan-dir', subject: join(this.deps.snapshots.dir, e), detail: 'a snapshot directory no record owns', fix: `\`rm -rf ${join(this.deps.snapshots.dir, e)}\`` });
    }
    return out;
  }

  /** Every listed snapshot's files: the manifest, and each file at its size and checksum. */
  private async checkSnapshots(snapshots: SnapshotRow[]): Promise<Problem[]> {
    const out: Problem[] = [];
    for (const snap of snapshots.filter((s) => s.status === 'ready')) {
      try {
        const manifest = await this.deps.snapshots.manifest(snap);
        await this.deps.snapshots.verify(snap, manifest);
        // A copy in the data dir does not make up for the store's: a daemon on a fresh data dir could not restore it.
        const stored = this.deps.snapshots.chunks.manifests;
        const key = snapshotManifestKey(snap.id);
        if (stored && (await stored.recorded(key)) && !(await stored.present(key)))
          throw new Error(`its manifest ${stored.documents.location}/${key} is missing from the store: a daemon that lost its data dir could not restore it`);
      } catch (e) {
        out.push({ kind: 'damaged-snapshot', subject: snap.name, detail: (e as Error).message, fix: `\`DELETE /api/v1/snapshots/${snap.name}\`` });
      }
    }
    return out;
  }

  /** Proves a snapshot restores: a branch under a throw-away name, destroyed at once. */
  private async restoreAsBranch(snap: SnapshotRow): Promise<Problem | undefined> {
    const name = `doctor-${randomBytes(4).toString('hex')}`;
    try {
      await this.deps.snapshots.restore(snap.name, { name }, SYSTEM);
      return undefined;
    } catch (e) {
      return { kind: 'unrestorable-snapshot', subject: snap.name, detail: (e as Error).message, fix: `\`DELETE /api/v1/snapshots/${snap.name}\`` };
    } finally {
      await this.deps.sandboxes.destroy(name, SYSTEM).catch((err) => this.deps.log.debug({ err }, 'no throw-away branch to remove'));
    }
  }
}

async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
