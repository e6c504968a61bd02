/** Statistics over per-iteration times, and how many iterations to time. */
import type { Stats } from './types.js';

/** (p90 − p10) / median above this marks a run noisy. */
export const NOISE_SPREAD = 0.1;

/** Linear-interpolated percentile (p in [0, 100]) of ascending-sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  const f = pos - lo;
  return sorted[lo]! * (1 - f) + sorted[hi]! * f;
}

export function summarize(times: readonly number[], itersPerSample = 1, warmup = 0): Stats {
  if (times.length === 0) throw new RangeError('summarize: no samples');
  const s = [...times].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const median = percentile(s, 50);
  const p10 = percentile(s, 10);
  const p90 = percentile(s, 90);
  const spread = median > 0 ? (p90 - p10) / median : 0;
  return {
    samples: n,
    itersPerSample,
    warmup,
    median,
    min: s[0]!,
    max: s[n - 1]!,
    mean,
    p10,
    p90,
    stddev: Math.sqrt(variance),
    spread,
    noisy: spread > NOISE_SPREAD,
  };
}

export interface TimingOptions {
  /** Seconds of measured time to reach per (case, runner). */
  minTime: number;
  /** Seconds of warm-up (at least one iteration always). */
  warmup: number;
  minSamples: number;
  maxSamples: number;
  /** A timed sample batches iterations until it lasts at least this long (seconds). */
  minSampleTime: number;
}

export const DEFAULT_TIMING: TimingOptions = { minTime: 1, warmup: 0.2, minSamples: 5, maxSamples: 200, minSampleTime: 0.002 };

/**
 * From the warm-up's per-iteration estimate: iterations per sample and the number of samples, so
 * that samples × iterations × estimate reaches minTime (within [minSamples, maxSamples]); ops slower
 * than minTime / minSamples take 3 samples (a minimum for a median and a spread).
 */
export function planIterations(estimate: number, o: TimingOptions): { itersPerSample: number; samples: number } {
  const est = Math.max(estimate, 1e-7);
  const itersPerSample = Math.max(1, Math.ceil(o.minSampleTime / est));
  const sampleTime = est * itersPerSample;
  let samples = Math.ceil(o.minTime / sampleTime);
  const floor = est > (2 * o.minTime) / o.minSamples ? Math.min(3, o.minSamples) : o.minSamples;
  samples = Math.min(o.maxSamples, Math.max(floor, samples));
  return { itersPerSample, samples };
}
