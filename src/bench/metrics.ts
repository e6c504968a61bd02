/**
 * Work counts and the roofline. FLOPs and bytes come from the op spec's plan (src/ops), never from
 * a second formula here: causal attention counts only the unmasked score/value products.
 */
import { planAttention, type AttentionPlan } from '../ops/attention.js';
import { planMatmul, type MatmulPlan } from '../ops/matmul.js';
import type { TensorLike } from '../types.js';
import type { BenchCase, DevicePeaks, Roofline } from './types.js';

export interface Work {
  flops: number;
  bytes: number;
  intensity: number;
  note?: string;
}

const t = (shape: number[], dtype: TensorLike['dtype']): TensorLike => ({ shape, dtype });

export function casePlan(c: BenchCase): MatmulPlan | AttentionPlan {
  if (c.op === 'matmul')
    return planMatmul(t([c.m, c.k], c.dtype), t([c.k, c.n], c.dtype), {
      bias: c.bias ? t([c.n], c.dtype) : undefined,
      activation: c.activation,
    });
  return planAttention(t([c.batch, c.hq, c.sq, c.d], c.dtype), t([c.batch, c.hkv, c.skv, c.d], c.dtype), t([c.batch, c.hkv, c.skv, c.d], c.dtype), {
    causal: c.causal,
  });
}

export function work(c: BenchCase): Work {
  const p = casePlan(c);
  let note: string | undefined;
  if (p.op === 'attention' && p.causal !== 'none') note = 'causal: only unmasked score/value products counted';
  return { flops: p.flops, bytes: p.bytes, intensity: p.bytes > 0 ? p.flops / p.bytes : 0, note };
}

/** Achieved throughput against the device's roofs. */
export function roofline(flopsPerSec: number, intensity: number, peaks: DevicePeaks | undefined): Roofline | undefined {
  if (!peaks) return undefined;
  const pf = peaks.flops > 0 ? peaks.flops : 0;
  const pb = peaks.bandwidth > 0 ? peaks.bandwidth : 0;
  const bytesPerSec = intensity > 0 ? flopsPerSec / intensity : 0;
  const attainable = pf > 0 && pb > 0 ? Math.min(pf, intensity * pb) : pf > 0 ? pf : 0;
  return {
    peakFlops: pf,
    peakBandwidth: pb,
    source: peaks.source,
    pctCompute: pf > 0 ? (100 * flopsPerSec) / pf : null,
    pctBandwidth: pb > 0 ? (100 * bytesPerSec) / pb : null,
    bound: pf > 0 && pb > 0 ? (intensity * pb < pf ? 'memory' : 'compute') : null,
    pctRoofline: attainable > 0 ? (100 * flopsPerSec) / attainable : null,
  };
}

/** The ridge point: the arithmetic intensity (FLOP/byte) where the two roofs meet. */
export function ridge(peaks: Pick<DevicePeaks, 'flops' | 'bandwidth'>): number {
  return peaks.bandwidth > 0 ? peaks.flops / peaks.bandwidth : Infinity;
}
