/**
 * Selection by estimated time: a roofline per device (max(flops / peak FLOP/s, bytes / bandwidth) plus
 * a fixed launch cost) from probe data, measured peaks where calibrated. Pure: no Node APIs, no probing;
 * open() feeds it probe() and the calibration cache. `reference` and emulated musa devices are never
 * ranked unless named in `prefer`.
 */
import type { BackendName, DeviceInfo, DType } from '../types.js';
import { sumClampedRamp } from '../ops/attention.js';

export type Policy = 'auto' | 'prefer-gpu' | 'prefer-cpu';
export type OpName = 'matmul' | 'attention';

export interface MatmulDesc {
  op?: 'matmul';
  m: number;
  n: number;
  k: number;
  batch?: number;
  dtype?: DType;
  /** f32 only: the caller allows TF32 tensor cores (matmul's allowTf32). */
  allowTf32?: boolean;
}

export interface AttentionDesc {
  op?: 'attention';
  batch?: number;
  hq: number;
  hkv?: number;
  sq: number;
  skv: number;
  d: number;
  dv?: number;
  causal?: boolean;
  dtype?: DType;
  /** 16-bit only: the caller allows P rounded to 16 bits (attention's allowP16). */
  allowP16?: boolean;
  /** An additive mask is given (attention's `mask`): cuda runs its masked kernels, never the wgmma one. */
  mask?: boolean;
}

export type OpDesc = ({ op: 'matmul' } & MatmulDesc) | ({ op: 'attention' } & AttentionDesc);
/** explain()/supports() sizes of a matmul: MatmulDesc plus the layouts (the cuda planner reads them). */
export type MatmulShape = MatmulDesc & { transA?: boolean; transB?: boolean };
/** The sizes explain()/supports()/tune() take for `op`. */
export type SizesOf<O extends OpName> = O extends 'matmul' ? MatmulShape : AttentionDesc;

/** The typical ops 'auto' ranks by: a 2048³ f32 matmul and a causal GQA prefill. */
export const TYPICAL_OPS: OpDesc[] = [
  { op: 'matmul', m: 2048, n: 2048, k: 2048, dtype: 'f32' },
  { op: 'attention', batch: 1, hq: 32, hkv: 8, sq: 2048, skv: 2048, d: 128, causal: true, dtype: 'f32' },
];

export interface Requirements {
  dtype?: DType | DType[];
  ops?: OpName[];
}

export interface RankOptions {
  policy?: Policy;
  /** Ordered selectors ('cuda', 'cuda:1', 'webgpu:0', 'cpu'): matching devices come first, in this order. */
  prefer?: string[];
  require?: Requirements;
  /** What to estimate (default TYPICAL_OPS). */
  ops?: OpDesc[];
  /** Measured peaks (calibration cache) for a device, when there are any. */
  measured?: (info: DeviceInfo) => { flops: number; bandwidth: number } | undefined;
}

export interface Peaks {
  flops: number;
  bandwidth: number;
  flopsSource: 'measured' | 'table' | 'estimate';
  bandwidthSource: 'measured' | 'table' | 'estimate';
  /** Why the figures are what they are, when not straight from the probe. */
  notes: string[];
}

export interface Estimate {
  op: OpName;
  flops: number;
  bytes: number;
  ms: number;
  bound: 'compute' | 'bandwidth';
  peaks: Peaks;
}

export interface Candidate {
  info: DeviceInfo;
  selector: string;
  /** Sum of the estimates of the ranked ops. */
  estimateMs: number;
  estimates: Estimate[];
  why: string;
}

export interface Ranking {
  ranked: Candidate[];
  excluded: { info: DeviceInfo; selector: string; reason: string }[];
}

/** Fixed cost per op launch (ms): queue hop for cpu, kernel launch for cuda/musa, submit + map for webgpu. */
const LAUNCH_MS: Record<BackendName, number> = { cpu: 0.005, cuda: 0.01, musa: 0.015, webgpu: 0.05, reference: 1 };
/** A software WebGPU adapter (llvmpipe, SwiftShader) reaches this fraction of the CPU's peaks at best. */
export const SOFTWARE_ADAPTER_FACTOR = 0.05;
/** WebGPU on real hardware: peaks are not exposed, assume a modest GPU (labelled an estimate). */
const WEBGPU_GUESS = { flops: 5e12, bandwidth: 200e9 };

export const selectorOf = (d: Pick<DeviceInfo, 'backend' | 'index'>): string => `${d.backend}:${d.index}`;
export const isGpu = (d: DeviceInfo): boolean => d.backend !== 'cpu' && d.backend !== 'reference' && !(d.backend === 'webgpu' && d.features.software === true);

/** Parses 'cuda', 'cuda:1', 'webgpu:0'; undefined for anything else. */
export function parseSelector(s: string): { backend: string; index?: number } | undefined {
  const m = /^\s*([a-z]+)(?::(\d+))?\s*$/.exec(s);
  if (!m) return undefined;
  return { backend: m[1]!, index: m[2] === undefined ? undefined : Number(m[2]) };
}

export function matches(d: Pick<DeviceInfo, 'backend' | 'index'>, selector: string): boolean {
  const p = parseSelector(selector);
  return !!p && p.backend === d.backend && (p.index === undefined || p.index === d.index);
}

/** FLOPs and compulsory bytes of an op description (the counts src/ops plans use). */
export function opCost(desc: OpDesc): { flops: number; bytes: number; dtype: DType } {
  const dtype = desc.dtype ?? 'f32';
  const e = dtype === 'f32' ? 4 : 2;
  if (desc.op === 'matmul') {
    const b = desc.batch ?? 1;
    return { flops: 2 * b * desc.m * desc.n * desc.k, bytes: b * (desc.m * desc.k + desc.k * desc.n + desc.m * desc.n) * e, dtype };
  }
  const b = desc.batch ?? 1;
  const hkv = desc.hkv ?? desc.hq;
  const dv = desc.dv ?? desc.d;
  // visible (query, key) pairs per head: bottom-right causal keeps j <= i + skv - sq
  const visible = desc.causal ? sumClampedRamp(desc.sq, desc.skv - desc.sq + 1, desc.skv) : desc.sq * desc.skv;
  const flops = b * desc.hq * visible * (2 * desc.d + 2 * dv);
  const bytes = b * (desc.hq * desc.sq * desc.d + hkv * desc.skv * (desc.d + dv) + desc.hq * desc.sq * dv) * e;
  return { flops, bytes, dtype };
}

/** The roofs used for `info`: measured, else the probe's table/estimate, else a labelled guess. */
export function peaksFor(info: DeviceInfo, dtype: DType, measured?: { flops: number; bandwidth: number }, cpuPeer?: DeviceInfo): Peaks {
  const notes: string[] = [];
  const probeSrc = info.peak.source === 'table' ? 'table' : 'estimate';
  let flops = info.peak.flops[dtype] ?? info.peak.flops.f32 ?? 0;
  let bandwidth = info.peak.bandwidth;
  let flopsSource: Peaks['flopsSource'] = probeSrc;
  let bandwidthSource: Peaks['bandwidthSource'] = probeSrc;
  if (info.backend === 'cpu' && measured && measured.flops > 0) {
    // calibration measures f32 FMA throughput; 16-bit inputs are widened while packing, so the same roof
    flops = measured.flops;
    flopsSource = 'measured';
    if (measured.bandwidth > 0) {
      bandwidth = measured.bandwidth;
      bandwidthSource = 'measured';
    }
  }
  if (info.backend === 'cpu' && bandwidth <= 0) {
    bandwidth = Math.min(Math.max(info.computeUnits, 1) * 10e9, 200e9);
    bandwidthSource = 'estimate';
    notes.push('cpu bandwidth estimated at 10 GB/s per core (run `kernelport bench --calibrate` to measure)');
  }
  if (info.backend === 'webgpu' && flops <= 0) {
    if (info.features.software) {
      const base = cpuPeer ? peaksFor(cpuPeer, 'f32') : { flops: 100e9, bandwidth: 20e9 };
      flops = base.flops * SOFTWARE_ADAPTER_FACTOR;
      bandwidth = base.bandwidth * SOFTWARE_ADAPTER_FACTOR;
      notes.push(`software adapter: ${SOFTWARE_ADAPTER_FACTOR}× the CPU's roofs (a rasteriser on the same cores)`);
    } else {
      flops = WEBGPU_GUESS.flops;
      bandwidth = WEBGPU_GUESS.bandwidth;
      notes.push('WebGPU exposes no peak figures: assumed 5 TFLOP/s, 200 GB/s');
    }
    flopsSource = 'estimate';
    bandwidthSource = 'estimate';
  }
  if (flops <= 0) {
    flops = 1e9;
    flopsSource = 'estimate';
    notes.push('no peak FLOP/s known: assumed 1 GFLOP/s');
  }
  if (bandwidth <= 0) {
    bandwidth = 1e9;
    bandwidthSource = 'estimate';
    notes.push('no bandwidth known: assumed 1 GB/s');
  }
  return { flops, bandwidth, flopsSource, bandwidthSource, notes };
}

/**
 * Whether the cuda plugin runs this attention on tensor cores: kernels/gpu/attention_mma.cu's
 * attention_mma_eligible as far as a descriptor without buffers tells (f16/bf16, D == Dv in
 * {64, 80, 96, 128} or DeepSeek's D = 192 with Dv = 128, Sq >= 16, sm_80+ with 32-lane warps; a mask's
 * strides are assumed to fit). D = 192 needs 92 KiB (94,208 bytes) of shared memory a block with one V
 * buffer (125 KiB with two, where the part has it): the device's opt-in limit where the probe gives
 * it; every sm_80+ part has 99 KiB or more.
 */
export function attentionOnTensorCores(info: DeviceInfo, desc: AttentionDesc): boolean {
  const dv = desc.dv ?? desc.d;
  const optin = info.gpu?.sharedPerBlockOptin;
  const bigSmem = optin ? optin >= 94208 : true;
  return (
    info.backend === 'cuda' &&
    info.features.tensorCores === true &&
    (desc.dtype === 'f16' || desc.dtype === 'bf16') &&
    ((dv === desc.d && [64, 80, 96, 128].includes(desc.d)) || (desc.d === 192 && dv === 128 && bigSmem)) &&
    desc.sq >= 16
  );
}

export function estimateOp(info: DeviceInfo, desc: OpDesc, measured?: { flops: number; bandwidth: number }, cpuPeer?: DeviceInfo): Estimate {
  const { flops, bytes, dtype } = opCost(desc);
  let peaks = peaksFor(info, dtype, measured, cpuPeer);
  // The portable GPU attention kernels compute in f32 whatever the inputs: 16-bit attention off the
  // tensor cores runs at most at the f32 rate.
  const gpuNative = info.backend === 'cuda' || info.backend === 'musa';
  if (gpuNative && desc.op === 'attention' && dtype !== 'f32' && !attentionOnTensorCores(info, { ...desc, dtype })) {
    const f32 = info.peak.flops.f32 ?? 0;
    if (f32 > 0 && f32 < peaks.flops) peaks = { ...peaks, flops: f32, notes: [...peaks.notes, 'portable SIMT attention: the f32 rate'] };
  }
  // An f32 matmul that allows TF32 runs at the tensor-core TF32 rate where the device has one.
  const tf32 = info.backend === 'cuda' && desc.op === 'matmul' && desc.allowTf32 === true && dtype === 'f32' ? (info.gpu?.tf32Flops ?? 0) : 0;
  if (tf32 > peaks.flops) peaks = { ...peaks, flops: tf32, notes: [...peaks.notes, 'TF32 tensor-core rate (allowTf32)'] };
  const tc = flops / peaks.flops;
  const tb = bytes / peaks.bandwidth;
  return { op: desc.op, flops, bytes, ms: Math.max(tc, tb) * 1e3 + LAUNCH_MS[info.backend], bound: tc >= tb ? 'compute' : 'bandwidth', peaks };
}

/** Whether the device's compiled variants cover `op` (no variants listed: assume yes). */
export function hasOp(info: DeviceInfo, op: OpName): boolean {
  if (info.variants.length === 0 || info.backend === 'reference') return true;
  const re = op === 'matmul' ? /gemm|gemv|matmul/ : /attention/;
  return info.variants.some((v) => re.test(v));
}

export function rankDevices(devices: DeviceInfo[], options: RankOptions = {}): Ranking {
  const policy = options.policy ?? 'auto';
  if (!['auto', 'prefer-gpu', 'prefer-cpu'].includes(policy))
    throw new TypeError(`selection: policy must be 'auto', 'prefer-gpu' or 'prefer-cpu', got '${String(policy)}'`);
  const prefer = options.prefer ?? [];
  if (!Array.isArray(prefer)) throw new TypeError(`selection: prefer must be an array of device names like ['cuda', 'cpu'], got ${typeof prefer === 'string' ? `'${prefer}'` : typeof prefer}`);
  for (const p of prefer) if (!parseSelector(p)) throw new TypeError(`selection: prefer entries must look like 'cuda' or 'cuda:1', got '${p}'`);
  const ops = options.ops ?? TYPICAL_OPS;
  const dtypes = options.require?.dtype === undefined ? [] : Array.isArray(options.require.dtype) ? options.require.dtype : [options.require.dtype];
  const cpuPeer = devices.find((d) => d.backend === 'cpu' && d.available);

  const excluded: Ranking['excluded'] = [];
  const ranked: Candidate[] = [];
  for (const info of devices) {
    const selector = selectorOf(info);
    const exclude = (reason: string) => excluded.push({ info, selector, reason });
    if (!info.available) {
      exclude(`unavailable: ${info.reason ?? 'no reason given'}`);
      continue;
    }
    if (info.backend === 'reference' && !prefer.some((p) => matches(info, p))) {
      exclude('the float64 reference is never chosen automatically');
      continue;
    }
    // An emulated musa device is the NVIDIA GPU the cuda backend already offers, running the MUSA
    // build for testing: never preferred over that cuda device, so never chosen unless asked for.
    if (info.features.emulated === true && !prefer.some((p) => matches(info, p))) {
      exclude('an emulated musa device (the MUSA build on an NVIDIA GPU, for testing) is never chosen automatically; open(\'musa\') or prefer: [\'musa\'] picks it');
      continue;
    }
    const missing = dtypes.filter((t) => !info.features.dtypes.includes(t));
    if (missing.length) {
      exclude(`lacks dtype ${missing.join(', ')}`);
      continue;
    }
    const noOp = (options.require?.ops ?? []).filter((o) => !hasOp(info, o));
    if (noOp.length) {
      exclude(`no kernel for ${noOp.join(', ')}`);
      continue;
    }
    const m = options.measured?.(info);
    const estimates = ops.map((o) => estimateOp(info, { ...o, dtype: o.dtype ?? dtypes[0] } as OpDesc, m, cpuPeer));
    const estimateMs = estimates.reduce((s, e) => s + e.ms, 0);
    const src = estimates[0] ? `${estimates[0].peaks.flopsSource} peaks` : 'no ops';
    ranked.push({ info, selector, estimateMs, estimates, why: `${fmtMs(estimateMs)} estimated for ${ops.length} typical op(s) (${src})` });
  }

  const tier = (c: Candidate): number => {
    const p = prefer.findIndex((s) => matches(c.info, s));
    if (p >= 0) return p;
    const base = prefer.length;
    if (policy === 'prefer-gpu') return base + (isGpu(c.info) ? 0 : 1);
    if (policy === 'prefer-cpu') return base + (c.info.backend === 'cpu' ? 0 : 1);
    return base;
  };
  ranked.sort((a, b) => tier(a) - tier(b) || a.estimateMs - b.estimateMs || a.info.index - b.info.index);
  for (const c of ranked) {
    const p = prefer.findIndex((s) => matches(c.info, s));
    if (p >= 0) c.why = `prefer[${p}] = '${prefer[p]}'; ${c.why}`;
    else if (policy !== 'auto') c.why = `policy ${policy}; ${c.why}`;
  }
  return { ranked, excluded };
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1e3).toFixed(1)} µs`;
}
