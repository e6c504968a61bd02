/**
 * The webgpu backend's chunked paths, each judged against the float64 reference and compared
 * bitwise with the same op on a device that runs it in one dispatch:
 * - tensors beyond maxStorageBufferBindingSize: KERNELPORT_WEBGPU_MAX_BINDING caps the binding size
 *   the backend assumes (4096 bytes here), so matmul's batch / M-row / N-column splits and
 *   attention's batch×heads split run on small tensors; what cannot be split is refused;
 * - the loop budget (KERNELPORT_WEBGPU_LOOP_BUDGET=64): matmul's K chunks and attention's key chunks
 *   (prefill carry, split-KV decode), which keep each invocation under llvmpipe's 65535-iteration
 *   limit; and, on the default device, the sizes that limit used to truncate silently.
 *
 * Skipped with the reason where there is no adapter; in CI (`CI` set) that is a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, probe } from '../src/index.js';
import { WebGpuDevice } from '../src/backends/webgpu/index.js';
import { judgeAttention, judgeMatmul, type AttentionCaseOptions, type MatmulCaseOptions, type MatmulInputs } from '../src/numerics/check.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { DeviceInfo, DType } from '../src/types.js';
import { describeReport } from './support/report.js';
import { inputs, options, type Case } from './support/attention-cases.js';

const info: DeviceInfo = (await probe()).find((d) => d.backend === 'webgpu')!;
if (!info.available) {
  if (process.env.CI)
    describe('webgpu chunks in CI', () => {
      it('has an adapter (a skip is a failure in CI)', () => {
        expect.fail(`the webgpu backend is unavailable in CI: ${info.reason}`);
      });
    });
  else console.log(`test/webgpu-chunks.test.ts: skipped, the webgpu backend is unavailable: ${info.reason}`);
}

const CAP = 4096;

interface Dev {
  dev: Device;
  be: WebGpuDevice;
}

/** A webgpu device created with `env` set (the backend reads it when the device is created). */
async function deviceWith(env: Record<string, string>): Promise<Dev> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const be = await WebGpuDevice.create(info);
    return { dev: new Device(be), be };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

const same = (a: Float64Array, b: Float64Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

/** Runs `f` on `d` and returns its result with the number of dispatches it encoded. */
async function counted<T>(d: Dev, f: (dev: Device) => Promise<T>): Promise<[T, number]> {
  const before = d.be.stats().dispatches;
  const r = await f(d.dev);
  return [r, d.be.stats().dispatches - before];
}

interface MCase {
  name: string;
  a: number[];
  b: number[];
  dtype?: DType;
  bias?: boolean;
  residual?: number[];
  options?: MatmulCaseOptions;
}

function matmulInputs(c: MCase, seed: number): MatmulInputs {
  const rng = new Rng(seed);
  const dt = c.dtype ?? 'f32';
  const x: MatmulInputs = { a: randomTensor(rng, c.a, dt), b: randomTensor(rng, c.b, dt) };
  const n = c.options?.transB ? c.b.at(-2)! : c.b.at(-1)!;
  if (c.bias) x.bias = randomTensor(rng, [n], 'f32');
  if (c.residual) x.residual = randomTensor(rng, c.residual, dt);
  return x;
}

describe.skipIf(!info.available)('webgpu chunked paths', () => {
  let plain: Dev;
  let capped: Dev;
  let budget: Dev;
  beforeAll(async () => {
    plain = await deviceWith({});
    capped = await deviceWith({ KERNELPORT_WEBGPU_MAX_BINDING: String(CAP) });
    budget = await deviceWith({ KERNELPORT_WEBGPU_LOOP_BUDGET: '64' });
  });
  afterAll(() => {
    for (const d of [plain, capped, budget]) d?.dev.dispose();
  });

  it('the caps are validated, and a capped device reports the lower binding size', async () => {
    await expect(deviceWith({ KERNELPORT_WEBGPU_MAX_BINDING: '100' })).rejects.toThrow(/KERNELPORT_WEBGPU_MAX_BINDING must be .* at least 4096, got '100'/);
    await expect(deviceWith({ KERNELPORT_WEBGPU_LOOP_BUDGET: 'lots' })).rejects.toThrow(/KERNELPORT_WEBGPU_LOOP_BUDGET must be an integer/);
    expect(capped.be.limits.maxStorageBufferBindingSize).toBe(CAP);
    expect(plain.be.limits.maxStorageBufferBindingSize).toBe((info.features.limits as Record<string, number>).maxStorageBufferBindingSize);
  });

  describe(`matmul beyond the binding size (cap ${CAP} bytes)`, () => {
    const cases: MCase[] = [
      { name: 'batch runs: [40,5,7] @ [40,7,6] (22 KB of A+B)', a: [40, 5, 7], b: [40, 7, 6], bias: true },
      { name: 'M rows and N columns: [3,37,61] @ [29,61]^T, bias, gelu, residual [3,37,29]', a: [3, 37, 61], b: [29, 61], bias: true, residual: [3, 37, 29], options: { transB: true, activation: 'gelu', beta: 0.5 } },
      { name: 'broadcast batch a [2,1,37,19] b [1,3,19,23], residual row [23]', a: [2, 1, 37, 19], b: [1, 3, 19, 23], residual: [23] },
      { name: 'GEMV M=3 K=700 over N: b [45,700]^T, f16 out', a: [3, 700], b: [45, 700], options: { transB: true, outDtype: 'f16' } },
      { name: 'f16 in and out, [2,50,300] @ [40,300]^T (f32 result and pack split)', a: [2, 50, 300], b: [40, 300], dtype: 'f16', options: { transB: true } },
      { name: 'bf16, big f32 output [1100,3] @ [3,7] (out rows)', a: [1100, 3], b: [3, 7], dtype: 'bf16', options: { outDtype: 'f32' } },
    ];
    it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_n, c, i) => {
      const x = matmulInputs(c, 400 + i);
      const [r, n] = await counted(capped, (d) => judgeMatmul(d, x, c.options ?? {}));
      expect(r.out.pass, describeReport(r.out, 'out')).toBe(true);
      const [one, n1] = await counted(plain, (d) => judgeMatmul(d, x, c.options ?? {}));
      expect(n, 'ran in more dispatches than on the uncapped device').toBeGreaterThan(n1);
      expect(same(r.got, one.got), 'bitwise equal to one dispatch').toBe(true);
    });

    it('refuses what cannot be split, naming the operand, before anything runs', () => {
      const t = (shape: number[]) => capped.dev.tensor(new Float32Array(shape.reduce((p, e) => p * e, 1)), shape);
      const a = t([37, 61]);
      const bKN = t([61, 29]); // 7 KB, [K, N]: a column is strided over all of it
      expect(() => capped.dev.matmul(a, bKN)).toThrow(RangeError);
      expect(() => capped.dev.matmul(a, bKN)).toThrow(/b \(\[K, N\] row-major.*transB: true/);
      const aT = t([61, 37]); // transA: a column of A^T is all of A
      const bNK = t([29, 61]);
      expect(() => capped.dev.matmul(aT, bNK, { transA: true, transB: true })).toThrow(/a \(transA/);
      const wide = t([2, 1100]); // one row of A alone is 4400 bytes
      const wideB = t([3, 1100]);
      expect(() => capped.dev.matmul(wide, wideB, { transB: true })).toThrow(/maxStorageBufferBindingSize \(4096 bytes\): a: \d+ bytes/);
      for (const x of [a, bKN, aT, bNK, wide, wideB]) x.dispose();
    });
  });

  describe(`attention beyond the binding size (cap ${CAP} bytes)`, () => {
    const cases: Case[] = [
      { name: 'batch x heads runs: GQA 4:2, causal, kvLengths, lse', b: 2, hq: 4, hkv: 2, sq: 37, skv: 30, d: 24, dv: 16, options: { causal: true, kvLengths: [30, 17] } },
      { name: "'bshd', mask [1,Hq,1,Skv]", b: 3, hq: 4, hkv: 4, sq: 9, skv: 20, d: 8, dv: 8, layout: 'bshd', mask: [1, 4, 1, 20], maskNegInf: 0.2 },
      { name: 'split-KV decode over heads, f16', b: 2, hq: 4, hkv: 2, sq: 1, skv: 515, d: 3, dv: 3, dtype: 'f16' },
    ];
    it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_n, c, i) => {
      const x = inputs(c, 500 + i);
      const o: AttentionCaseOptions = options(c);
      const [j, n] = await counted(capped, (d) => judgeAttention(d, x, o));
      expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
      expect(j.lse!.pass, describeReport(j.lse, 'lse')).toBe(true);
      const [one, n1] = await counted(plain, (d) => judgeAttention(d, x, o));
      expect(n, 'ran in more dispatches than on the uncapped device').toBeGreaterThan(n1);
      expect(same(j.got, one.got), 'bitwise equal to one dispatch').toBe(true);
    });

    it('refuses a (batch, head) pair larger than one binding', () => {
      const q = capped.dev.tensor(new Float32Array(1 * 1 * 3 * 8), [1, 1, 3, 8]);
      const k = capped.dev.tensor(new Float32Array(1 * 1 * 200 * 8), [1, 1, 200, 8]); // 6400 bytes
      expect(() => capped.dev.attention(q, k, k)).toThrow(/one \(batch, head\) pair needs a binding larger than maxStorageBufferBindingSize \(4096 bytes\): k: \d+ bytes; v: \d+ bytes/);
      q.dispose();
      k.dispose();
    });
  });

  describe('loop budget 64: K chunks and key chunks', () => {
    const mm: MCase[] = [
      { name: 'tiled, 10 K chunks: [37,300] @ [300,29], bias, silu, residual', a: [37, 300], b: [300, 29], bias: true, residual: [37, 29], options: { activation: 'silu' } },
      { name: 'M=2 K=3000: past the GEMV budget, tiled with K chunks, bf16 out', a: [2, 3000], b: [3000, 5], options: { outDtype: 'bf16' } },
    ];
    it.each(mm.map((c, i) => [c.name, c, i] as const))('matmul %s', async (_n, c, i) => {
      const x = matmulInputs(c, 600 + i);
      const [r, n] = await counted(budget, (d) => judgeMatmul(d, x, c.options ?? {}));
      expect(r.out.pass, describeReport(r.out, 'out')).toBe(true);
      const [one, n1] = await counted(plain, (d) => judgeMatmul(d, x, c.options ?? {}));
      expect(n).toBeGreaterThanOrEqual(n1 + 9);
      // the GEMV kernel (one dispatch) sums in another order than the tiled one: bitwise only for tiled vs tiled
      if (c.a[0]! > 4) expect(same(r.got, one.got), 'bitwise equal to one dispatch').toBe(true);
    });

    const att: Case[] = [
      { name: 'prefill, 10 key chunks (carry), causal, mask', b: 1, hq: 2, hkv: 1, sq: 40, skv: 300, d: 24, dv: 24, mask: [40, 300], maskNegInf: 0.1, options: { causal: true } },
      { name: 'split-KV decode, 8 chunks per split, kvLengths', b: 2, hq: 2, hkv: 2, sq: 2, skv: 600, d: 24, dv: 24, options: { kvLengths: [600, 300] } },
    ];
    it.each(att.map((c, i) => [c.name, c, i] as const))('attention %s', async (_n, c, i) => {
      const x = inputs(c, 700 + i);
      const [j, n] = await counted(budget, (d) => judgeAttention(d, x, options(c)));
      expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
      expect(j.lse!.pass, describeReport(j.lse, 'lse')).toBe(true);
      const [one, n1] = await counted(plain, (d) => judgeAttention(d, x, options(c)));
      expect(n).toBeGreaterThanOrEqual(n1 + 7);
      expect(same(j.got, one.got), 'bitwise equal to one dispatch').toBe(true);
    });
  });

  describe("sizes llvmpipe's 65535-iteration loop limit used to truncate (default device)", () => {
    it('matmul K = 50021 (tiled) and K = 40009 at M = 2 (GEMV)', async () => {
      for (const [m, k, n] of [
        [5, 50021, 3],
        [2, 40009, 3],
      ] as const) {
        const x = matmulInputs({ name: '', a: [m, k], b: [k, n] }, k);
        const r = await judgeMatmul(plain.dev, x);
        expect(r.out.pass, `${m}x${k}x${n} ${describeReport(r.out, 'out')}`).toBe(true);
      }
    });

    it('attention Skv = 1031, D = Dv = 64, Sq = 20 (prefill)', async () => {
      const c: Case = { name: '', b: 1, hq: 1, sq: 20, skv: 1031, d: 64, dv: 64 };
      const j = await judgeAttention(plain.dev, inputs(c, 800), {});
      expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
      expect(j.lse!.pass, describeReport(j.lse, 'lse')).toBe(true);
    });
  });
});
