import { fromJsonSchema, type CallToolResult, type McpServer, type ServerContext, type ToolAnnotations } from '@modelcontextprotocol/server';
import type { Static, TSchema } from 'typebox';
import type { ApiClient, ProgressEventT } from '../api/index.js';
import { BothubError } from '../core/index.js';
import { argumentValidator } from './validator.js';

/** What every tool handler gets: the API client, holding the caller's own key. */
export interface ToolContext {
  api: ApiClient;
  /** Passes a long operation's progress (snapshot, restore, move) on to a client that asked for it. */
  progress: (p: ProgressEventT) => void;
}

/** A client of the API for one tool call: the caller's key, and the call's signal (a cancelled call aborts its request). */
export type ApiFor = (signal: AbortSignal) => ApiClient;

export interface ToolDef<S extends TSchema> {
  name: string;
  /** Written for a model: when to use it, and what it returns. */
  description: string;
  /** A TypeBox schema, usually built from the API's own (one source of truth); TypeBox schemas are JSON Schema. */
  input: S;
  annotations?: ToolAnnotations;
  run: (args: Static<S>, ctx: ToolContext) => Promise<unknown>;
}

/** A tool whose handler's argument types come from its schema. */
export const tool = <S extends TSchema>(def: ToolDef<S>): ToolDef<S> => def;

/**
 * A failure the model can act on: a tool result with isError, never a protocol
 * error. The text is `CODE: message`; bothub's messages already say what to do.
 */
export function toolError(e: unknown): CallToolResult {
  const err = e instanceof BothubError ? e : new BothubError('INTERNAL', `unexpected failure: ${(e as Error)?.message ?? String(e)}`);
  return { isError: true, content: [{ type: 'text', text: `${err.code}: ${err.message}` }], structuredContent: { code: err.code, message: err.message } };
}

/** A value as JSON text (what models and scripts read best), and as structured content when it is an object. */
export function toolResult(value: unknown): CallToolResult {
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }] };
  const text = JSON.stringify(value ?? { ok: true }, null, 1);
  const structured = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  return { content: [{ type: 'text', text }], ...(structured ? { structuredContent: structured } : {}) };
}

type InputSchema = ReturnType<typeof fromJsonSchema>;
const compiled = new WeakMap<ToolDef<TSchema>, InputSchema>();

/**
 * A tool's input schema as the SDK takes it, compiled once per process: HTTP
 * builds a server per request, and compiling every validator each time costs
 * about 200 ms a request here.
 */
function inputSchemaOf(def: ToolDef<TSchema>): InputSchema {
  let schema = compiled.get(def);
  if (!schema) {
    // A plain copy: the SDK's validator and the tool list see exactly the JSON Schema document.
    schema = fromJsonSchema(JSON.parse(JSON.stringify(def.input)) as Parameters<typeof fromJsonSchema>[0], argumentValidator);
    compiled.set(def, schema);
  }
  return schema;
}

/** Registers tools on a server; each call goes through the API with the caller's key. */
export function registerTools(server: McpServer, apiFor: ApiFor, defs: readonly ToolDef<TSchema>[]): void {
  for (const def of defs) {
    server.registerTool(def.name, { description: def.description, inputSchema: inputSchemaOf(def), ...(def.annotations ? { annotations: def.annotations } : {}) }, async (args, extra) => {
      try {
        const out = await def.run(args, { api: apiFor(extra.mcpReq.signal), progress: progressNotifier(extra) });
        return isCallToolResult(out) ? out : toolResult(out);
      } catch (e) {
        return toolError(e);
      }
    });
  }
}

/**
 * MCP progress notifications from the daemon's progress events, when the
 * client sent a progress token: a client that resets its timeout on progress
 * can wait out a long snapshot.
 */
function progressNotifier(extra: ServerContext): (p: ProgressEventT) => void {
  const token = extra.mcpReq._meta?.progressToken;
  if (token === undefined) return () => undefined;
  let n = 0;
  return (p) => {
    const message = p.message ? `${p.step}: ${p.message}` : p.step;
    void extra.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: ++n, message } }).catch(() => undefined);
  };
}

const isCallToolResult = (v: unknown): v is CallToolResult => typeof v === 'object' && v !== null && Array.isArray((v as { content?: unknown }).content);
