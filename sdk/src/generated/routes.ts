// GENERATED from src/api/routes.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import type { Static, TSchema } from 'typebox';
import type { RouteDef } from './routes/route-def.js';
import { userRoutes } from './routes/users.js';
import { secretRoutes } from './routes/secrets.js';
import { sandboxRoutes } from './routes/sandboxes.js';
import { eventRoutes } from './routes/events.js';
import { previewRoutes } from './routes/previews.js';
import { execRoutes } from './routes/exec.js';
import { fileRoutes } from './routes/files.js';
import { hostRoutes } from './routes/hosts.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { doctorRoutes } from './routes/doctor.js';
import { imageRoutes } from './routes/images.js';
import { providerRoutes } from './routes/providers.js';

export { LONG_MS, type RouteDef } from './routes/route-def.js';

/**
 * The route table. The daemon registers exactly these routes, with these
 * schemas, and must give each a handler; the OpenAPI document and the client
 * come from the same table. One file per resource under routes/, spread here
 * in this order (the OpenAPI document lists them so).
 */
export const routes = {
  ...userRoutes,
  ...secretRoutes,
  ...sandboxRoutes,
  ...eventRoutes,
  ...previewRoutes,
  ...execRoutes,
  ...fileRoutes,
  ...hostRoutes,
  ...snapshotRoutes,
  ...doctorRoutes,
  ...imageRoutes,
  ...providerRoutes,
} as const satisfies Record<string, RouteDef>;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

type StaticOr<T, F> = T extends TSchema ? Static<T> : F;
export type ParamsOf<K extends RouteName> = StaticOr<Routes[K] extends { params: infer P } ? P : undefined, undefined>;
export type QueryOf<K extends RouteName> = StaticOr<Routes[K] extends { query: infer Q } ? Q : undefined, undefined>;
export type BodyOf<K extends RouteName> = StaticOr<Routes[K] extends { body: infer B } ? B : undefined, undefined>;
export type ReplyOf<K extends RouteName> = StaticOr<Routes[K] extends { reply: infer R } ? R : undefined, void>;

/** Routes answered with one JSON body (or none), as opposed to streams. */
export type JsonRouteName = { [K in RouteName]: Routes[K] extends { stream: string } ? never : K }[RouteName];
export type StreamRouteName = Exclude<RouteName, JsonRouteName>;
export type SocketRouteName = { [K in RouteName]: Routes[K] extends { stream: 'websocket' } ? K : never }[RouteName];
/** Streams over HTTP (bytes, NDJSON, uploads), as opposed to WebSockets. */
export type HttpStreamRouteName = Exclude<StreamRouteName, SocketRouteName>;
export type UploadRouteName = { [K in RouteName]: Routes[K] extends { stream: 'upload' } ? K : never }[RouteName];

type SocketOf<K extends SocketRouteName> = Routes[K]['socket'];
/** The first message a socket route's client sends (undefined: it sends none). */
export type SocketStartOf<K extends SocketRouteName> = StaticOr<SocketOf<K> extends { start: infer T } ? T : undefined, undefined>;
/** The text messages a socket route's client sends after the start. */
export type ClientMessageOf<K extends SocketRouteName> = StaticOr<SocketOf<K> extends { client: infer T } ? T : undefined, never>;
/** The text messages the daemon sends on a socket route. */
export type ServerMessageOf<K extends SocketRouteName> = Static<SocketOf<K>['server']>;

export { routeUrl } from './route-url.js';
