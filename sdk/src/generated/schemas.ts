// GENERATED from src/api/schemas.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
/**
 * Every body the API takes or gives, once. These schemas validate requests,
 * type the handlers, document the API (OpenAPI) and type the client. One file
 * per resource under schemas/; this barrel is what everybody imports.
 */
export * from './schemas/common.js';
export * from './schemas/sandboxes.js';
export * from './schemas/exec.js';
export * from './schemas/files.js';
export * from './schemas/images.js';
export * from './schemas/hosts.js';
export * from './schemas/snapshots.js';
export * from './schemas/doctor.js';
export * from './schemas/users.js';
export * from './schemas/secrets.js';
export * from './schemas/events.js';
export * from './schemas/previews.js';
export * from './schemas/providers.js';
export * from './schemas/snapshot-store.js';
