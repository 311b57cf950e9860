import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { COMMANDS, commandsFor } from '../cli/command-table.js';

describe('the CLI command table', () => {
  it('names exactly the top-level commands and aliases each module registers, each once', async () => {
    const seen = new Set<string>();
    for (const line of COMMANDS) {
      const program = new Command('bothub');
      (await line.load()).register(program);
      const registered = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
      assert.deepEqual([...registered].sort(), [...line.names].sort(), `table line ${line.names.join(', ')}`);
      for (const name of registered) {
        assert.ok(!seen.has(name), `${name} is registered by two modules`);
        seen.add(name);
      }
    }
  });

  it('loads the one module a command word names, past the global options', () => {
    const exec = COMMANDS.find((c) => c.names.includes('exec'));
    assert.deepEqual(commandsFor(['exec', 'box', '--', 'true']), [exec]);
    assert.deepEqual(commandsFor(['--url', 'http://h:1', '--json', '--token=k', 'exec', 'box', 'true']), [exec]);
    assert.deepEqual(commandsFor(['rm', 'box']), [COMMANDS.find((c) => c.names.includes('destroy'))]);
  });

  it('loads every module for help, an unknown word or a leading option', () => {
    for (const args of [[], ['--help'], ['help', 'exec'], ['exce', 'box'], ['-x', 'exec'], ['--url']]) assert.equal(commandsFor(args), COMMANDS);
  });
});
