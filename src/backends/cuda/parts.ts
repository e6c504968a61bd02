/**
 * NVIDIA parts table: the figures `probe()` reports for a CUDA device, the export-control figures of
 * the parts sold in China, and an estimator for parts the table does not know.
 *
 * Conventions (read before changing a number):
 * - Every FLOP/s figure is **dense** (no 2:4 sparsity) at the vendor's boost clock, from the vendor's
 *   datasheets. `flops.f16` / `flops.bf16` are tensor-core rates **with f32 accumulation** — what
 *   kernelport's kernels run (DESIGN.md: accumulate in f32 always). GeForce parts run f16/bf16 with f32
 *   accumulation at half their f16-accumulate rate; data-centre and RTX Pro parts at full rate.
 *   `flops.tf32` is the tensor TF32 rate (used only when a caller opts in); `flops.f32` is the SIMT
 *   (CUDA core) rate.
 * - `tensor16` is the highest dense 16-bit tensor rate the part has with any accumulator (f16
 *   accumulate on GeForce). Export-control figures use it, as vendors and regulators (BIS, ECCN 3A090)
 *   do: TPP = 2 × MacTOPS × bit length = dense TOPS × 16 for the 16-bit figure (the 8-bit figure × 8
 *   gives the same number on every part here); performance density PD = TPP / die area (mm²).
 *   Thresholds for reference: 3A090.a is TPP ≥ 4800, or TPP ≥ 1600 with PD ≥ 5.92.
 * - `uncertain` lists fields not confirmed by a vendor datasheet (third-party or derived figures).
 */

export type Arch = 'sm_80' | 'sm_86' | 'sm_89' | 'sm_90' | 'sm_100' | 'sm_120';

export interface PartFlops {
  f32: number;
  tf32: number;
  f16: number;
  bf16: number;
}

export interface GpuPart {
  /** Marketing name. */
  name: string;
  arch: Arch;
  die: string;
  dieAreaMm2: number;
  sms: number;
  memoryBytes: number;
  /** Bytes/s. */
  bandwidth: number;
  /** Dense FLOP/s per dtype (see the conventions above). */
  flops: PartFlops;
  /** Highest dense 16-bit tensor FLOP/s (any accumulator): the export-control basis. */
  tensor16: number;
  /** Matches the driver's device name (lower case, 'nvidia'/'geforce' removed, single spaces). */
  match: RegExp;
  /** Fields not confirmed by a vendor datasheet. */
  uncertain?: string[];
  note?: string;
}

const T = 1e12;
const GB = 1e9;
const GiB = 2 ** 30;

function part(
  name: string,
  arch: Arch,
  die: string,
  dieAreaMm2: number,
  sms: number,
  memGiB: number,
  bandwidthGBs: number,
  tf: { f32: number; tf32: number; f16: number; bf16?: number; tensor16: number },
  match: RegExp,
  extra: { uncertain?: string[]; note?: string } = {},
): GpuPart {
  return {
    name,
    arch,
    die,
    dieAreaMm2,
    sms,
    memoryBytes: memGiB * GiB,
    bandwidth: bandwidthGBs * GB,
    flops: { f32: tf.f32 * T, tf32: tf.tf32 * T, f16: tf.f16 * T, bf16: (tf.bf16 ?? tf.f16) * T },
    tensor16: tf.tensor16 * T,
    match,
    ...extra,
  };
}

// Die areas: GA100 826 mm², GH100 814 mm², AD102 608.5 mm², AD104 294.5 mm², GB202 750 mm².
/** Ordered: a more specific pattern comes before the one it would otherwise fall under. */
export const PARTS: readonly GpuPart[] = [
  // ---- Hopper (sm_90) ----
  part('H20', 'sm_90', 'GH100', 814, 78, 96, 4000, { f32: 44, tf32: 74, f16: 148, tensor16: 148 }, /\bh20\b/, {
    uncertain: ['sms'],
    note: 'China-market Hopper: tensor throughput capped per SM, HBM3 kept (TPP 2368, PD 2.9)',
  }),
  part('H800 PCIe', 'sm_90', 'GH100', 814, 114, 80, 2000, { f32: 51.2, tf32: 378, f16: 756, tensor16: 756 }, /\bh800\b.*pcie/, {
    note: 'H100 PCIe compute with NVLink cut to 400 GB/s',
  }),
  part('H800', 'sm_90', 'GH100', 814, 132, 80, 3350, { f32: 67, tf32: 494.7, f16: 989.4, tensor16: 989.4 }, /\bh800\b/, {
    note: 'H100 SXM compute with NVLink cut to 400 GB/s; its FP64 is also cut',
  }),
  part('H100 PCIe', 'sm_90', 'GH100', 814, 114, 80, 2000, { f32: 51.2, tf32: 378, f16: 756, tensor16: 756 }, /\bh100\b.*pcie/),
  part('H100 NVL', 'sm_90', 'GH100', 814, 132, 94, 3900, { f32: 60, tf32: 417.5, f16: 835, tensor16: 835 }, /\bh100\b.*nvl/),
  part('H100 SXM', 'sm_90', 'GH100', 814, 132, 80, 3350, { f32: 67, tf32: 494.7, f16: 989.4, tensor16: 989.4 }, /\bh100\b/),
  part('H200 NVL', 'sm_90', 'GH100', 814, 132, 141, 4800, { f32: 60, tf32: 417.5, f16: 835, tensor16: 835 }, /\bh200\b.*nvl/),
  part('H200', 'sm_90', 'GH100', 814, 132, 141, 4800, { f32: 67, tf32: 494.7, f16: 989.4, tensor16: 989.4 }, /\bh200\b/),
  // ---- Ada (sm_89) ----
  part('L20', 'sm_89', 'AD102', 608.5, 92, 48, 864, { f32: 59.8, tf32: 59.8, f16: 119.5, tensor16: 119.5 }, /\bl20\b/, {
    uncertain: ['sms'],
    note: 'China-market Ada data-centre part (TPP 1912, PD 3.1)',
  }),
  part('L2', 'sm_89', 'AD104', 294.5, 58, 24, 300, { f32: 24.1, tf32: 48.3, f16: 96.5, tensor16: 96.5 }, /\bl2\b/, {
    uncertain: ['sms', 'die', 'dieAreaMm2'],
    note: 'China-market low-power Ada part; die assumed AD104 like the L4',
  }),
  part('L40S', 'sm_89', 'AD102', 608.5, 142, 48, 864, { f32: 91.6, tf32: 183, f16: 362.05, tensor16: 362.05 }, /\bl40s\b/),
  part('L40', 'sm_89', 'AD102', 608.5, 142, 48, 864, { f32: 90.5, tf32: 90.5, f16: 181.05, tensor16: 181.05 }, /\bl40\b/),
  part('RTX 4090 D', 'sm_89', 'AD102', 608.5, 114, 24, 1008, { f32: 73.5, tf32: 73.5, f16: 147, tensor16: 294.1 }, /\brtx 4090 ?d\b/, {
    uncertain: ['flops.f16', 'flops.bf16', 'flops.tf32'],
    note: 'China-market 4090 (TPP 4706 < 4800); f32-accumulate rate assumed half the f16-accumulate rate, as on the 4090',
  }),
  part('RTX 4090', 'sm_89', 'AD102', 608.5, 128, 24, 1008, { f32: 82.6, tf32: 82.6, f16: 165.2, tensor16: 330.3 }, /\brtx 4090\b/),
  // ---- Ampere (sm_80) ----
  part('A800 PCIe 40GB', 'sm_80', 'GA100', 826, 108, 40, 1555, { f32: 19.5, tf32: 156, f16: 312, tensor16: 312 }, /\ba800\b.*40\s?gb/, {
    note: 'A100 compute with NVLink cut to 400 GB/s',
  }),
  part('A800 PCIe 80GB', 'sm_80', 'GA100', 826, 108, 80, 1935, { f32: 19.5, tf32: 156, f16: 312, tensor16: 312 }, /\ba800\b.*pcie/),
  part('A800 SXM4 80GB', 'sm_80', 'GA100', 826, 108, 80, 2039, { f32: 19.5, tf32: 156, f16: 312, tensor16: 312 }, /\ba800\b/, {
    note: 'A100 compute with NVLink cut to 400 GB/s',
  }),
  part('A100 40GB', 'sm_80', 'GA100', 826, 108, 40, 1555, { f32: 19.5, tf32: 156, f16: 312, tensor16: 312 }, /\ba100\b.*40\s?gb/),
  part('A100 PCIe 80GB', 'sm_80', 'GA100', 826, 108, 80, 1935, { f32: 19.5, tf32: 156, f16: 312, tensor16: 312 }, /\ba100\b.*pcie/),
  part('A100 SXM4 80GB', 'sm_80', 'GA100', 826, 108, 80, 2039, { f32: 19.5, tf32: 156, f16: 312, tensor16: 312 }, /\ba100\b/),
  // ---- Blackwell RTX (sm_120) ----
  part('RTX 5090 D', 'sm_120', 'GB202', 750, 170, 32, 1792, { f32: 104.8, tf32: 104.8, f16: 148.4, tensor16: 296.9 }, /\brtx 5090 ?d\b/, {
    uncertain: ['flops.f16', 'flops.bf16', 'flops.tf32', 'tensor16'],
    note: 'China-market 5090: AI TOPS 2375 (FP4, sparse) instead of 3352, so 16-bit dense ≈ 2375 / 8 (TPP ≈ 4750); the 24 GB "V2" has 1344 GB/s',
  }),
  part('RTX 5090', 'sm_120', 'GB202', 750, 170, 32, 1792, { f32: 104.8, tf32: 104.8, f16: 209.5, tensor16: 419 }, /\brtx 5090\b/, {
    uncertain: ['flops.tf32'],
    note: 'f16/bf16 with f32 accumulation at half the f16-accumulate rate (GeForce)',
  }),
  part('RTX Pro 6000D', 'sm_120', 'GB202', 750, 156, 84, 1568, { f32: 104, tf32: 149.5, f16: 299, tensor16: 299 }, /\brtx (pro )?6000 ?d\b/, {
    uncertain: ['flops', 'tensor16', 'bandwidth'],
    note: 'China-market RTX Pro 6000: 156 SMs, 84 GB on a 448-bit bus (reported, not from a datasheet); tensor rate not published, assumed at the TPP 4800 limit',
  }),
  part('RTX Pro 6000 Blackwell', 'sm_120', 'GB202', 750, 188, 96, 1792, { f32: 125, tf32: 250, f16: 500, tensor16: 500 }, /\brtx pro 6000\b/, {
    uncertain: ['flops.tf32', 'flops.f16', 'flops.bf16', 'tensor16'],
    note: '16-bit dense derived from the datasheet\'s 4000 AI TOPS (FP4, sparse) / 8; RTX Pro parts accumulate in f32 at full rate',
  }),
];

/** TPP = 2 × MacTOPS × bit length, from the dense 16-bit tensor rate (the conventions at the top). */
export function tpp(p: Pick<GpuPart, 'tensor16'>): number {
  return (p.tensor16 / T) * 16;
}

/** Performance density: TPP per mm² of die. */
export function performanceDensity(p: Pick<GpuPart, 'tensor16' | 'dieAreaMm2'>): number {
  return tpp(p) / p.dieAreaMm2;
}

/** ECCN 3A090 classification by the TPP / PD thresholds (a guide, not legal advice). */
export function exportClass(p: Pick<GpuPart, 'tensor16' | 'dieAreaMm2'>): '3A090.a' | '3A090.b' | 'below 3A090' {
  const t = tpp(p);
  const pd = performanceDensity(p);
  if (t >= 4800 || (t >= 1600 && pd >= 5.92)) return '3A090.a';
  if ((t >= 2400 && pd >= 1.6) || (t >= 1600 && pd >= 3.2)) return '3A090.b';
  return 'below 3A090';
}

export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/nvidia|geforce/g, ' ').replace(/[-_]/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The table entry for a driver device name; memory disambiguates 40 GB from 80 GB A100/A800 names. */
export function matchPart(name: string, memoryBytes?: number): GpuPart | undefined {
  const n = normaliseName(name);
  for (const p of PARTS) {
    if (!p.match.test(n)) continue;
    // Driver names do not always carry the memory size: a 40 GB A100/A800 reports ~40 GiB.
    if (memoryBytes && /\ba[18]00\b/.test(n) && !/40\s?gb/.test(n) && memoryBytes < 48 * GiB) {
      const forty = PARTS.find((q) => q.name === (n.includes('a800') ? 'A800 PCIe 40GB' : 'A100 40GB'));
      if (forty) return forty;
    }
    return p;
  }
  return undefined;
}

/** What the driver reports about a device (the native probe). */
export interface GpuProbe {
  name: string;
  ccMajor: number;
  ccMinor: number;
  multiprocessors: number;
  clockKhz: number;
  memoryClockKhz: number;
  busWidthBits: number;
  memoryBytes: number;
}

/**
 * Dense FLOP per clock per SM of each architecture, from the datasheets' totals ÷ (SMs × boost clock).
 * f16/bf16 are f32-accumulate rates; sm_86/sm_89/sm_120 use the GeForce figure (half the f16-accumulate
 * rate; data-centre and RTX Pro parts of those architectures run at `tensor16`).
 */
export const ARCH_RATES: Record<Arch, { f32: number; tf32: number; f16: number; tensor16: number }> = {
  sm_80: { f32: 128, tf32: 1024, f16: 2048, tensor16: 2048 }, // A100: 108 × 1.41 GHz × 2048 = 312 T
  sm_86: { f32: 256, tf32: 256, f16: 512, tensor16: 1024 }, // RTX 3090: 82 × 1.695 GHz × 256 = 35.6 T
  sm_89: { f32: 256, tf32: 256, f16: 512, tensor16: 1024 }, // RTX 4090: 128 × 2.52 GHz × 1024 = 330 T
  sm_90: { f32: 256, tf32: 2048, f16: 4096, tensor16: 4096 }, // H100 SXM: 132 × 1.83 GHz × 4096 = 989 T
  sm_100: { f32: 256, tf32: 4096, f16: 8192, tensor16: 8192 }, // B200 class (uncertain)
  sm_120: { f32: 256, tf32: 256, f16: 512, tensor16: 1024 }, // RTX 5090: 170 × 2.41 GHz × 1024 = 419 T
};

export function archOf(ccMajor: number, ccMinor: number): Arch {
  const cc = ccMajor * 10 + ccMinor;
  if (cc >= 120) return 'sm_120';
  if (cc >= 100) return 'sm_100';
  if (cc >= 90) return 'sm_90';
  if (cc >= 89) return 'sm_89';
  if (cc >= 86) return 'sm_86';
  return 'sm_80';
}

export interface PartFigures {
  part?: GpuPart;
  /** true: computed from SM count × clock × per-SM rates, not from the table. */
  estimate: boolean;
  flops: PartFlops;
  bandwidth: number;
  tensor16: number;
  tpp: number;
  /** Undefined when the die area is unknown (estimates). */
  performanceDensity?: number;
}

/** Estimate for a part the table does not know: SMs × clock × per-SM rates; bandwidth = 2 × memory clock × bus width (DDR). */
export function estimatePart(g: GpuProbe): PartFigures {
  const r = ARCH_RATES[archOf(g.ccMajor, g.ccMinor)];
  const hz = g.clockKhz * 1e3;
  const per = (x: number) => g.multiprocessors * hz * x;
  const tensor16 = per(r.tensor16);
  return {
    estimate: true,
    flops: { f32: per(r.f32), tf32: per(r.tf32), f16: per(r.f16), bf16: per(r.f16) },
    bandwidth: 2 * g.memoryClockKhz * 1e3 * (g.busWidthBits / 8),
    tensor16,
    tpp: tpp({ tensor16 }),
  };
}

/** Table figures when the part is known, else the estimate (marked). */
export function partFigures(g: GpuProbe): PartFigures {
  const p = matchPart(g.name, g.memoryBytes);
  if (!p) return estimatePart(g);
  return {
    part: p,
    estimate: false,
    flops: { ...p.flops },
    bandwidth: p.bandwidth,
    tensor16: p.tensor16,
    tpp: tpp(p),
    performanceDensity: performanceDensity(p),
  };
}
