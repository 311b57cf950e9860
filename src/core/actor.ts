/** Who is asking: every service call acts for one. */
export interface Actor {
  id: string;
  name: string;
  admin: boolean;
}

/** The daemon itself (reconcile, startup recovery): sees everything. */
export const SYSTEM: Actor = { id: 'system', name: 'system', admin: true };

/** A resource is visible to its owner and to admins; to anyone else it does not exist. */
export const canSee = (actor: Actor, ownerId: string | null): boolean => actor.admin || ownerId === actor.id;

/** The caller of a public route: owns nothing, may do nothing. */
export const ANONYMOUS: Actor = { id: 'anonymous', name: 'anonymous', admin: false };
