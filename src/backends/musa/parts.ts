/**
 * Moore Threads parts table: the figures `probe()` reports for a MUSA device, and an estimator for
 * parts the table does not know.
 *
 * Sources: Moore Threads' product pages for the MTT S80, S3000 and S4000 (FP32 TFLOPS, memory,
 * bandwidth; S4000 also TF32 / FP16 / BF16 / INT8 tensor figures); the S5000 figures are from Moore
 * Threads' launch material as reported in the press, not a datasheet, and are all marked uncertain.
 * Conventions (as src/backends/cuda/parts.ts):
 * - FLOP/s are dense (no sparsity) at boost clock. `flops.f16` / `flops.bf16` are the 16-bit rates
 *   with f32 accumulation. Where a part publishes no 16-bit tensor figure (S80, S3000), they are its
 *   f32 rate — what kernelport's portable MUSA kernels (16-bit converted to f32, SIMT FMA) reach.
 * - `int8` is dense INT8 TOPS × 1e12 where published; undefined otherwise.
 * - Multiprocessor counts and clocks are derived (cores / 128 per multiprocessor; clock from the f32
 *   figure) and marked uncertain: the driver reports the real ones, and the estimator uses those.
 * - TPP = 2 × MacTOPS × bit length from the dense 16-bit rate, as for NVIDIA parts; die areas are not
 *   published, so performance density is not given.
 */

export type MusaArch = 'mp_21' | 'mp_22' | 'mp_31';

export interface MusaFlops {
  f32: number;
  tf32?: number;
  f16: number;
  bf16: number;
  int8?: number;
}

export interface MusaPart {
  name: string;
  arch: MusaArch;
  /** MUSA cores. */
  cores: number;
  multiprocessors: number;
  memoryBytes: number;
  /** Bytes/s. */
  bandwidth: number;
  flops: MusaFlops;
  /** Matches the driver's device name (lower case, 'moore threads' removed, single spaces). */
  match: RegExp;
  /** Fields not confirmed by a vendor datasheet. */
  uncertain?: string[];
  note?: string;
}

const T = 1e12;
const GB = 1e9;
const GiB = 2 ** 30;

/** Ordered: the more specific pattern first. */
export const MUSA_PARTS: readonly MusaPart[] = [
  {
    name: 'MTT S5000',
    arch: 'mp_31',
    cores: 16384,
    multiprocessors: 128,
    memoryBytes: 80 * GiB,
    bandwidth: 1600 * GB,
    flops: { f32: 32 * T, tf32: 256 * T, f16: 512 * T, bf16: 512 * T, int8: 1024 * T },
    match: /\bs5000\b/,
    uncertain: ['cores', 'multiprocessors', 'memoryBytes', 'bandwidth', 'flops'],
    note: 'data-centre part on mp_31 (32-thread warps, MUSA tensor cores); figures as reported at launch, not from a datasheet',
  },
  {
    name: 'MTT S4000',
    arch: 'mp_22',
    cores: 8192,
    multiprocessors: 64,
    memoryBytes: 48 * GiB,
    bandwidth: 768 * GB,
    flops: { f32: 25 * T, tf32: 50 * T, f16: 100 * T, bf16: 100 * T, int8: 200 * T },
    match: /\bs4000\b/,
    uncertain: ['multiprocessors'],
    note: 'data-centre part on mp_22 (128-thread warps); the 16-bit figures need MUSA tensor cores, which this version does not use (portable tiles: about the f32 rate)',
  },
  {
    name: 'MTT S3000',
    arch: 'mp_21',
    cores: 4096,
    multiprocessors: 32,
    memoryBytes: 32 * GiB,
    bandwidth: 448 * GB,
    flops: { f32: 15.2 * T, f16: 15.2 * T, bf16: 15.2 * T },
    match: /\bs3000\b/,
    uncertain: ['multiprocessors', 'flops.f16', 'flops.bf16'],
    note: 'server part on mp_21 (128-thread warps); no 16-bit tensor figure published',
  },
  {
    name: 'MTT S80',
    arch: 'mp_21',
    cores: 4096,
    multiprocessors: 32,
    memoryBytes: 16 * GiB,
    bandwidth: 448 * GB,
    flops: { f32: 14.4 * T, f16: 14.4 * T, bf16: 14.4 * T },
    match: /\bs80\b/,
    uncertain: ['multiprocessors', 'flops.f16', 'flops.bf16'],
    note: 'desktop part on mp_21 (128-thread warps); no 16-bit tensor figure published',
  },
];

export function normaliseMusaName(name: string): string {
  return name.toLowerCase().replace(/moore ?threads|\bmtt\b/g, ' ').replace(/[-_]/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The table entry for a driver device name ("MTT S4000", "Moore Threads MTT S80"). */
export function matchMusaPart(name: string): MusaPart | undefined {
  const n = normaliseMusaName(name);
  return MUSA_PARTS.find((p) => p.match.test(n));
}

export function musaArchOf(ccMajor: number, ccMinor: number): MusaArch {
  const cc = ccMajor * 10 + ccMinor;
  if (cc >= 31) return 'mp_31';
  if (cc >= 22) return 'mp_22';
  return 'mp_21';
}

/**
 * Dense FLOP per clock per multiprocessor, from the table's totals ÷ (multiprocessors × clock):
 * 128 cores × 2 (FMA) = 256 for f32 on every architecture; 16-bit at 1024 on mp_22 (S4000: 100 T ÷
 * (64 × 1.53 GHz)); mp_31's from the reported S5000 figures (uncertain); mp_21 has no 16-bit tensor rate.
 */
export const MUSA_ARCH_RATES: Record<MusaArch, { f32: number; f16: number; int8?: number }> = {
  mp_21: { f32: 256, f16: 256 },
  mp_22: { f32: 256, f16: 1024, int8: 2048 },
  mp_31: { f32: 256, f16: 2048, int8: 4096 },
};

export interface MusaProbe {
  name: string;
  ccMajor: number;
  ccMinor: number;
  multiprocessors: number;
  clockKhz: number;
  memoryClockKhz: number;
  busWidthBits: number;
}

export interface MusaFigures {
  part?: MusaPart;
  /** true: multiprocessors × clock × per-multiprocessor rates, not the table. */
  estimate: boolean;
  flops: MusaFlops;
  bandwidth: number;
  /** Dense 16-bit rate × 16 (TPP, as for NVIDIA parts). */
  tpp: number;
}

/** Estimate for a part the table does not know; bandwidth = 2 × memory clock × bus width (DDR). */
export function estimateMusaPart(g: MusaProbe): MusaFigures {
  const r = MUSA_ARCH_RATES[musaArchOf(g.ccMajor, g.ccMinor)];
  const per = (x: number) => g.multiprocessors * g.clockKhz * 1e3 * x;
  const f16 = per(r.f16);
  return {
    estimate: true,
    flops: { f32: per(r.f32), f16, bf16: f16, int8: r.int8 === undefined ? undefined : per(r.int8) },
    bandwidth: 2 * g.memoryClockKhz * 1e3 * (g.busWidthBits / 8),
    tpp: (f16 / T) * 16,
  };
}

/** Table figures when the part is known, else the estimate (marked). */
export function musaPartFigures(g: MusaProbe): MusaFigures {
  const p = matchMusaPart(g.name);
  if (!p) return estimateMusaPart(g);
  return { part: p, estimate: false, flops: { ...p.flops }, bandwidth: p.bandwidth, tpp: (p.flops.bf16 / T) * 16 };
}
