/**
 * matmul on every backend against the float64 reference (src/numerics/check.ts): odd and prime sizes,
 * every epilogue feature, transposes, batch broadcasting, dtypes, zero-size dimensions and NaN/Inf.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, type Device } from '../src/index.js';
import { probeBackend } from '../src/probe.js';
import { decode, encode } from '../src/dtype.js';
import { expectMatmul, judgeMatmul, runMatmul, type MatmulCaseOptions, type MatmulInputs } from '../src/numerics/check.js';
import type { ErrorReport } from '../src/numerics/compare.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import { activationFn } from '../src/reference/activation.js';
import type { Activation, DType } from '../src/types.js';
import { describeReport } from './support/report.js';

// cuda joins wherever a CUDA device is present (test/cuda.test.ts says why it is skipped otherwise);
// musa wherever a MUSA device is, or the emulated MUSA build on an NVIDIA GPU (test/musa.test.ts).
const gpuBackends = async <B extends 'cuda' | 'musa'>(b: B): Promise<B[]> => ((await probeBackend(b)).some((d) => d.available) ? [b] : []);
const BACKENDS = ['cpu', 'reference', ...(await gpuBackends('cuda')), ...(await gpuBackends('musa'))] as const;
const ACTIVATIONS: Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];

const showWorst = (r: ErrorReport) => describeReport(r);

interface Case {
  name: string;
  aShape: number[];
  bShape: number[];
  dtype?: DType;
  bias?: { shape: number[]; dtype?: DType };
  residual?: { shape: number[]; dtype?: DType };
  options?: MatmulCaseOptions;
  outShape: number[];
  /** Magnitudes of A's and B's values (default 1). */
  scale?: [number, number];
}

function inputs(c: Case, seed: number): MatmulInputs {
  const rng = new Rng(seed);
  const dt = c.dtype ?? 'f32';
  const [sa, sb] = c.scale ?? [1, 1];
  const x: MatmulInputs = { a: randomTensor(rng, c.aShape, dt, sa), b: randomTensor(rng, c.bShape, dt, sb) };
  if (c.bias) x.bias = randomTensor(rng, c.bias.shape, c.bias.dtype ?? dt);
  if (c.residual) x.residual = randomTensor(rng, c.residual.shape, c.residual.dtype ?? dt);
  return x;
}

/** Checks the output tensor's shape and dtype, then its values via judgeMatmul. */
async function checkCase(dev: Device, x: MatmulInputs, options: MatmulCaseOptions, outShape: number[], outDtype: DType) {
  const { out, inputs: ins } = await runMatmul(dev, x, options);
  try {
    expect(out.shape).toEqual(outShape);
    expect(out.dtype).toBe(outDtype);
    expect(out.size).toBe(outShape.reduce((p, d) => p * d, 1));
  } finally {
    for (const t of [out, ...ins]) t.dispose();
  }
  const r = await judgeMatmul(dev, x, options);
  expect(r.out.pass, showWorst(r.out)).toBe(true);
  expect(r.got.length).toBe(outShape.reduce((p, d) => p * d, 1));
  return r;
}

const M = 37;
const K = 61;
const N = 29;

const CASES: Case[] = [
  // sizes that are multiples of nothing
  { name: '37x61x29', aShape: [M, K], bShape: [K, N], outShape: [M, N] },
  { name: 'M=1', aShape: [1, K], bShape: [K, N], outShape: [1, N] },
  { name: 'N=1', aShape: [M, K], bShape: [K, 1], outShape: [M, 1] },
  { name: 'K=1', aShape: [M, 1], bShape: [1, N], outShape: [M, N] },
  { name: 'M=N=K=1', aShape: [1, 1], bShape: [1, 1], outShape: [1, 1] },
  { name: 'M=1,N=1 (dot product)', aShape: [1, 131], bShape: [131, 1], outShape: [1, 1] },
  { name: 'primes 67x131x53', aShape: [67, 131], bShape: [131, 53], outShape: [67, 53] },
  { name: 'bigger 129x257x65', aShape: [129, 257], bShape: [257, 65], outShape: [129, 65] },
  // huge and tiny magnitudes
  { name: 'tiny: products in the f32 subnormal range', aShape: [M, K], bShape: [K, N], scale: [1e-20, 1e-20], outShape: [M, N] },
  { name: 'tiny: f32 -> bf16 out near its underflow', aShape: [M, K], bShape: [K, N], scale: [1e-19, 1e-19], options: { outDtype: 'bf16' }, outShape: [M, N] },
  { name: 'huge: products near 1e36', aShape: [M, K], bShape: [K, N], scale: [1e18, 1e18], options: { activation: 'gelu' }, outShape: [M, N] },
  { name: 'huge: f32 results overflowing f16 out', aShape: [M, K], bShape: [K, N], scale: [300, 300], options: { outDtype: 'f16' }, outShape: [M, N] },
  { name: 'huge f16 inputs, results past 65504', aShape: [M, K], bShape: [K, N], dtype: 'f16', scale: [100, 100], outShape: [M, N] },
  { name: 'tiny f16 inputs (subnormal f16 values)', aShape: [M, K], bShape: [K, N], dtype: 'f16', scale: [1e-4, 1e-2], outShape: [M, N] },
  // every activation, with and without bias
  ...ACTIVATIONS.map((act) => ({ name: `activation ${act}`, aShape: [M, K], bShape: [K, N], options: { activation: act }, outShape: [M, N] })),
  ...ACTIVATIONS.map((act) => ({
    name: `activation ${act} + bias`,
    aShape: [M, K],
    bShape: [K, N],
    bias: { shape: [N] },
    options: { activation: act },
    outShape: [M, N],
  })),
  { name: 'bias', aShape: [M, K], bShape: [K, N], bias: { shape: [N] }, outShape: [M, N] },
  // allowTf32: judged by the TF32 bound. On cuda these sizes are under the tensor-core size threshold
  // (SIMT runs) unless KERNELPORT_GPU_GEMM=mma forces the TF32 kernel, as gpu:check does
  { name: 'allowTf32 37x61x29', aShape: [M, K], bShape: [K, N], options: { allowTf32: true }, outShape: [M, N] },
  { name: 'allowTf32 300x516x260 bias gelu', aShape: [300, 516], bShape: [516, 260], bias: { shape: [260] }, options: { allowTf32: true, activation: 'gelu' }, outShape: [300, 260] },
  { name: 'allowTf32 transB 260x132x516', aShape: [260, 132], bShape: [516, 132], options: { allowTf32: true, transB: true }, outShape: [260, 516] },
  // residual broadcasts
  { name: 'residual [M,N]', aShape: [M, K], bShape: [K, N], residual: { shape: [M, N] }, outShape: [M, N] },
  { name: 'residual row [N]', aShape: [M, K], bShape: [K, N], residual: { shape: [N] }, outShape: [M, N] },
  { name: 'residual column [M,1]', aShape: [M, K], bShape: [K, N], residual: { shape: [M, 1] }, outShape: [M, N] },
  { name: 'residual scalar-like [1,1]', aShape: [M, K], bShape: [K, N], residual: { shape: [1, 1] }, outShape: [M, N] },
  { name: 'residual scalar-like [1]', aShape: [M, K], bShape: [K, N], residual: { shape: [1] }, outShape: [M, N] },
  {
    name: 'batched residual [2,1,M,N] on [2,3,M,N]',
    aShape: [2, 3, M, K],
    bShape: [K, N],
    residual: { shape: [2, 1, M, N] },
    outShape: [2, 3, M, N],
  },
  // alpha, beta
  { name: 'alpha=-0.37', aShape: [M, K], bShape: [K, N], options: { alpha: -0.37 }, outShape: [M, N] },
  { name: 'alpha=2.5 + bias + gelu', aShape: [M, K], bShape: [K, N], bias: { shape: [N] }, options: { alpha: 2.5, activation: 'gelu' }, outShape: [M, N] },
  { name: 'beta=0.5 with residual', aShape: [M, K], bShape: [K, N], residual: { shape: [M, N] }, options: { beta: 0.5 }, outShape: [M, N] },
  { name: 'beta=-2 with residual column', aShape: [M, K], bShape: [K, N], residual: { shape: [M, 1] }, options: { beta: -2 }, outShape: [M, N] },
  { name: 'beta=0 with residual', aShape: [M, K], bShape: [K, N], residual: { shape: [M, N] }, options: { beta: 0 }, outShape: [M, N] },
  { name: 'beta without residual is unused', aShape: [M, K], bShape: [K, N], options: { beta: 3 }, outShape: [M, N] },
  {
    name: 'full epilogue: alpha, bias, silu, beta, residual',
    aShape: [M, K],
    bShape: [K, N],
    bias: { shape: [N] },
    residual: { shape: [M, N] },
    options: { alpha: 0.75, beta: -1.25, activation: 'silu' },
    outShape: [M, N],
  },
  // transposes
  { name: 'transA', aShape: [K, M], bShape: [K, N], options: { transA: true }, outShape: [M, N] },
  { name: 'transB', aShape: [M, K], bShape: [N, K], options: { transB: true }, outShape: [M, N] },
  { name: 'transA + transB', aShape: [K, M], bShape: [N, K], options: { transA: true, transB: true }, outShape: [M, N] },
  {
    name: 'transA + transB + bias + residual + relu (primes)',
    aShape: [131, 67],
    bShape: [53, 131],
    bias: { shape: [53] },
    residual: { shape: [67, 1] },
    options: { transA: true, transB: true, activation: 'relu' },
    outShape: [67, 53],
  },
  { name: 'transB with M=1', aShape: [1, K], bShape: [N, K], options: { transB: true }, outShape: [1, N] },
  { name: 'transA with K=1', aShape: [1, M], bShape: [1, N], options: { transA: true }, outShape: [M, N] },
  // batch broadcasting
  { name: 'a [2,3,M,K] x b [K,N]', aShape: [2, 3, M, K], bShape: [K, N], outShape: [2, 3, M, N] },
  { name: 'a [3,1,M,K] x b [1,4,K,N]', aShape: [3, 1, M, K], bShape: [1, 4, K, N], outShape: [3, 4, M, N] },
  { name: 'a [M,K] x b [5,K,N]', aShape: [M, K], bShape: [5, K, N], outShape: [5, M, N] },
  { name: 'a [2,M,K] x b [2,K,N] (transB)', aShape: [2, M, K], bShape: [2, N, K], options: { transB: true }, outShape: [2, M, N] },
  {
    name: 'a [3,1,K,M] x b [1,4,N,K] (transA, transB, bias, residual [4,1,N])',
    aShape: [3, 1, K, M],
    bShape: [1, 4, N, K],
    bias: { shape: [N] },
    residual: { shape: [4, 1, N] },
    options: { transA: true, transB: true, activation: 'gelu_tanh' },
    outShape: [3, 4, M, N],
  },
  // dtypes
  { name: 'f16 inputs', aShape: [M, K], bShape: [K, N], dtype: 'f16', outShape: [M, N] },
  { name: 'bf16 inputs', aShape: [M, K], bShape: [K, N], dtype: 'bf16', outShape: [M, N] },
  {
    name: 'f16 with bias, residual, gelu, transB',
    aShape: [M, K],
    bShape: [N, K],
    dtype: 'f16',
    bias: { shape: [N] },
    residual: { shape: [M, N] },
    options: { transB: true, activation: 'gelu' },
    outShape: [M, N],
  },
  {
    name: 'bf16 batched with bias, residual, silu, transA',
    aShape: [2, K, M],
    bShape: [K, N],
    dtype: 'bf16',
    bias: { shape: [N] },
    residual: { shape: [N] },
    options: { transA: true, activation: 'silu', alpha: 0.5 },
    outShape: [2, M, N],
  },
  { name: 'f16 in -> f32 out', aShape: [M, K], bShape: [K, N], dtype: 'f16', options: { outDtype: 'f32' }, outShape: [M, N] },
  { name: 'bf16 in -> f32 out', aShape: [M, K], bShape: [K, N], dtype: 'bf16', options: { outDtype: 'f32' }, outShape: [M, N] },
  { name: 'f32 in -> bf16 out', aShape: [M, K], bShape: [K, N], options: { outDtype: 'bf16' }, outShape: [M, N] },
  { name: 'f32 in -> f16 out', aShape: [M, K], bShape: [K, N], options: { outDtype: 'f16' }, outShape: [M, N] },
  { name: 'f16 in -> bf16 out', aShape: [M, K], bShape: [K, N], dtype: 'f16', options: { outDtype: 'bf16' }, outShape: [M, N] },
  { name: 'f16 inputs, f32 bias', aShape: [M, K], bShape: [K, N], dtype: 'f16', bias: { shape: [N], dtype: 'f32' }, outShape: [M, N] },
  {
    name: 'f16 inputs, f32 bias, bf16 residual, f32 out',
    aShape: [M, K],
    bShape: [K, N],
    dtype: 'f16',
    bias: { shape: [N], dtype: 'f32' },
    residual: { shape: [M, N], dtype: 'bf16' },
    options: { outDtype: 'f32', activation: 'relu' },
    outShape: [M, N],
  },
  {
    name: 'f32 inputs, f16 bias, f16 residual',
    aShape: [M, K],
    bShape: [K, N],
    bias: { shape: [N], dtype: 'f16' },
    residual: { shape: [M, 1], dtype: 'f16' },
    outShape: [M, N],
  },
  {
    name: 'bf16 inputs, f16 bias, f32 residual, f16 out',
    aShape: [M, K],
    bShape: [K, N],
    dtype: 'bf16',
    bias: { shape: [N], dtype: 'f16' },
    residual: { shape: [1, N], dtype: 'f32' },
    options: { outDtype: 'f16' },
    outShape: [M, N],
  },
];

describe.each(BACKENDS)('matmul on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev?.dispose());

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const x = inputs(c, 1000 + i);
    const outDtype = c.options?.outDtype ?? c.dtype ?? 'f32';
    await checkCase(dev, x, c.options ?? {}, c.outShape, outDtype);
  });

  describe('zero-size dimensions', () => {
    it.each([
      ['M=0', [0, K], [K, N], {}, [0, N]],
      ['N=0', [M, K], [K, 0], {}, [M, 0]],
      ['M=0 and N=0', [0, K], [K, 0], {}, [0, 0]],
      ['M=0 transA', [K, 0], [K, N], { transA: true }, [0, N]],
      ['N=0 transB', [M, K], [0, K], { transB: true }, [M, 0]],
      ['batch dim 0', [0, M, K], [K, N], {}, [0, M, N]],
      ['batch broadcast to 0', [0, 1, M, K], [3, K, N], {}, [0, 3, M, N]],
    ] as [string, number[], number[], MatmulCaseOptions, number[]][])('%s gives an empty result of the right shape', async (_n, aShape, bShape, options, outShape) => {
      const rng = new Rng(7);
      const x: MatmulInputs = { a: randomTensor(rng, aShape), b: randomTensor(rng, bShape) };
      const r = await checkCase(dev, x, options, outShape, 'f32');
      expect(r.got.length).toBe(0);
    });

    it('M=0 with bias and residual and f16 out', async () => {
      const rng = new Rng(8);
      const x: MatmulInputs = {
        a: randomTensor(rng, [0, K]),
        b: randomTensor(rng, [K, N]),
        bias: randomTensor(rng, [N]),
        residual: randomTensor(rng, [N]),
      };
      await checkCase(dev, x, { outDtype: 'f16', activation: 'gelu' }, [0, N], 'f16');
    });

    it.each(ACTIVATIONS)('K=0 gives act(bias) + beta·residual (activation %s)', async (act) => {
      const rng = new Rng(9);
      const x: MatmulInputs = {
        a: randomTensor(rng, [M, 0]),
        b: randomTensor(rng, [0, N]),
        bias: randomTensor(rng, [N]),
        residual: randomTensor(rng, [M, 1]),
      };
      const options: MatmulCaseOptions = { activation: act, alpha: 3, beta: 0.5 };
      const r = await checkCase(dev, x, options, [M, N], 'f32');
      // explicitly: every element is act(bias_j) + 0.5 · residual_i, exactly in float64 terms then f32-rounded
      const bias = decode(x.bias!.data, 'f32');
      const res = decode(x.residual!.data, 'f32');
      const f = activationFn(act);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          const want = f(bias[j]!) + 0.5 * res[i]!;
          expect(Math.abs(r.got[i * N + j]! - want)).toBeLessThanOrEqual(4 * 2 ** -24 * (Math.abs(want) + 1));
        }
    });

    it('K=0 without bias or residual gives exact zeros', async () => {
      const rng = new Rng(10);
      const x: MatmulInputs = { a: randomTensor(rng, [2, M, 0]), b: randomTensor(rng, [0, N]) };
      const r = await checkCase(dev, x, {}, [2, M, N], 'f32');
      expect(r.got.every((v) => v === 0)).toBe(true);
    });

    it('K=0 transposed, f16, with bias, matches the reference', async () => {
      const rng = new Rng(11);
      const x: MatmulInputs = {
        a: randomTensor(rng, [0, M], 'f16'),
        b: randomTensor(rng, [N, 0], 'f16'),
        bias: randomTensor(rng, [N], 'f16'),
      };
      await checkCase(dev, x, { transA: true, transB: true, activation: 'silu' }, [M, N], 'f16');
    });
  });

  describe('NaN and Inf', () => {
    /** a with a non-finite value at (row, col), b with no zeros. */
    function withValue(aShape: number[], row: number, col: number, value: number, dtype: DType = 'f32', seed = 21): MatmulInputs {
      const rng = new Rng(seed);
      const a = randomTensor(rng, aShape, dtype);
      const k = aShape.at(-1)!;
      const vals = decode(a.data, dtype);
      vals[row * k + col] = value;
      const b = randomTensor(rng, [k, N], dtype);
      const bv = decode(b.data, dtype).map((v) => (v === 0 ? 0.5 : v));
      return { a: { ...a, data: encode(vals, dtype) }, b: { ...b, data: encode(bv, dtype) } };
    }

    function rows(got: Float64Array, m: number, n: number) {
      return Array.from({ length: m }, (_, i) => Array.from(got.subarray(i * n, (i + 1) * n)));
    }

    it.each(ACTIVATIONS)('a NaN in row 5 of A makes exactly row 5 NaN (activation %s)', async (act) => {
      const x = withValue([M, K], 5, 17, NaN);
      const r = await checkCase(dev, x, { activation: act }, [M, N], 'f32');
      rows(r.got, M, N).forEach((row, i) => {
        if (i === 5) expect(row.every((v) => Number.isNaN(v)), `row ${i}: ${row}`).toBe(true);
        else expect(row.every((v) => Number.isFinite(v)), `row ${i}: ${row}`).toBe(true);
      });
    });

    it.each(['f16', 'bf16'] as const)('a NaN in A propagates to its row in %s', async (dt) => {
      const x = withValue([M, K], 0, 0, NaN, dt);
      const r = await checkCase(dev, x, {}, [M, N], dt);
      rows(r.got, M, N).forEach((row, i) => {
        expect(row.every((v) => (i === 0 ? Number.isNaN(v) : Number.isFinite(v))), `row ${i}: ${row}`).toBe(true);
      });
    });

    it('a NaN in A with transA propagates to its output row only', async () => {
      // storage [K, M]: element (p, i) holds A[i][p]; put NaN at i = 11, p = 3
      const rng = new Rng(22);
      const a = randomTensor(rng, [K, M]);
      const v = decode(a.data, 'f32');
      v[3 * M + 11] = NaN;
      const x: MatmulInputs = { a: { ...a, data: encode(v, 'f32') }, b: randomTensor(rng, [K, N]) };
      const r = await checkCase(dev, x, { transA: true }, [M, N], 'f32');
      rows(r.got, M, N).forEach((row, i) => {
        expect(row.every((y) => (i === 11 ? Number.isNaN(y) : Number.isFinite(y))), `row ${i}`).toBe(true);
      });
    });

    it('a NaN in the batched A only touches its own batch and row', async () => {
      const rng = new Rng(23);
      const a = randomTensor(rng, [3, M, K]);
      const v = decode(a.data, 'f32');
      v[(1 * M + 7) * K + 40] = NaN;
      const x: MatmulInputs = { a: { ...a, data: encode(v, 'f32') }, b: randomTensor(rng, [K, N]) };
      const r = await checkCase(dev, x, {}, [3, M, N], 'f32');
      for (let t = 0; t < 3 * M; t++) {
        const row = Array.from(r.got.subarray(t * N, (t + 1) * N));
        expect(row.every((y) => (t === M + 7 ? Number.isNaN(y) : Number.isFinite(y))), `batch row ${t}`).toBe(true);
      }
    });

    it('a NaN in B makes exactly its column NaN', async () => {
      const rng = new Rng(24);
      const b = randomTensor(rng, [K, N]);
      const v = decode(b.data, 'f32');
      v[9 * N + 13] = NaN;
      const x: MatmulInputs = { a: randomTensor(rng, [M, K]), b: { ...b, data: encode(v, 'f32') } };
      const r = await checkCase(dev, x, { activation: 'relu' }, [M, N], 'f32');
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) expect(j === 13 ? Number.isNaN(r.got[i * N + j]!) : Number.isFinite(r.got[i * N + j]!), `(${i}, ${j})`).toBe(true);
    });

    it.each([Infinity, -Infinity])('A holding %s times nonzero B gives infinities in that row', async (inf) => {
      const x = withValue([M, K], 12, 30, inf);
      const r = await checkCase(dev, x, {}, [M, N], 'f32');
      const bv = decode(x.b.data, 'f32');
      rows(r.got, M, N).forEach((row, i) => {
        row.forEach((y, j) => {
          if (i === 12) expect(y, `(${i}, ${j})`).toBe(Math.sign(inf * bv[30 * N + j]!) * Infinity);
          else expect(Number.isFinite(y), `(${i}, ${j})`).toBe(true);
        });
      });
    });

    it.each(ACTIVATIONS)('±Inf pre-activations through %s: act(+Inf) = +Inf, act(-Inf) = its limit (0 or -Inf)', async (act) => {
      // row 3 of A holds +Inf at column 0, so pre-activation (3, j) is +Inf when b[0][j] > 0, else -Inf
      const x = withValue([M, K], 3, 0, Infinity, 'f32', 25);
      const r = await checkCase(dev, x, { activation: act }, [M, N], 'f32');
      const bv = decode(x.b.data, 'f32');
      for (let j = 0; j < N; j++) expect(r.got[3 * N + j], `(3, ${j}), b = ${bv[j]}`).toBe(bv[j]! > 0 ? Infinity : act === 'none' ? -Infinity : 0);
    });

    it('Inf in A times a zero in B gives NaN (IEEE), matching the reference', async () => {
      const rng = new Rng(26);
      const a = randomTensor(rng, [4, 3]);
      const av = decode(a.data, 'f32');
      av[1 * 3 + 2] = Infinity;
      const b = randomTensor(rng, [3, 5]);
      const bv = decode(b.data, 'f32');
      bv[2 * 5 + 4] = 0;
      const x: MatmulInputs = { a: { ...a, data: encode(av, 'f32') }, b: { ...b, data: encode(bv, 'f32') } };
      const r = await checkCase(dev, x, {}, [4, 5], 'f32');
      expect(r.got[1 * 5 + 4]).toBeNaN();
    });

    it('Inf in the residual and bias propagates', async () => {
      const rng = new Rng(27);
      const res = randomTensor(rng, [M, 1]);
      const rv = decode(res.data, 'f32');
      rv[4] = -Infinity;
      const bias = randomTensor(rng, [N]);
      const bvv = decode(bias.data, 'f32');
      bvv[2] = NaN;
      const x: MatmulInputs = {
        a: randomTensor(rng, [M, K]),
        b: randomTensor(rng, [K, N]),
        bias: { ...bias, data: encode(bvv, 'f32') },
        residual: { ...res, data: encode(rv, 'f32') },
      };
      const r = await checkCase(dev, x, { activation: 'gelu' }, [M, N], 'f32');
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          const y = r.got[i * N + j]!;
          if (j === 2) expect(y, `(${i}, ${j})`).toBeNaN();
          else if (i === 4) expect(y, `(${i}, ${j})`).toBe(-Infinity);
          else expect(Number.isFinite(y), `(${i}, ${j})`).toBe(true);
        }
    });

    it('a product overflowing f16 rounds to Inf in f16 output', async () => {
      const x: MatmulInputs = {
        a: { data: encode([300, 300], 'f16'), shape: [1, 2], dtype: 'f16' },
        b: { data: encode([200, -300], 'f16'), shape: [2, 1], dtype: 'f16' },
      };
      // 300·200 + 300·(-300) = -30000: finite; with alpha 4: -120000 overflows f16
      const r = await checkCase(dev, x, { alpha: 4 }, [1, 1], 'f16');
      expect(r.got[0]).toBe(-Infinity);
      const r2 = await checkCase(dev, x, { alpha: 4, outDtype: 'f32' }, [1, 1], 'f32');
      expect(r2.got[0]).toBe(-120000);
    });
  });

  it('exact small product, f16 output rounds to nearest even', async () => {
    // 2049 is not representable in f16: it is a tie between 2048 and 2050; nearest even is 2048.
    const x: MatmulInputs = {
      a: { data: Float32Array.from([2049]), shape: [1, 1], dtype: 'f32' },
      b: { data: Float32Array.from([1]), shape: [1, 1], dtype: 'f32' },
    };
    const r = await checkCase(dev, x, { outDtype: 'f16' }, [1, 1], 'f16');
    expect(r.got[0]).toBe(2048);
    // 2051 ties between 2050 and 2052: nearest even mantissa gives 2052
    const y: MatmulInputs = { ...x, a: { data: Float32Array.from([2051]), shape: [1, 1], dtype: 'f32' } };
    expect((await checkCase(dev, y, { outDtype: 'f16' }, [1, 1], 'f16')).got[0]).toBe(2052);
  });

  it('silu and gelu_tanh of huge negative pre-activations are about 0, not x·e^-88', async () => {
    // The matmul bound scales with |x|, so validate cannot see this: compare with float64 directly.
    const xs = [-3.4e38, -1e37, -1e30, -1e6, -120, -90, -88.5, -60, -20, -1];
    const a = dev.tensor(Float32Array.from(xs), [xs.length, 1]);
    const b = dev.tensor(Float32Array.from([1]), [1, 1]);
    for (const activation of ['silu', 'gelu_tanh'] as const) {
      const got = (await dev.matmul(a, b, { activation }).read()) as Float32Array;
      xs.forEach((x, i) => {
        const t = activation === 'silu' ? x : 2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3);
        const want = x / (1 + Math.exp(-t));
        expect(Math.abs(got[i]! - want), `${activation}(${x}) = ${got[i]}, float64 ${want}`).toBeLessThanOrEqual(1e-5 * Math.abs(want) + 1e-36);
      });
    }
  });

  it('expected values come from the reference, not from the device (sanity)', () => {
    const rng = new Rng(31);
    const x: MatmulInputs = { a: randomTensor(rng, [2, 3]), b: randomTensor(rng, [3, 2]) };
    const e = expectMatmul(x);
    const a = decode(x.a.data, 'f32');
    const b = decode(x.b.data, 'f32');
    expect(e.out[0]).toBeCloseTo(a[0]! * b[0]! + a[1]! * b[2]! + a[2]! * b[4]!, 12);
  });
});

/** Seeded random configurations: every option combined with odd shapes (reproducible from the seed). */
function fuzzCase(seed: number): { c: Case; label: string } {
  const r = new Rng(seed * 7919);
  const int = (lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]!;
  const m = int(1, 70);
  const n = int(1, 70);
  const k = int(1, 90);
  const transA = r.next() < 0.5;
  const transB = r.next() < 0.5;
  const batchA = pick([[], [2], [1, 3], [2, 1]] as number[][]);
  const batchB = pick([[], [2], [3], [2, 3]] as number[][]);
  // make the batches broadcast: where both have a dim that differs and neither is 1, use 1 for b
  const rank = Math.max(batchA.length, batchB.length);
  const bB = batchB.map((d, i) => {
    const ai = batchA[batchA.length - rank + (rank - batchB.length) + i];
    return ai !== undefined && ai !== 1 && ai !== d ? 1 : d;
  });
  const batch = new Array(rank).fill(1).map((_, i) => Math.max(batchA[batchA.length - rank + i] ?? 1, bB[bB.length - rank + i] ?? 1));
  const dtype = pick(['f32', 'f16', 'bf16'] as const);
  const outDtype = pick([undefined, 'f32', 'f16', 'bf16'] as const);
  const activation = pick(ACTIVATIONS);
  const c: Case = {
    name: '',
    aShape: [...batchA, ...(transA ? [k, m] : [m, k])],
    bShape: [...bB, ...(transB ? [n, k] : [k, n])],
    dtype,
    outShape: [...batch, m, n],
    options: {
      transA,
      transB,
      activation,
      ...(outDtype ? { outDtype } : {}),
      ...(r.next() < 0.3 ? { alpha: r.uniform(-2, 2) } : {}),
    },
  };
  if (r.next() < 0.5) c.bias = { shape: [n], dtype: pick(['f32', 'f16', 'bf16'] as const) };
  if (r.next() < 0.5) {
    c.residual = { shape: pick([[...batch, m, n], [m, n], [n], [m, 1], [1, 1], [1, n]]), dtype: pick(['f32', 'f16', 'bf16'] as const) };
    if (r.next() < 0.5) c.options!.beta = r.uniform(-2, 2);
  }
  const label = `seed ${seed}: a ${JSON.stringify(c.aShape)} b ${JSON.stringify(c.bShape)} ${dtype} ${JSON.stringify(c.options)} bias ${JSON.stringify(c.bias)} residual ${JSON.stringify(c.residual)}`;
  return { c, label };
}

describe.each(BACKENDS)('matmul fuzz on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev?.dispose());

  it.each(Array.from({ length: 40 }, (_, i) => fuzzCase(i + 1)).map((f) => [f.label, f.c] as const))('%s', async (_label, c) => {
    const x = inputs(c, 5000 + c.aShape.length * 31 + c.bShape.reduce((p, d) => p + d, 0));
    await checkCase(dev, x, c.options ?? {}, c.outShape, c.options?.outDtype ?? c.dtype ?? 'f32');
  });
});

describe('matmul: larger problems on cpu (several tiles and threads)', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open('cpu');
  });
  afterAll(() => dev?.dispose());

  it.each([
    ['300x515x260 f32 gelu + bias', [300, 515], [515, 260], 'f32', { activation: 'gelu' }],
    ['257x384x129 transA transB bf16 silu', [384, 257], [129, 384], 'bf16', { transA: true, transB: true, activation: 'silu' }],
    ['2x200x333x111 f16 relu, f32 out', [2, 200, 333], [333, 111], 'f16', { activation: 'relu', outDtype: 'f32' }],
  ] as [string, number[], number[], DType, MatmulCaseOptions][])('%s', async (_n, aShape, bShape, dtype, options) => {
    const rng = new Rng(61);
    const n = options.transB ? bShape[0]! : bShape.at(-1)!;
    const m = options.transA ? aShape.at(-1)! : aShape.at(-2)!;
    const x: MatmulInputs = { a: randomTensor(rng, aShape, dtype), b: randomTensor(rng, bShape, dtype), bias: randomTensor(rng, [n], dtype) };
    await checkCase(dev, x, options, [...aShape.slice(0, -2), m, n], options.outDtype ?? dtype);
  });
});

describe('matmul: cpu agrees with itself', () => {
  it('16-bit skinny products (decode GEMV, N <= 4) give the bits of the same product on their f32 values', async () => {
    // The skinny kernels convert 16-bit lines in registers as they stream them: the conversion is exact
    // and the order of the sums is the f32 kernel's, so the results must be the same bits.
    const dev = await open('cpu');
    try {
      const rng = new Rng(43);
      for (const dtype of ['bf16', 'f16'] as const)
        for (const [aShape, bShape, transB] of [
          [[1, 4099], [1031, 4099], true], // M = 1 (1 x 4 blocks), B [N, K]
          [[3, 517], [77, 517], true], // M = 3 (4 x 4 blocks)
          [[263, 1000], [1000, 3], false], // N = 3: A streamed
          [[1, 4099], [4099, 2085], false], // M = 1, B [K, N]: axpy over rows converted in registers; N, K off 16 and 4
          [[4, 1031], [1031, 333], false], // M = 4, B [K, N]
        ] as [number[], number[], boolean][]) {
          const a = randomTensor(rng, aShape, dtype), b = randomTensor(rng, bShape, dtype);
          const as16 = [dev.tensor(a.data, aShape, dtype), dev.tensor(b.data, bShape, dtype)] as const;
          const as32 = [dev.tensor(Float32Array.from(decode(a.data, dtype)), aShape), dev.tensor(Float32Array.from(decode(b.data, dtype)), bShape)] as const;
          const y16 = await dev.matmul(as16[0], as16[1], { transB, outDtype: 'f32' }).read();
          const y32 = await dev.matmul(as32[0], as32[1], { transB }).read();
          expect(Buffer.from(y16.buffer).equals(Buffer.from(y32.buffer)), `${dtype} ${aShape} x ${bShape}`).toBe(true);
        }
    } finally {
      dev.dispose();
    }
  });

  it('the same product twice is bitwise identical', async () => {
    const dev = await open('cpu');
    try {
      const rng = new Rng(41);
      const x: MatmulInputs = { a: randomTensor(rng, [129, 257]), b: randomTensor(rng, [257, 65]), bias: randomTensor(rng, [65]) };
      const run = async () => {
        const { out, inputs: ins } = await runMatmul(dev, x, { activation: 'gelu' });
        const d = await out.read();
        for (const t of [out, ...ins]) t.dispose();
        return d;
      };
      const [p, q] = [await run(), await run()];
      expect(Buffer.from(p.buffer).equals(Buffer.from(q.buffer))).toBe(true);
    } finally {
      dev.dispose();
    }
  });

  it.each([1, 2, 3])('threads=%i gives the same bits as threads=1', async (threads) => {
    const rng = new Rng(42);
    const x: MatmulInputs = { a: randomTensor(rng, [2, 67, 131]), b: randomTensor(rng, [131, 53]), residual: randomTensor(rng, [53]) };
    const bits: Uint8Array[] = [];
    for (const t of [1, threads]) {
      const dev = await open({ backend: 'cpu', threads: t });
      try {
        expect(dev.threads).toBe(t);
        const { out, inputs: ins } = await runMatmul(dev, x, { activation: 'silu', alpha: 0.5 });
        bits.push(new Uint8Array((await out.read()).buffer));
        for (const u of [out, ...ins]) u.dispose();
      } finally {
        dev.dispose();
      }
    }
    expect(Buffer.from(bits[0]!).equals(Buffer.from(bits[1]!))).toBe(true);
  });
});

