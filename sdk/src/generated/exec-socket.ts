// GENERATED from src/api/exec-socket.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
/**
 * The exec WebSocket's framing, shared by the daemon and every client: binary
 * messages carry one channel tag byte and then bytes; text messages are JSON.
 */
export const Channel = { Stdin: 0, Stdout: 1, Stderr: 2 } as const;

/** Client → daemon control messages (after the first, an ExecStart for a new command). */
export type ExecControl = { type: 'eof' } | { type: 'resize'; rows: number; cols: number } | { type: 'signal'; signal: number };
