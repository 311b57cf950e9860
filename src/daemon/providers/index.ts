import { HyperbolicProvider } from './hyperbolic.js';
import { RunpodProvider } from './runpod.js';
import type { Provider, ProviderName } from './types.js';
import { VastProvider } from './vast.js';

export * from './types.js';

/** The client for a provider, with its key and (for tests and proxies) another base URL. */
export function makeProvider(name: ProviderName, key: string, baseUrl?: string): Provider {
  switch (name) {
    case 'vast':
      return new VastProvider(key, baseUrl);
    case 'runpod':
      return new RunpodProvider(key, baseUrl);
    case 'hyperbolic':
      return new HyperbolicProvider(key, baseUrl);
  }
}
