/**
 * The runtime's S3 side: what loads the AWS SDK. Kept out of the runtime's
 * barrel (index.ts) so that a daemon or a CLI that never uses S3 never loads
 * it; the daemon imports this with a dynamic import() when BOTHUB_STORE is s3://.
 */
export * from './snapshot/s3-chunk-store.js';
export * from './snapshot/cached-chunk-store.js';
export * from './snapshot/s3-documents.js';
