/**
 * What the autotuner may choose between, per backend and shape class. Pure: no Node APIs.
 *
 * - cpu: the number of threads an op runs on (the per-op cap `max_threads` of the C ABI). Small ops
 *   lose more to waking and joining workers than they gain from them. Results are bitwise identical
 *   for any thread count, so tuning never changes a number.
 * - webgpu: the tiled matmul's register block per invocation (TM × TN), workgroup shape (WGX × WGY)
 *   and K depth staged through workgroup memory (BK); the GEMV's workgroup size (WG); attention's
 *   query rows per workgroup (BQ) and keys per staged K/V tile (BK). Each candidate is a WGSL
 *   specialisation (src/backends/webgpu/specialise.ts) checked against the adapter's limits. Matmul
 *   configurations sum every K product in index order (same results); GEMV and attention ones change
 *   the order of a reduction (results within the same error bounds, not bitwise equal). Hardware
 *   adapters (src/backends/webgpu/configs.ts) also get the wide matmul tiles (VEC: 1,
 *   matmul_vec4.wgsl) and the tiled prefill attention (NT invocations per query row,
 *   attention_tiled.wgsl), their built-in choice first; software adapters keep the portable ones.
 * - cuda, musa: which kernel the GPU library runs (`kernel`: its own choice, SIMT, mma.sync, wgmma,
 *   wgmma in 2-block or 2 x 2 clusters; matmul `splitK`: K split n ways; attention `keys`: 64-key
 *   tiles for the wgmma allowP16 kernel), the descriptor's gpu_* fields (kernelport.h) and the values
 *   of the KERNELPORT_GPU_* overrides. A choice the device or shape cannot run falls back to the
 *   library's own, so many candidates name the same kernel: given `kernelOf` (the library's answer,
 *   Device.kernelVariant) the list keeps one candidate per kernel. Different kernels sum in different
 *   orders: results stay within the op's bound, not bitwise equal.
 * - reference: nothing is tuned (the float64 oracle).
 */
import type { KernelConfig } from '../backends/backend.js';
import { bucket } from '../select/explain.js';
import type { OpDesc } from '../select/rank.js';
import type { DeviceInfo } from '../types.js';
import { defaultMatmulTiles, defaultTiledAttention, matmulFits, tiledAttentionFits, type TileConfig } from '../backends/webgpu/configs.js';
import { GPU_KERNELS, gpuSplits, webgpuKind } from '../select/explain.js';

export interface CandidateSet {
  /** The backend's built-in choice for this class (always in `all`). */
  default: KernelConfig;
  /** Every candidate, the default first. A cached winner must be one of these to be used. */
  all: KernelConfig[];
  /** A shorter list for `--quick` (the default first). */
  quick: KernelConfig[];
}

/** The largest sizes of `desc`'s class (its power-of-two buckets), so a winner fits every shape of it. */
export function classBounds(desc: OpDesc): OpDesc {
  if (desc.op === 'matmul') return { ...desc, m: bucket(desc.m), n: bucket(desc.n), k: bucket(desc.k) };
  return { ...desc, sq: bucket(desc.sq), skv: bucket(desc.skv), d: bucket(desc.d), dv: bucket(desc.dv ?? desc.d) };
}

const limitsOf = (info: DeviceInfo): Record<string, number> => (info.features.limits as Record<string, number> | undefined) ?? {};

/**
 * The largest workgroup_size x (and y) a device accepts. The webgpu device asks for the adapter's
 * values of the limits it lists (src/backends/webgpu/device.ts); the workgroup sizes are not among
 * them, so it has WebGPU's defaults unless the probe recorded more: 256 (core), 128 (compatibility).
 */
function workgroupSizeX(info: DeviceInfo, L: Record<string, number>): number {
  return L.maxComputeWorkgroupSizeX ?? (info.features.featureLevel === 'core' ? 256 : 128);
}

/** "threads=2", "TM=4 TN=4 WGX=16 WGY=16 BK=16", "kernel=wgmma splitK=2", "auto" ({}: a GPU library's own choice). */
export function configLabel(c: KernelConfig): string {
  const entries = Object.entries(c);
  if (entries.length === 0) return 'auto';
  return entries.map(([k, v]) => `${k}=${k === 'kernel' ? (GPU_KERNELS[v] ?? v) : v}`).join(' ');
}

export function sameConfig(a: KernelConfig, b: KernelConfig): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function unique(list: KernelConfig[]): KernelConfig[] {
  const out: KernelConfig[] = [];
  for (const c of list) if (!out.some((o) => sameConfig(o, c))) out.push(c);
  return out;
}

/**
 * The candidates for `desc` on `info` (cpu: a device of `threads` threads), or undefined when the
 * backend has nothing to tune. `desc` should be the class bounds (classBounds) so that every candidate
 * fits every shape of the class. `kernelOf`: what a GPU backend runs for `desc` with a config (see the
 * top); without it every GPU candidate is listed.
 */
export function tuneCandidates(info: DeviceInfo, threads: number, desc: OpDesc, kernelOf?: (c: KernelConfig) => string | undefined): CandidateSet | undefined {
  if (info.backend === 'cuda' || info.backend === 'musa') return gpuCandidates(desc, kernelOf);
  if (info.backend === 'cpu') {
    const t = Math.max(1, threads);
    const all: KernelConfig[] = [{ threads: t }];
    for (let p = 2 ** Math.floor(Math.log2(t)); p >= 1; p /= 2) if (p < t) all.push({ threads: p });
    const quick = unique([all[0]!, all[1] ?? all[0]!, all[all.length - 1]!]);
    return { default: all[0]!, all, quick };
  }
  if (info.backend === 'webgpu') return desc.op === 'matmul' ? webgpuMatmul(info, desc) : webgpuAttention(info, desc);
  return undefined;
}

function webgpuMatmul(info: DeviceInfo, desc: OpDesc & { op: 'matmul' }): CandidateSet {
  const L = limitsOf(info);
  const inv = L.maxComputeInvocationsPerWorkgroup ?? 256;
  const storage = L.maxComputeWorkgroupStorageSize ?? 16384;
  const sizeX = workgroupSizeX(info, L);
  if (desc.m <= 4) {
    const all = [64, 32, 128, 256].filter((wg) => wg <= inv && wg <= sizeX && desc.m * wg * 4 <= storage).map((WG) => ({ WG }));
    return { default: all[0]!, all, quick: all.slice(0, 3) };
  }
  const wgy = inv >= 256 ? 16 : 8;
  const kind = webgpuKind(info);
  const def: TileConfig = defaultMatmulTiles(kind);
  const fits = (c: TileConfig) => matmulFits(c, { maxComputeInvocationsPerWorkgroup: inv, maxComputeWorkgroupStorageSize: storage }, sizeX);
  // Hardware adapters: the wide tiles (matmul_vec4.wgsl), then the portable ones.
  const wide: TileConfig[] = kind.software
    ? []
    : [
        { TM: 8, TN: 8, WGX: 16, WGY: 16, BK: 16, VEC: 1 },
        { TM: 8, TN: 8, WGX: 16, WGY: 16, BK: 8, VEC: 1 },
        { TM: 8, TN: 8, WGX: 16, WGY: 16, BK: 32, VEC: 1 },
        { TM: 8, TN: 4, WGX: 16, WGY: 16, BK: 16, VEC: 1 },
        { TM: 4, TN: 8, WGX: 16, WGY: 16, BK: 16, VEC: 1 },
        { TM: 8, TN: 8, WGX: 8, WGY: 8, BK: 16, VEC: 1 },
        { TM: 4, TN: 4, WGX: 16, WGY: 16, BK: 16, VEC: 1 },
      ].filter(fits);
  const more = [
    ...wide,
    { TM: 4, TN: 4, WGX: 16, WGY: 16, BK: 16 },
    { TM: 4, TN: 4, WGX: 16, WGY: 8, BK: 16 },
    { TM: 4, TN: 4, WGX: 8, WGY: 8, BK: 16 },
    { TM: 2, TN: 2, WGX: 16, WGY: 16, BK: 16 },
    { TM: 2, TN: 4, WGX: 16, WGY: 16, BK: 16 },
    { TM: 4, TN: 4, WGX: 16, WGY: wgy, BK: 8 },
    { TM: 4, TN: 4, WGX: 16, WGY: wgy, BK: 32 },
    { TM: 8, TN: 4, WGX: 16, WGY: 8, BK: 16 },
    { TM: 4, TN: 8, WGX: 8, WGY: 16, BK: 16 },
    { TM: 8, TN: 8, WGX: 8, WGY: 8, BK: 16 },
  ].filter(fits);
  const all = unique([def, ...more]);
  const quick = kind.software
    ? unique([def, { TM: 2, TN: 2, WGX: 16, WGY: 16, BK: 16 }, { TM: 4, TN: 4, WGX: 8, WGY: 8, BK: 16 }, { TM: 8, TN: 8, WGX: 8, WGY: 8, BK: 16 }].filter(fits))
    : unique([def, ...wide.slice(1, 3), { TM: 4, TN: 4, WGX: 16, WGY: wgy, BK: 16 }].filter(fits));
  return { default: def, all, quick };
}

function webgpuAttention(info: DeviceInfo, desc: OpDesc & { op: 'attention' }): CandidateSet {
  const L = limitsOf(info);
  const inv = L.maxComputeInvocationsPerWorkgroup ?? 256;
  const storage = L.maxComputeWorkgroupStorageSize ?? 16384;
  const perKey = (Math.max(desc.d, 1) + Math.max(desc.dv ?? desc.d, 1)) * 4;
  const fit = Math.floor(storage / perKey);
  // split-KV decoding for a short query block over a long cache (src/backends/webgpu/attention.ts)
  const decode = desc.sq <= 8 && desc.skv >= 512;
  const bqDefault = decode ? 8 : 32;
  const bkDefault = fit < 1 ? 16 : Math.min(32, fit);
  const portable = { BQ: bqDefault, BK: bkDefault };
  const dv = desc.dv ?? desc.d;
  const limits = { maxComputeInvocationsPerWorkgroup: inv, maxComputeWorkgroupStorageSize: storage };
  const tiledDefault = defaultTiledAttention(webgpuKind(info), desc.d, dv, decode);
  const tiled: KernelConfig[] = [];
  if (tiledDefault) {
    tiled.push(tiledDefault);
    for (const [BQ, NT] of [[32, 4], [64, 4], [32, 8], [64, 2], [16, 8]] as const)
      for (const BK of [8, 16, 32]) {
        const t = { BQ, BK, NT };
        if (tiledAttentionFits(t, limits, desc.d, dv, workgroupSizeX(info, L))) tiled.push(t);
      }
  }
  const def: KernelConfig = tiledDefault ?? portable;
  const bqs = (decode ? [8, 4, 16] : [32, 16, 64]).filter((b) => b <= inv && b <= workgroupSizeX(info, L));
  // BK past what fits in workgroup memory runs unstaged (K/V read from global memory): only offered
  // when nothing fits anyway.
  const bks = fit < 1 ? [16, 8, 32] : [bkDefault, 16, 32, 64].filter((b) => b <= fit);
  const all: KernelConfig[] = [def, ...tiled, portable];
  for (const BQ of bqs) for (const BK of bks) all.push({ BQ, BK });
  const u = unique(all);
  const quick = tiledDefault
    ? unique([def, ...tiled.slice(1, 3), portable])
    : unique([def, { BQ: bqs[1] ?? bqDefault, BK: bkDefault }, { BQ: bqDefault, BK: bks.find((b) => b !== bkDefault) ?? bkDefault }]);
  return { default: def, all: u, quick };
}

/**
 * The GPU library's kernel choices for desc's op, its own ({}) first; one per kernel it would run,
 * given kernelOf. A field left out is the library's own choice (0 in the descriptor): no 0 is ever
 * stored, so a tune cache written here stays one that older builds read.
 */
function gpuCandidates(desc: OpDesc, kernelOf?: (c: KernelConfig) => string | undefined): CandidateSet {
  const kernel = (name: (typeof GPU_KERNELS)[number]) => GPU_KERNELS.indexOf(name);
  const list: KernelConfig[] =
    desc.op === 'matmul'
      ? [
          {},
          ...(['wgmma', 'wgmma-cluster', 'wgmma-cluster2x2', 'mma', 'simt'] as const).map((n) => ({ kernel: kernel(n) })),
          ...[2, 3, 4].map((splitK) => ({ kernel: kernel('wgmma'), splitK })),
          { kernel: kernel('wgmma-cluster'), splitK: 2 },
          { splitK: 1 }, // never split, where KERNELPORT_GPU_GEMM_SPLITK asks for it
        ]
      : [{}, { keys: 64 }, ...(['wgmma', 'mma', 'simt'] as const).map((n) => ({ kernel: kernel(n) })), { kernel: kernel('wgmma'), keys: 64 }];
  if (!kernelOf) return { default: list[0]!, all: list, quick: list.slice(0, 3) };
  // The variant names split-K, not its count: the splits the kernel would make tell those apart.
  const seen = new Set<string>();
  const all = list.filter((c) => {
    const v = kernelOf(c) ?? '';
    const key = desc.op === 'matmul' && /splitk/.test(v) ? `${v} ${gpuSplits(desc, c)}` : v;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { default: all[0]!, all, quick: all.slice(0, 3) };
}
