import { BothubError } from '../../core/index.js';

/** An image reference split as the distribution spec does (docker/distribution's `reference` rules). */
export interface ImageReference {
  /** Registry host (with port), e.g. docker.io, ghcr.io, 127.0.0.1:5000. */
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
  /** host/repository[:tag][@digest], what skopeo gets after `docker://`. */
  full: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

function bad(ref: string, why: string): BothubError {
  return new BothubError('INVALID_INPUT', `invalid image reference "${ref}": ${why}; write it as [HOST/]NAME[:TAG][@sha256:DIGEST], e.g. debian:12 or ghcr.io/org/app@sha256:…`);
}

/** Docker Hub short names (`alpine`, `user/app`) get docker.io and, for one component, `library/`. */
export function parseReference(ref: string): ImageReference {
  if (!ref || ref.length > 512 || /\s/.test(ref)) throw bad(ref, 'empty, too long or with spaces');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, 'the digest must be sha256: and 64 hex digits');
  }
  const parts = rest.split('/');
  let host = 'docker.io';
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    host = parts.shift()!;
    if (!HOST.test(host)) throw bad(ref, `"${host}" is not a registry host`);
  }
  let tag: string | undefined;
  const last = parts[parts.length - 1]!;
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `"${tag}" is not a valid tag`);
  }
  if (host === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (!parts.every((p) => COMPONENT.test(p))) throw bad(ref, 'repository names are lowercase letters, digits and . _ - separated by /');
  if (!tag && !digest) tag = 'latest';
  const repository = parts.join('/');
  const full = `${host}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { host, repository, tag, digest, full };
}

/** The image name a pull gets when none is given: the repository's last part, and the tag unless it is latest. */
export function defaultImageName(ref: ImageReference): string {
  const base = ref.repository.split('/').pop()!;
  const suffix = ref.tag && ref.tag !== 'latest' ? `-${ref.tag}` : ref.digest && !ref.tag ? `-${ref.digest.slice(7, 19)}` : '';
  const name = `${base}${suffix}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return name || 'image';
}

/**
 * Plain HTTP (or unverified TLS) only for registries on this machine's
 * loopback, or hosts the operator lists in BOTHUB_INSECURE_REGISTRIES.
 */
export function isInsecureRegistry(host: string, listed = process.env.BOTHUB_INSECURE_REGISTRIES ?? ''): boolean {
  const name = host.replace(/:[0-9]+$/, '');
  if (name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]') return true;
  return listed
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
    .includes(host);
}

/** The platform names OCI indexes use for this host's CPU. */
export function ociArch(arch: string = process.arch): string {
  return arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
}
