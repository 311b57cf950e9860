import WebSocket from 'ws';
import { Deadline, type CallOptions } from './deadline.js';
import { AbortedError, CommandExitError, errorFromBody, errorFromResponse, TimeoutError, UnreachableError } from './errors.js';
import { Channel, type ExecControlT, type ExecServerMessageT } from './generated/exec-socket.js';
import type { ExecStartT } from './generated/schemas.js';
import type { Transport } from './transport.js';

export interface ExecOptions extends CallOptions {
  /** Output as it arrives (UTF-8 decoded, split wherever the bytes were). */
  onStdout?: (data: string) => void;
  onStderr?: (data: string) => void;
  /** Written to the command, then closed; without it the command reads end-of-file at once. */
  stdin?: string | Uint8Array | AsyncIterable<Uint8Array>;
  env?: Record<string, string>;
  /** Absolute working directory inside the sandbox. */
  workdir?: string;
  /** Throw a CommandExitError when the command exits non-zero (by default the result just says so). */
  check?: boolean;
}

export interface ExecResult {
  /** The command's id in the exec ledger. */
  id: string;
  /** Exit code; 128+N when killed by signal N (137 when the timeout killed it). */
  exitCode: number;
  signal: number | null;
  stdout: string;
  stderr: string;
  /** The kernel killed a process of the sandbox for exceeding its memory limit. */
  oomKilled: boolean;
  /** The deadline passed and the command was killed (SIGKILL). */
  timedOut: boolean;
  durationMs: number;
}

const STDIN_CHUNK = 1024 * 1024;
/** How long a command killed for its deadline may take to report its exit before the socket is cut. */
const KILL_GRACE_MS = 10_000;
const SIGKILL = 9;

/** `sh -c` for a string, the arguments as they are for an array. */
export const commandLine = (cmd: string | string[]): string[] => (typeof cmd === 'string' ? ['/bin/sh', '-c', cmd] : cmd);

/**
 * Runs a command over the exec WebSocket: output streams to the callbacks as
 * it comes, stdin is sent then closed, and the deadline kills the command
 * (SIGKILL, reported as timedOut) while the caller's signal kills it and
 * rejects with an AbortedError.
 */
export function execStream(transport: Transport, sandbox: string, cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const deadline = Deadline.of(opts, transport.options.timeoutMs);
  const begun = Date.now();
  const url = transport.url('execStream', { name: sandbox });
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const start: ExecStartT = { command: commandLine(cmd), ...(opts.env ? { env: opts.env } : {}), ...(opts.workdir ? { workdir: opts.workdir } : {}) };

  return new Promise<ExecResult>((resolve, reject) => {
    deadline.check();
    const ws = new WebSocket(url, { headers: transport.headers() });
    const out = { id: '', timedOut: false };
    const streams = {
      [Channel.Stdout]: { text: '', decoder: new TextDecoder(), on: opts.onStdout },
      [Channel.Stderr]: { text: '', decoder: new TextDecoder(), on: opts.onStderr },
    };
    /** The rest of a stream's text, once the command ended. */
    const rest = (s: (typeof streams)[1]) => s.text + s.decoder.decode();
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(grace);
      deadline.signal?.removeEventListener('abort', onAbort);
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close();
      fn();
    };
    const control = (msg: ExecControlT) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(msg));

    function onAbort() {
      const fired = deadline.fired() ?? new AbortedError('ABORTED', 'cancelled');
      control({ type: 'signal', signal: SIGKILL });
      // The caller cancelled, or nothing runs yet: report the cancellation now.
      if (!(fired instanceof TimeoutError) || ws.readyState !== WebSocket.OPEN) return finish(() => reject(fired));
      // The deadline: the command is killed and its exit reported, marked timedOut.
      out.timedOut = true;
      grace = setTimeout(() => finish(() => reject(fired)), KILL_GRACE_MS);
    }
    deadline.signal?.addEventListener('abort', onAbort, { once: true });

    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => void errorFromResponse(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500 })).then((e) => finish(() => reject(e))));
    });
    ws.on('error', (e) => finish(() => reject(deadline.error(e, transport.baseUrl))));
    ws.on('open', () => {
      ws.send(JSON.stringify(start));
      void sendStdin(ws, opts.stdin).catch((e: unknown) => finish(() => reject(deadline.error(e, transport.baseUrl))));
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const stream = streams[data[0] as keyof typeof streams] as (typeof streams)[1] | undefined;
        if (!stream) return;
        const text = stream.decoder.decode(data.subarray(1), { stream: true });
        stream.text += text;
        stream.on?.(text);
        return;
      }
      const msg = JSON.parse(data.toString()) as ExecServerMessageT;
      if (msg.type === 'started') out.id = msg.id;
      else if (msg.type === 'error') finish(() => reject(errorFromBody(msg)));
      else if (msg.type === 'exit') {
        const result: ExecResult = {
          id: out.id,
          exitCode: msg.exitCode,
          signal: msg.signal,
          stdout: rest(streams[Channel.Stdout]),
          stderr: rest(streams[Channel.Stderr]),
          oomKilled: msg.oomKilled,
          timedOut: out.timedOut,
          durationMs: Date.now() - begun,
        };
        finish(() => (opts.check && result.exitCode !== 0 ? reject(new CommandExitError(result)) : resolve(result)));
      }
    });
    ws.on('close', () => finish(() => reject(new UnreachableError('UNAVAILABLE', 'the daemon closed the connection before the command finished; see `bothub ps` for its status'))));
  });
}

async function sendStdin(ws: WebSocket, stdin: ExecOptions['stdin']): Promise<void> {
  const frame = (b: Uint8Array) => ws.send(Buffer.concat([Buffer.from([Channel.Stdin]), b]));
  if (typeof stdin === 'string' || stdin instanceof Uint8Array) {
    const bytes = typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
    for (let i = 0; i < bytes.length; i += STDIN_CHUNK) frame(bytes.subarray(i, i + STDIN_CHUNK));
  } else if (stdin) {
    for await (const chunk of stdin) {
      if (ws.readyState !== WebSocket.OPEN) return;
      frame(chunk);
    }
  }
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'eof' } satisfies ExecControlT));
}
