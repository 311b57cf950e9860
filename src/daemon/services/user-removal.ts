import { BothubError, SYSTEM } from '../../core/index.js';
import type { SandboxService } from './sandbox-service.js';
import type { SnapshotService } from './snapshot-service.js';
import type { UserService } from './user-service.js';

/**
 * Removes a user: refused while it owns sandboxes, unless forced, when what
 * it owns (sandboxes, then snapshots) is destroyed first.
 */
export function userRemover(deps: { users: UserService; sandboxes: SandboxService; snapshots: SnapshotService }) {
  return async (name: string, force: boolean): Promise<void> => {
    const { users, sandboxes, snapshots } = deps;
    const user = await users.row(name);
    const owned = (await sandboxes.list(SYSTEM)).filter((s) => s.owner === user.name);
    if (owned.length && !force) {
      throw new BothubError(
        'IN_USE',
        `user "${name}" owns ${owned.length} sandbox(es) (${owned.map((s) => s.name).join(', ')}); destroy them first, or remove the user with them (\`DELETE /api/v1/users/${name}?force=true\`)`,
      );
    }
    for (const s of owned) await sandboxes.destroy(s.name, SYSTEM);
    await snapshots.removeAllOf(user.id);
    await users.remove(name);
  };
}
