import { Type } from 'typebox';
import * as S from '../schemas/providers.js';
import { NameParams } from '../schemas/common.js';

/** For routes that rent, wait for SSH and install an agent, or bring state home: minutes. */
const LONG_MS = 30 * 60_000;

/** Rented GPU machines: provider keys, offers across providers, rentals, costs. */
export const providerRoutes = {
  listProviders: { method: 'GET', url: '/api/v1/providers', summary: 'GPU providers with a stored key (never the key) (admin).', reply: Type.Array(S.ProviderInfo), auth: 'admin' },
  addProvider: {
    method: 'PUT',
    url: '/api/v1/providers/:provider',
    summary: "Store a provider's API key, sealed at rest; it is tried once before it is stored (admin).",
    params: S.ProviderParams,
    body: S.AddProvider,
    reply: S.ProviderInfo,
    auth: 'admin',
  },
  removeProvider: { method: 'DELETE', url: '/api/v1/providers/:provider', summary: "Forget a provider's key (refused while hosts rented from it live) (admin).", params: S.ProviderParams, status: 204, auth: 'admin' },
  reconcileProviders: {
    method: 'POST',
    url: '/api/v1/providers/reconcile',
    summary: "Compare each provider's instances with the rentals on record now: an instance of bothub's that no rental owns is destroyed (admin; also runs on start and every few minutes).",
    reply: S.ReconcileReport,
    auth: 'admin',
  },
  listOffers: { method: 'GET', url: '/api/v1/offers', summary: 'Machines for rent now, across providers, cheapest first.', query: S.OffersQuery, reply: S.OffersReply, auth: 'admin' },
  rentHost: {
    method: 'POST',
    url: '/api/v1/rentals',
    summary: 'Rent a machine and add it as a host: recorded before the rent call, SSH awaited (destroyed on time-out), agent installed, gate checked (NDJSON progress, last line the rental) (admin).',
    body: S.RentHost,
    stream: 'ndjson',
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  listRentals: { method: 'GET', url: '/api/v1/rentals', summary: 'Every rental, live and ended, with its price and spend (admin).', reply: Type.Array(S.Rental), auth: 'admin' },
  releaseHost: {
    method: 'POST',
    url: '/api/v1/rentals/:name/release',
    summary: "Bring a rented host's sandboxes home (checkpointed, copied, verified), then destroy the instance (NDJSON progress, last line the rental) (admin).",
    params: S.PriceLimitParams,
    stream: 'ndjson',
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
  placeSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/place',
    summary:
      "Place a sandbox parked by a released rented host on a host again (a fleet host that can restore it, or a new rent under its owner's price limit) and thaw it there, with NDJSON progress (rent, ssh, agent, transfer, thaw); the last line is the sandbox. Any request to a parked sandbox does this first; this route shows the progress. A sandbox not parked is answered at once.",
    params: NameParams,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  getCost: { method: 'GET', url: '/api/v1/cost', summary: 'Spend on rented hosts, per host, sandbox and user (admin).', query: S.CostQuery, reply: S.CostReport, auth: 'admin' },
  setPriceLimit: {
    method: 'PUT',
    url: '/api/v1/users/:name/price-limit',
    summary: "A user's limit on the hourly price of the rented hosts their sandboxes use (null: none) (admin).",
    params: S.PriceLimitParams,
    body: S.SetPriceLimit,
    status: 204,
    auth: 'admin',
  },
} as const;
