/**
 * Per-op support and explanation for one device: which kernel variant and tile configuration a
 * backend runs for a shape, the roofline estimate, and whether the op can run at all (dtype, shape
 * limits, features). Pure: mirrors the backends' own variant rules (cpu: kernels/cpu; webgpu:
 * src/backends/webgpu/{matmul,attention}.ts).
 */
import type { KernelConfig } from '../backends/backend.js';
import type { DeviceInfo, DType } from '../types.js';
import { attentionOnTensorCores, estimateOp, fmtMs, hasOp, opCost, selectorOf, type AttentionDesc, type MatmulDesc, type OpDesc, type OpName } from './rank.js';
import { DEFAULT_LOOP_BUDGET, gemvFits, keysPerDispatch, keysPerDispatchTiled, kPerDispatch } from '../backends/webgpu/loops.js';
import { defaultMatmulTiles, defaultTiledAttention, type AdapterKind } from '../backends/webgpu/configs.js';

export interface SupportResult {
  ok: boolean;
  reason: string;
}

export interface Explanation {
  device: string;
  op: OpName;
  variant: string;
  tileConfig?: Record<string, number | boolean>;
  estimateMs: number;
  bound: 'compute' | 'bandwidth';
  flops: number;
  bytes: number;
  why: string;
  /** Set when a tuned configuration (src/tune) applies to this shape class: the winner and where it came from. */
  tuned?: TunedNote;
}

export interface TunedNote {
  /** The shape class the winner was measured for (tuneClass). */
  shapeClass: string;
  config: Record<string, number>;
  /** 'cache': read from the tune cache file; 'measured': timed by this process. */
  source: 'cache' | 'measured';
  file?: string;
  measuredAt: string;
  /** Median ms of the winner and of the built-in configuration when they were measured. */
  ms: number;
  defaultMs: number;
}

/** cpu register tiles per ISA (MR × NR), from kernels/cpu. */
const CPU_TILES: Record<string, { MR: number; NR: number }> = {
  avx512: { MR: 12, NR: 32 },
  avx2: { MR: 6, NR: 16 },
  neon: { MR: 8, NR: 12 },
  generic: { MR: 4, NR: 8 },
};
const CPU_GEMV_MAX_M = 4;
const CPU_SKINNY_MAX_N = 4; // kernels/cpu/gemm_skinny.h: N <= 4 with A not transposed
const CPU_DECODE_MAX_SQ = 8;
const CPU_SPLIT = 256;
const GPU_GEMV_MAX_M = 4; // src/backends/webgpu/matmul.ts GEMV_MAX_M
const WGPU_SPLIT = 256; // src/backends/webgpu/attention.ts SPLIT_SIZE
const WGPU_BQ_PREFILL = 32;
const WGPU_BQ_DECODE = 8;

export function toDesc(op: OpName, desc: unknown): OpDesc {
  if (op !== 'matmul' && op !== 'attention') throw new TypeError(`explain: op must be 'matmul' or 'attention', got '${String(op)}'`);
  if (desc === null || typeof desc !== 'object') throw new TypeError(`${op}: desc must be an object of sizes, got ${String(desc)}`);
  const d = desc as Record<string, unknown>;
  // Required sizes, then optional ones that obey the same rule when given (a negative batch made
  // negative FLOP counts).
  const need = op === 'matmul' ? ['m', 'n', 'k'] : ['hq', 'sq', 'skv', 'd'];
  const optional = op === 'matmul' ? ['batch'] : ['batch', 'hkv', 'dv'];
  for (const f of [...need, ...optional.filter((x) => d[x] !== undefined)]) {
    const v = d[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${op}: desc.${f} must be a non-negative integer, got ${String(v)}`);
  }
  if (op === 'attention' && d.hkv === 0) throw new RangeError('attention: desc.hkv must be at least 1 (Hq is a multiple of it), got 0');
  const dtype = (d.dtype ?? 'f32') as DType;
  if (!['f32', 'f16', 'bf16'].includes(dtype)) throw new TypeError(`${op}: desc.dtype must be 'f32', 'f16' or 'bf16', got ${String(d.dtype)}`);
  return { ...(desc as MatmulDesc & AttentionDesc), op, dtype } as OpDesc;
}

const isa = (info: DeviceInfo): string => info.cpu?.isa ?? info.architecture.split('/').pop() ?? 'generic';

function limitsOf(info: DeviceInfo): Record<string, number> {
  return (info.features.limits as Record<string, number> | undefined) ?? {};
}

/** The binding size and loop budget a webgpu device opened from `info` uses (adapterInfo records them). */
function webgpuSettings(info: DeviceInfo): { bind: number | undefined; budget: number } {
  const f = info.features as { bindingLimit?: number; loopBudget?: number };
  return { bind: f.bindingLimit ?? limitsOf(info).maxStorageBufferBindingSize, budget: f.loopBudget ?? DEFAULT_LOOP_BUDGET };
}

/**
 * What src/backends/webgpu/configs.ts chooses from: the kernel set (adapterInfo records it: by adapter
 * kind unless KERNELPORT_WEBGPU_KERNELS says), and the limits (WebGPU's defaults where unknown).
 */
export function webgpuKind(info: DeviceInfo): AdapterKind {
  const L = limitsOf(info);
  const set = (info.features as { kernelSet?: string }).kernelSet;
  return {
    software: set !== undefined ? set === 'portable' : info.features.software !== false,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup ?? 256,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize ?? 16384,
  };
}

/**
 * What webgpu cannot split over bindings (matmul-chunks.ts, attention-chunks.ts): the smallest chunk's
 * largest binding, named. Matmul: a row of A (or all of A with transA), a row of B^T (or all of B
 * without transB), per batch. Attention: one (batch, head) slice of q, k, v or the output.
 */
function unsplittable(desc: OpDesc): { name: string; bytes: number } {
  const e = desc.dtype === 'f32' || desc.dtype === undefined ? 4 : 2;
  if (desc.op === 'matmul') {
    const m = desc as MatmulDesc & { transA?: boolean; transB?: boolean };
    const c = [
      { name: m.transA ? 'a (transA: one output row needs all of A)' : 'one row of a', bytes: (m.transA ? m.m * m.k : m.k) * e },
      { name: m.transB ? 'one row of b ([N, K])' : 'b ([K, N]: one output column needs all of B; transB splits over N)', bytes: (m.transB ? m.k : m.k * m.n) * e },
    ];
    return c.reduce((x, y) => (y.bytes > x.bytes ? y : x));
  }
  const dv = desc.dv ?? desc.d;
  const c = [
    { name: 'one head of q', bytes: desc.sq * desc.d * e },
    { name: 'one head of k', bytes: desc.skv * desc.d * e },
    { name: 'one head of v', bytes: desc.skv * dv * e },
    { name: 'one head of the output (f32)', bytes: desc.sq * dv * 4 },
  ];
  return c.reduce((x, y) => (y.bytes > x.bytes ? y : x));
}

/** The largest single buffer an op binds (bytes). */
function largestBuffer(desc: OpDesc): { name: string; bytes: number } {
  const e = desc.dtype === 'f32' || desc.dtype === undefined ? 4 : 2;
  if (desc.op === 'matmul') {
    const b = desc.batch ?? 1;
    const c = [
      { name: 'a', bytes: b * desc.m * desc.k * e },
      { name: 'b', bytes: b * desc.k * desc.n * e },
      { name: 'the output (f32 accumulator)', bytes: b * desc.m * desc.n * 4 },
    ];
    return c.reduce((x, y) => (y.bytes > x.bytes ? y : x));
  }
  const b = desc.batch ?? 1;
  const hkv = desc.hkv ?? desc.hq;
  const dv = desc.dv ?? desc.d;
  const c = [
    { name: 'q', bytes: b * desc.hq * desc.sq * desc.d * e },
    { name: 'k', bytes: b * hkv * desc.skv * desc.d * e },
    { name: 'v', bytes: b * hkv * desc.skv * dv * e },
    { name: 'the output (f32)', bytes: b * desc.hq * desc.sq * dv * 4 },
  ];
  return c.reduce((x, y) => (y.bytes > x.bytes ? y : x));
}

export function supports(info: DeviceInfo, op: OpName, descArg: unknown): SupportResult {
  const desc = toDesc(op, descArg);
  const dtype = desc.dtype ?? 'f32';
  if (!info.available) return { ok: false, reason: `${selectorOf(info)} is unavailable: ${info.reason}` };
  if (!info.features.dtypes.includes(dtype)) return { ok: false, reason: `${selectorOf(info)} has no ${dtype} support (dtypes: ${info.features.dtypes.join(', ')})` };
  if (!hasOp(info, op)) return { ok: false, reason: `${selectorOf(info)} has no ${op} kernel compiled in (variants: ${info.variants.join(', ')})` };
  if (desc.op === 'attention' && desc.hkv !== undefined && desc.hkv > 0 && desc.hq % desc.hkv !== 0)
    return { ok: false, reason: `attention needs Hq % Hkv == 0, got Hq=${desc.hq}, Hkv=${desc.hkv}` };
  const big = largestBuffer(desc);
  if (info.backend === 'webgpu') {
    const L = limitsOf(info);
    const bind = webgpuSettings(info).bind;
    const whole = unsplittable(desc);
    if (bind !== undefined && whole.bytes > bind)
      return { ok: false, reason: `${whole.name} needs ${whole.bytes} bytes in one binding (it cannot be split further); this adapter's maxStorageBufferBindingSize is ${bind}` };
    const maxBuf = L.maxBufferSize;
    if (maxBuf !== undefined && big.bytes > maxBuf) return { ok: false, reason: `${big.name} needs ${big.bytes} bytes; this adapter's maxBufferSize is ${maxBuf}` };
  }
  const total = opCost(desc).bytes;
  if (info.memoryBytes > 0 && info.backend !== 'webgpu' && total > info.memoryBytes)
    return { ok: false, reason: `the operands need ${total} bytes; ${selectorOf(info)} has ${info.memoryBytes}` };
  return { ok: true, reason: `${selectorOf(info)} runs ${op} ${dtype} with ${variantOf(info, desc).variant}` };
}

/** The GPU kernel choices by number (a tuned config's `kernel`), as KERNELPORT_GPU_GEMM / KERNELPORT_GPU_ATTENTION spell them. */
export const GPU_KERNELS = ['auto', 'simt', 'mma', 'wgmma', 'wgmma-cluster', 'wgmma-cluster2x2'] as const;

/**
 * The kernel choice a GPU op runs with, as the plugin takes it (kernels/gpu/kernels.h op_caps): a tuned
 * config's where it makes one (non-zero), else the process-wide KERNELPORT_GPU_* override.
 */
function gpuChoice(config?: KernelConfig): { gemm?: string; split: number; attention?: string; keys?: string } {
  const env = typeof process !== 'undefined' ? process.env : undefined;
  const kernel = config?.kernel ? GPU_KERNELS[config.kernel] : undefined;
  return {
    gemm: kernel ?? env?.KERNELPORT_GPU_GEMM,
    split: config?.splitK || Number(env?.KERNELPORT_GPU_GEMM_SPLITK || 0),
    attention: kernel ?? env?.KERNELPORT_GPU_ATTENTION,
    keys: config?.keys ? String(config.keys) : env?.KERNELPORT_GPU_ATTENTION_KEYS,
  };
}

/**
 * The K splits the wgmma GEMM makes for desc with config's (else the environment's) split-K, as
 * gemm_wgmma.cu's splits() clamps it: batch 1 only, at most one split per 64-deep K tile.
 */
export function gpuSplits(desc: { k: number; batch?: number }, config?: KernelConfig): number {
  const asked = gpuChoice(config).split;
  const ktiles = Math.ceil(desc.k / 64);
  return asked > 1 && (desc.batch ?? 1) === 1 && ktiles >= 2 ? Math.min(asked, ktiles) : 1;
}

/** The kernel family `info` runs desc with; `config`: a tuned configuration (GPU backends' kernel choice). */
export function variantOf(info: DeviceInfo, desc: OpDesc, config?: KernelConfig): { variant: string; tileConfig?: Record<string, number | boolean>; why: string } {
  if (info.backend === 'reference') return { variant: 'reference-f64', why: 'the float64 oracle: plain loops in double precision' };
  if (info.backend === 'cpu') {
    const i = isa(info);
    if (desc.op === 'matmul') {
      if (desc.m <= CPU_GEMV_MAX_M) return { variant: `gemv-${i}`, tileConfig: { MR: desc.m }, why: `M=${desc.m} <= ${CPU_GEMV_MAX_M}: the bandwidth path streams B once` };
      if (desc.n <= CPU_SKINNY_MAX_N && !(desc as { transA?: boolean }).transA)
        return { variant: `gemm-tall-skinny-${i}`, tileConfig: { NR: desc.n }, why: `N=${desc.n} <= ${CPU_SKINNY_MAX_N}: dot products of A's rows with B's columns, 64 rows per task, no packing` };
      const t = CPU_TILES[i] ?? CPU_TILES.generic!;
      return { variant: `gemm-blocked-${i}`, tileConfig: { ...t }, why: `BLIS-style packed GEMM, ${t.MR}x${t.NR} ${i} microkernel, fused epilogue` };
    }
    if (desc.sq <= CPU_DECODE_MAX_SQ)
      return { variant: `flash-decoding-split-kv-${i}`, tileConfig: { SPLIT: CPU_SPLIT }, why: `Sq=${desc.sq} <= ${CPU_DECODE_MAX_SQ}: split-KV decoding over splits of ${CPU_SPLIT} keys` };
    return { variant: `flash-attention-${i}`, why: 'flash attention on register tiles, GQA groups share K/V blocks, causal blocks skipped' };
  }
  if (info.backend === 'webgpu') {
    // Mirrors src/backends/webgpu/{matmul,attention}.ts: the kernel, then what it is cut into.
    const L = limitsOf(info);
    const { bind, budget } = webgpuSettings(info);
    const big = largestBuffer(desc);
    const split = bind !== undefined && big.bytes > bind;
    const mods: string[] = [];
    const notes: string[] = [];
    if (desc.dtype === 'f16' || desc.dtype === 'bf16') {
      mods.push('packed16');
      notes.push(`${desc.dtype} read as packed u32 (two per word), converted to f32 in the kernel`);
    }
    if (split) {
      mods.push('binding-split');
      notes.push(`${big.name} (${big.bytes} bytes) exceeds the ${bind}-byte binding: dispatched in chunks over ${desc.op === 'matmul' ? 'batch, M rows and N columns' : 'batch x heads'}, each binding a window`);
    }
    const name = (base: string) => [base, ...mods].join('+');
    const tail = () => (notes.length ? `; ${notes.join('; ')}` : '');
    if (desc.op === 'matmul') {
      if (gemvFits(desc.m, desc.k, budget)) {
        // the kernel features a device uses (adapterInfo / WebGpuDevice.create record them)
        const kf = (info.features.kernelFeatures as string[] | undefined) ?? (info.features.subgroups ? ['subgroups'] : []);
        const sg = kf.includes('subgroups');
        if (sg) mods.unshift('subgroups');
        const red = sg ? 'subgroupAdd, then the subgroup sums in order' : 'a fixed tree in workgroup memory';
        return { variant: name('wgsl-gemv'), tileConfig: { MR: desc.m, WG: 64, SUBGROUPS: sg }, why: `M=${desc.m} <= ${GPU_GEMV_MAX_M}: GEMV, 64 invocations per workgroup, partial sums reduced by ${red}${tail()}` };
      }
      const kind = webgpuKind(info);
      const t = defaultMatmulTiles(kind);
      const kChunks = Math.max(1, Math.ceil(desc.k / kPerDispatch(budget, t)));
      if (kChunks > 1) {
        mods.push('k-chunks');
        notes.push(`K=${desc.k} in ${kChunks} dispatches (loop budget ${budget} iterations per invocation), sums carried in order`);
      }
      const past = desc.m <= GPU_GEMV_MAX_M ? `M=${desc.m} but K=${desc.k} is past the GEMV loop budget: ` : '';
      const tile = `${t.WGY * t.TM}x${t.WGX * t.TN}`;
      const how = t.VEC
        ? `${tile} workgroup tiles (${kind.software ? 'forced' : 'hardware adapter'}), ${t.WGX}x${t.WGY} invocations of ${t.TM}x${t.TN} outputs, vec4 reads of workgroup memory, BK=${t.BK}`
        : `register-blocked ${t.TM}x${t.TN} per invocation, ${t.WGX}x${t.WGY} workgroups (${tile} tiles, BK=${t.BK}${kind.software ? ', software adapter' : ''})`;
      return { variant: name(t.VEC ? `wgsl-matmul-vec4-${t.TM}x${t.TN}` : 'wgsl-matmul-tiled-4x4'), tileConfig: { ...t, K_CHUNKS: kChunks }, why: `${past}${how}${tail()}` };
    }
    const dv = desc.dv ?? desc.d;
    const perKey = (Math.max(desc.d, 1) + Math.max(dv, 1)) * 4;
    const fit = Math.floor((L.maxComputeWorkgroupStorageSize ?? 16384) / perKey);
    const tiles = fit < 1 ? { BK: 16, STAGE: false } : { BK: Math.min(32, fit), STAGE: true };
    const decode = desc.sq <= WGPU_BQ_DECODE && desc.skv >= 2 * WGPU_SPLIT;
    const bq = decode ? WGPU_BQ_DECODE : WGPU_BQ_PREFILL;
    const tiled = defaultTiledAttention(webgpuKind(info), desc.d, dv, decode);
    const perDispatch = tiled ? keysPerDispatchTiled(budget, desc.d, dv, tiled) : keysPerDispatch(budget, desc.d, dv, tiles.BK, bq);
    const keyChunks = Math.max(1, Math.ceil((decode ? WGPU_SPLIT : desc.skv) / perDispatch));
    if (keyChunks > 1) {
      mods.push('key-chunks');
      notes.push(`${decode ? `each ${WGPU_SPLIT}-key split` : `Skv=${desc.skv}`} in ${keyChunks} dispatches (loop budget ${budget} iterations per invocation), (m, l, acc) carried`);
    }
    if (decode)
      return { variant: name('wgsl-flash-decoding-split-kv'), tileConfig: { BQ: WGPU_BQ_DECODE, SPLIT: WGPU_SPLIT, ...tiles, KEY_CHUNKS: keyChunks }, why: `Sq=${desc.sq} <= ${WGPU_BQ_DECODE} over Skv=${desc.skv}: split-KV partials then an ordered combine${tail()}` };
    if (tiled)
      return {
        variant: name('wgsl-flash-attention-tiled'),
        tileConfig: { ...tiled, KEY_CHUNKS: keyChunks },
        why: `flash attention (hardware adapter), ${tiled.BQ} query rows x ${tiled.NT} invocations per workgroup, Q and ${tiled.BK}-key K/V tiles shared in workgroup memory, each invocation ${Math.ceil(Math.ceil(Math.max(dv, 1) / 4) / tiled.NT) * 4} output columns${tail()}`,
      };
    return { variant: name('wgsl-flash-attention'), tileConfig: { BQ: WGPU_BQ_PREFILL, ...tiles, KEY_CHUNKS: keyChunks }, why: `flash attention, ${WGPU_BQ_PREFILL} query rows per workgroup, K/V staged ${tiles.BK} keys at a time${tail()}` };
  }
  // cuda / musa: the plugin picks; name the family it will use. musa runs the portable tiles only,
  // planned for the warp size the device reports (128 on mp_21/mp_22; KERNELPORT_MUSA_WARP_SIZE when emulated).
  // Tensor cores are NVIDIA's (cuda only): f16/bf16 always, f32 when TF32 is allowed.
  const tf32 = desc.op === 'matmul' && desc.dtype === 'f32' && desc.allowTf32 === true;
  const mma = info.backend === 'cuda' && info.features.tensorCores && (desc.dtype !== 'f32' || tf32);
  const warp = info.gpu?.warpSize;
  const onWarp = warp ? { tileConfig: { warpSize: warp } } : {};
  const note = info.backend === 'musa' ? `, planned for ${warp ?? '?'}-thread warps${info.gpu?.emulated ? ' (emulated MUSA build on an NVIDIA GPU)' : ''}` : '';
  if (desc.op === 'matmul') {
    // KERNELPORT_GPU_GEMM, as the plugin reads it: simt and mma never take wgmma. On compute capability
    // 9.0 the plugin's f16/bf16 GEMM is the wgmma + TMA kernel from a quarter of a 128x128 tile per SM
    // (gemm_wgmma.cu's wgmma_eligible; layouts aside, which the descriptor here does not carry).
    const choice = gpuChoice(config);
    const forcedGemm = choice.gemm;
    const outputs = desc.m * desc.n * (desc.batch ?? 1);
    const hopperGemm =
      mma && !tf32 && info.gpu?.computeCapability === '9.0' && forcedGemm !== 'simt' && forcedGemm !== 'mma' &&
      (forcedGemm?.startsWith('wgmma') || outputs >= (info.computeUnits * 128 * 128) / 4);
    // M <= 4: the GEMV, unless mma.sync or a wgmma kernel that can run is forced (gemm.cu's choose)
    if (desc.m <= 4 && forcedGemm !== 'mma' && !(forcedGemm?.startsWith('wgmma') && hopperGemm))
      return { variant: 'gemv', ...onWarp, why: `M=${desc.m}: GEMV${note}` };
    if (hopperGemm) {
      // Split-K only when asked (KERNELPORT_GPU_GEMM_SPLITK=n; gemm_wgmma.cu's splits: slower than
      // 128-wide tiles where measured): the tiles stay 256 wide and n blocks share each along K.
      const sms = info.computeUnits;
      const tiles256 = Math.ceil(desc.m / 128) * Math.ceil(desc.n / 256) * (desc.batch ?? 1);
      const ktiles = Math.ceil(desc.k / 64);
      const splits = gpuSplits(desc, config);
      const split = splits > 1 ? 'splitk-' : '';
      const splitWhy = splits > 1 ? `, K split ${splits} ways (${config?.splitK ? 'tuned' : 'KERNELPORT_GPU_GEMM_SPLITK'}; ${tiles256} tiles of 128 x 256 for ${sms} multiprocessors, the partial sums added in split order)` : '';
      if (forcedGemm === 'wgmma-cluster')
        return { variant: `gemm-wgmma-cluster2-${split}${desc.dtype}`, ...onWarp, why: `tensor cores (wgmma fed by TMA, 2-block clusters sharing each B tile by multicast, sm_90)${splitWhy}` };
      if (forcedGemm === 'wgmma-cluster2x2')
        return { variant: `gemm-wgmma-cluster2x2-${split}${desc.dtype}`, ...onWarp, why: `tensor cores (wgmma fed by TMA, 2 × 2-block clusters sharing A and B tiles by multicast, sm_90)${splitWhy}` };
      // Auto pairs blocks along M where the tiles are 256 wide, i.e. where 128 x 256 tiles fill every
      // multiprocessor or K is split (gemm_wgmma.cu's wgmma_cluster and tile_n); forced wgmma never clusters.
      const wideTiles = tiles256 >= sms || splits > 1;
      if (forcedGemm !== 'wgmma' && wideTiles)
        return { variant: `gemm-wgmma-cluster2-${split}${desc.dtype}`, ...onWarp, why: `tensor cores (wgmma m64n256k16 fed by TMA, 2-block clusters sharing each B tile by multicast, sm_90)${splitWhy}` };
      return { variant: `gemm-wgmma-${split}${desc.dtype}`, ...onWarp, why: `tensor cores (wgmma m64n${wideTiles ? 256 : 128}k16 fed by TMA through a 4-stage mbarrier pipeline, sm_90)${splitWhy}` };
    }
    // Under that size the plugin keeps the finer SIMT tiles for f16/bf16 too (gemm_mma.cu's mma_eligible).
    if (mma && !tf32 && forcedGemm !== 'mma' && desc.m * desc.n < (info.computeUnits * 128 * 128) / 4)
      return { variant: 'gemm-simt', ...onWarp, why: `SIMT GEMM: ${desc.m}x${desc.n} outputs are under a quarter of a 128x128 tile per multiprocessor, where the finer SIMT tiles fill the device${note}` };
    return {
      variant: mma ? (tf32 ? 'gemm-mma-tf32' : `gemm-mma-${desc.dtype}`) : 'gemm-simt',
      ...onWarp,
      why: (mma ? (tf32 ? 'TF32 tensor cores (mma.sync m16n8k8; inputs rounded to TF32, allowTf32)' : 'tensor cores (mma.sync m16n8k16)') : 'SIMT GEMM') + note,
    };
  }
  // KERNELPORT_GPU_ATTENTION, as the plugin reads it: simt never takes the tensor cores (nor the decode
  // kernel), mma takes mma.sync however few the query rows; on compute capability 9.0 auto takes the
  // wgmma kernel for D = Dv = 128 (attention_wgmma.cu: faster there on an H100, not at D = 64) and
  // wgmma forces it for D = 64 too, however few the rows; elsewhere wgmma is auto. A mask takes the
  // masked mma.sync kernels (attention_mma.cu's MASK), never wgmma.
  const choice = gpuChoice(config);
  const forced = choice.attention;
  const onHopper = info.gpu?.computeCapability === '9.0' && desc.mask !== true;
  const forcedHopper = forced === 'wgmma' && onHopper && (desc.d === 64 || desc.d === 128);
  const autoHopper = (forced === undefined || forced === 'auto') && onHopper && desc.d === 128;
  if ((forcedHopper || autoHopper) && attentionOnTensorCores(info, forcedHopper ? { ...desc, sq: Math.max(desc.sq, 16) } : desc)) {
    // Keys per tile as attention_wgmma_keys: 128 with allowP16 except f16 at D = 128;
    // KERNELPORT_GPU_ATTENTION_KEYS=64 keeps 64 (a kernel of its own name where auto takes 128).
    const autoKeys = desc.allowP16 && (desc.dtype === 'bf16' || desc.d !== 128) ? 128 : 64;
    const keys64 = autoKeys === 128 && choice.keys === '64';
    const keys = keys64 ? 64 : autoKeys;
    return {
      variant: desc.allowP16 ? `flash-attention-wgmma-m64n64k16-p16${keys64 ? '-keys64' : ''}` : 'flash-attention-wgmma-m64n64k16',
      ...onWarp,
      why: `tensor cores (wgmma, sm_90): 128 query rows of a head per block in 2 warpgroups, ${keys}-key tiles, ${desc.allowP16 ? 'P rounded to 16 bits (allowP16)' : 'P split into 16-bit terms'}`,
    };
  }
  if (forced !== 'simt' && attentionOnTensorCores(info, forced === 'mma' ? { ...desc, sq: Math.max(desc.sq, 16) } : desc)) {
    const [suffix, maskWhy] = desc.mask === true ? ['-mask', ', the mask read beside the scores'] : ['', ''];
    return desc.allowP16
      ? { variant: `flash-attention-mma-m16n8k16-p16${suffix}`, ...onWarp, why: `tensor cores (mma.sync m16n8k16, FlashAttention-2): 64 query rows of a head per block, 64-key tiles, P rounded to 16 bits (allowP16)${maskWhy}` }
      : { variant: `flash-attention-mma-m16n8k16${suffix}`, ...onWarp, why: `tensor cores (mma.sync m16n8k16, FlashAttention-2): 64 query rows of a head per block, 64-key tiles, P split into 16-bit terms${maskWhy}` };
  }
  // kernels/gpu/attention_decode.cu takes up to 16 rows per (batch, kv head) (GQA group x Sq) with
  // head dimensions up to 256 (unless KERNELPORT_GPU_ATTENTION=simt); attention.cu's portable kernels the rest.
  const groupRows = (desc.hq / (desc.hkv ?? desc.hq)) * desc.sq;
  if (groupRows <= 16 && Math.max(desc.d, desc.dv ?? desc.d) <= 256 && forced !== 'simt')
    return { variant: 'flash-decoding-split-kv-vec', ...onWarp, why: `decoding, ${groupRows} query row(s) per kv head: K/V streamed with 16-byte loads, split-KV with an ordered combine${note}` };
  return desc.sq <= 8 && desc.skv >= 512
    ? { variant: 'flash-decoding-split-kv', ...onWarp, why: `split-KV decoding${note}` }
    : { variant: 'flash-attention', ...onWarp, why: `flash attention${note}` };
}

export function explain(info: DeviceInfo, op: OpName, descArg: unknown, measured?: { flops: number; bandwidth: number }, cpuPeer?: DeviceInfo, config?: KernelConfig): Explanation {
  const desc = toDesc(op, descArg);
  const v = variantOf(info, desc, config);
  const e = estimateOp(info, desc, measured, cpuPeer);
  const roof = e.bound === 'compute' ? `${(e.peaks.flops / 1e9).toFixed(0)} GFLOP/s (${e.peaks.flopsSource})` : `${(e.peaks.bandwidth / 1e9).toFixed(1)} GB/s (${e.peaks.bandwidthSource})`;
  const intensity = e.bytes > 0 ? e.flops / e.bytes : Infinity;
  const notes = e.peaks.notes.length ? `; ${e.peaks.notes.join('; ')}` : '';
  const refNote = info.backend === 'reference' ? '; the reference runs far below any roof (estimate is a floor)' : '';
  return {
    device: selectorOf(info),
    op,
    variant: v.variant,
    tileConfig: v.tileConfig,
    estimateMs: e.ms,
    bound: e.bound,
    flops: e.flops,
    bytes: e.bytes,
    why: `${v.why}; ${intensity.toFixed(1)} FLOP/byte, ${e.bound}-bound at ${roof}: ${fmtMs(e.ms)}${notes}${refNote}`,
  };
}

/** n rounded up to a power of two (0 and 1 stay). */
export const bucket = (n: number): number => (n <= 1 ? n : 2 ** Math.ceil(Math.log2(n)));

/**
 * The shape class of an op on one device, without the device: op, dtype, kernel variant and
 * power-of-two buckets of the sizes that matter to a kernel's configuration (matmul: M, N, K and the
 * batch; attention: Sq, Skv, D, Dv, the query rows' batch × heads, causal or not). The autotuner keys
 * its winners by it (src/tune), so one measurement serves every shape of the class.
 */
export function tuneClass(variant: string, desc: OpDesc): string {
  const dt = desc.dtype ?? 'f32';
  // The options that let a GPU run other kernels (tf32, rounded P) are classes of their own, even where
  // the built-in variant's name is the same with and without them (decoding, small GEMMs).
  if (desc.op === 'matmul') {
    const batch = desc.batch ?? 1;
    const tf32 = desc.allowTf32 === true && dt === 'f32' ? ' allowTf32' : '';
    return `matmul ${dt} ${variant} ${[desc.m, desc.n, desc.k].map(bucket).join('x')}${batch > 1 ? ` batch${bucket(batch)}` : ''}${tf32}`;
  }
  const dims = [desc.sq, desc.skv, desc.d, desc.dv ?? desc.d].map(bucket).join('x');
  const p16 = desc.allowP16 === true && dt !== 'f32' ? ' allowP16' : '';
  // A mask is a class of its own too: other kernels on cuda, more memory traffic everywhere.
  return `attention ${dt} ${variant} ${dims} bh${bucket((desc.batch ?? 1) * desc.hq)}${desc.causal ? ' causal' : ''}${p16}${desc.mask ? ' mask' : ''}`;
}

/** A coarse class for "log each new decision once": the device and its tuneClass. */
export function shapeClass(x: Explanation, desc: OpDesc): string {
  return `${x.device} ${tuneClass(x.variant, desc)}`;
}
