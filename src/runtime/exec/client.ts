import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BothubError } from '../../core/index.js';
import { isFileError, type Host } from '../../hostexec/index.js';
import { encodeRequest, frame, FrameReader, FrameType, type InitRequest } from './protocol.js';

export interface ExecExit {
  /** Exit code; -1 when a signal ended the command. */
  exitCode: number;
  signal: number;
}

export interface ExecSessionEvents {
  stdout: [Buffer];
  stderr: [Buffer];
  started: [number];
}

/**
 * One command running under bothub-init. Output arrives as events; `done`
 * settles when the command has exited and all its output was delivered.
 */
export class ExecSession extends EventEmitter<ExecSessionEvents> {
  readonly done: Promise<ExecExit>;
  /** The command's PID once it runs; a detached command is done with us at this point. */
  readonly started: Promise<number>;
  private settled = false;

  constructor(private readonly socket: Duplex) {
    super();
    const reader = new FrameReader();
    let startedPid = 0;
    this.started = new Promise<number>((resolve, reject) => {
      this.once('started', (pid) => resolve((startedPid = pid)));
      // Built only when it is needed: an Error's stack costs more than the rest of a normal end.
      socket.once('close', () => {
        if (!startedPid) reject(new BothubError('RUNTIME_FAILED', 'the command did not start; see its error output'));
      });
    });
    this.started.catch(() => undefined);
    this.done = new Promise<ExecExit>((resolve, reject) => {
      let error: string | undefined;
      socket.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk, (type, payload) => {
            switch (type) {
              case FrameType.Stdout:
                this.emit('stdout', payload);
                break;
              case FrameType.Stderr:
                this.emit('stderr', payload);
                break;
              case FrameType.Started:
                this.emit('started', payload.readInt32BE(0));
                break;
              case FrameType.Error:
                error = payload.toString();
                break;
              case FrameType.Exit: {
                const exitCode = payload.readInt32BE(0);
                if (error) this.emit('stderr', Buffer.from(`bothub: ${error}\n`));
                this.settled = true;
                resolve({ exitCode, signal: payload.readInt32BE(4) });
                socket.end();
                break;
              }
            }
          });
        } catch (e) {
          socket.destroy(e as Error);
        }
      });
      socket.on('error', (e) => {
        if (!this.settled) reject(new BothubError('RUNTIME_FAILED', `lost the connection to the sandbox's init: ${e.message}`));
      });
      socket.on('close', () => {
        if (!this.settled) reject(new BothubError('RUNTIME_FAILED', "the sandbox's init closed the connection before the command finished; the sandbox may have stopped"));
      });
    });
    // Callers that never await `done` must not crash the process on rejection.
    this.done.catch(() => undefined);
  }

  write(data: Buffer): void {
    for (let i = 0; i < data.length; i += 65536) this.socket.write(frame(FrameType.Stdin, data.subarray(i, i + 65536)));
  }

  closeStdin(): void {
    this.socket.write(frame(FrameType.StdinEof));
  }

  resize(rows: number, cols: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt16BE(rows, 0);
    p.writeUInt16BE(cols, 2);
    this.socket.write(frame(FrameType.Resize, p));
  }

  signal(sig: number): void {
    const p = Buffer.alloc(4);
    p.writeInt32BE(sig, 0);
    this.socket.write(frame(FrameType.Signal, p));
  }

  /** Hang up: init sends SIGHUP to the command, as a closed terminal would. */
  disconnect(): void {
    this.socket.destroy();
  }
}

/**
 * Connects to init's socket on the sandbox's host. The socket's directory is
 * writable from inside the sandbox, so refuse anything but a real socket there
 * (a planted symlink would send us to a socket on the host).
 */
export async function connectInit(socketPath: string, waitMs: number, host: Host): Promise<Duplex> {
  const deadline = Date.now() + waitMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    try {
      const st = await host.lstat(socketPath);
      if (st.kind !== 'socket') throw new BothubError('RUNTIME_FAILED', `${socketPath} is not a socket; the sandbox tampered with its control directory`);
      return await host.openSocket(socketPath);
    } catch (e) {
      if (e instanceof BothubError || !isFileError(e, 'ENOENT', 'ECONNREFUSED')) throw e;
    }
    if (Date.now() >= deadline)
      throw new BothubError('RUNTIME_FAILED', "the sandbox's init is not answering; read its console log, then stop and start the sandbox");
    await sleep(delay);
  }
}

export async function startExec(host: Host, socketPath: string, request: InitRequest): Promise<ExecSession> {
  const socket = await connectInit(socketPath, 0, host);
  const session = new ExecSession(socket);
  // Held until the caller's synchronous part is done: a buffered exec's stdin and its end then go
  // out with the request in one write, one wake-up of init (each write costs ~85 µs on a VM).
  socket.cork();
  socket.write(encodeRequest(request));
  process.nextTick(() => socket.uncork());
  return session;
}
