/**
 * float64 oracle for matmul: out = act(alpha · op(A) · op(B) + bias) + beta · residual.
 *
 * Inputs are the exact values of the already-rounded tensors, each contiguous row-major in its own
 * shape; operands are addressed through the plan's batch strides exactly as the native core does
 * (stride 0 = broadcast). Nothing is rounded to the output dtype: the comparison does that reasoning.
 */
import type { MatmulPlan } from '../ops/matmul.js';
import { numel } from '../ops/shape.js';
import { activationFn } from './activation.js';

export interface MatmulReference {
  out: Float64Array;
  /** |alpha|·(|A||B|)_ij + |bias_j|: the size of the pre-activation sum's terms (drives its rounding error). */
  magnitude: Float64Array;
  /** |beta · residual_ij| broadcast to the output; present when the plan has a residual. */
  residualMagnitude?: Float64Array;
}

export function referenceMatmul(
  plan: MatmulPlan,
  a: Float64Array,
  b: Float64Array,
  bias?: Float64Array,
  residual?: Float64Array,
): MatmulReference {
  const { m, n, k, alpha, beta, batchShape } = plan;
  if (plan.bias && !bias) throw new TypeError('referenceMatmul: the plan has a bias but no bias values were given');
  if (plan.residual && !residual) throw new TypeError('referenceMatmul: the plan has a residual but no residual values were given');
  const res = plan.residual ? residual : undefined;
  const bi = plan.bias ? bias : undefined;

  const batch = numel(batchShape);
  const out = new Float64Array(batch * m * n);
  const magnitude = new Float64Array(batch * m * n);
  const residualMagnitude = res ? new Float64Array(batch * m * n) : undefined;
  const act = activationFn(plan.activation);
  const absAlpha = Math.abs(alpha);

  // Element (i, p) of op(A) and (p, j) of op(B) within one batch matrix.
  const aRow = plan.transA ? 1 : k;
  const aCol = plan.transA ? m : 1;
  const bRow = plan.transB ? 1 : n;
  const bCol = plan.transB ? k : 1;
  const rRow = plan.residual?.rowStride ?? 0;
  const rCol = plan.residual?.colStride ?? 0;

  const acc = new Float64Array(n);
  const accAbs = new Float64Array(n);
  const idx = new Array<number>(batchShape.length).fill(0);
  // No output element: done (a batch of 2^40 empty matrices would otherwise be walked one by one).
  if (out.length === 0) return residualMagnitude ? { out, magnitude, residualMagnitude } : { out, magnitude };

  for (let t = 0; t < batch; t++) {
    let aOff = 0;
    let bOff = 0;
    let rOff = 0;
    for (let d = 0; d < idx.length; d++) {
      aOff += idx[d]! * plan.aBatchStrides[d]!;
      bOff += idx[d]! * plan.bBatchStrides[d]!;
      if (plan.residual) rOff += idx[d]! * plan.residual.batchStrides[d]!;
    }
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      accAbs.fill(0);
      // i-p-j order: the inner loop walks a row of op(B), contiguous unless transB.
      for (let p = 0; p < k; p++) {
        const av = a[aOff + i * aRow + p * aCol]!;
        const aa = Math.abs(av);
        const bp = bOff + p * bRow;
        for (let j = 0; j < n; j++) {
          const bv = b[bp + j * bCol]!;
          acc[j]! += av * bv;
          accAbs[j]! += aa * Math.abs(bv);
        }
      }
      const o = (t * m + i) * n;
      for (let j = 0; j < n; j++) {
        const bj = bi ? bi[j]! : 0;
        let y = act(alpha * acc[j]! + bj);
        if (res) {
          const r = beta * res[rOff + i * rRow + j * rCol]!;
          y += r;
          residualMagnitude![o + j] = Math.abs(r);
        }
        out[o + j] = y;
        magnitude[o + j] = absAlpha * accAbs[j]! + Math.abs(bj);
      }
    }
    // Odometer over the batch index, last dimension fastest (row-major, like the output).
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < batchShape[d]!) break;
      idx[d] = 0;
    }
  }
  return residualMagnitude ? { out, magnitude, residualMagnitude } : { out, magnitude };
}
