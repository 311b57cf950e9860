import type { ExecExit, ExecSession } from '../../runtime/index.js';

/** How much of a terminal's recent output an attaching client is shown first. */
const SCROLLBACK_BYTES = 64 * 1024;

export interface TerminalClient {
  output(b: Buffer): void;
  exit(exit: ExecExit): void;
}

/**
 * An interactive command that outlives its client: the daemon holds its
 * terminal, keeps the recent screen, and lets any number of clients attach.
 */
export class LiveTerminal {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly clients = new Set<TerminalClient>();

  constructor(readonly session: ExecSession) {
    session.on('stdout', (b) => {
      this.keep(b);
      for (const c of this.clients) c.output(b);
    });
    // A lost connection to init ends the command for its clients too (as killed), rather than leaving them waiting.
    session.done.then(
      (exit) => {
        for (const c of this.clients) c.exit(exit);
      },
      () => {
        for (const c of this.clients) c.exit({ exitCode: -1, signal: 9 });
      },
    );
  }

  private keep(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - this.chunks[0]!.length >= SCROLLBACK_BYTES) this.size -= this.chunks.shift()!.length;
  }

  scrollback(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > SCROLLBACK_BYTES ? all.subarray(all.length - SCROLLBACK_BYTES) : all;
  }

  /** Returns the detach function. */
  attach(client: TerminalClient): () => void {
    this.clients.add(client);
    return () => this.clients.delete(client);
  }
}

/** The interactive commands running now, by sandbox and exec id. */
export class LiveTerminals {
  private readonly byKey = new Map<string, LiveTerminal>();

  add(sandboxId: string, execId: string, session: ExecSession): LiveTerminal {
    const t = new LiveTerminal(session);
    const key = `${sandboxId}/${execId}`;
    this.byKey.set(key, t);
    session.done.finally(() => this.byKey.delete(key)).catch(() => undefined);
    return t;
  }

  get(sandboxId: string, execId: string): LiveTerminal | undefined {
    return this.byKey.get(`${sandboxId}/${execId}`);
  }
}
