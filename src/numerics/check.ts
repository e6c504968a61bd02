/**
 * Runs an op on a device and judges the result against the float64 reference on the same rounded
 * inputs. Shared by the CLI tour, the test suites and (later) validate.
 */
import { decode } from '../dtype.js';
import type { Device } from '../device.js';
import { planAttention, type AttentionPlan } from '../ops/attention.js';
import { planMatmul, type MatmulPlan } from '../ops/matmul.js';
import { referenceAttention } from '../reference/attention.js';
import { referenceMatmul } from '../reference/matmul.js';
import type { Tensor } from '../tensor.js';
import type { AttentionOptions, DType, HostData, MatmulOptions } from '../types.js';
import { attentionBound, attentionLseBound, matmulBound } from './bounds.js';
import { compareToReference, type ErrorReport } from './compare.js';

export interface HostTensor {
  data: HostData;
  shape: number[];
  dtype: DType;
}

export interface MatmulInputs {
  a: HostTensor;
  b: HostTensor;
  bias?: HostTensor;
  residual?: HostTensor;
}
export type MatmulCaseOptions = Omit<MatmulOptions, 'bias' | 'residual'>;

export interface AttentionInputs {
  q: HostTensor;
  k: HostTensor;
  v: HostTensor;
  mask?: HostTensor;
}
export type AttentionCaseOptions = Omit<AttentionOptions, 'mask'>;

export interface Expected {
  plan: MatmulPlan | AttentionPlan;
  out: Float64Array;
  bound: Float64Array;
  lse?: Float64Array;
  lseBound?: Float64Array;
}

const vals = (t: HostTensor) => decode(t.data, t.dtype);

export function expectMatmul(x: MatmulInputs, options: MatmulCaseOptions = {}): Expected {
  const plan = planMatmul(x.a, x.b, { ...options, bias: x.bias, residual: x.residual });
  const ref = referenceMatmul(plan, vals(x.a), vals(x.b), x.bias && vals(x.bias), x.residual && vals(x.residual));
  return { plan, out: ref.out, bound: matmulBound(plan, ref) };
}

export function expectAttention(x: AttentionInputs, options: AttentionCaseOptions = {}): Expected {
  const plan = planAttention(x.q, x.k, x.v, { ...options, mask: x.mask });
  const ref = referenceAttention(plan, vals(x.q), vals(x.k), vals(x.v), x.mask && vals(x.mask));
  return { plan, out: ref.out, bound: attentionBound(plan, ref), lse: ref.lse, lseBound: attentionLseBound(plan, ref) };
}

export interface Judged {
  out: ErrorReport;
  lse?: ErrorReport;
  /** Decoded device output. */
  got: Float64Array;
}

const upload = (dev: Device, t: HostTensor | undefined): Tensor | undefined => (t ? dev.tensor(t.data, t.shape, t.dtype) : undefined);

export async function runMatmul(dev: Device, x: MatmulInputs, options: MatmulCaseOptions = {}): Promise<{ out: Tensor; inputs: Tensor[] }> {
  const [a, b, bias, residual] = [x.a, x.b, x.bias, x.residual].map((t) => upload(dev, t));
  const out = dev.matmul(a!, b!, { ...options, bias, residual });
  return { out, inputs: [a, b, bias, residual].filter((t): t is Tensor => t !== undefined) };
}

export async function judgeMatmul(dev: Device, x: MatmulInputs, options: MatmulCaseOptions = {}, expected = expectMatmul(x, options)): Promise<Judged> {
  const { out, inputs } = await runMatmul(dev, x, options);
  try {
    const got = decode(await out.read(), out.dtype);
    return { got, out: compareToReference(got, expected.out, expected.bound, expected.plan.outShape, out.dtype) };
  } finally {
    for (const t of [out, ...inputs]) t.dispose();
  }
}

export async function judgeAttention(
  dev: Device,
  x: AttentionInputs,
  options: AttentionCaseOptions = {},
  expected = expectAttention(x, options),
): Promise<Judged> {
  const [q, k, v, mask] = [x.q, x.k, x.v, x.mask].map((t) => upload(dev, t));
  const r = dev.attention(q!, k!, v!, { ...options, mask, returnLse: true });
  const plan = expected.plan as AttentionPlan;
  try {
    const got = decode(await r.out.read(), r.out.dtype);
    const lse = decode(await r.lse.read(), 'f32');
    return {
      got,
      out: compareToReference(got, expected.out, expected.bound, plan.outShape, r.out.dtype),
      lse: compareToReference(lse, expected.lse!, expected.lseBound!, plan.lseShape, 'f32'),
    };
  } finally {
    for (const t of [r.out, r.lse, q, k, v, mask]) t?.dispose();
  }
}
