import { FitAddon } from '@xterm/addon-fit';
import { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import './terminal.css';
import { useEffect, useRef, useState } from 'react';
import { ErrorNote } from '../../components/ErrorNote.js';
import { routeUrl, socketUrl } from '../../lib/api.js';
import { sandboxHref } from '../../lib/router.js';

/** The shell the terminal starts: bash where the image has it, sh otherwise. */
const SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];
const STDIN = 0;
const encoder = new TextEncoder();
/** Kept the same as terminal.css, which stands in for the styles xterm.js would inject. */
const FONT = "ui-monospace, 'DejaVu Sans Mono', monospace";
const THEME = {
  background: '#1d2126',
  foreground: '#e8ebef',
  cursor: '#e8ebef',
  cursorAccent: '#1d2126',
  black: '#2e3436',
  red: '#cc0000',
  green: '#4e9a06',
  yellow: '#c4a000',
  blue: '#3465a4',
  magenta: '#75507b',
  cyan: '#06989a',
  white: '#d3d7cf',
  brightBlack: '#555753',
  brightRed: '#ef2929',
  brightGreen: '#8ae234',
  brightYellow: '#fce94f',
  brightBlue: '#729fcf',
  brightMagenta: '#ad7fa8',
  brightCyan: '#34e2e2',
  brightWhite: '#eeeeec',
};

type Control = { type: 'started'; id: string } | { type: 'exit'; exitCode: number; signal: number | null } | { type: 'error'; code: string; message: string };

/**
 * xterm.js over the exec WebSocket: a new shell, or (attachId) a running
 * interactive command re-joined, its scrollback replayed through the
 * terminal's own parser. Closing the page leaves the shell running, to attach to.
 */
export function Terminal({ name, attachId }: { name: string; attachId?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const term = useRef<XTerm>(null);
  const [execId, setExecId] = useState<string>();
  const [state, setState] = useState('connecting');
  const [error, setError] = useState<string>();
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const t = new XTerm({ cursorBlink: true, fontSize: 14, fontFamily: FONT, scrollback: 5000, theme: THEME });
    const fit = new FitAddon();
    t.loadAddon(fit);
    t.open(box.current!);
    fit.fit();
    term.current = t;
    setError(undefined);
    const url = attachId ? routeUrl('attachExec', { name, id: attachId }) : routeUrl('execStream', { name });
    const ws = new WebSocket(socketUrl(url));
    ws.binaryType = 'arraybuffer';
    const send = (data: string | Uint8Array) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const bytesIn = typeof data === 'string' ? encoder.encode(data) : data;
      const frame = new Uint8Array(bytesIn.length + 1);
      frame[0] = STDIN;
      frame.set(bytesIn, 1);
      ws.send(frame);
    };
    const resize = () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'resize', rows: t.rows, cols: t.cols }));
    ws.onopen = () => {
      setState('connected');
      if (attachId) resize();
      else ws.send(JSON.stringify({ command: SHELL, tty: { rows: t.rows, cols: t.cols } }));
      t.focus();
    };
    ws.onmessage = (m) => {
      if (m.data instanceof ArrayBuffer) return t.write(new Uint8Array(m.data).subarray(1));
      const msg = JSON.parse(String(m.data)) as Control;
      if (msg.type === 'started') setExecId(msg.id);
      else if (msg.type === 'exit') {
        t.write(`\r\n\x1b[2m[exited with code ${msg.exitCode}]\x1b[0m\r\n`);
        setState('exited');
      } else if (msg.type === 'error') setError(msg.message);
    };
    ws.onclose = () => setState((s) => (s === 'exited' ? s : 'disconnected'));
    const subs = [t.onData((d) => send(d)), t.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0)))), t.onResize(resize)];
    // Ctrl+Shift+C / Ctrl+Shift+V copy and paste, as in desktop terminals (Ctrl+C stays an interrupt).
    t.attachCustomKeyEventHandler((e) => {
      if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
      if (e.code === 'KeyC') {
        void navigator.clipboard?.writeText(t.getSelection());
        return false;
      }
      if (e.code === 'KeyV') {
        void navigator.clipboard?.readText().then((text) => t.paste(text));
        return false;
      }
      return true;
    });
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(box.current!);
    return () => {
      observer.disconnect();
      subs.forEach((s) => s.dispose());
      ws.close();
      t.dispose();
      term.current = null;
    };
  }, [name, attachId, generation]);

  return (
    <div className="terminal-page">
      <div className="row wrap">
        <span className="muted" role="status" data-testid="terminal-state">
          {attachId ? `Attached to ${attachId}` : execId ? `Shell ${execId}` : 'Shell'}: {state}
        </span>
        <button type="button" onClick={() => void navigator.clipboard?.writeText(term.current?.getSelection() ?? '')}>
          Copy selection
        </button>
        <button type="button" onClick={() => void navigator.clipboard?.readText().then((text) => term.current?.paste(text))}>
          Paste
        </button>
        {state !== 'connected' && (
          <button type="button" onClick={() => (attachId ? (location.hash = sandboxHref(name, 'terminal')) : setGeneration((g) => g + 1))}>
            New shell
          </button>
        )}
      </div>
      <ErrorNote error={error} />
      <div className="terminal" ref={box} data-testid="terminal" />
    </div>
  );
}
