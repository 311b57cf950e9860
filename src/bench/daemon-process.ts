// The daemon as its own process lives with the test helpers (the multi-daemon tests run it too); benchmarks import it from here.
export * from '../test/helpers/daemon-process.js';
