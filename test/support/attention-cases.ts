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
