import { type Kysely, type Migration } from 'kysely';

/** Migrations 0014 onwards, in the same rules as migrations.ts (never edit one that has shipped; add the next here). */
export const migrationsFrom0014: Record<string, Migration> = {
  '0014_rentals': {
    async up(db: Kysely<any>) {
      // GPU providers' API keys, sealed like secrets; an optional other base URL (a proxy, tests).
      await db.schema
        .createTable('providers')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('key_sealed', 'blob', (c) => c.notNull())
        .addColumn('base_url', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // Every machine bothub rents, recorded before the rent call is made (an instance is never unaccounted for).
      await db.schema
        .createTable('rentals')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('offer_id', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text')
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('usd_per_hour', 'real', (c) => c.notNull())
        .addColumn('gpu_model', 'text', (c) => c.notNull())
        .addColumn('gpu_count', 'integer', (c) => c.notNull())
        .addColumn('can_checkpoint', 'integer', (c) => c.notNull())
        .addColumn('idle_release_ms', 'integer', (c) => c.notNull())
        .addColumn('owner_id', 'text')
        .addColumn('data_dir', 'text')
        .addColumn('key_sealed', 'blob', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('ready_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('metered_at', 'text', (c) => c.notNull())
        .addColumn('failure', 'text')
        .execute();
      // A sandbox whose rented host was released: its checkpoint is here, and the next request places it again.
      await db.schema
        .createTable('parked_sandboxes')
        .addColumn('sandbox_id', 'text', (c) => c.primaryKey())
        .addColumn('rental_id', 'text', (c) => c.notNull())
        .addColumn('execs_json', 'text', (c) => c.notNull())
        .addColumn('fingerprint_json', 'text', (c) => c.notNull())
        .addColumn('parked_at', 'text', (c) => c.notNull())
        .execute();
      // Spend, metered per hour bucket, rental and sandbox ('' for a host with none).
      await db.schema
        .createTable('rental_spend')
        .addColumn('hour', 'text', (c) => c.notNull())
        .addColumn('rental_id', 'text', (c) => c.notNull())
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('sandbox_name', 'text', (c) => c.notNull())
        .addColumn('owner_id', 'text')
        .addColumn('usd', 'real', (c) => c.notNull())
        .addPrimaryKeyConstraint('rental_spend_pk', ['hour', 'rental_id', 'sandbox_id'])
        .execute();
      await db.schema
        .createTable('user_price_limits')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('max_usd_per_hour', 'real', (c) => c.notNull())
        .execute();
    },
  },
  '0015_snapshot_store': {
    async up(db: Kysely<any>) {
      // A snapshot is 'saving' from the dump until its durable copy is synced, 'ready' after (only 'ready' ones restore).
      await db.schema
        .alterTable('snapshots')
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('ready'))
        .execute();
      // Which store chunks each snapshot uses: reference counts for the collector and the sizes `snapshot list` shows.
      await db.schema
        .createTable('snapshot_chunks')
        .addColumn('snapshot_id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('snapshot_chunks_pk', ['snapshot_id', 'hash'])
        .execute();
      await db.schema.createIndex('snapshot_chunks_hash').on('snapshot_chunks').column('hash').execute();
    },
  },
  '0016_move_journal': {
    async up(db: Kysely<any>) {
      // A move in flight, one row: its phase is written before each step that cannot be taken back, so a start after a crash finishes or undoes it.
      await db.schema
        .createTable('moves')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('sandbox_id', 'text', (c) => c.notNull().unique())
        .addColumn('from_host', 'text', (c) => c.notNull())
        .addColumn('from_address', 'text')
        .addColumn('to_host', 'text', (c) => c.notNull())
        .addColumn('target_dir', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0017_leases': {
    async up(db: Kysely<any>) {
      // Leases several daemons on one database take: the leader's ("leader") and each sandbox's ("sandbox:<id>") while it is acted on.
      // expires_at is in ms since the epoch; a holder that stops renewing (killed) loses it then.
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  '0020_host_chunks': {
    async up(db: Kysely<any>) {
      // A cold image's chunks in the snapshot store, referenced as a snapshot's are (cold-images.ts).
      await db.schema
        .createTable('cold_chunks')
        .addColumn('sandbox_id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('cold_chunks_pk', ['sandbox_id', 'hash'])
        .execute();
      await db.schema.createIndex('cold_chunks_hash').on('cold_chunks').column('hash').execute();
      await db.schema
        .createTable('cold_images')
        .addColumn('sandbox_id', 'text', (c) => c.primaryKey())
        .addColumn('size_bytes', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // Chunks nothing references any more, kept (within a bound, oldest out first) so a sandbox moving back finds them here.
      await db.schema
        .createTable('chunk_cache')
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('cached_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0021_events_by_sandbox': {
    async up(db: Kysely<any>) {
      // A sandbox's newest events (`bothub events NAME`, the dashboard) without scanning everyone's back to the first.
      await db.schema.createIndex('events_by_sandbox').on('events').columns(['sandbox_name', 'id']).execute();
    },
  },
  '0022_host_snapshots': {
    async up(db: Kysely<any>) {
      // A snapshot a fleet host's agent took and keeps in its own store (control planes only): the record says which host,
      // and the spec of its sandbox as it was (a branch is recorded before the agent restores it).
      await db.schema
        .alterTable('snapshots')
        .addColumn('host', 'text', (c) => c.notNull().defaultTo('local'))
        .execute();
      await db.schema.alterTable('snapshots').addColumn('spec_json', 'text').execute();
    },
  },
  '0023_layer_chunks': {
    async up(db: Kysely<any>) {
      // An image layer kept in the store as one archive in chunks, for fleet hosts to read themselves (layer-archives.ts): its chunks in order, and their references.
      await db.schema
        .createTable('layer_archives')
        .addColumn('layer_id', 'text', (c) => c.primaryKey())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('chunks_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('layer_chunks')
        .addColumn('layer_id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('layer_chunks_pk', ['layer_id', 'hash'])
        .execute();
      await db.schema.createIndex('layer_chunks_hash').on('layer_chunks').column('hash').execute();
    },
  },
  '0024_stored_manifests': {
    async up(db: Kysely<any>) {
      // A manifest kept as an object beside the chunks (BOTHUB_STORE): its key under the prefix and the sha256 of its bytes,
      // so a daemon on a fresh data dir fetches it and checks it (manifest-store.ts).
      await db.schema
        .createTable('stored_manifests')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  '0026_shared_images': {
    async up(db: Kysely<any>) {
      // Images every daemon on the database sees (BOTHUB_STORE): recorded once their layers' archives (layer_archives) are in the store.
      // A removed one keeps its row (removed_at set) until its name is used again: a daemon's copy of it is then known to be gone, not merely unknown.
      await db.schema
        .createTable('shared_images')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text')
        .addColumn('info_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('removed_at', 'text')
        .execute();
    },
  },
};
