// A failed judgement as one readable line for an assertion message: counts, worst ratio, and the
// worst elements with index, got, expected and bound.
import type { ErrorReport } from '../../src/numerics/compare.js';

export function describeReport(r: ErrorReport | undefined, what = 'out'): string {
  if (!r) return `${what}: no report`;
  const worst = r.worst
    .map((e) => `[${e.index.join(',')}] got=${e.got} expected=${e.expected} bound=${e.bound.toExponential(3)} ratio=${e.ratio.toPrecision(4)}`)
    .join('; ');
  return `${what}: ${r.failures}/${r.elements} elements over their bound (worst ratio ${r.worstRatio}, nmse ${r.nmse}, maxUlp ${r.maxUlp}): ${worst}`;
}
