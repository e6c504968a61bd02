/**
 * Cross-backend agreement: two backends' outputs on identical inputs, compared with each other element by
 * element against the combined bound bound_A + bound_B (each result is within its own bound of the float64
 * reference, so two correct results are within the sum of the bounds of each other).
 *
 * Non-finite values: equal NaNs and equal infinities agree; a mismatch (NaN vs a number, ∞ vs a number,
 * +∞ vs −∞) disagrees unless both values are individually acceptable against the reference — which
 * happens only where the reference lies within its bound of the output type's overflow threshold, so
 * that one backend may round to ∞ and the other to the largest finite value.
 */
import { compareToReference, type ErrorReport } from '../numerics/compare.js';
import type { DType } from '../types.js';

export function crossCompare(
  a: Float64Array,
  b: Float64Array,
  reference: Float64Array,
  boundA: Float64Array,
  boundB: Float64Array,
  shape: number[],
  dtype: DType,
): ErrorReport {
  const n = reference.length;
  if (a.length !== n || b.length !== n) throw new RangeError(`crossCompare: lengths differ: a ${a.length}, b ${b.length}, reference ${n}`);
  const combined = new Float64Array(n);
  for (let i = 0; i < n; i++) combined[i] = boundA[i]! + boundB[i]!;
  let other: Float64Array | undefined;
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if ((Number.isFinite(x) && Number.isFinite(y)) || Object.is(x, y) || (x !== x && y !== y)) continue;
    // A non-finite mismatch: both acceptable vs the reference (overflow rounding) counts as agreement.
    const ok = (v: number, bound: number) => compareToReference([v], reference.subarray(i, i + 1), Float64Array.of(bound), [1], dtype).pass;
    if (ok(x, boundA[i]!) && ok(y, boundB[i]!)) {
      other ??= b.slice();
      other[i] = x;
    }
  }
  return compareToReference(a, other ?? b, combined, shape, dtype);
}
