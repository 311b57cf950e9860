/**
 * Frames of the exec protocol spoken with bothub-init over its unix socket.
 * Mirrors native/init/protocol.h; src/test/init-protocol.test.ts parses that
 * header and fails when the two disagree.
 */
/** The first field of every request. */
export const PROTOCOL_VERSION = '1';

export const FrameType = {
  Request: 0x52, // 'R'
  Stdin: 0x49, // 'I'
  StdinEof: 0x45, // 'E'
  Resize: 0x57, // 'W'
  Signal: 0x4b, // 'K'
  Started: 0x50, // 'P'
  Stdout: 0x4f, // 'O'
  Stderr: 0x46, // 'F'
  Exit: 0x58, // 'X'
  Error: 0x5a, // 'Z'
} as const;

export const FRAME_HEADER = 5;
export const FRAME_MAX = 1024 * 1024;

export interface InitRequest {
  argv: readonly string[];
  env: readonly string[];
  cwd: string;
  tty?: { rows: number; cols: number };
  /** Detached: output appended to logPath; "<code> <signal>" written to exitPath on exit. */
  detach?: { logPath: string; exitPath: string };
}

export function frame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(FRAME_HEADER);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export function encodeRequest(r: InitRequest): Buffer {
  const fields = [
    PROTOCOL_VERSION,
    r.cwd,
    r.tty ? '1' : '0',
    String(r.tty?.rows ?? 0),
    String(r.tty?.cols ?? 0),
    r.detach?.logPath ?? '',
    r.detach?.exitPath ?? '',
    String(r.argv.length),
    ...r.argv,
    String(r.env.length),
    ...r.env,
  ];
  for (const f of fields) if (f.includes('\0')) throw new Error('exec request fields cannot contain NUL bytes');
  return frame(FrameType.Request, Buffer.from(fields.map((f) => f + '\0').join('')));
}

/** Splits a byte stream into frames; keeps a partial frame for the next chunk. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (type: number, payload: Buffer) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= FRAME_HEADER) {
      const len = this.pending.readUInt32BE(1);
      if (len > FRAME_MAX) throw new Error(`exec frame of ${len} bytes exceeds the protocol limit`);
      if (this.pending.length < FRAME_HEADER + len) break;
      const type = this.pending[0]!;
      const payload = this.pending.subarray(FRAME_HEADER, FRAME_HEADER + len);
      this.pending = this.pending.subarray(FRAME_HEADER + len);
      onFrame(type, payload);
    }
  }
}
