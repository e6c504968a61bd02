/**
 * matmul, specified once: out = act(alpha · op(A) · op(B) + bias) + beta · residual.
 * Every argument check, the shape/dtype inference and the FLOP/byte counts live here; backends get a
 * MatmulPlan and only compute.
 */
import { bytesPerElement } from '../dtype.js';
import type { Activation, DType, MatmulOptions, TensorLike } from '../types.js';
import {
  broadcastShapes,
  broadcastStrides,
  checkOptionNames,
  describe,
  fmt,
  MAX_ELEMENTS,
  numel,
  requireDType,
  requireFinite,
  requireTensor,
  validateShape,
} from './shape.js';

const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];
// Every option's name (the compiler checks the list is whole), for checkOptionNames
const MATMUL_OPTIONS = Object.keys({
  transA: 1, transB: 1, bias: 1, activation: 1, residual: 1, alpha: 1, beta: 1, outDtype: 1, allowTf32: 1, out: 1,
} satisfies Record<keyof MatmulOptions, 1>);
export const MAX_BATCH_DIMS = 8;

export interface MatmulPlan {
  op: 'matmul';
  dtype: DType;
  outDtype: DType;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  /** The output's batch shape; each operand's element stride per batch dim (0 = broadcast). */
  batchShape: number[];
  aBatchStrides: number[];
  bBatchStrides: number[];
  alpha: number;
  beta: number;
  activation: Activation;
  /** f32 inputs may be rounded to TF32 on tensor cores (opt-in; false for 16-bit inputs). */
  allowTf32: boolean;
  bias?: { dtype: DType };
  residual?: { dtype: DType; batchStrides: number[]; rowStride: number; colStride: number };
  outShape: number[];
  /** 2·M·N·K per batch plus the epilogue's element-wise work. */
  flops: number;
  /** Bytes read and written once each (the compulsory traffic). */
  bytes: number;
}

const W = 'matmul';

export function planMatmul(aArg: unknown, bArg: unknown, options: MatmulOptions = {}): MatmulPlan {
  const a = requireTensor(W, 'a', aArg);
  const b = requireTensor(W, 'b', bArg);
  if (options === null || typeof options !== 'object') throw new TypeError(`${W}: options must be an object, got ${describe(options)}`);
  checkOptionNames(W, options, MATMUL_OPTIONS);
  if (a.shape.length < 2) throw new RangeError(`${W}: a must have rank >= 2 ([..., M, K]), got shape ${fmt(a.shape)}`);
  if (b.shape.length < 2) throw new RangeError(`${W}: b must have rank >= 2 ([..., K, N]), got shape ${fmt(b.shape)}`);
  if (a.dtype !== b.dtype) throw new TypeError(`${W}: a and b must share a dtype, got a ${a.dtype} and b ${b.dtype}`);

  const transA = flag('transA', options.transA);
  const transB = flag('transB', options.transB);
  const allowTf32 = flag('allowTf32', options.allowTf32) && a.dtype === 'f32';
  const a0 = a.shape[a.shape.length - 2]!, a1 = a.shape[a.shape.length - 1]!;
  const b0 = b.shape[b.shape.length - 2]!, b1 = b.shape[b.shape.length - 1]!;
  const m = transA ? a1 : a0;
  const k = transA ? a0 : a1;
  const kb = transB ? b1 : b0;
  const n = transB ? b0 : b1;
  if (k !== kb) {
    const aDesc = transA ? `[..., K, M] (transA)` : `[..., M, K]`;
    const bDesc = transB ? `[..., N, K] (transB)` : `[..., K, N]`;
    throw new RangeError(`${W}: inner dimensions differ: a ${fmt(a.shape)} as ${aDesc} has K=${k}, b ${fmt(b.shape)} as ${bDesc} has K=${kb}`);
  }

  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes(W, ['a', 'b'], [aBatch, bBatch]);
  if (batchShape.length > MAX_BATCH_DIMS) throw new RangeError(`${W}: at most ${MAX_BATCH_DIMS} batch dimensions, got ${batchShape.length}`);
  const outShape = [...batchShape, m, n];
  validateShape(W, outShape, 'output');
  const outDtype = options.outDtype === undefined ? a.dtype : requireDType(W, 'outDtype', options.outDtype);

  const alpha = options.alpha === undefined ? 1 : requireFinite(W, 'alpha', options.alpha);
  const activation = options.activation ?? 'none';
  if (!ACTIVATIONS.includes(activation))
    throw new TypeError(`${W}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${describe(activation)}`);

  let bias: MatmulPlan['bias'];
  if (options.bias !== undefined && options.bias !== null) {
    const t = requireTensor(W, 'bias', options.bias);
    if (t.shape.length !== 1 || t.shape[0] !== n) throw new RangeError(`${W}: bias must have shape [N] = [${n}], got ${fmt(t.shape)}`);
    bias = { dtype: t.dtype };
  }

  let residual: MatmulPlan['residual'];
  let beta = 0;
  if (options.residual !== undefined && options.residual !== null) {
    const t = requireTensor(W, 'residual', options.residual);
    const r = t.shape;
    const fits = r.length <= outShape.length && r.every((d, i) => d === 1 || d === outShape[outShape.length - r.length + i]);
    if (!fits) throw new RangeError(`${W}: residual of shape ${fmt(r)} does not broadcast to the output shape ${fmt(outShape)}`);
    const strides = broadcastStrides(r, outShape);
    residual = { dtype: t.dtype, batchStrides: strides.slice(0, -2), rowStride: strides.at(-2)!, colStride: strides.at(-1)! };
    beta = options.beta === undefined ? 1 : requireFinite(W, 'beta', options.beta);
  } else if (options.beta !== undefined) {
    requireFinite(W, 'beta', options.beta); // accepted and unused without a residual: 0 · nothing
  }

  const batch = numel(batchShape);
  const mn = batch * m * n;
  const epilogueFlops = mn * ((alpha !== 1 ? 1 : 0) + (bias ? 1 : 0) + (activation !== 'none' ? 1 : 0) + (residual ? 2 : 0));
  const bytes =
    numel(a.shape) * bytesPerElement(a.dtype) +
    numel(b.shape) * bytesPerElement(b.dtype) +
    (bias ? n * bytesPerElement(bias.dtype) : 0) +
    (residual ? numel(r0(options.residual)) * bytesPerElement(residual.dtype) : 0) +
    mn * bytesPerElement(outDtype);
  if (numel(a.shape) > MAX_ELEMENTS || numel(b.shape) > MAX_ELEMENTS) throw new RangeError(`${W}: operand too large`);

  return {
    op: 'matmul',
    dtype: a.dtype,
    outDtype,
    transA,
    transB,
    m,
    n,
    k,
    batchShape,
    aBatchStrides: broadcastStrides(aBatch, batchShape).map((s) => s * a0 * a1),
    bBatchStrides: broadcastStrides(bBatch, batchShape).map((s) => s * b0 * b1),
    alpha,
    beta,
    activation,
    allowTf32,
    bias,
    residual,
    outShape,
    flops: 2 * mn * k + epilogueFlops,
    bytes,
  };
}

const r0 = (t: unknown): readonly number[] => (t as TensorLike).shape;

function flag(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`${W}: ${name} must be a boolean, got ${describe(v)}`);
  return v;
}
