/**
 * How an attention is cut into dispatches whose every binding fits maxStorageBufferBindingSize
 * (windows.ts): runs of consecutive (batch, query head) pairs. One pair's q, k, v, mask and output
 * rows must fit one binding each; a longer sequence than that is refused with the numbers (it would
 * need a split over keys, which this backend does not do across bindings).
 */
import type { AttentionPlan } from '../../ops/attention.js';
import { fits, windowBound, type BindingLimits, type Span } from './windows.js';

export interface AttentionChunk {
  /** (batch, query head) pairs [bh0, bh1), bh = b * Hq + h. */
  bh0: number;
  bh1: number;
}

export interface AttentionSpans {
  q: Span;
  k: Span;
  v: Span;
  out: Span;
  lse?: Span;
  mask?: Span;
  /** Bytes of the split-KV partial accumulators of the chunk (0 without split-KV). */
  partialBytes: number;
}

const esize = (dt: string): 2 | 4 => (dt === 'f32' ? 4 : 2);

/** [first, last + 1) element of the rows of (b, h) in a [B,H,S,E] (bhsd) or [B,S,H,E] (bshd) tensor. */
function rowsSpan(p: AttentionPlan, b: number, h: number, H: number, S: number, E: number): [number, number] {
  if (S === 0 || E === 0) return [Infinity, -Infinity];
  const [base, stride] = p.layout === 'bshd' ? [(b * S * H + h) * E, H * E] : [(b * H + h) * S * E, E];
  return [base, base + (S - 1) * stride + E];
}

/** Incremental spans for a growing run of (b, h) pairs: add() one pair, spans() of the run so far. */
export class AttentionSpanner {
  private lo = { q: Infinity, k: Infinity, v: Infinity, out: Infinity, mask: Infinity };
  private hi = { q: -Infinity, k: -Infinity, v: -Infinity, out: -Infinity, mask: -Infinity };
  private bh0 = -1;
  private bh1 = -1;

  constructor(
    private readonly p: AttentionPlan,
    private readonly nSplits: number,
    /** (m, l) per row carried between key chunks (attention.wgsl CARRY): 8 bytes a row. */
    private readonly carry: boolean,
  ) {}

  clone(): AttentionSpanner {
    const c = new AttentionSpanner(this.p, this.nSplits, this.carry);
    c.lo = { ...this.lo };
    c.hi = { ...this.hi };
    c.bh0 = this.bh0;
    c.bh1 = this.bh1;
    return c;
  }

  add(bh: number): void {
    const p = this.p;
    const b = Math.floor(bh / p.hq);
    const h = bh % p.hq;
    const hk = Math.floor(h / (p.hq / p.hkv));
    const take = (key: 'q' | 'k' | 'v' | 'out' | 'mask', [lo, hi]: [number, number]) => {
      this.lo[key] = Math.min(this.lo[key], lo);
      this.hi[key] = Math.max(this.hi[key], hi);
    };
    take('q', rowsSpan(p, b, h, p.hq, p.sq, p.d));
    take('k', rowsSpan(p, b, hk, p.hkv, p.skv, p.d));
    take('v', rowsSpan(p, b, hk, p.hkv, p.skv, p.dv));
    take('out', rowsSpan(p, b, h, p.hq, p.sq, p.dv));
    if (p.mask && p.sq > 0 && p.skv > 0) {
      const [s0, s1, s2, s3] = p.mask.strides;
      const lo = b * s0 + h * s1;
      take('mask', [lo, lo + (p.sq - 1) * s2 + (p.skv - 1) * s3 + 1]);
    }
    if (this.bh0 < 0) this.bh0 = bh;
    this.bh1 = bh + 1;
  }

  spans(): AttentionSpans {
    const p = this.p;
    const de = esize(p.dtype);
    const span = (key: keyof AttentionSpanner['lo'], bytes: 2 | 4): Span =>
      this.hi[key] > this.lo[key] ? { lo: this.lo[key], hi: this.hi[key], bytes } : { lo: 0, hi: 0, bytes };
    const rows = (this.bh1 - this.bh0) * p.sq;
    const s: AttentionSpans = {
      q: span('q', de),
      k: span('k', de),
      v: span('v', de),
      out: span('out', 4),
      partialBytes: this.nSplits > 1 ? rows * this.nSplits * Math.max(p.dv, 1) * 4 : this.carry ? rows * 8 : 0,
    };
    if (p.returnLse) s.lse = { lo: this.bh0 * p.sq, hi: this.bh1 * p.sq, bytes: 4 };
    if (p.mask) s.mask = span('mask', 4);
    return s;
  }
}

export function attentionFits(s: AttentionSpans, L: BindingLimits): boolean {
  const spans = [s.q, s.k, s.v, s.out, ...(s.lse ? [s.lse] : []), ...(s.mask ? [s.mask] : [])];
  return fits(spans, L) && s.partialBytes <= L.maxBinding;
}

/** The spans of one chunk (recomputed when encoding it). */
export function attentionSpans(p: AttentionPlan, c: AttentionChunk, nSplits: number, carry: boolean): AttentionSpans {
  const sp = new AttentionSpanner(p, nSplits, carry);
  for (let bh = c.bh0; bh < c.bh1; bh++) sp.add(bh);
  return sp.spans();
}

/**
 * The chunks of plan `p` (greedy runs of (b, h) pairs, at most `maxWorkgroups` workgroups each at
 * `perPair` workgroups per pair). One chunk when everything fits. Throws a RangeError when one pair
 * alone does not fit.
 */
export function attentionChunks(p: AttentionPlan, L: BindingLimits, nSplits: number, carry: boolean, perPair: number, maxWorkgroups: number): AttentionChunk[] {
  const pairs = p.batch * p.hq;
  const chunks: AttentionChunk[] = [];
  const maxPairs = Math.max(1, Math.floor(maxWorkgroups / Math.max(perPair, 1)));
  // The common case: everything fits in one chunk (one pass over the pairs).
  if (pairs <= maxPairs && attentionFits(attentionSpans(p, { bh0: 0, bh1: pairs }, nSplits, carry), L)) return [{ bh0: 0, bh1: pairs }];
  let bh0 = 0;
  while (bh0 < pairs) {
    let sp = new AttentionSpanner(p, nSplits, carry);
    sp.add(bh0);
    if (!attentionFits(sp.spans(), L)) throw new RangeError(refusal(sp.spans(), L));
    let bh1 = bh0 + 1;
    while (bh1 < pairs && bh1 - bh0 < maxPairs) {
      const trial = sp.clone();
      trial.add(bh1);
      if (!attentionFits(trial.spans(), L)) break;
      sp = trial;
      bh1++;
    }
    chunks.push({ bh0, bh1 });
    bh0 = bh1;
  }
  return chunks;
}

function refusal(s: AttentionSpans, L: BindingLimits): string {
  const bad = (['q', 'k', 'v', 'out', 'mask'] as const)
    .filter((key) => s[key] && windowBound(s[key]!, L) > L.maxBinding)
    .map((key) => `${key === 'out' ? 'the output (f32)' : key}: ${windowBound(s[key]!, L)} bytes`);
  if (s.partialBytes > L.maxBinding) bad.push(`the split-KV partials or carried row state: ${s.partialBytes} bytes`);
  return `attention on webgpu: one (batch, head) pair needs a binding larger than maxStorageBufferBindingSize (${L.maxBinding} bytes): ${bad.join('; ')}. attention splits only over batch x heads; use another backend or shorter sequences`;
}
