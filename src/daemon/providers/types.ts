/**
 * A GPU marketplace bothub can rent machines from. Each implementation speaks
 * that provider's own public HTTP API; the base URL can be pointed elsewhere
 * (a proxy, or the fakes the tests run).
 */
export const PROVIDER_NAMES = ['vast', 'runpod', 'hyperbolic'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Something that can be rented now, as the provider lists it. */
export interface Offer {
  provider: ProviderName;
  /** The provider's own reference for it (opaque to bothub). */
  id: string;
  gpuModel: string;
  gpuCount: number;
  /** Per GPU. */
  vramMb: number;
  usdPerHour: number;
  location: string;
  /**
   * Whether bothub can checkpoint sandboxes there: CRIU needs root with
   * CAP_SYS_ADMIN, which virtual machines give and unprivileged containers
   * (RunPod pods, Vast's default containers) do not.
   */
  canCheckpoint: boolean;
}

export interface OfferQuery {
  /** Matched against the model name, case-insensitively, ignoring spaces, dashes and underscores ("4090", "H100", "rtx-a6000"). */
  gpu?: string;
  /** At least this many GPUs. */
  count?: number;
  maxUsdPerHour?: number;
}

export interface RentRequest {
  offer: Offer;
  /** Written on the instance (label, pod name, metadata): how bothub knows its own instances when reconciling. */
  label: string;
  /** The OpenSSH public key bothub will log in with. */
  publicKey: string;
}

export interface SshAddress {
  username: string;
  address: string;
  port: number;
}

export interface Instance {
  id: string;
  /** The label bothub gave it; null for instances bothub did not rent. */
  label: string | null;
  /** starting: being provisioned; running: up (SSH may still be a moment); gone: terminated or never existed. */
  status: 'starting' | 'running' | 'gone';
  ssh: SshAddress | null;
  usdPerHour: number | null;
}

export interface Provider {
  readonly name: ProviderName;
  listOffers(q: OfferQuery, signal?: AbortSignal): Promise<Offer[]>;
  /** Returns the new instance's id as soon as the provider has accepted the order. */
  rent(req: RentRequest, signal?: AbortSignal): Promise<{ instanceId: string }>;
  /** null when the provider no longer has it. */
  getInstance(id: string, signal?: AbortSignal): Promise<Instance | null>;
  listInstances(signal?: AbortSignal): Promise<Instance[]>;
  /** Ends the instance and its bill; one already gone is not an error. */
  destroy(id: string, signal?: AbortSignal): Promise<void>;
}

/** The label bothub writes on every instance it rents, and how it recognises one. */
export const LABEL_PREFIX = 'bothub-';

/** "RTX 4090" matches "NVIDIA GeForce RTX 4090", "RTX_4090" and "rtx-4090". */
export function gpuMatches(model: string, wanted: string | undefined): boolean {
  if (!wanted) return true;
  const norm = (s: string) => s.toLowerCase().replace(/[\s_-]+/g, '');
  return norm(model).includes(norm(wanted));
}

export function offerFits(o: Offer, q: OfferQuery): boolean {
  return gpuMatches(o.gpuModel, q.gpu) && o.gpuCount >= (q.count ?? 1) && (q.maxUsdPerHour === undefined || o.usdPerHour <= q.maxUsdPerHour);
}
