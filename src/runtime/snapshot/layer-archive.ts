import type { Host } from '../../hostexec/index.js';

/**
 * The writable layer as a tar. Overlayfs records deletions as whiteouts
 * (0/0 character devices) and opaque directories as trusted.overlay.*
 * xattrs: both must survive the round trip, hence --xattrs and the numeric owners.
 */
const FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse'];

export async function packLayer(host: Host, upper: string, archive: string, signal?: AbortSignal): Promise<void> {
  await host.run('tar', ['-C', upper, '-cf', archive, ...FLAGS, '.'], { signal });
}

export async function unpackLayer(host: Host, archive: string, upper: string, signal?: AbortSignal): Promise<void> {
  await host.run('tar', ['-C', upper, '-xf', archive, ...FLAGS, '--same-permissions'], { signal });
}
