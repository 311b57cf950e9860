// GENERATED from src/api/channels.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
/**
 * The exec WebSocket's framing, shared by the daemon and every client: binary
 * messages carry one channel tag byte and then bytes; text messages are JSON.
 * Alone in its file, so a client can frame bytes without loading the schemas.
 */
export const Channel = { Stdin: 0, Stdout: 1, Stderr: 2 } as const;
