import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { routes, type RouteDef } from '../api/index.js';
import { COMMANDS } from '../cli/command-table.js';
import { CLI_COMMANDS, CLI_FLAGS, inCliTerms, withHint } from '../cli/error-hints.js';
import * as schemas from '../api/schemas.js';

/**
 * Messages below the API say what to do as API calls; the CLI says each in
 * its own commands through one table. These read the sources: a message that
 * names a call the table lacks, or a `bothub …` command, fails here.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const BELOW_THE_CLI = ['core', 'hostexec', 'runtime', 'api', 'daemon'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The source's text as its strings read: escaped backquotes plain, each `${…}` a word. */
const asWritten = (text: string) => text.replace(/\\`/g, '`').replace(/\$\{[^}]*\}/g, 'x');
const CODE = BELOW_THE_CLI.flatMap((d) => sources(join(SRC, d))).map((file) => {
  const raw = readFileSync(file, 'utf8');
  return { file: relative(SRC, file), raw, text: asWritten(raw) };
});

/** A line that is code, not a comment (comments may name CLI commands: they talk to developers). */
const codeLines = (text: string) => text.split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l));

describe('error hints: API terms below the CLI, CLI commands in one table', () => {
  it('no message below the CLI names a `bothub …` command', () => {
    const named = CODE.flatMap(({ file, text }) => codeLines(text).filter((l) => /`bothub [a-z]/.test(l)).map((l) => `${file}: ${l.trim()}`));
    // The client's own time limit and unreachable daemon name the CLI's serve and environment (the MCP stdio server shares them).
    const allowed = named.filter((l) => !l.startsWith('api/route-client.ts') && !/description: |summary: /.test(l));
    assert.deepEqual(allowed, []);
  });

  it('every API call a message names has its CLI command in the table', () => {
    const calls = new Set(CODE.flatMap(({ text }) => [...text.matchAll(/`((?:GET|POST|PUT|DELETE) \/api\/v1\/[^`]*)`/g)].map((m) => m[1]!)));
    assert.ok(calls.size > 30, `found ${calls.size} calls`);
    for (const call of calls) assert.match(inCliTerms(`\`${call}\``), /^`bothub [a-z]/, call);
  });

  it("every call in the table is a route of the API, and its command one of the CLI's", () => {
    const known = new Set((Object.values(routes) as RouteDef[]).map((r) => `${r.method} ${r.url}`));
    const words = new Set(COMMANDS.flatMap((c) => c.names));
    for (const [call, command] of Object.entries(CLI_COMMANDS)) {
      assert.ok(known.has(call.split(/[ ?]/).slice(0, 2).join(' ')), `${call} is a route`);
      assert.ok(words.has(command.split(' ')[1]!), `${command} is a command`);
    }
  });

  it('says the calls in CLI terms, keeping names, ports and paths, and adds a hint only where none is named', () => {
    assert.equal(
      withHint('INVALID_STATE', 'cannot exec sandbox "a" while it is stopped; start it (`POST /api/v1/sandboxes/a/start`)'),
      'cannot exec sandbox "a" while it is stopped; start it (`bothub start a`)',
    );
    assert.equal(
      inCliTerms('publish it first (`POST /api/v1/sandboxes/web/publish {"port": 3000}`); or `POST /api/v1/snapshots/s1/restore {"name": "NEW"}`'),
      'publish it first (`bothub publish web -p 3000`); or `bothub snapshot restore s1 --name NEW`',
    );
    assert.equal(inCliTerms('copy it as a tar (`GET /api/v1/sandboxes/a/archive?path=/work/out`)'), 'copy it as a tar (`bothub cp a:/work/out .`)');
    assert.equal(inCliTerms('(`GET /api/v1/nothing/here`)'), '(`GET /api/v1/nothing/here`)', 'a call the table lacks stays as it is');
    assert.equal(withHint('UNAVAILABLE', 'the daemon is shutting down'), 'the daemon is shutting down; check the daemon with `bothub doctor`, or start it with `bothub serve`');
    assert.equal(withHint('UNAVAILABLE', 'host "h" is unreachable; see `GET /api/v1/hosts`'), 'host "h" is unreachable; see `bothub host list`');
  });

  it('no message below the CLI names a CLI flag: it names the request field, which the CLI says as its flag', () => {
    const flags = [...Object.values(CLI_FLAGS), '--force', '--max-sandboxes', '--max-memory', '--max-disk', '--max-gpus', '--to', '--gpu', '--max-price'];
    const flag = new RegExp(`(^|[\\s(])(${flags.join('|')})\\b`);
    // Commands for an operator's shell (\`runc … --force\`, \`umount --lazy\`) are not the CLI's: their spans are left out.
    const named = CODE.flatMap(({ file, raw }) =>
      codeLines(raw)
        .map((l) => l.replace(/\\`[^`]*?\\`/g, ''))
        .filter((l) => flag.test(l))
        .map((l) => `${file}: ${l.trim()}`),
    );
    assert.deepEqual(named, []);
  });

  it('every field the CLI says as a flag is a request field of the API', () => {
    const fields = new Set<string>();
    const collect = (schema: unknown): void => {
      if (!schema || typeof schema !== 'object') return;
      const props = (schema as { properties?: Record<string, unknown> }).properties;
      for (const k of Object.keys(props ?? {})) fields.add(k);
      for (const v of Object.values(schema)) if (v && typeof v === 'object') collect(v);
    };
    for (const s of Object.values(schemas)) collect(s);
    for (const field of Object.keys(CLI_FLAGS)) assert.ok(fields.has(field), `${field} is a field of some request body`);
    assert.equal(inCliTerms('give `diskMb` (such as 2048), or leave `host` out; `other` stays'), 'give `--disk` (such as 2048), or leave `--host` out; `other` stays');
    assert.equal(
      inCliTerms('ask the admin to raise it (`PUT /api/v1/users/bob/quota {"maxSandboxes": N}`)'),
      'ask the admin to raise it (`bothub user quota bob --max-sandboxes N`)',
    );
  });
});
