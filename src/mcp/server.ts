import { McpServer } from '@modelcontextprotocol/server';
import type { TSchema } from 'typebox';
import { registerTools, type ApiFor, type ToolDef } from './tool-kit.js';
import { execTools } from './tools/exec.js';
import { fileTools } from './tools/files.js';
import { fleetTools } from './tools/fleet.js';
import { sandboxTools } from './tools/sandboxes.js';
import { snapshotTools } from './tools/snapshots.js';

export const allTools = [...sandboxTools, ...execTools, ...fileTools, ...snapshotTools, ...fleetTools] as unknown as readonly ToolDef<TSchema>[];

const INSTRUCTIONS =
  'bothub runs isolated Linux sandboxes whose whole running state can be saved and forked. ' +
  'Start with create_sandbox; its name is the handle every other tool takes. Run code with exec (exec_background for long jobs), ' +
  'move files with write_file / read_file, save state with snapshot_sandbox and fork it with branch_snapshot. ' +
  'A failed call answers with an error text "CODE: message" whose message says what to do next.';

/**
 * The MCP server for one caller: every tool calls bothub's public API through
 * a client holding that caller's key, so a caller sees and touches only
 * what the API lets them. It keeps no state between calls: sandbox and
 * snapshot names are tool arguments.
 */
export function bothubMcpServer(apiFor: ApiFor, version: string): McpServer {
  const server = new McpServer({ name: 'bothub', version }, { instructions: INSTRUCTIONS });
  registerTools(server, apiFor, allTools);
  return server;
}
