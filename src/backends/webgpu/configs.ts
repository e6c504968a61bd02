/**
 * Which kernel configuration the webgpu backend runs by default, from what is known of the adapter
 * (software or hardware, its limits). Pure: shared by the encoders (matmul.ts, attention.ts), the
 * autotune candidates (src/tune/candidates.ts) and explain() (src/select/explain.ts), so they agree.
 *
 * - Software adapters (llvmpipe, SwiftShader...) keep the portable kernels: matmul.wgsl with 4x4
 *   register blocks, attention.wgsl with one invocation per query row.
 * - Hardware adapters get the wide kernels: matmul_vec4.wgsl (128x128 workgroup tiles, 256
 *   invocations of 8x8 outputs, vec4 reads of workgroup memory) and, for prefill, attention_tiled.wgsl
 *   (BQ query rows x NT invocations per row sharing K/V tiles through workgroup memory).
 *
 * A config (KernelConfig) names the kernel by its keys: matmul { TM, TN, WGX, WGY, BK } is matmul.wgsl,
 * with VEC: 1 it is matmul_vec4.wgsl; attention { BQ, BK } is attention.wgsl, with NT it is
 * attention_tiled.wgsl. Any of them can be forced on any adapter (Device.withKernelConfig, or a tune
 * cache entry); the tests run the hardware ones on llvmpipe that way.
 */

/**
 * Which kernel set a device runs: 'portable' (the software adapters' default) or 'wide' (the hardware
 * adapters' default). KERNELPORT_WEBGPU_KERNELS=portable|wide overrides it (A/B runs on a GPU;
 * tests); 'auto' or unset: by adapter kind.
 */
export type KernelSet = 'portable' | 'wide';
export function kernelSet(env: string | undefined, software: boolean): KernelSet {
  const v = env?.trim() ?? '';
  if (v === '' || v === 'auto') return software ? 'portable' : 'wide';
  if (v === 'portable' || v === 'wide') return v;
  throw new RangeError(`KERNELPORT_WEBGPU_KERNELS must be auto, portable or wide, got '${env}'`);
}

export interface AdapterKind {
  /** The portable kernel set (software adapters, or KERNELPORT_WEBGPU_KERNELS=portable). */
  software: boolean;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupStorageSize: number;
}

export type TileConfig = {
  TM: number;
  TN: number;
  WGX: number;
  WGY: number;
  BK: number;
  /** 1: matmul_vec4.wgsl (TM, TN multiples of 4). */
  VEC?: number;
};

/** Workgroup memory (bytes) a matmul config stages: A and B tiles of BK x tile, f32 (VEC: rows padded by 4). */
export function matmulStorage(t: TileConfig): number {
  const pad = t.VEC ? 4 : 0;
  return t.BK * (t.WGY * t.TM + pad + t.WGX * t.TN + pad) * 4;
}

/** Whether config `t` can run on an adapter with these limits. */
export function matmulFits(t: TileConfig, a: Omit<AdapterKind, 'software'>, maxWorkgroupSizeX = 256): boolean {
  if (t.VEC && (t.TM % 4 !== 0 || t.TN % 4 !== 0)) return false;
  return t.WGX * t.WGY <= a.maxComputeInvocationsPerWorkgroup && Math.max(t.WGX, t.WGY) <= maxWorkgroupSizeX && matmulStorage(t) <= a.maxComputeWorkgroupStorageSize;
}

/** The portable tiles (software adapters, or where the wide ones do not fit). */
export function portableTiles(inv: number): TileConfig {
  return { TM: 4, TN: 4, WGX: 16, WGY: inv >= 256 ? 16 : 8, BK: 16 };
}

/** The wide tiles of hardware adapters: 128x128 per workgroup, 8x8 per invocation. */
export const WIDE_TILES: TileConfig = { TM: 8, TN: 8, WGX: 16, WGY: 16, BK: 16, VEC: 1 };

/** The built-in tiled-matmul configuration on adapter `a`. */
export function defaultMatmulTiles(a: AdapterKind): TileConfig {
  if (!a.software && matmulFits(WIDE_TILES, a)) return WIDE_TILES;
  return portableTiles(a.maxComputeInvocationsPerWorkgroup);
}

export type RowTileConfig = {
  BQ: number;
  BK: number;
  NT: number;
};

const round4 = (x: number) => Math.ceil(Math.max(x, 1) / 4) * 4;

/** Workgroup memory (bytes) of attention_tiled.wgsl: Q rows, K and V tiles (rows padded by 4) and the scores. */
export function tiledAttentionStorage(t: RowTileConfig, d: number, dv: number): number {
  return 4 * (t.BQ * (round4(d) + 4) + t.BK * (round4(d) + 4) + t.BK * round4(dv) + t.BQ * (t.BK + 1));
}

export function tiledAttentionFits(t: RowTileConfig, a: Omit<AdapterKind, 'software'>, d: number, dv: number, maxWorkgroupSizeX = 256): boolean {
  const threads = t.BQ * t.NT;
  return threads <= a.maxComputeInvocationsPerWorkgroup && threads <= maxWorkgroupSizeX && t.BK % t.NT === 0 && tiledAttentionStorage(t, d, dv) <= a.maxComputeWorkgroupStorageSize;
}

/**
 * The built-in tiled attention config on a hardware adapter for prefill (not split-KV decode) of head
 * dims d, dv: 32 rows x 4 invocations, the largest K/V tile of 32, 16 or 8 keys that fits; undefined
 * on software adapters or where none fits (the portable kernel then).
 */
export function defaultTiledAttention(a: AdapterKind, d: number, dv: number, split: boolean): RowTileConfig | undefined {
  if (a.software || split) return undefined;
  for (const BK of [32, 16, 8]) {
    const t = { BQ: 32, BK, NT: 4 };
    if (tiledAttentionFits(t, a, d, dv)) return t;
  }
  return undefined;
}
