// GENERATED from src/core/fingerprint.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';

/**
 * What a host is, as the compatibility gate compares it: defined once here as
 * schemas; the API's Host schema, the gate, the probes and the stored records
 * all use these (the types are the schemas' Static). Pure, so the SDK copies it;
 * not in core's index (which the CLI loads at start): TypeBox stays out of that.
 */
export const GpuDeviceSchema = Type.Object({ index: Type.Integer(), name: Type.String(), uuid: Type.String(), memoryMb: Type.Number(), memoryUsedMb: Type.Number() });
export type GpuDevice = Static<typeof GpuDeviceSchema>;

export const GpuInfoSchema = Type.Object({
  driverVersion: Type.String(),
  cudaVersion: Type.String(),
  devices: Type.Array(GpuDeviceSchema),
  topology: Type.Optional(Type.String({ description: '`nvidia-smi topo -m`, as printed.' })),
});
export type GpuInfo = Static<typeof GpuInfoSchema>;

export const HostFingerprintSchema = Type.Object({
  kernel: Type.String(),
  arch: Type.String(),
  cpuModel: Type.String(),
  cpuFlags: Type.Array(Type.String()),
  criuVersion: Type.String(),
  runcVersion: Type.String(),
  // The fields below came with fleet hosts; older snapshot manifests lack them.
  cpus: Type.Optional(Type.Integer()),
  memoryBytes: Type.Optional(Type.Number()),
  diskFreeBytes: Type.Optional(Type.Number()),
  root: Type.Optional(Type.Boolean({ description: 'bothub runs as root there (sandboxes need it).' })),
  criuCheck: Type.Optional(Type.String({ description: '"ok", or why `criu check` failed.' })),
  gpu: Type.Optional(Type.Union([Type.Null(), GpuInfoSchema])),
});
export type HostFingerprint = Static<typeof HostFingerprintSchema>;
