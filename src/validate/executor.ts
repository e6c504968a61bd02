/**
 * Executors: one way to run a validation case and get its raw output back, for a kernelport device or
 * for a user's candidate. Everything downstream (judging, cross-backend comparison, determinism) works
 * on what an executor returns.
 */
import { decode } from '../dtype.js';
import type { Device } from '../device.js';
import { runMatmul, type HostTensor } from '../numerics/check.js';
import type { AttentionPlan } from '../ops/attention.js';
import type { MatmulPlan } from '../ops/matmul.js';
import type { Tensor } from '../tensor.js';
import type { DType } from '../types.js';
import type { ValidationCase } from './cases.js';
import type { Candidate, CandidateFn, CandidateOutput, CandidateResult } from './types.js';

export interface RawOutput {
  /** Values as float64. */
  values: Float64Array;
  /** The bytes as produced (for bitwise comparisons). */
  bytes: Uint8Array;
  /** Bytes per element of `bytes`. */
  width: number;
}

export interface RawResult {
  out: RawOutput;
  lse?: RawOutput;
}

export interface Executor {
  name: string;
  kind: 'backend' | 'candidate';
  /** Runs one case; null when a candidate does not support it. */
  run(c: ValidationCase, plan: MatmulPlan | AttentionPlan): Promise<RawResult | null>;
  dispose(): void;
}

const bytesOf = (x: ArrayBufferView): Uint8Array => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

function fromHost(data: Float32Array | Uint16Array, dtype: DType): RawOutput {
  return { values: decode(data, dtype), bytes: bytesOf(data), width: data.BYTES_PER_ELEMENT };
}

export function deviceExecutor(dev: Device, name: string = dev.backend): Executor {
  const upload = (t: HostTensor | undefined): Tensor | undefined => (t ? dev.tensor(t.data, t.shape, t.dtype) : undefined);
  return {
    name,
    kind: 'backend',
    async run(c) {
      if (c.op === 'matmul') {
        const { out, inputs } = await runMatmul(dev, c.inputs, c.options);
        try {
          return { out: fromHost(await out.read(), out.dtype) };
        } finally {
          for (const t of [out, ...inputs]) t.dispose();
        }
      }
      const x = c.inputs;
      const [q, k, v, mask] = [x.q, x.k, x.v, x.mask].map(upload);
      let r: { out: Tensor; lse: Tensor } | undefined;
      try {
        r = dev.attention(q!, k!, v!, { ...c.options, mask, returnLse: true });
        const out = fromHost(await r.out.read(), r.out.dtype);
        const lse = fromHost(await r.lse.read(), 'f32');
        return { out, lse };
      } finally {
        for (const t of [r?.out, r?.lse, q, k, v, mask]) t?.dispose();
      }
    },
    dispose: () => dev.dispose(),
  };
}

const copy = (t: HostTensor): HostTensor => ({ data: t.data.slice(), shape: [...t.shape], dtype: t.dtype });

function output(what: string, x: unknown, dtype: DType, expected: number): RawOutput {
  let r: RawOutput;
  if (x instanceof Uint16Array) {
    if (dtype === 'f32') throw new TypeError(`candidate: ${what} is a Uint16Array (16-bit bits) but the output dtype is f32; return a Float32Array`);
    r = fromHost(x, dtype);
  } else if (x instanceof Float32Array) r = fromHost(x, 'f32');
  else if (x instanceof Float64Array) r = { values: x.slice(), bytes: bytesOf(x), width: 8 };
  else if (Array.isArray(x)) {
    const v = Float64Array.from(x as number[]);
    r = { values: v, bytes: bytesOf(v), width: 8 };
  } else throw new TypeError(`candidate: ${what} must be a Float32Array, Float64Array, Uint16Array (16-bit bits) or number[], got ${x === null ? 'null' : typeof x === 'object' ? (x.constructor?.name ?? 'object') : typeof x}`);
  if (r.values.length !== expected) throw new RangeError(`candidate: ${what} has ${r.values.length} elements, expected ${expected}`);
  return r;
}

export function candidateName(c: CandidateFn | Candidate): string {
  return typeof c === 'function' ? 'candidate' : (c.name ?? 'candidate');
}

export function candidateExecutor(c: CandidateFn | Candidate): Executor {
  const fn: CandidateFn = typeof c === 'function' ? c : c.run;
  if (typeof fn !== 'function') throw new TypeError('validate: candidate must be a function or { name?, run: function }');
  return {
    name: candidateName(c),
    kind: 'candidate',
    async run(vc, plan) {
      const result: CandidateResult =
        vc.op === 'matmul'
          ? await fn({
              op: 'matmul',
              name: vc.spec.name,
              plan: plan as MatmulPlan,
              options: { ...vc.options },
              inputs: {
                a: copy(vc.inputs.a),
                b: copy(vc.inputs.b),
                ...(vc.inputs.bias ? { bias: copy(vc.inputs.bias) } : {}),
                ...(vc.inputs.residual ? { residual: copy(vc.inputs.residual) } : {}),
              },
            })
          : await fn({
              op: 'attention',
              name: vc.spec.name,
              plan: plan as AttentionPlan,
              options: { ...vc.options, ...(vc.options.kvLengths ? { kvLengths: [...vc.options.kvLengths] } : {}) },
              inputs: {
                q: copy(vc.inputs.q),
                k: copy(vc.inputs.k),
                v: copy(vc.inputs.v),
                ...(vc.inputs.mask ? { mask: copy(vc.inputs.mask) } : {}),
              },
            });
      if (result === null || result === undefined) return null;
      const n = plan.outShape.reduce((x, y) => x * y, 1);
      const isPair = typeof result === 'object' && !ArrayBuffer.isView(result) && !Array.isArray(result) && 'out' in result;
      const outVal: CandidateOutput = isPair ? (result as { out: CandidateOutput }).out : (result as CandidateOutput);
      const raw: RawResult = { out: output('out', outVal, plan.outDtype, n) };
      const lse = isPair ? (result as { lse?: unknown }).lse : undefined;
      if (lse !== undefined && plan.op === 'attention') raw.lse = output('lse', lse, 'f32', plan.lseShape.reduce((x, y) => x * y, 1));
      return raw;
    },
    dispose() {},
  };
}
