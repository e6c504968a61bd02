// Attention test cases shared by the cpu/reference suite and the webgpu suite: a compact case record
// and the seeded inputs and options it stands for.
import { decode, encode } from '../../src/dtype.js';
import type { AttentionCaseOptions, AttentionInputs } from '../../src/numerics/check.js';
import { randomTensor, Rng } from '../../src/numerics/random.js';
import type { DType, Layout } from '../../src/types.js';

export interface Case {
  name: string;
  b?: number;
  hq?: number;
  hkv?: number;
  sq: number;
  skv: number;
  d?: number;
  dv?: number;
  dtype?: DType;
  layout?: Layout;
  /** Shape of an additive f32 mask; a fraction `maskNegInf` of its entries is -Infinity. */
  mask?: number[];
  maskNegInf?: number;
  options?: AttentionCaseOptions;
  /** Magnitude of q's values (default 1). */
  qScale?: number;
}

export function dimsOf(c: Case) {
  return { B: c.b ?? 2, Hq: c.hq ?? 2, Hkv: c.hkv ?? c.hq ?? 2, Sq: c.sq, Skv: c.skv, D: c.d ?? 24, Dv: c.dv ?? c.d ?? 24 };
}

export function shapes(c: Case) {
  const { B, Hq, Hkv, Sq, Skv, D, Dv } = dimsOf(c);
  const bshd = (c.layout ?? c.options?.layout) === 'bshd';
  return {
    q: bshd ? [B, Sq, Hq, D] : [B, Hq, Sq, D],
    k: bshd ? [B, Skv, Hkv, D] : [B, Hkv, Skv, D],
    v: bshd ? [B, Skv, Hkv, Dv] : [B, Hkv, Skv, Dv],
    out: bshd ? [B, Sq, Hq, Dv] : [B, Hq, Sq, Dv],
    lse: [B, Hq, Sq],
  };
}

export function inputs(c: Case, seed: number): AttentionInputs {
  const rng = new Rng(seed);
  const dt = c.dtype ?? 'f32';
  const s = shapes(c);
  const x: AttentionInputs = { q: randomTensor(rng, s.q, dt, c.qScale ?? 1), k: randomTensor(rng, s.k, dt), v: randomTensor(rng, s.v, dt) };
  if (c.mask) {
    const m = randomTensor(rng, c.mask, 'f32');
    const vals = decode(m.data, 'f32');
    const frac = c.maskNegInf ?? 0;
    for (let i = 0; i < vals.length; i++) if (rng.next() < frac) vals[i] = -Infinity;
    x.mask = { ...m, data: encode(vals, 'f32') };
  }
  return x;
}

export function options(c: Case): AttentionCaseOptions {
  return { ...(c.layout ? { layout: c.layout } : {}), ...c.options };
}

/**
 * Inputs whose hidden keys hold NaN: key 4 masked by -Inf (its v row NaN) and the last key beyond
 * kvLengths (its k and v rows NaN), with the kvLengths that hide it. A kernel that touches either
 * gives a non-finite output.
 */
export function nanBehindMaskAndLength(skv: number, rng = new Rng(31)): { x: AttentionInputs; kvLengths: number[] } {
  const x: AttentionInputs = { q: randomTensor(rng, [2, 2, 3, 8]), k: randomTensor(rng, [2, 2, skv, 8]), v: randomTensor(rng, [2, 2, skv, 12]) };
  const v = decode(x.v.data, 'f32');
  const k = decode(x.k.data, 'f32');
  for (let bh = 0; bh < 4; bh++) {
    v.fill(NaN, (bh * skv + 4) * 12, (bh * skv + 5) * 12);
    v.fill(NaN, (bh * skv + skv - 1) * 12, (bh * skv + skv) * 12);
    k.fill(NaN, (bh * skv + skv - 1) * 8, (bh * skv + skv) * 8);
  }
  x.v = { ...x.v, data: encode(v, 'f32') };
  x.k = { ...x.k, data: encode(k, 'f32') };
  const m = new Float64Array(skv);
  m[4] = -Infinity;
  x.mask = { data: encode(m, 'f32'), shape: [skv], dtype: 'f32' };
  return { x, kvLengths: [skv - 1, skv - 1] };
}
