/**
 * Frames spoken with bothub-spawner over its stdin and stdout. Mirrors
 * native/spawner/protocol.h (which describes each frame); the test
 * src/test/spawner-protocol.test.ts parses that header and fails when the two
 * disagree.
 */
/** The first field of every run request. */
export const SPAWNER_PROTOCOL_VERSION = '1';

export const SpawnerFrame = {
  Run: 0x52, // 'R'
  Stdin: 0x49, // 'I'
  StdinEof: 0x45, // 'E'
  Kill: 0x4b, // 'K'
  Started: 0x50, // 'P'
  Failed: 0x5a, // 'Z'
  Stdout: 0x4f, // 'O'
  Stderr: 0x46, // 'F'
  Exit: 0x58, // 'X'
} as const;

/** Type byte, command id, payload length. */
export const SPAWNER_FRAME_HEADER = 9;
export const SPAWNER_FRAME_MAX = 1024 * 1024;

export interface SpawnRequest {
  argv: readonly string[];
  /** "NAME=value" entries: the command's whole environment. */
  env: readonly string[];
  /** '' runs it in the spawner's own working directory. */
  cwd: string;
  /** A pipe fed by Stdin frames, else /dev/null. */
  stdinPipe: boolean;
}

export function spawnerFrame(type: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const frame = Buffer.allocUnsafe(SPAWNER_FRAME_HEADER + payload.length);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(payload.length, 5);
  payload.copy(frame, SPAWNER_FRAME_HEADER);
  return frame;
}

/** The Run frame, or undefined when the request cannot travel as one (a NUL in a field, over the frame limit): child_process then reports it. */
export function encodeRun(id: number, r: SpawnRequest): Buffer | undefined {
  const fields = [SPAWNER_PROTOCOL_VERSION, r.cwd, r.stdinPipe ? '1' : '0', String(r.argv.length), ...r.argv, String(r.env.length), ...r.env];
  if (fields.some((f) => f.includes('\0'))) return undefined;
  const payload = Buffer.from(fields.join('\0') + '\0');
  return payload.length > SPAWNER_FRAME_MAX ? undefined : spawnerFrame(SpawnerFrame.Run, id, payload);
}

/** Splits the spawner's byte stream into frames; keeps a partial frame for the next chunk. */
export class SpawnerFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (type: number, id: number, payload: Buffer) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= SPAWNER_FRAME_HEADER) {
      const len = this.pending.readUInt32BE(5);
      if (len > SPAWNER_FRAME_MAX) throw new Error(`spawner frame of ${len} bytes exceeds the protocol limit`);
      if (this.pending.length < SPAWNER_FRAME_HEADER + len) break;
      const type = this.pending[0]!;
      const id = this.pending.readUInt32BE(1);
      const payload = this.pending.subarray(SPAWNER_FRAME_HEADER, SPAWNER_FRAME_HEADER + len);
      this.pending = this.pending.subarray(SPAWNER_FRAME_HEADER + len);
      onFrame(type, id, payload);
    }
  }
}
