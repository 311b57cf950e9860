import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BothubError } from '../../core/index.js';
import type { HostFiles } from '../../hostexec/index.js';
import { digestHex } from './layers.js';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  manifests?: Descriptor[];
}

/** What of an image's config a sandbox honours (OCI image spec, config.config). */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

export interface OciConfigFile {
  architecture?: string;
  os?: string;
  config?: { Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[] | null; WorkingDir?: string; User?: string };
  rootfs?: { type: 'layers'; diff_ids: string[] };
  history?: unknown[];
  created?: string;
}

export function imageConfigOf(file: OciConfigFile): ImageConfig {
  const c = file.config ?? {};
  return { entrypoint: c.Entrypoint ?? [], cmd: c.Cmd ?? [], env: c.Env ?? [], workingDir: c.WorkingDir ?? '', user: c.User ?? '' };
}

export const isIndex = (m: { mediaType?: string; manifests?: unknown }) => m.mediaType === MEDIA.index || m.mediaType === MEDIA.dockerList || (!!m.manifests && !('layers' in m));

/**
 * A content-addressed blob directory (an OCI layout's blobs/sha256, shared
 * by every image of the store: skopeo's --dest-shared-blob-dir).
 */
export class BlobStore {
  constructor(
    readonly host: HostFiles,
    readonly dir: string,
  ) {}

  path(digest: string): string {
    return join(this.dir, 'sha256', digestHex(digest));
  }

  has(digest: string): Promise<boolean> {
    return this.host.exists(this.path(digest));
  }

  async readJson<T>(digest: string): Promise<T> {
    const bytes = await this.host.readFile(this.path(digest)).catch(() => {
      throw new BothubError('NOT_FOUND', `blob ${digest} is missing from the image store; pull or import the image again`);
    });
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) throw new BothubError('INVALID_INPUT', `blob ${digest} does not match its digest`);
    return JSON.parse(bytes.toString('utf8')) as T;
  }

  /** Stores bytes under their digest; returns the descriptor. */
  async putJson(mediaType: string, value: unknown): Promise<Descriptor> {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await this.host.mkdir(join(this.dir, 'sha256'), { recursive: true });
    if (!(await this.has(digest))) {
      const tmp = `${this.path(digest)}.tmp-${process.pid}`;
      await this.host.writeFile(tmp, bytes);
      await this.host.rename(tmp, this.path(digest));
    }
    return { mediaType, digest, size: bytes.length };
  }
}

/** The single manifest an OCI layout's index.json names (skopeo writes one per copy). */
export async function layoutManifest(host: HostFiles, layout: string): Promise<Descriptor> {
  const index = JSON.parse(await host.readTextFile(join(layout, 'index.json'))) as { manifests?: Descriptor[] };
  const m = index.manifests?.[0];
  if (!m) throw new BothubError('INVALID_INPUT', 'the OCI layout names no manifest');
  return m;
}

/** A layout that holds one image: oci-layout, index.json; blobs are given as a shared blob dir. */
export async function writeLayout(host: HostFiles, layout: string, manifest: Descriptor, tag: string): Promise<void> {
  await host.mkdir(layout, { recursive: true });
  await host.writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
  await host.writeFile(join(layout, 'index.json'), JSON.stringify(index));
}
