/** Seeded random inputs, so every failure a user reports can be reproduced exactly. */
import { encode } from '../dtype.js';
import type { DType } from '../types.js';
import type { HostTensor } from './check.js';

/** SplitMix32-style generator: small, fast, and the same sequence on every platform. */
export class Rng {
  private s: number;
  constructor(seed = 1) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** A host tensor of normal values (times `scale`), rounded to `dtype`. */
export function randomTensor(rng: Rng, shape: number[], dtype: DType = 'f32', scale = 1): HostTensor {
  const n = shape.reduce((x, y) => x * y, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * scale;
  return { data: encode(v, dtype), shape, dtype };
}
