import { Type } from 'typebox';
import { CreateSandbox, CreateShare, Publish, type SandboxT } from '../../api/index.js';
import { tool } from '../tool-kit.js';
import { SandboxOnly, sandboxArg } from './args.js';

/** What a model needs of a sandbox in a list; inspect_sandbox gives everything. */
const summary = (s: SandboxT) => ({
  name: s.name,
  status: s.status,
  ...(s.statusReason ? { statusReason: s.statusReason } : {}),
  thermal: s.thermal,
  image: s.image,
  address: s.address,
  host: s.host,
  urls: s.urls.map((u) => u.url),
  createdAt: s.createdAt,
});

export const sandboxTools = [
  tool({
    name: 'create_sandbox',
    description:
      'Create and start a new isolated Linux sandbox (its own root filesystem, processes and network; the default image "debian" is Debian 12 with python3, bash and coreutils). ' +
      'Use it before running any code. Every argument is optional: omit name to get a generated one. ' +
      'Returns the sandbox record; its "name" is the handle every other tool takes. Files and running processes persist between calls.',
    input: CreateSandbox,
    run: ({ ...body }, { api }) => api.call('createSandbox', { body }),
  }),
  tool({
    name: 'list_sandboxes',
    description: 'List the sandboxes you can use, with their status (running, stopped...), thermal state (hot, warm, cold), address and published URLs.',
    input: Type.Object({}, { additionalProperties: false }),
    annotations: { readOnlyHint: true },
    run: async (_args, { api }) => ({ sandboxes: (await api.call('listSandboxes')).map(summary) }),
  }),
  tool({
    name: 'inspect_sandbox',
    description: 'Everything about one sandbox: status and why, limits, network, environment, secrets exposed (names only), published URLs, host and GPUs.',
    input: SandboxOnly,
    annotations: { readOnlyHint: true },
    run: ({ sandbox }, { api }) => api.call('getSandbox', { params: { name: sandbox } }),
  }),
  tool({
    name: 'destroy_sandbox',
    description: 'Remove a sandbox for good: its processes, files, network and address. Its snapshots stay (delete them with delete_snapshot). Returns {destroyed: name}.',
    input: SandboxOnly,
    annotations: { destructiveHint: true },
    run: async ({ sandbox }, { api }) => {
      await api.call('destroySandbox', { params: { name: sandbox } });
      return { destroyed: sandbox };
    },
  }),
  tool({
    name: 'pause_sandbox',
    description: 'Freeze every process of a sandbox in place (warm): no CPU used, memory kept. Any later tool call on it wakes it. Returns the sandbox record.',
    input: SandboxOnly,
    run: ({ sandbox }, { api }) => api.call('pauseSandbox', { params: { name: sandbox } }),
  }),
  tool({
    name: 'resume_sandbox',
    description: 'Wake a paused (warm) or frozen (cold) sandbox now, rather than on its next use. Returns the sandbox record.',
    input: SandboxOnly,
    run: ({ sandbox }, { api }) => api.call('resumeSandbox', { params: { name: sandbox } }),
  }),
  tool({
    name: 'freeze_sandbox',
    description:
      'Put a sandbox to disk now (cold): processes checkpointed, memory freed. Its next use restores it exactly where it was, running processes included. Returns the sandbox record.',
    input: SandboxOnly,
    run: ({ sandbox }, { api }) => api.call('freezeSandbox', { params: { name: sandbox } }),
  }),
  tool({
    name: 'publish_port',
    description:
      'Serve a TCP port of a sandbox (say a web server you started in it) at a preview URL. Private by default: opening it needs your API key (share_port makes a link that does not); public: true opens it to anyone. ' +
      'Returns the URLs, by host name and by path.',
    input: Type.Object({ sandbox: sandboxArg, ...Publish.properties }, { additionalProperties: false }),
    run: async ({ sandbox, ...body }, { api }) => {
      const sb = await api.call('publish', { params: { name: sandbox }, body });
      return { sandbox, urls: sb.urls.filter((u) => u.port === body.port) };
    },
  }),
  tool({
    name: 'share_port',
    description:
      'A link to a private preview of a sandbox port that works without an API key until it expires (default one hour) or is revoked: for showing a person what runs in the sandbox. ' +
      'Returns the URL, its expiry and the share id.',
    input: Type.Object({ sandbox: sandboxArg, ...CreateShare.properties }, { additionalProperties: false }),
    run: async ({ sandbox, ...body }, { api }) => {
      const link = await api.call('createShare', { params: { name: sandbox }, body });
      return { url: link.url, pathUrl: link.pathUrl, expiresAt: link.share.expiresAt, id: link.share.id };
    },
  }),
];
