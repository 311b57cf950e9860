import { Type, type TSchema } from 'typebox';
import { ExecParams, Name } from '../../api/index.js';

/** A keyword of an API schema (TypeBox keeps them on the schema object; its types do not list them). */
export const keyword = <T>(schema: TSchema, key: string) => (schema as unknown as Record<string, T>)[key];

/** A name argument: the API's own pattern, with a description that tells the model where the name comes from. */
export const nameArg = (description: string) => Type.String({ pattern: keyword<string>(Name, 'pattern'), description });

export const sandboxArg = nameArg('The sandbox\'s name, as create_sandbox or list_sandboxes gave it.');
export const snapshotArg = nameArg('The snapshot\'s name, as snapshot_sandbox or list_snapshots gave it.');
export const execIdArg = Type.String({ pattern: keyword<string>(ExecParams.properties.id, 'pattern'), description: 'The command\'s id, as exec_background, exec (when its output was cut) or exec_status gave it.' });

export const SandboxOnly = Type.Object({ sandbox: sandboxArg }, { additionalProperties: false });
