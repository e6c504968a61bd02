/**
 * The timing core of the bench harness, shared by the Node entry (runner.ts) and the browser entry
 * (src/browser/bench.ts): inputs, one kernelport case prepared for timing, warm-up and batched
 * samples, a row with its roofline, and the kernelport/peer ratios. No Node APIs here.
 */
import type { Device } from '../device.js';
import type { Rng } from '../numerics/random.js';
import type { Tensor } from '../tensor.js';
import type { DType } from '../types.js';
import { isDType } from '../dtype.js';
import { BenchInputError } from './errors.js';
import { roofline } from './metrics.js';
import type { CaseInputs } from './peers/peer.js';
import { DEFAULT_TIMING, planIterations, summarize, type TimingOptions } from './stats.js';
import { DEFAULT_SUITES, shapeCases, suiteCases, type ShapeSpec } from './suites.js';
import type { BenchCase, BenchRow, DevicePeaks } from './types.js';

/** The float64 reference runs in JavaScript: cases above this many FLOPs are skipped on it. */
export const REFERENCE_MAX_FLOPS = 5e8;

export interface Timed {
  time(iters: number): Promise<number>;
  dispose(): Promise<void> | void;
}

export type RowBase = Omit<BenchRow, 'stats' | 'error' | 'skipped'>;

export async function measureRow(base: RowBase, prepare: () => Promise<Timed>, timing: TimingOptions, peaks: DevicePeaks | undefined): Promise<BenchRow> {
  let run: Timed | undefined;
  try {
    run = await prepare();
    const stats = await measure(run, timing);
    const flopsPerSec = base.flops / stats.median;
    return { ...base, stats, flopsPerSec, bytesPerSec: base.bytes / stats.median, roofline: roofline(flopsPerSec, base.intensity, peaks) };
  } catch (e) {
    return { ...base, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await run?.dispose();
  }
}

/** Warm-up, then samples of batched iterations; per-iteration seconds. */
export async function measure(run: Timed, o: TimingOptions) {
  let estimate = await run.time(1);
  let warm = 1;
  let spent = estimate;
  while (spent < o.warmup) {
    estimate = await run.time(1);
    spent += estimate;
    warm++;
  }
  const { itersPerSample, samples } = planIterations(estimate, o);
  const times: number[] = [];
  for (let s = 0; s < samples; s++) times.push((await run.time(itersPerSample)) / itersPerSample);
  return summarize(times, itersPerSample, warm);
}

export function kernelportRun(dev: Device, c: BenchCase, inputs: CaseInputs): Promise<Timed> {
  const held: Tensor[] = [];
  const up = (data: Float32Array, shape: number[]) => {
    const t = dev.tensor(data, shape, c.dtype);
    held.push(t);
    return t;
  };
  let op: () => Tensor;
  if (c.op === 'matmul' && inputs.op === 'matmul') {
    const a = up(inputs.a, [c.m, c.k]);
    const b = up(inputs.b, [c.k, c.n]);
    const bias = inputs.bias ? up(inputs.bias, [c.n]) : undefined;
    op = () => dev.matmul(a, b, { bias, activation: c.activation });
  } else if (c.op === 'attention' && inputs.op === 'attention') {
    const q = up(inputs.q, [c.batch, c.hq, c.sq, c.d]);
    const k = up(inputs.k, [c.batch, c.hkv, c.skv, c.d]);
    const v = up(inputs.v, [c.batch, c.hkv, c.skv, c.d]);
    op = () => dev.attention(q, k, v, { causal: c.causal });
  } else throw new Error('case and inputs disagree on the op');
  // The device's own clock where it has one (webgpu with timestamp-query: kernel time), else the host's.
  const timer = dev.deviceTimer();
  return Promise.resolve({
    async time(iters: number): Promise<number> {
      const outs: Tensor[] = [];
      timer?.begin();
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) outs.push(op());
      await dev.sync();
      const dt = (performance.now() - t0) / 1e3;
      const gpu = timer ? await timer.end() : undefined;
      for (const o of outs) o.dispose();
      return gpu ?? dt;
    },
    dispose() {
      for (const t of held) t.dispose();
    },
  });
}

/** Which clock bench() times `dev` with (a Device: its own timer where it has one; a name: the host's). */
export function clockOf(dev: Device | string): string {
  if (typeof dev !== 'string') {
    const t = dev.deviceTimer();
    if (t) return t.clock;
  }
  const backend = typeof dev === 'string' ? dev : dev.backend;
  if (backend === 'webgpu')
    return 'host: performance.now() around enqueue + dev.sync() (this WebGPU device has no timestamp-query, or it is disabled)';
  if (backend === 'cpu') return 'host: performance.now() around enqueue + dev.sync() (the cpu queue thread runs the kernels)';
  if (backend === 'reference') return 'host: performance.now() around the synchronous call';
  return `host: performance.now() around enqueue + dev.sync() (the ${backend} backend exposes no device timer yet)`;
}

/** Uniform values, weights scaled by 1/sqrt(K) so outputs stay O(1); the same arrays feed every runner. */
export function makeInputs(rng: Rng, c: BenchCase): CaseInputs {
  const fill = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rng.next() * 2 - 1) * scale;
    return a;
  };
  if (c.op === 'matmul') return { op: 'matmul', a: fill(c.m * c.k, 1), b: fill(c.k * c.n, 1 / Math.sqrt(c.k)), bias: c.bias ? fill(c.n, 1) : undefined };
  const q = c.batch * c.hq * c.sq * c.d;
  const kv = c.batch * c.hkv * c.skv * c.d;
  return { op: 'attention', q: fill(q, 1), k: fill(kv, 1), v: fill(kv, 1) };
}

/** kernelport rows get peerTime/kernelportTime per peer for the same case (> 1: kernelport faster). */
export function addRatios(rows: BenchRow[]): void {
  for (const r of rows) {
    if (r.runner !== 'kernelport' || !r.stats) continue;
    for (const p of rows)
      if (p.runner !== 'kernelport' && p.case === r.case && p.stats) (r.ratios ??= {})[p.runner] = p.stats.median / r.stats.median;
  }
}

export function positive(name: string, x: number): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new BenchInputError(`${name} must be a positive number, got ${String(x)}`);
  return x;
}
export function nonNegative(name: string, x: number): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new BenchInputError(`${name} must be a non-negative number, got ${String(x)}`);
  return x;
}
export const fmtG = (x: number): string => `${(x / 1e9).toFixed(2)} G`;

/** The cases a bench call asks for, and the suites they include: explicit cases, shapes, then suites (the default suites when none of them is given). */
export function benchCases(options: { cases?: BenchCase[]; shapes?: ShapeSpec; suites?: string[] }, dtypes: DType[]): { cases: BenchCase[]; suites: string[] } {
  const suites = options.cases || options.shapes ? (options.suites ?? []) : (options.suites ?? DEFAULT_SUITES);
  (options.cases ?? []).forEach(checkCase);
  const cases = [...(options.cases ?? []), ...(options.shapes ? shapeCases(options.shapes, dtypes) : []), ...suiteCases(suites, dtypes)];
  if (cases.length === 0) throw new BenchInputError('nothing to run: give suites, shapes or cases');
  return { cases, suites };
}

// Explicit cases come from the caller: a malformed one is named here, not by a kernel's argument check.
function checkCase(c: unknown, i: number): void {
  const at = `cases[${i}]`;
  if (c === null || typeof c !== 'object') throw new BenchInputError(`${at} must be an object, got ${c === null ? 'null' : typeof c}`);
  const x = c as Record<string, unknown>;
  const sizes = x.op === 'matmul' ? ['m', 'k', 'n'] : x.op === 'attention' ? ['batch', 'hq', 'hkv', 'sq', 'skv', 'd'] : undefined;
  if (!sizes) throw new BenchInputError(`${at}.op must be 'matmul' or 'attention', got ${JSON.stringify(x.op)}`);
  for (const k of sizes)
    if (!Number.isSafeInteger(x[k]) || (x[k] as number) < 0) throw new BenchInputError(`${at}.${k} must be a non-negative integer, got ${JSON.stringify(x[k])}`);
  if (!isDType(x.dtype)) throw new BenchInputError(`${at}.dtype must be f32, f16 or bf16, got ${JSON.stringify(x.dtype)}`);
  if (typeof x.id !== 'string') throw new BenchInputError(`${at}.id must be a string (the row's name), got ${JSON.stringify(x.id)}`);
}

/** DEFAULT_TIMING with a bench call's overrides, checked. */
export function timingOptions(options: { minTime?: number; warmup?: number; minSamples?: number; maxSamples?: number }): TimingOptions {
  const timing: TimingOptions = {
    ...DEFAULT_TIMING,
    ...(options.minTime !== undefined ? { minTime: positive('minTime', options.minTime) } : {}),
    ...(options.warmup !== undefined ? { warmup: nonNegative('warmup', options.warmup) } : {}),
    ...(options.minSamples !== undefined ? { minSamples: Math.max(1, Math.floor(positive('minSamples', options.minSamples))) } : {}),
    ...(options.maxSamples !== undefined ? { maxSamples: Math.max(1, Math.floor(positive('maxSamples', options.maxSamples))) } : {}),
  };
  timing.maxSamples = Math.max(timing.maxSamples, timing.minSamples);
  return timing;
}
