import type { SandboxT } from '../../../src/api/schemas.js';
import { call } from './api.js';
import { parseRoute } from './router.js';

/**
 * The fleet page's list, asked for while the session is checked rather than
 * after: the first page is usable one round trip sooner. Signed out, it fails
 * quietly and the page loads it again.
 */
let first: Promise<SandboxT[] | undefined> | undefined = parseRoute(location.hash).page === 'fleet' ? call('listSandboxes').catch(() => undefined) : undefined;

export async function fleetList(signal: AbortSignal): Promise<SandboxT[]> {
  const early = first;
  first = undefined;
  return (await early) ?? call('listSandboxes', { signal });
}
