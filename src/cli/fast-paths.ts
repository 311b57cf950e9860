// The commands bin/bothub runs without the parser, bundled into one CommonJS file
// (scripts/bundle-cli.mjs): an agent runs them most, one process each.
export { execWithoutParser } from './commands/exec.js';
export { destroyWithoutParser } from './commands/lifecycle.js';
export { createWithoutParser } from './commands/create.js';
