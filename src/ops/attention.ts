/**
 * attention, specified once: scaled dot-product attention with GQA/MQA, causal masking in both
 * alignments, per-row kv lengths, an additive mask and an optional log-sum-exp output.
 * Backends get an AttentionPlan and only compute.
 */
import { bytesPerElement } from '../dtype.js';
import type { AttentionOptions, DType, Layout, TensorLike } from '../types.js';
import { broadcastStrides, checkOptionNames, describe, fmt, requireDType, requireFinite, requireTensor, validateShape } from './shape.js';

// Every option's name (the compiler checks the list is whole), for checkOptionNames
const ATTENTION_OPTIONS = Object.keys({
  layout: 1, scale: 1, causal: 1, kvLengths: 1, mask: 1, returnLse: 1, outDtype: 1, allowP16: 1, out: 1,
} satisfies Record<keyof AttentionOptions, 1>);

export type CausalMode = 'none' | 'bottom-right' | 'top-left';

export interface AttentionPlan {
  op: 'attention';
  dtype: DType;
  outDtype: DType;
  layout: Layout;
  batch: number;
  hq: number;
  hkv: number;
  sq: number;
  skv: number;
  d: number;
  dv: number;
  scale: number;
  causal: CausalMode;
  /** Validated copy, one length in [0, skv] per batch row. */
  kvLengths?: Int32Array;
  /** Additive f32 mask: element strides for (b, h, i, j), 0 where broadcast. */
  mask?: { strides: [number, number, number, number] };
  returnLse: boolean;
  /** 16-bit inputs whose caller allows P rounded to their dtype (AttentionOptions.allowP16). */
  allowP16: boolean;
  outShape: number[];
  lseShape: number[];
  /** Counts only the score/value products that are not masked by causality or kvLengths. */
  flops: number;
  bytes: number;
}

const W = 'attention';
const MAX_DIM = 2 ** 31 - 1;

export function planAttention(qArg: unknown, kArg: unknown, vArg: unknown, options: AttentionOptions = {}): AttentionPlan {
  const q = requireTensor(W, 'q', qArg);
  const k = requireTensor(W, 'k', kArg);
  const v = requireTensor(W, 'v', vArg);
  if (options === null || typeof options !== 'object') throw new TypeError(`${W}: options must be an object, got ${describe(options)}`);
  checkOptionNames(W, options, ATTENTION_OPTIONS);
  const layout = options.layout ?? 'bhsd';
  if (layout !== 'bhsd' && layout !== 'bshd') throw new TypeError(`${W}: layout must be 'bhsd' or 'bshd', got ${describe(layout)}`);
  const axes = layout === 'bhsd' ? '[B, H, S, D]' : '[B, S, H, D]';
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const)
    if (t.shape.length !== 4) throw new RangeError(`${W}: ${name} must have rank 4 ${axes} (layout '${layout}'), got shape ${fmt(t.shape)}`);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype)
    throw new TypeError(`${W}: q, k and v must share a dtype, got q ${q.dtype}, k ${k.dtype}, v ${v.dtype}`);

  const dims = (t: TensorLike) => {
    const [b, x, y, d] = t.shape as [number, number, number, number];
    return layout === 'bhsd' ? { b, h: x, s: y, d } : { b, h: y, s: x, d };
  };
  const Q = dims(q);
  const K = dims(k);
  const V = dims(v);
  if (K.b !== Q.b || V.b !== Q.b) throw new RangeError(`${W}: batch sizes differ: q ${Q.b}, k ${K.b}, v ${V.b} (shapes ${fmt(q.shape)}, ${fmt(k.shape)}, ${fmt(v.shape)})`);
  if (K.d !== Q.d) throw new RangeError(`${W}: k's head dim must equal q's: q ${fmt(q.shape)} has D=${Q.d}, k ${fmt(k.shape)} has D=${K.d}`);
  if (V.h !== K.h || V.s !== K.s)
    throw new RangeError(`${W}: v must match k in heads and length: k ${fmt(k.shape)} has Hkv=${K.h}, Skv=${K.s}; v ${fmt(v.shape)} has ${V.h}, ${V.s}`);
  if (K.h === 0 || Q.h % K.h !== 0)
    throw new RangeError(`${W}: q's heads must be a multiple of k's (GQA): Hq=${Q.h}, Hkv=${K.h}`);

  const { b: batch, h: hq, s: sq, d } = Q;
  const { h: hkv, s: skv } = K;
  const dv = V.d;
  // Kernels index rows, heads and lengths with 32-bit integers (the C ABI refuses more), even for
  // tensors with no elements: every backend says so here, in the same words.
  for (const [name, x] of [['B', batch], ['Hq', hq], ['Hkv', hkv], ['Sq', sq], ['Skv', skv], ['D', d], ['Dv', dv]] as const)
    if (x > MAX_DIM) throw new RangeError(`${W}: ${name} = ${x} exceeds the largest supported dimension, 2^31 - 1`);
  const outDtype = options.outDtype === undefined ? q.dtype : requireDType(W, 'outDtype', options.outDtype);
  const scale = options.scale === undefined ? 1 / Math.sqrt(d || 1) : requireFinite(W, 'scale', options.scale);

  let causal: CausalMode = 'none';
  const c = options.causal;
  if (c === true || c === 'bottom-right') causal = 'bottom-right';
  else if (c === 'top-left') causal = 'top-left';
  else if (c !== undefined && c !== false)
    throw new TypeError(`${W}: causal must be true, false, 'bottom-right' or 'top-left', got ${describe(c)}`);

  let kvLengths: Int32Array | undefined;
  if (options.kvLengths !== undefined && options.kvLengths !== null) {
    const raw = options.kvLengths as ArrayLike<number>;
    if (!(raw instanceof Int32Array) && !Array.isArray(raw))
      throw new TypeError(`${W}: kvLengths must be an Int32Array or an array of integers, got ${describe(raw)}`);
    if (raw.length !== batch) throw new RangeError(`${W}: kvLengths must have one entry per batch row (B=${batch}), got ${raw.length}`);
    kvLengths = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      const x = raw[i]!;
      if (typeof x !== 'number') throw new TypeError(`${W}: kvLengths[${i}] must be a number, got ${describe(x)}`);
      if (!Number.isInteger(x) || x < 0 || x > skv)
        throw new RangeError(`${W}: kvLengths[${i}] must be an integer in [0, Skv=${skv}], got ${String(x)}`);
      kvLengths[i] = x;
    }
  }

  let mask: AttentionPlan['mask'];
  let maskElems = 0;
  if (options.mask !== undefined && options.mask !== null) {
    const m = requireTensor(W, 'mask', options.mask);
    if (m.dtype !== 'f32') throw new TypeError(`${W}: mask must be f32 (additive), got ${m.dtype}`);
    const target = [batch, hq, sq, skv];
    const fits = m.shape.length <= 4 && m.shape.every((x, i) => x === 1 || x === target[4 - m.shape.length + i]);
    if (!fits) throw new RangeError(`${W}: mask of shape ${fmt(m.shape)} does not broadcast to [B, Hq, Sq, Skv] = ${fmt(target)}`);
    mask = { strides: broadcastStrides(m.shape, target) as [number, number, number, number] };
    maskElems = m.shape.reduce((x, y) => x * y, 1);
  }

  const returnLse = options.returnLse === undefined ? false : options.returnLse;
  if (typeof returnLse !== 'boolean') throw new TypeError(`${W}: returnLse must be a boolean, got ${describe(returnLse)}`);

  const allowP16 = options.allowP16 === undefined ? false : options.allowP16;
  if (typeof allowP16 !== 'boolean') throw new TypeError(`${W}: allowP16 must be a boolean, got ${describe(allowP16)}`);

  const outShape = layout === 'bhsd' ? [batch, hq, sq, dv] : [batch, sq, hq, dv];
  validateShape(W, outShape, 'output');
  const lseShape = [batch, hq, sq];
  const visible = visiblePairs(batch, sq, skv, causal, kvLengths);
  const flops = hq * visible * (2 * d + 2 * dv);
  const e = bytesPerElement(q.dtype);
  const bytes =
    batch * (hq * sq * d + hkv * skv * (d + dv)) * e +
    batch * hq * sq * dv * bytesPerElement(outDtype) +
    maskElems * 4 +
    (returnLse ? batch * hq * sq * 4 : 0);

  return {
    op: 'attention',
    dtype: q.dtype,
    outDtype,
    layout,
    batch,
    hq,
    hkv,
    sq,
    skv,
    d,
    dv,
    scale,
    causal,
    kvLengths,
    mask,
    returnLse,
    allowP16: allowP16 && q.dtype !== 'f32',
    outShape,
    lseShape,
    flops,
    bytes,
  };
}

/** Number of visible key positions for a query row, before any additive mask. */
export function visibleKeys(plan: Pick<AttentionPlan, 'sq' | 'skv' | 'causal' | 'kvLengths'>, b: number, i: number): number {
  const len = plan.kvLengths ? plan.kvLengths[b]! : plan.skv;
  if (plan.causal === 'none') return len;
  const last = plan.causal === 'top-left' ? i : i + len - plan.sq;
  return Math.max(0, Math.min(len, last + 1));
}

/** Sum over batch rows and query rows of the visible key count (per head), in closed form per row. */
function visiblePairs(batch: number, sq: number, skv: number, causal: CausalMode, kvLengths?: Int32Array): number {
  const rows = (len: number) => (causal === 'none' ? sq * len : sumClampedRamp(sq, causal === 'top-left' ? 1 : len - sq + 1, len));
  if (!kvLengths) return batch * rows(skv);
  let total = 0;
  for (let b = 0; b < batch; b++) total += rows(kvLengths[b]!);
  return total;
}

/**
 * Σ_{i<n} min(len, max(0, i + c)) without a loop over i (Sq may be 2^40 for an empty tensor): the causal
 * visible-key count of query rows 0..n-1, row i seeing min(len, i + c) keys (visibleKeys).
 */
export function sumClampedRamp(n: number, c: number, len: number): number {
  if (n <= 0 || len <= 0) return 0;
  const lo = Math.min(n, Math.max(0, 1 - c)); // first i with i + c >= 1
  const hi = Math.min(n, Math.max(lo, len - c)); // first i with i + c >= len
  return ((hi - lo) * (lo + hi - 1 + 2 * c)) / 2 + (n - hi) * len;
}
