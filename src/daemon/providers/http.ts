import { BothubError, type ErrorCode } from '../../core/index.js';
import type { ProviderName } from './types.js';

/** A provider call that has not answered in this long is failed: a hung API must not hold a rent or a reconcile forever. */
const CALL_TIMEOUT_MS = 30_000;

export interface ProviderHttpOptions {
  provider: ProviderName;
  baseUrl: string;
  key: string;
  /** The provider's own words for a failure, mapped to one of ours (no capacity, offer gone, price changed), or undefined. */
  classify?: (status: number, message: string) => ErrorCode | undefined;
}

/** The message a provider put in its error body, whichever field it uses. */
function messageOf(body: unknown, fallback: string): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const errors = b.errors as { message?: string }[] | undefined;
    for (const v of [b.msg, b.message, b.detail, b.error, errors?.[0]?.message]) if (typeof v === 'string' && v) return v;
  }
  return fallback;
}

const WHAT_NEXT: Partial<Record<ErrorCode, (p: ProviderName) => string>> = {
  PROVIDER_KEY_REJECTED: (p) => `check the key in ${p}'s console and store it again (\`PUT /api/v1/providers/${p}\`)`,
  PROVIDER_RATE_LIMITED: () => 'wait a minute and try again',
  NO_CAPACITY: () => 'pick another offer from `GET /api/v1/offers`',
  OFFER_GONE: () => 'it was taken meanwhile; pick another from `GET /api/v1/offers`',
  PRICE_CHANGED: () => 'see the new price (`GET /api/v1/offers`) and rent again',
  PROVIDER_FAILED: () => 'try again; if it persists, see the provider\'s status page',
};

/** One line for a failed provider call, with a stable code. */
export function providerError(provider: ProviderName, code: ErrorCode, what: string, message: string): BothubError {
  const next = WHAT_NEXT[code]?.(provider);
  return new BothubError(code, `${provider}: ${what} failed: ${message.replace(/\s+/g, ' ').trim().slice(0, 300)}${next ? `; ${next}` : ''}`);
}

/** JSON over HTTPS with the provider's Bearer key; every failure becomes one clear BothubError. */
export async function providerCall<T>(
  opts: ProviderHttpOptions,
  what: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const url = opts.baseUrl.replace(/\/+$/, '') + path;
  const timeout = AbortSignal.timeout(CALL_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${opts.key}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (e) {
    if (signal?.aborted) throw new BothubError('ABORTED', `${opts.provider}: ${what} was cancelled`);
    const why = timeout.aborted ? `no answer within ${CALL_TIMEOUT_MS / 1000} s` : ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
    throw new BothubError('UNAVAILABLE', `${opts.provider}: cannot reach ${url} for ${what}: ${why}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const message = messageOf(parsed, text.slice(0, 200) || `HTTP ${res.status}`);
  if (res.status === 401 || res.status === 403) throw providerError(opts.provider, 'PROVIDER_KEY_REJECTED', what, `the API key was refused (HTTP ${res.status}: ${message})`);
  if (res.status === 429) throw providerError(opts.provider, 'PROVIDER_RATE_LIMITED', what, `rate limited (HTTP 429: ${message})`);
  if (!res.ok || (parsed as { success?: boolean } | undefined)?.success === false || (parsed as { errors?: unknown[] } | undefined)?.errors?.length) {
    const code = opts.classify?.(res.status, message) ?? 'PROVIDER_FAILED';
    throw providerError(opts.provider, code, what, res.ok ? message : `HTTP ${res.status}: ${message}`);
  }
  if (parsed === undefined && text) throw providerError(opts.provider, 'PROVIDER_FAILED', what, `the reply is not JSON: ${text.slice(0, 100)}`);
  return parsed as T;
}
