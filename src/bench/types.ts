/** The bench harness's data model: cases in, rows and a report out (the JSON schema is this file). */
import type { Activation, DeviceInfo, DType } from '../types.js';

export const SCHEMA = 'kernelport-bench/1';

export interface MatmulCase {
  op: 'matmul';
  /** Stable id within a suite, e.g. 'llm-prefill/mlp-up/m1024'. */
  id: string;
  m: number;
  k: number;
  n: number;
  /** A bias [N] is added before the activation when true (MatMul+Add+Act). */
  bias: boolean;
  activation: Activation;
  dtype: DType;
}

export interface AttentionCase {
  op: 'attention';
  id: string;
  batch: number;
  hq: number;
  hkv: number;
  sq: number;
  skv: number;
  d: number;
  /** Bottom-right aligned (FlashAttention / KV-cache decoding). */
  causal: boolean;
  dtype: DType;
}

export type BenchCase = MatmulCase | AttentionCase;

/** Per-iteration times in seconds. */
export interface Stats {
  samples: number;
  /** Back-to-back iterations per timed sample (small ops are batched so the clock's cost vanishes). */
  itersPerSample: number;
  warmup: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  p10: number;
  p90: number;
  stddev: number;
  /** (p90 − p10) / median. */
  spread: number;
  /** spread above NOISE_SPREAD: the machine was busy or throttling; trust the min more than the median. */
  noisy: boolean;
}

export type PeakSource = 'measured' | 'table' | 'estimate' | 'none';

export interface Roofline {
  peakFlops: number;
  peakBandwidth: number;
  source: { flops: PeakSource; bandwidth: PeakSource };
  /** Achieved FLOP/s as a % of peakFlops (null when the peak is unknown). */
  pctCompute: number | null;
  pctBandwidth: number | null;
  /** Which roof bounds this arithmetic intensity: compute or memory. */
  bound: 'compute' | 'memory' | null;
  /** Achieved FLOP/s as a % of min(peakFlops, intensity × peakBandwidth). */
  pctRoofline: number | null;
}

export interface BenchRow {
  case: BenchCase;
  /** 'kernelport' or the peer's name. */
  runner: string;
  /** kernelport backend ('cpu', 'reference', ...) or the peer's execution provider. */
  backend: string;
  /** Which clock timed it, e.g. 'host: performance.now() around enqueue + sync'. */
  clock: string;
  /** Present unless the run failed or the runner does not support the case. */
  stats?: Stats;
  error?: string;
  skipped?: string;
  /** From the op spec (src/ops): causal attention counts only unmasked work. */
  flops: number;
  bytes: number;
  flopsNote?: string;
  intensity: number;
  flopsPerSec?: number;
  bytesPerSec?: number;
  roofline?: Roofline;
  /** kernelport rows: kernelport throughput ÷ this peer's, per peer name (>1: kernelport faster). */
  ratios?: Record<string, number>;
}

export interface PeerInfo {
  name: string;
  available: boolean;
  version?: string;
  /** Why unavailable, and how to add it. */
  reason?: string;
  detail?: string;
}

export interface DevicePeaks {
  backend: string;
  flops: number;
  bandwidth: number;
  source: { flops: PeakSource; bandwidth: PeakSource };
  /** The calibration behind measured peaks, when any. */
  calibration?: unknown;
}

export interface BenchSettings {
  ops: string[];
  suites: string[];
  backends: string[];
  peers: string[];
  dtypes: DType[];
  threads: number;
  minTime: number;
  warmup: number;
  minSamples: number;
  maxSamples: number;
  seed: number;
}

export interface BenchReport {
  schema: typeof SCHEMA;
  createdAt: string;
  kernelport: { version: string; abiVersion: number | null; nativeVersion: string | null };
  machine: {
    hostname: string;
    platform: string;
    release: string;
    arch: string;
    cpuModel: string;
    logicalCpus: number;
    memoryBytes: number;
    node: string;
  };
  /** probe() for each backend benched. */
  devices: DeviceInfo[];
  peaks: DevicePeaks[];
  peers: PeerInfo[];
  settings: BenchSettings;
  rows: BenchRow[];
  warnings: string[];
}
