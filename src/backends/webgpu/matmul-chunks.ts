/**
 * How a matmul is cut into dispatches whose every binding fits maxStorageBufferBindingSize
 * (windows.ts): runs of whole batches first; a batch too large for one binding is cut into M-row
 * chunks, and into N-column chunks when B (or one output row) is the part that does not fit. Only
 * contiguous windows can be bound, so B splits over N only when it is [N, K] (transB) and A over M
 * only when it is [M, K] (no transA); anything else that does not fit is refused with the numbers.
 */
import type { MatmulPlan } from '../../ops/matmul.js';
import { numel } from '../../ops/shape.js';
import { fits, largest, windowBound, type BindingLimits, type Span } from './windows.js';

export interface MatmulChunk {
  z0: number;
  z1: number;
  i0: number;
  i1: number;
  j0: number;
  j1: number;
}

export interface MatmulSpans {
  a: Span;
  b: Span;
  out: Span;
  res?: Span;
  bias?: Span;
}

const esize = (dt: string): 2 | 4 => (dt === 'f32' ? 4 : 2);

/** Element offset of batch z in an operand with these per-dim strides (0 = broadcast). */
export function batchOffset(shape: number[], strides: number[], z: number): number {
  let o = 0;
  for (let d = shape.length - 1; d >= 0; d--) {
    const e = shape[d]!;
    o += (z % e) * strides[d]!;
    z = Math.floor(z / e);
  }
  return o;
}

/** The elements each operand's window must cover for chunk c (the f32 output: `out`). */
export function matmulSpans(p: MatmulPlan, c: MatmulChunk): MatmulSpans {
  const { m, n, k } = p;
  let aMin = Infinity, aMax = -Infinity, bMin = Infinity, bMax = -Infinity, rMin = Infinity, rMax = -Infinity;
  for (let z = c.z0; z < c.z1; z++) {
    const a = batchOffset(p.batchShape, p.aBatchStrides, z);
    const b = batchOffset(p.batchShape, p.bBatchStrides, z);
    aMin = Math.min(aMin, a);
    aMax = Math.max(aMax, a);
    bMin = Math.min(bMin, b);
    bMax = Math.max(bMax, b);
    if (p.residual) {
      const r = batchOffset(p.batchShape, p.residual.batchStrides, z);
      rMin = Math.min(rMin, r);
      rMax = Math.max(rMax, r);
    }
  }
  const de = esize(p.dtype);
  const empty = k === 0;
  // A [M, K] rows i0..i1, or A^T stored [K, M]: columns i0..i1 of every one of its K rows.
  const a: Span = empty ? { lo: 0, hi: 0, bytes: de } : p.transA ? { lo: aMin + c.i0, hi: aMax + (k - 1) * m + c.i1, bytes: de } : { lo: aMin + c.i0 * k, hi: aMax + c.i1 * k, bytes: de };
  // B [K, N] columns j0..j1 of every row, or B^T stored [N, K]: rows j0..j1.
  const b: Span = empty ? { lo: 0, hi: 0, bytes: de } : p.transB ? { lo: bMin + c.j0 * k, hi: bMax + c.j1 * k, bytes: de } : { lo: bMin + c.j0, hi: bMax + (k - 1) * n + c.j1, bytes: de };
  const out: Span = { lo: c.z0 * m * n + c.i0 * n + c.j0, hi: (c.z1 - 1) * m * n + (c.i1 - 1) * n + c.j1, bytes: 4 };
  const s: MatmulSpans = { a, b, out };
  if (p.residual) {
    const { rowStride: rs, colStride: cs } = p.residual;
    s.res = { lo: rMin + c.i0 * rs + c.j0 * cs, hi: rMax + (c.i1 - 1) * rs + (c.j1 - 1) * cs + 1, bytes: esize(p.residual.dtype) };
  }
  if (p.bias) s.bias = { lo: c.j0, hi: c.j1, bytes: esize(p.bias.dtype) };
  return s;
}

const all = (s: MatmulSpans): Span[] => [s.a, s.b, s.out, ...(s.res ? [s.res] : []), ...(s.bias ? [s.bias] : [])];

/**
 * The chunks of plan `p` under limits `L`, at most `maxZ` batches each (the dispatch's z limit). One
 * chunk covering everything when it all fits. Throws a RangeError naming the operand that cannot be split.
 */
export function matmulChunks(p: MatmulPlan, L: BindingLimits, maxZ: number): MatmulChunk[] {
  const { m, n } = p;
  const batch = numel(p.batchShape);
  const ok = (c: MatmulChunk) => fits(all(matmulSpans(p, c)), L);
  const chunks: MatmulChunk[] = [];
  for (let z0 = 0; z0 < batch; ) {
    const whole = (z1: number): MatmulChunk => ({ z0, z1, i0: 0, i1: m, j0: 0, j1: n });
    const nz = largest(Math.min(maxZ, batch - z0), (g) => ok(whole(z0 + g)));
    if (nz > 0) {
      chunks.push(whole(z0 + nz));
      z0 += nz;
      continue;
    }
    // One batch does not fit: columns first (what one row of the output needs), then rows.
    const one = (i1: number, j1: number): MatmulChunk => ({ z0, z1: z0 + 1, i0: 0, i1, j0: 0, j1 });
    const cols = largest(n, (c) => ok(one(1, c)));
    const rows = cols > 0 ? largest(m, (r) => ok(one(r, cols))) : 0;
    if (rows === 0) throw new RangeError(refusal(p, one(1, 1), L));
    for (let i0 = 0; i0 < m; i0 += rows)
      for (let j0 = 0; j0 < n; j0 += cols) chunks.push({ z0, z1: z0 + 1, i0, i1: Math.min(m, i0 + rows), j0, j1: Math.min(n, j0 + cols) });
    z0 += 1;
  }
  return chunks;
}

function refusal(p: MatmulPlan, c: MatmulChunk, L: BindingLimits): string {
  const s = matmulSpans(p, c);
  const names: [keyof MatmulSpans, string][] = [
    ['a', p.transA ? 'a (transA: one output row needs a column of A^T, i.e. all of A)' : 'a'],
    ['b', p.transB ? 'b' : 'b ([K, N] row-major: one output column needs a strided column of B, i.e. all of it; pass B as [N, K] with transB: true so it splits over N)'],
    ['out', 'the output'],
    ['res', 'the residual'],
    ['bias', 'the bias'],
  ];
  const bad = names.filter(([key]) => s[key] && windowBound(s[key]!, L) > L.maxBinding).map(([key, what]) => `${what}: ${windowBound(s[key]!, L)} bytes`);
  return `matmul on webgpu: even a 1x1 output chunk of one batch needs a binding larger than maxStorageBufferBindingSize (${L.maxBinding} bytes): ${bad.join('; ')}. Use another backend, or split the operands yourself`;
}
