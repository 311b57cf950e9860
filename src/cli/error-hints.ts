import type { ErrorCode } from '../core/index.js';

/**
 * What to do next, in the CLI's own commands. The daemon's messages say it in
 * API terms: a call in backquotes (`POST /api/v1/sandboxes/web/start`), or
 * nothing the CLI can act on. Two parts of one table: the command that makes
 * each API call a message may name (`:word` stands for the same part of both;
 * a call means the same whatever the error's code), and a hint by error code
 * for the messages that name no command. Every error the CLI prints goes
 * through withHint.
 */
export const CLI_COMMANDS: Record<string, string> = {
  'GET /api/v1/sandboxes': 'bothub list',
  'GET /api/v1/sandboxes/:name': 'bothub inspect :name',
  'GET /api/v1/sandboxes/:name/shares': 'bothub inspect :name',
  'GET /api/v1/sandboxes/:name/execs': 'bothub ps :name',
  'GET /api/v1/sandboxes/:name/logs': 'bothub logs :name',
  'GET /api/v1/sandboxes/:name/execs/:id/logs': 'bothub logs :name --exec :id',
  'GET /api/v1/sandboxes/:name/execs/:id/logs?follow=true': 'bothub logs :name --exec :id -f',
  'GET /api/v1/events?sandbox=:name': 'bothub events :name',
  'GET /api/v1/snapshots': 'bothub snapshot list',
  'GET /api/v1/snapshots/:name': 'bothub snapshot inspect :name',
  'GET /api/v1/doctor/consistency': 'bothub doctor --consistency',
  'GET /api/v1/hosts': 'bothub host list',
  'GET /api/v1/images': 'bothub image list',
  'GET /api/v1/users': 'bothub user list',
  'GET /api/v1/secrets': 'bothub secret list',
  'GET /api/v1/registries': 'bothub registry list',
  'GET /api/v1/providers': 'bothub provider list',
  'GET /api/v1/offers': 'bothub offers',
  'GET /api/v1/rentals': 'bothub host rentals',
  'POST /api/v1/sandboxes/:name/start': 'bothub start :name',
  'POST /api/v1/sandboxes/:name/stop': 'bothub stop :name',
  'DELETE /api/v1/sandboxes/:name': 'bothub destroy :name',
  'POST /api/v1/sandboxes/:name/resume': 'bothub resume :name',
  'POST /api/v1/sandboxes/:name/snapshots': 'bothub snapshot create :name',
  'POST /api/v1/sandboxes/:name/move {"to": ":host"}': 'bothub move :name --to :host',
  'POST /api/v1/sandboxes/:name/place': 'bothub place :name',
  'POST /api/v1/sandboxes/:name/publish {"port": :port}': 'bothub publish :name -p :port',
  'POST /api/v1/sandboxes/:name/shares': 'bothub share :name -p PORT',
  'POST /api/v1/sandboxes/:name/exec': 'bothub exec :name --',
  'GET /api/v1/sandboxes/:name/archive?path=:path': 'bothub cp :name::path .',
  'PUT /api/v1/sandboxes/:name/archive': 'bothub cp',
  'POST /api/v1/snapshots/:name/restore': 'bothub snapshot restore :name',
  'POST /api/v1/snapshots/:name/restore {"name": ":new"}': 'bothub snapshot restore :name --name :new',
  'POST /api/v1/snapshots/:name/restore {"name": ":new", "host": ":host"}': 'bothub snapshot restore :name --name :new --host :host',
  'DELETE /api/v1/snapshots/:name': 'bothub snapshot delete :name',
  'POST /api/v1/hosts': 'bothub host add',
  'POST /api/v1/hosts/:name/check': 'bothub host check :name',
  'DELETE /api/v1/hosts/:name': 'bothub host rm :name',
  'POST /api/v1/images?name=:name': 'bothub image import PATH --name :name',
  'POST /api/v1/images/:name/build': 'bothub image build :name',
  'DELETE /api/v1/images/:name': 'bothub image rm :name',
  'POST /api/v1/users/:name/rotate-key': 'bothub user rotate-key :name',
  'PUT /api/v1/users/:name/quota {"maxSandboxes": :n}': 'bothub user quota :name --max-sandboxes :n',
  'PUT /api/v1/users/:name/quota {"maxMemoryMb": :n}': 'bothub user quota :name --max-memory :n',
  'PUT /api/v1/users/:name/quota {"maxDiskMb": :n}': 'bothub user quota :name --max-disk :n',
  'PUT /api/v1/users/:name/quota {"maxGpus": :n}': 'bothub user quota :name --max-gpus :n',
  'DELETE /api/v1/users/:name?force=true': 'bothub user rm :name --force',
  'PUT /api/v1/users/:name/price-limit': 'bothub cost limit :name USD',
  'PUT /api/v1/secrets/:name': 'bothub secret set :name (value on stdin)',
  'PUT /api/v1/registries/:host': 'bothub registry login :host --username U --password-stdin',
  'PUT /api/v1/providers/:provider': 'bothub provider add :provider --key-stdin',
  'POST /api/v1/rentals/:name/release': 'bothub host release :name',
};

/**
 * The request fields messages name in backquotes (`diskMb`), as the CLI's
 * flags that set them. A flag may take other units than its field (--disk 2G
 * for diskMb), so messages name a field without its value's unit where the two differ.
 */
export const CLI_FLAGS: Record<string, string> = {
  name: '--name',
  host: '--host',
  network: '--network',
  cpus: '--cpus',
  memoryMb: '--memory',
  diskMb: '--disk',
  gpus: '--gpus',
  ssh: '--ssh',
  noCheckpoint: '--no-checkpoint',
};

export const ERROR_HINTS: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: 'pass --token or set BOTHUB_TOKEN, or run `bothub setup --url URL --token KEY`',
  FORBIDDEN: 'this needs the admin key (`bothub user list` works only with it); ask the admin',
  RATE_LIMITED: 'check the key in --token or BOTHUB_TOKEN',
  BUSY: 'nothing changed; run the same command again',
  UNAVAILABLE: 'check the daemon with `bothub doctor`, or start it with `bothub serve`',
  PROVIDER_KEY_REJECTED: 'store a new key with `bothub provider add`',
};

/** An API call as messages write it: a method and a path under /api/v1, with a query or a JSON body. */
const API_CALL = /`((?:GET|POST|PUT|DELETE) \/api\/v1\/[^`]*)`/g;

/** A request field as messages write it. */
const FIELD = /`([a-z][A-Za-z]*)`/g;

/** `:word` in a call's pattern: one part of a path, query or body value. */
const PLACEHOLDER = /:([a-z]+)/g;

const compiled = new Map<string, RegExp>();
function patternOf(call: string): RegExp {
  let re = compiled.get(call);
  if (!re) {
    const escaped = call.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // A path inside a sandbox keeps its slashes; every other part is one segment.
    re = new RegExp(`^${escaped.replace(PLACEHOLDER, (_, word: string) => `(?<${word}>[^\\s?&"{}\`${word === 'path' ? '' : '/'}]+)`)}$`);
    compiled.set(call, re);
  }
  return re;
}

/** The CLI command for an API call, or undefined when the table has none. */
function commandFor(call: string): string | undefined {
  for (const [pattern, command] of Object.entries(CLI_COMMANDS)) {
    const m = patternOf(pattern).exec(call);
    if (m) return command.replace(PLACEHOLDER, (whole, word: string) => m.groups?.[word] ?? whole);
  }
  return undefined;
}

/** Text in API terms with every API call and request field it names that the tables know said as a CLI command or flag. */
export function inCliTerms(text: string): string {
  return text
    .replace(API_CALL, (whole, call: string) => {
      const command = commandFor(call);
      return command ? `\`${command}\`` : whole;
    })
    .replace(FIELD, (whole, field: string) => (Object.hasOwn(CLI_FLAGS, field) ? `\`${CLI_FLAGS[field]}\`` : whole));
}

/** The message in the CLI's terms and the CLI's hint for its code, as one line. */
export function withHint(code: ErrorCode, message: string): string {
  const said = inCliTerms(message);
  const hint = ERROR_HINTS[code];
  if (!hint || said.includes('`bothub ')) return said;
  return `${said}; ${hint}`;
}
