/**
 * Judges a backend's output against the float64 reference: every error as a multiple of its bound,
 * with NMSE and max ULP beside it (DESIGN.md, "Numerics").
 *
 * Non-finite rules:
 * - expected NaN: got must be NaN; expected ±∞: got must be the same infinity;
 * - a NaN got where expected is not NaN, or an infinite got where expected is finite, fails (ratio ∞) —
 *   except that a finite expected value within its bound of the out dtype's overflow threshold may
 *   legitimately round to the infinity of its sign (e.g. 70000 stored as f16 is +∞); an expected value
 *   whose whole error interval lies beyond the threshold fails with any finite got on its own, since
 *   every finite got is then further than the bound.
 * ULP and NMSE statistics cover only the elements where both values are finite.
 */
import type { DType } from '../types.js';
import { formatInfo, ulpOf } from './formats.js';

export interface ErrorEntry {
  index: number[];
  got: number;
  expected: number;
  bound: number;
  ratio: number;
}

export interface ErrorReport {
  elements: number;
  /** max |got − expected| / bound (0 for matching non-finite values, ∞ for a broken non-finite rule). */
  worstRatio: number;
  maxAbsError: number;
  /** Σ(got − expected)² / Σ expected²; 0 when both are zero, ∞ when only the error is not. */
  nmse: number;
  /** max |got − expected| in ulps of the out dtype at the expected value. */
  maxUlp: number;
  /** Elements whose ratio exceeds 1. */
  failures: number;
  /** The (up to) five elements with the largest ratios, largest first. */
  worst: ErrorEntry[];
  pass: boolean;
}

const TOP = 5;

/** ratio of one element under the rules above; NaN never comes out (a NaN bound counts as a failure). */
function elementRatio(got: number, exp: number, bound: number, overflow: number): number {
  if (exp !== exp) return got !== got ? 0 : Infinity;
  if (got !== got) return Infinity;
  if (exp === Infinity || exp === -Infinity) return got === exp ? 0 : Infinity;
  if (got === Infinity || got === -Infinity) {
    const sameSign = got > 0 === exp > 0;
    return sameSign && Math.abs(exp) + bound >= overflow ? 0 : Infinity;
  }
  const err = Math.abs(got - exp);
  if (err === 0) return 0;
  const r = err / bound; // bound 0 with a nonzero error gives ∞
  return r === r ? r : Infinity;
}

export function compareToReference(
  got: ArrayLike<number>,
  expected: Float64Array,
  bound: Float64Array,
  shape: number[],
  dtype: DType = 'f32',
): ErrorReport {
  const n = expected.length;
  if (got.length !== n || bound.length !== n)
    throw new RangeError(`compareToReference: lengths differ: got ${got.length}, expected ${n}, bound ${bound.length}`);
  if (shape.reduce((x, y) => x * y, 1) !== n)
    throw new RangeError(`compareToReference: shape [${shape.join(', ')}] does not hold ${n} elements`);
  const overflow = formatInfo(dtype).overflowThreshold;

  let worstRatio = 0;
  let maxAbsError = 0;
  let maxUlp = 0;
  let errSq = 0;
  let refSq = 0;
  let failures = 0;
  // Top entries kept as flat indices, sorted by ratio descending; allocation only on insertion.
  const topIdx: number[] = [];
  const topRatio: number[] = [];

  for (let i = 0; i < n; i++) {
    const g = got[i]!;
    const e = expected[i]!;
    const r = elementRatio(g, e, bound[i]!, overflow);
    if (r > 1) failures++;
    if (r > worstRatio) worstRatio = r;
    if (Number.isFinite(g) && Number.isFinite(e)) {
      const err = Math.abs(g - e);
      if (err > maxAbsError) maxAbsError = err;
      errSq += err * err;
      refSq += e * e;
      const ulps = err / ulpOf(e, dtype);
      if (ulps > maxUlp) maxUlp = ulps;
    }
    if (topIdx.length < TOP || r > topRatio[topIdx.length - 1]!) {
      let p = Math.min(topIdx.length, TOP - 1);
      while (p > 0 && topRatio[p - 1]! < r) p--;
      topIdx.splice(p, 0, i);
      topRatio.splice(p, 0, r);
      if (topIdx.length > TOP) {
        topIdx.pop();
        topRatio.pop();
      }
    }
  }

  const worst = topIdx.map((flat, t) => ({
    index: unravel(flat, shape),
    got: got[flat]!,
    expected: expected[flat]!,
    bound: bound[flat]!,
    ratio: topRatio[t]!,
  }));
  const nmse = errSq === 0 ? 0 : refSq === 0 ? Infinity : errSq / refSq;
  return { elements: n, worstRatio, maxAbsError, nmse, maxUlp, failures, worst, pass: failures === 0 };
}

function unravel(flat: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = shape[d]!;
    idx[d] = s === 0 ? 0 : flat % s;
    flat = s === 0 ? 0 : Math.floor(flat / s);
  }
  return idx;
}
