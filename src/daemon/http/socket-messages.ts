import type { TSchema } from 'typebox';
import type { ValidateFunction } from 'ajv';
import type { SocketDef } from '../../api/index.js';
import { BothubError } from '../../core/index.js';
import { describeValidationError, jsonValidator } from './validation.js';

/** A client message that passed its route's schemas. */
export type ClientMessage = { kind: 'start'; value: unknown } | { kind: 'message'; value: unknown } | { kind: 'frame'; channel: number; data: Buffer };

const refuse = (message: string) => new BothubError('INVALID_INPUT', message);

/**
 * A union of objects told apart by a literal `type` (as control messages
 * are) is checked against the member its `type` names, so an error says
 * "message/rows must be <= 1000", not "must match a schema in anyOf".
 */
function messageCheck(schema: TSchema, where: string): (value: unknown) => void {
  const members = (schema as { anyOf?: TSchema[] }).anyOf;
  const byType = new Map<string, ValidateFunction>();
  for (const m of members ?? []) {
    const tag = (m as { properties?: { type?: { const?: unknown } } }).properties?.type?.const;
    if (typeof tag === 'string') byType.set(tag, jsonValidator(m));
  }
  const whole = jsonValidator(schema);
  const tagged = members !== undefined && byType.size === members.length;
  return (value) => {
    let check = whole;
    if (tagged) {
      const type = (value as { type?: unknown } | null)?.type;
      const member = typeof type === 'string' ? byType.get(type) : undefined;
      if (!member || typeof value !== 'object' || Array.isArray(value))
        throw refuse(`invalid ${where}: ${where}/type must be one of ${[...byType.keys()].join(', ')}${type === undefined ? '' : `; got ${JSON.stringify(type).slice(0, 40)}`}`);
      check = member;
    }
    if (!check(value)) {
      const first = check.errors?.[0];
      throw refuse(`invalid ${where}: ${first ? describeValidationError(first, where) : 'does not match its schema'}; see the route's socket messages in /api/v1/openapi.json`);
    }
  };
}

/**
 * Reads the client's messages on a socket route, in order: the start message
 * first where the route has one, then text messages and channel-tagged
 * binary frames. Each is checked by the same validator as HTTP bodies; one
 * that does not fit throws an INVALID_INPUT error that says what was wrong.
 */
export function clientMessageReader(def: SocketDef): (data: Buffer, isBinary: boolean) => ClientMessage {
  const checkStart = def.start ? messageCheck(def.start, 'start') : undefined;
  const checkMessage = def.client ? messageCheck(def.client, 'message') : undefined;
  const channels = new Set(def.clientChannels);
  let started = !def.start;
  return (data, isBinary) => {
    if (!started && isBinary) throw refuse('the first message must be a JSON text message (the start); binary frames may follow it');
    if (isBinary) {
      if (channels.size === 0) throw refuse('this socket takes no binary frames');
      if (data.length === 0 || !channels.has(data[0]!))
        throw refuse(`a binary frame must start with a channel tag byte: ${[...channels].join(' or ')}${data.length ? `, not ${data[0]}` : ''}`);
      return { kind: 'frame', channel: data[0]!, data: data.subarray(1) };
    }
    const check = started ? checkMessage : checkStart;
    if (!check) throw refuse('this socket takes no text messages from the client');
    let value: unknown;
    try {
      value = JSON.parse(data.toString('utf8'));
    } catch (e) {
      throw refuse(`a text message must be JSON (${(e as Error).message.slice(0, 80)}); send a JSON object`);
    }
    check(value);
    if (started) return { kind: 'message', value };
    started = true;
    return { kind: 'start', value };
  };
}
