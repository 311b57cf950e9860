import { readFileSync } from 'node:fs';
import { LocalHost, SshHost, type Host } from '../../hostexec/index.js';
import { startSshHost, type TestSshHost } from './ssh-host.js';

/** A suite of checks of one Host, given how to open it and how to let it go. */
export type HostSuite = (label: string, open: () => Promise<Host>, close: () => Promise<void>) => void;

/**
 * Declares the same suite twice: on this machine (LocalHost) and on an
 * SshHost to a real sshd, so the runtime's code is shown to behave the same
 * on both sides of the Host seam.
 */
export function onEachHost(suite: HostSuite): void {
  suite(
    'LocalHost',
    async () => new LocalHost(),
    async () => undefined,
  );
  let sshd: TestSshHost | undefined;
  let ssh: SshHost | undefined;
  suite(
    'SshHost',
    async () => {
      sshd = await startSshHost();
      ssh = new SshHost('fleet-1', { address: sshd.address, port: 22, username: 'root', privateKey: readFileSync(sshd.keyFile, 'utf8') }, undefined);
      return ssh;
    },
    async () => {
      await ssh?.close();
      await sshd?.cleanup();
    },
  );
}
