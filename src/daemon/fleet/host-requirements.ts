import ssh2 from 'ssh2';
import { BothubError, type HostFingerprint } from '../../core/index.js';

// What `POST /api/v1/hosts` asks of its input and of the machine it names.

/** `user@address[:port]`, IPv6 in brackets. */
export function parseSsh(ssh: string): { username: string; address: string; port: number } {
  const m = /^([a-z_][a-z0-9_-]*)@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(ssh);
  const port = Number(m?.[3] ?? 22);
  if (!m || port < 1 || port > 65535) throw new BothubError('INVALID_INPUT', `invalid \`ssh\` "${ssh}": give user@address or user@address:port`);
  return { username: m[1]!, address: m[2]!.replace(/^\[|\]$/g, ''), port };
}

/** Why a host cannot run and checkpoint sandboxes; empty when it can. */
export function unfit(fp: HostFingerprint, checkpoint = true): string[] {
  const reasons: string[] = [];
  if (fp.root === false) reasons.push('the SSH user is not root (sandboxes need root: runc, mounts, namespaces)');
  if (fp.runcVersion === 'missing') reasons.push('runc is not installed (apt-get install runc)');
  if (checkpoint && fp.criuCheck !== 'ok') reasons.push(`\`criu check\` fails: ${fp.criuCheck ?? 'not run'} (run scripts/install-criu there)`);
  return reasons;
}

/** An unencrypted private key; a file with several keys parses to a list (the types do not say so), and the first one is used. */
export function parsePrivateKey(pem: string): ssh2.ParsedKey {
  const parsed = ssh2.utils.parseKey(pem);
  const key = parsed instanceof Error ? parsed : Array.isArray(parsed) ? (parsed as ssh2.ParsedKey[])[0] : parsed;
  if (!key || key instanceof Error || !key.isPrivateKey())
    throw new BothubError('INVALID_INPUT', `the private key cannot be read (${key instanceof Error ? key.message : 'that is a public key'}); give an unencrypted OpenSSH or PEM private key file`);
  return key;
}
