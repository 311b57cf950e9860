import { Type } from 'typebox';
import * as S from '../schemas.js';
import { LONG_MS, type RouteDef } from './route-def.js';

/** Images, and the registries they are pulled from and pushed to. */
export const imageRoutes = {
  listImages: { method: 'GET', url: '/api/v1/images', summary: 'List images.', reply: Type.Array(S.Image) },
  getImage: { method: 'GET', url: '/api/v1/images/:name', summary: 'Inspect an image.', params: S.NameParams, reply: S.Image },
  buildImage: {
    method: 'POST',
    url: '/api/v1/images/:name/build',
    summary: 'Build the default image "debian" (NDJSON progress, last line the image).',
    params: S.NameParams,
    stream: 'ndjson',
  },
  importImage: {
    method: 'POST',
    url: '/api/v1/images',
    summary: 'Import a rootfs tarball or `docker save` archive sent as the body (NDJSON progress, last line the image).',
    query: S.ImportImageQuery,
    stream: 'upload',
  },
  removeImage: { method: 'DELETE', url: '/api/v1/images/:name', summary: 'Remove an image no sandbox uses; frees the layers no other image uses.', params: S.NameParams, status: 204 },
  pullImage: {
    method: 'POST',
    url: '/api/v1/images/pull',
    summary: "Pull an image from an OCI or Docker registry with your credentials for its host (NDJSON progress in bytes, last line the image).",
    body: S.PullImage,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  saveImage: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/save-image',
    summary: "Save a sandbox's files as a new image: its writable layer, copied while frozen, on top of its image's layers (NDJSON progress, last line the image).",
    params: S.NameParams,
    body: S.SaveImage,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  pushImage: {
    method: 'POST',
    url: '/api/v1/images/:name/push',
    summary: 'Push an image to a registry with your credentials for its host (NDJSON progress, last line {reference, digest}).',
    params: S.NameParams,
    body: S.PushImage,
    stream: 'ndjson',
    timeoutMs: LONG_MS,
  },
  exportImage: {
    method: 'GET',
    url: '/api/v1/images/:name/export',
    summary: 'The image as an OCI archive (application/x-tar), for `image import` here or `skopeo copy oci-archive:FILE …` anywhere.',
    params: S.NameParams,
    stream: 'bytes',
    timeoutMs: LONG_MS,
  },
  listRegistries: { method: 'GET', url: '/api/v1/registries', summary: 'Registries you are logged in to (no passwords).', reply: Type.Array(S.RegistryCredential) },
  registryLogin: {
    method: 'PUT',
    url: '/api/v1/registries/:host',
    summary: 'Store your credentials for a registry host, sealed at rest; pulls and pushes to that host use them.',
    params: S.RegistryHostParams,
    body: S.RegistryLogin,
    reply: S.RegistryCredential,
  },
  registryLogout: { method: 'DELETE', url: '/api/v1/registries/:host', summary: 'Forget your credentials for a registry host.', params: S.RegistryHostParams, status: 204 },
} as const satisfies Record<string, RouteDef>;
