import type { Host } from '../../hostexec/index.js';

/**
 * The writable layer as a tar. Overlayfs records deletions as whiteouts
 * (0/0 character devices) and opaque directories as trusted.overlay.*
 * xattrs: both must survive the round trip, hence --xattrs and the numeric owners.
 */
const FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse'];
/**
 * Entries by name, not in the directory's order: that order is the file
 * system's (ext4 hashes names with a seed of its own), so the same files
 * packed after a restore or on another host would shift every byte after the
 * first difference, and no 1 MiB chunk of the archive would match the last.
 */
const PACK_ORDER = ['--sort=name'];

export async function packLayer(host: Host, upper: string, archive: string, signal?: AbortSignal): Promise<void> {
  await host.run('tar', ['-C', upper, '-cf', archive, ...FLAGS, ...PACK_ORDER, '.'], { signal });
}

export async function unpackLayer(host: Host, archive: string, upper: string, signal?: AbortSignal): Promise<void> {
  await host.run('tar', ['-C', upper, '-xf', archive, ...FLAGS, '--same-permissions'], { signal });
}
