/**
 * The webgpu backend (WGSL through Dawn; on a machine without a GPU, Dawn's OpenGL ES backend on Mesa
 * llvmpipe): the matmul and attention semantics against the float64 reference, split-KV decoding,
 * determinism, bad input, size limits, buffer pooling and device loss.
 *
 * Where there is no adapter the suite is skipped with the reason, except in CI (`CI` set), where a
 * missing adapter fails it: there the webgpu backend must run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, probe, Device, type Tensor } from '../src/index.js';
import { WebGpuDevice } from '../src/backends/webgpu/index.js';
import { sizeClass } from '../src/backends/webgpu/buffers.js';
import { fill } from '../src/backends/webgpu/specialise.js';
import { SPLIT_SIZE, useSplit } from '../src/backends/webgpu/attention.js';
import { classBounds, configLabel, tuneCandidates } from '../src/tune/candidates.js';
import { expectAttention, expectMatmul } from '../src/numerics/check.js';
import type { OpDesc } from '../src/select/rank.js';
import { decode, encode } from '../src/dtype.js';
import { judgeAttention, judgeMatmul, type AttentionCaseOptions, type AttentionInputs, type MatmulCaseOptions, type MatmulInputs } from '../src/numerics/check.js';
import type { ErrorReport } from '../src/numerics/compare.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { Activation, DeviceInfo, DType, Layout } from '../src/types.js';
import { describeReport } from './support/report.js';
import { clockOf } from '../src/bench/timing.js';
import { inputs, nanBehindMaskAndLength, options, type Case } from './support/attention-cases.js';

const info: DeviceInfo = (await probe()).find((d) => d.backend === 'webgpu')!;
const available = info.available;
if (!available) {
  if (process.env.CI) {
    describe('webgpu in CI', () => {
      it('has an adapter (a skip is a failure in CI)', () => {
        expect.fail(`the webgpu backend is unavailable in CI: ${info.reason}`);
      });
    });
  } else console.log(`test/webgpu.test.ts: skipped, the webgpu backend is unavailable: ${info.reason}`);
}

const ACTS: Activation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'];

const show = (what: string, r: ErrorReport | undefined) => describeReport(r, what);

describe('webgpu specialisation step (no adapter needed)', () => {
  it('fills holes and #if blocks, and refuses missing, mistyped or unused values', () => {
    const src = 'a {{X}}\n#if F\nb {{Y}}\n#else\nc\n#endif\nd';
    expect(fill('t', src, { X: 3, Y: 4, F: true })).toBe('a 3\nb 4\nd');
    expect(fill('t', src, { X: 3, Y: 4, F: false })).toBe('a 3\nc\nd');
    expect(() => fill('t', src, { X: 3, F: true })).toThrow(/\{\{Y\}\} needs a non-negative integer/);
    expect(() => fill('t', src, { X: 3, Y: 4, F: 1 as never })).toThrow(/#if F needs a boolean/);
    expect(() => fill('t', src, { X: 3, Y: 4, F: true, Z: 1 })).toThrow(/Z is not used/);
    expect(() => fill('t', '#if F\nx', { F: true })).toThrow(/unterminated/);
  });

  it('size classes: 16-byte multiples, at most 25% slack, never above the binding limit', () => {
    for (const b of [0, 1, 15, 17, 4096, 4097, 10_000, 1 << 20, (1 << 27) - 4]) {
      const c = sizeClass(b, 1 << 27);
      expect(c % 16).toBe(0);
      expect(c).toBeGreaterThanOrEqual(Math.max(16, b));
      if (b > 4096) expect(c).toBeLessThanOrEqual(b * 1.25 + 16);
      expect(c <= 1 << 27 || c === Math.ceil(b / 16) * 16).toBe(true);
    }
  });
});

describe.skipIf(!available)('webgpu backend', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open('webgpu');
  });
  afterAll(() => dev?.dispose());

  describe('probe and selection', () => {
    it('reports the adapter, its features and limits', () => {
      expect(info.name.length).toBeGreaterThan(0);
      const f = info.features as Record<string, unknown>;
      expect(typeof f.shaderF16).toBe('boolean');
      expect(typeof f.subgroups).toBe('boolean');
      expect(typeof f.software).toBe('boolean');
      const limits = f.limits as Record<string, number>;
      expect(limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
      expect(limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    });

    it('optional features: the kernels use what the adapter has unless disabled; unknown names are refused', async () => {
      const has = ['subgroups', 'timestamp-query'].filter((f) => (info.features.adapterFeatures as string[]).includes(f));
      expect(dev.info.features.kernelFeatures).toEqual(has);
      const off = await open({ backend: 'webgpu', webgpuDisable: ['subgroups', 'timestamp-query'] });
      expect(off.info.features.kernelFeatures).toEqual([]);
      off.dispose();
      await expect(open({ backend: 'webgpu', webgpuDisable: ['warp-speed' as never] })).rejects.toThrow(/cannot disable unknown feature 'warp-speed'; known: subgroups, timestamp-query/);
    });

    it('probe lists one adapter per Dawn backend (webgpu:0, webgpu:1, ...), the others with the reason; open(webgpu:i) picks it', async () => {
      const all = (await probe()).filter((d) => d.backend === 'webgpu');
      expect(all.map((d) => d.index)).toEqual(all.map((_, i) => i));
      const ok = all.filter((d) => d.available);
      expect(ok.map((d) => d.index)).toEqual(ok.map((_, i) => i)); // the available ones come first
      expect(new Set(ok.map((d) => d.features.dawnBackend)).size).toBe(ok.length);
      console.log(`test/webgpu.test.ts: adapters: ${all.map((d) => `webgpu:${d.index} ${d.available ? `${d.features.dawnBackend} (${d.name})` : `unavailable: ${d.reason}`}`).join('; ')}`);
      for (const d of all.filter((x) => !x.available)) expect(d.reason).toBeTruthy();
      const rng = new Rng(5);
      const x: MatmulInputs = { a: randomTensor(rng, [5, 19]), b: randomTensor(rng, [19, 7]) };
      for (const d of ok) {
        const w = await open(`webgpu:${d.index}`);
        expect(w.info.features.dawnBackend).toBe(d.features.dawnBackend);
        const r = await judgeMatmul(w, x);
        expect(r.out.pass, show(`webgpu:${d.index} out`, r.out)).toBe(true);
        w.dispose();
      }
      const bad = all.find((d) => !d.available);
      if (bad) await expect(open(`webgpu:${bad.index}`)).rejects.toThrow(bad.reason!);
      await expect(open(`webgpu:${all.length}`)).rejects.toThrow(/no device webgpu:\d+: webgpu devices here: webgpu:0/);
    });

    it('bench clock: GPU timestamps where the device has timestamp-query, else the host clock, and says which', async () => {
      const t = dev.deviceTimer();
      const uses = dev.info.features.kernelFeatures as string[];
      expect(t !== undefined).toBe(uses.includes('timestamp-query'));
      if (!t) {
        console.log(`test/webgpu.test.ts: ${dev.info.name} has no timestamp-query: the GPU timer is not exercised here (the browser test does)`);
        expect(clockOf(dev)).toMatch(/^host: .*no timestamp-query/);
        return;
      }
      expect(clockOf(dev)).toMatch(/^device: WebGPU timestamp-query/);
      const a = dev.tensor(new Float32Array(128 * 128).fill(1), [128, 128]);
      t.begin();
      const y = dev.matmul(a, a);
      await dev.sync();
      const s = await t.end();
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThan(60);
      for (const x of [a, y]) x.dispose();
    });

    it('auto ranks a software adapter (llvmpipe) below cpu', async () => {
      const devices = await probe();
      const cpu = devices.find((d) => d.backend === 'cpu')!;
      if (!info.features.software || !cpu.available || process.env.KERNELPORT_BACKEND) return;
      const d = await open();
      expect(d.info.backend).toBe('cpu');
      d.dispose();
    });
  });

  describe('matmul against the reference', () => {
    interface MCase {
      name: string;
      a: number[];
      b: number[];
      dtype?: DType;
      bias?: DType;
      residual?: { shape: number[]; dtype?: DType };
      options?: MatmulCaseOptions;
      scale?: number;
    }
    const M = 37, K = 61, N = 29;
    const cases: MCase[] = [
      { name: '37x61x29', a: [M, K], b: [K, N] },
      { name: 'several tiles 130x257x70', a: [130, 257], b: [257, 70], bias: 'f32', options: { activation: 'gelu' } },
      ...[1, 2, 3, 4].map((m) => ({ name: `GEMV M=${m}, transB, bias, residual`, a: [m, 300], b: [45, 300], bias: 'f32' as DType, residual: { shape: [m, 45] }, options: { transB: true } })),
      { name: 'M=5 (tiled, just past GEMV)', a: [5, K], b: [K, N] },
      { name: 'K=1', a: [M, 1], b: [1, N] },
      { name: 'K=0: act(bias) + residual', a: [M, 0], b: [0, N], bias: 'f32', residual: { shape: [M, 1] }, options: { activation: 'silu', alpha: 3, beta: 0.5 } },
      ...ACTS.map((act) => ({ name: `activation ${act} + bias + residual`, a: [M, K], b: [K, N], bias: 'f32' as DType, residual: { shape: [N] }, options: { activation: act, alpha: 0.75, beta: -1.25 } })),
      { name: 'huge magnitudes through gelu', a: [M, K], b: [K, N], scale: 1e18, options: { activation: 'gelu' } },
      { name: 'tiny magnitudes, bf16 out', a: [M, K], b: [K, N], scale: 1e-19, options: { outDtype: 'bf16' } },
      { name: 'transA + transB + relu, residual column', a: [131, 67], b: [53, 131], bias: 'f32', residual: { shape: [67, 1] }, options: { transA: true, transB: true, activation: 'relu' } },
      { name: 'batch broadcast a [3,1,K,M] b [1,4,N,K], residual [4,1,N]', a: [3, 1, K, M], b: [1, 4, N, K], bias: 'f32', residual: { shape: [4, 1, N] }, options: { transA: true, transB: true, activation: 'gelu_tanh' } },
      { name: 'batched GEMV a [5,2,K] b [K,N]', a: [5, 2, K], b: [K, N] },
      { name: 'f16 in, f16 out (packed u32), transB, gelu, residual', a: [M, K], b: [N, K], dtype: 'f16', bias: 'f16', residual: { shape: [M, N] }, options: { transB: true, activation: 'gelu' } },
      { name: 'bf16 in, f32 out, transA, silu', a: [2, K, M], b: [K, N], dtype: 'bf16', bias: 'bf16', residual: { shape: [N], dtype: 'f32' }, options: { transA: true, activation: 'silu', outDtype: 'f32' } },
      { name: 'f16 huge values overflow to Inf in f16 out', a: [M, K], b: [K, N], dtype: 'f16', scale: 100 },
      { name: 'f32 in, f16 out, f16 bias, bf16 residual', a: [M, K], b: [K, N], bias: 'f16', residual: { shape: [M, N], dtype: 'bf16' }, options: { outDtype: 'f16' } },
      { name: 'odd element count with 16-bit output (N odd, M odd)', a: [3, 7], b: [7, 5], dtype: 'bf16' },
    ];
    it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (_n, c, i) => {
      const rng = new Rng(100 + i);
      const dt = c.dtype ?? 'f32';
      const x: MatmulInputs = { a: randomTensor(rng, c.a, dt, c.scale ?? 1), b: randomTensor(rng, c.b, dt, c.scale ?? 1) };
      const n = c.options?.transB ? c.b.at(-2)! : c.b.at(-1)!;
      if (c.bias) x.bias = randomTensor(rng, [n], c.bias);
      if (c.residual) x.residual = randomTensor(rng, c.residual.shape, c.residual.dtype ?? dt);
      const r = await judgeMatmul(dev, x, c.options ?? {});
      expect(r.out.pass, show('out', r.out)).toBe(true);
    });

    it('NaN in A: exactly its row; relu keeps NaN; Inf·0 is NaN', async () => {
      const rng = new Rng(7);
      const a = decode(randomTensor(rng, [M, K]).data, 'f32');
      a[5 * K + 3] = NaN;
      a[9 * K + 0] = Infinity;
      const b = decode(randomTensor(rng, [K, N]).data, 'f32').map((v) => (v === 0 ? 0.5 : v));
      b[0 * N + 4] = 0;
      const x: MatmulInputs = { a: { data: encode(a, 'f32'), shape: [M, K], dtype: 'f32' }, b: { data: encode(b, 'f32'), shape: [K, N], dtype: 'f32' } };
      const r = await judgeMatmul(dev, x, { activation: 'relu' });
      expect(r.out.pass, show('out', r.out)).toBe(true);
      for (let j = 0; j < N; j++) expect(r.got[5 * N + j]).toBeNaN();
      expect(r.got[9 * N + 4]).toBeNaN();
      expect(r.got[0]).not.toBeNaN();
    });

    it('f16 output rounds to nearest even (2049 -> 2048, 2051 -> 2052)', async () => {
      const a = dev.tensor([2049, 2051], [2, 1]);
      const b = dev.tensor([1], [1, 1]);
      const y = dev.matmul(a, b, { outDtype: 'f16' });
      expect(Array.from(decode(await y.read(), 'f16'))).toEqual([2048, 2052]);
      for (const t of [a, b, y]) t.dispose();
    });

    it('zero-size outputs', async () => {
      const a = dev.tensor(new Float32Array(0), [0, 5]);
      const b = dev.tensor(new Float32Array(15), [5, 3]);
      const y = dev.matmul(a, b, { outDtype: 'bf16' });
      expect(y.shape).toEqual([0, 3]);
      expect((await y.read()).length).toBe(0);
      for (const t of [a, b, y]) t.dispose();
    });
  });

  describe('matmul fuzz', () => {
    it.each(Array.from({ length: 24 }, (_, i) => i + 1))('seed %i', async (seed) => {
      const r = new Rng(seed * 7919);
      const int = (lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]!;
      const m = pick([1, 2, 3, 4, int(5, 90)]);
      const n = int(1, 90);
      const k = int(0, 100);
      const transA = r.next() < 0.5;
      const transB = r.next() < 0.5;
      const batch = pick([[], [2], [3, 1]] as number[][]);
      const dtype = pick(['f32', 'f16', 'bf16'] as const);
      const options: MatmulCaseOptions = { transA, transB, activation: pick(ACTS), outDtype: pick(['f32', 'f16', 'bf16'] as const) };
      if (r.next() < 0.3) options.alpha = r.uniform(-2, 2);
      const x: MatmulInputs = {
        a: randomTensor(r, [...batch, ...(transA ? [k, m] : [m, k])], dtype),
        b: randomTensor(r, transB ? [n, k] : [k, n], dtype),
      };
      if (r.next() < 0.5) x.bias = randomTensor(r, [n], pick(['f32', 'f16', 'bf16'] as const));
      if (r.next() < 0.5) {
        x.residual = randomTensor(r, pick([[...batch, m, n], [m, n], [n], [m, 1], [1, 1]]), pick(['f32', 'f16', 'bf16'] as const));
        if (r.next() < 0.5) options.beta = r.uniform(-2, 2);
      }
      const j = await judgeMatmul(dev, x, options);
      expect(j.out.pass, `${JSON.stringify({ m, n, k, batch, dtype, options })} ${show('out', j.out)}`).toBe(true);
    });
  });

  describe('attention against the reference', () => {
    const cases: Case[] = [
      { name: 'Sq=13 Skv=29 D=24 Dv=40', sq: 13, skv: 29, d: 24, dv: 40 },
      { name: 'Sq=70 Skv=300 D=64 causal (tiles skipped)', b: 1, sq: 70, skv: 300, d: 64, dv: 64, options: { causal: true } },
      { name: 'D=128 Dv=80, MQA', b: 1, hq: 2, hkv: 1, sq: 33, skv: 130, d: 128, dv: 80 },
      { name: 'D=256 Dv=8 decode (no split: short cache)', sq: 1, skv: 67, d: 256, dv: 8 },
      { name: 'D=1 Dv=1', sq: 7, skv: 9, d: 1, dv: 1 },
      { name: 'Sq > Skv bottom-right: first rows fully masked', sq: 29, skv: 13, options: { causal: true } },
      { name: "top-left causal, 'bshd', GQA 8:2", hq: 8, hkv: 2, sq: 17, skv: 9, layout: 'bshd', options: { causal: 'top-left' } },
      { name: 'kvLengths [0, 29, 7] causal', b: 3, sq: 13, skv: 29, options: { kvLengths: [0, 29, 7], causal: true } },
      { name: 'mask [B,1,Sq,Skv] with -Inf, kvLengths', sq: 13, skv: 29, mask: [2, 1, 13, 29], maskNegInf: 0.3, options: { kvLengths: [29, 16] } },
      { name: 'mask [1,Hq,1,Skv] 90% -Inf', hq: 4, hkv: 2, sq: 13, skv: 29, mask: [1, 4, 1, 29], maskNegInf: 0.9 },
      { name: 'huge scores (q x 1000)', sq: 13, skv: 129, qScale: 1000 },
      { name: 'scale 0', sq: 13, skv: 29, options: { scale: 0 } },
      { name: 'f16 in, f16 out (packed), causal', sq: 13, skv: 70, dtype: 'f16', qScale: 100, options: { causal: true } },
      { name: 'bf16 in, f32 out, GQA', hq: 4, hkv: 2, sq: 13, skv: 29, dtype: 'bf16', options: { outDtype: 'f32' } },
      { name: 'f32 in, bf16 out, odd element count', b: 1, hq: 1, sq: 3, skv: 5, d: 7, dv: 5, options: { outDtype: 'bf16' } },
      { name: 'Skv = 0', sq: 3, skv: 0, d: 8, dv: 12 },
      { name: 'Dv = 0 (lse only)', sq: 3, skv: 5, d: 8, dv: 0 },
      { name: 'D = 0 (uniform weights)', sq: 3, skv: 5, d: 0, dv: 4 },
      // split-KV decoding: Sq <= 8 and Skv >= 2 splits
      { name: `split-KV decode Sq=1 Skv=${4 * SPLIT_SIZE + 37}, GQA 8:2`, b: 2, hq: 8, hkv: 2, sq: 1, skv: 4 * SPLIT_SIZE + 37, d: 64, dv: 64 },
      { name: 'split-KV decode causal + kvLengths (one split empty for a row)', b: 3, sq: 4, skv: 3 * SPLIT_SIZE, d: 32, dv: 16, options: { causal: true, kvLengths: [3 * SPLIT_SIZE, SPLIT_SIZE + 5, 0] } },
      { name: 'split-KV decode with a mask, bshd, bf16, lse', b: 2, hq: 4, hkv: 2, sq: 2, skv: 2 * SPLIT_SIZE + 1, d: 16, dv: 24, dtype: 'bf16', layout: 'bshd', mask: [2, 1, 2, 2 * SPLIT_SIZE + 1], maskNegInf: 0.5 },
      { name: 'split-KV decode: every key of the first split masked', b: 1, hq: 2, sq: 1, skv: 2 * SPLIT_SIZE, d: 8, dv: 8, mask: [2 * SPLIT_SIZE], maskNegInf: 0 },
      { name: 'split-KV decode, f16 out, huge scores', b: 1, hq: 2, sq: 3, skv: 3 * SPLIT_SIZE, d: 8, dv: 8, dtype: 'f16', qScale: 300 },
      // more workgroups than one grid dimension holds: the x·y grid's extra workgroups must write nothing
      { name: 'B·Hq = 65537 (a 2-D grid with spare workgroups), lse', b: 1, hq: 65537, hkv: 65537, sq: 1, skv: 2, d: 1, dv: 1, options: { returnLse: true } },
    ];
    it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', async (name, c, i) => {
      const x = inputs(c, 200 + i);
      if (x.mask && name.includes('first split masked')) {
        const mv = decode(x.mask.data, 'f32');
        mv.fill(-Infinity, 0, SPLIT_SIZE);
        x.mask = { ...x.mask, data: encode(mv, 'f32') };
      }
      const opts = options(c);
      if (name.startsWith('split-KV')) expect(useSplit({ sq: c.sq, skv: c.skv })).toBe(true);
      const j = await judgeAttention(dev, x, opts);
      expect(j.out.pass, show('out', j.out)).toBe(true);
      expect(j.lse!.pass, show('lse', j.lse)).toBe(true);
    });

    it.each([false, true])('-Inf masked keys and keys beyond kvLengths are never read (NaN in their v), split=%s', async (split) => {
      const skv = split ? 2 * SPLIT_SIZE + 3 : 11;
      const { x, kvLengths } = nanBehindMaskAndLength(skv);
      const j = await judgeAttention(dev, x, { kvLengths });
      expect(j.out.pass, show('out', j.out)).toBe(true);
      expect(j.got.every(Number.isFinite)).toBe(true);
    });

    it('a NaN in q makes its row NaN (out and lse), split and not', async () => {
      for (const skv of [11, 2 * SPLIT_SIZE]) {
        const rng = new Rng(32);
        const x: AttentionInputs = { q: randomTensor(rng, [1, 2, 3, 8]), k: randomTensor(rng, [1, 2, skv, 8]), v: randomTensor(rng, [1, 2, skv, 4]) };
        const q = decode(x.q.data, 'f32');
        q[1 * 8 + 2] = NaN; // head 0, row 1
        x.q = { ...x.q, data: encode(q, 'f32') };
        const j = await judgeAttention(dev, x, {});
        for (let row = 0; row < 6; row++) {
          const vals = Array.from(j.got.subarray(row * 4, row * 4 + 4));
          expect(vals.every(row === 1 ? Number.isNaN : Number.isFinite), `skv ${skv} row ${row}: ${vals}`).toBe(true);
        }
      }
    });
  });

  describe('attention fuzz', () => {
    it.each(Array.from({ length: 24 }, (_, i) => i + 1))('seed %i', async (seed) => {
      const r = new Rng(seed * 104729);
      const int = (lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]!;
      const b = int(1, 2), hkv = int(1, 2), hq = hkv * int(1, 3);
      const decodeCase = r.next() < 0.3;
      const sq = decodeCase ? int(1, 8) : int(1, 40);
      const skv = decodeCase ? int(2 * SPLIT_SIZE, 3 * SPLIT_SIZE + 50) : int(0, 90);
      const d = int(1, 72), dv = int(1, 72);
      const dtype = pick(['f32', 'f16', 'bf16'] as const);
      const layout = pick(['bhsd', 'bshd'] as const);
      const sh = (h: number, s: number, e: number) => (layout === 'bshd' ? [b, s, h, e] : [b, h, s, e]);
      const options: AttentionCaseOptions = {
        layout,
        causal: pick([false, true, 'top-left'] as const),
        ...(r.next() < 0.4 ? { kvLengths: Array.from({ length: b }, () => int(0, skv)) } : {}),
        ...(r.next() < 0.3 ? { outDtype: pick(['f32', 'f16', 'bf16'] as const) } : {}),
      };
      const x: AttentionInputs = { q: randomTensor(r, sh(hq, sq, d), dtype), k: randomTensor(r, sh(hkv, skv, d), dtype), v: randomTensor(r, sh(hkv, skv, dv), dtype) };
      if (r.next() < 0.4) {
        const shape = pick([[sq, skv], [b, 1, sq, skv], [1, hq, 1, skv], [skv]]);
        const mv = decode(randomTensor(r, shape).data, 'f32');
        const frac = pick([0, 0.2, 0.9]);
        for (let i = 0; i < mv.length; i++) if (r.next() < frac) mv[i] = -Infinity;
        x.mask = { data: encode(mv, 'f32'), shape, dtype: 'f32' };
      }
      const j = await judgeAttention(dev, x, options);
      const label = JSON.stringify({ b, hq, hkv, sq, skv, d, dv, dtype, options, mask: x.mask?.shape });
      expect(j.out.pass, `${label} ${show('out', j.out)}`).toBe(true);
      expect(j.lse!.pass, `${label} ${show('lse', j.lse)}`).toBe(true);
    });
  });

  // Autotuning picks among these configurations (src/tune/candidates.ts): every one must compute the
  // same op within the same bounds, on sizes that are multiples of no tile.
  describe('every autotune candidate against the reference', () => {
    const candidates = (desc: OpDesc) => {
      const set = tuneCandidates(dev.info, 1, classBounds(desc))!;
      expect(set.all.length).toBeGreaterThan(2);
      return set.all;
    };

    it('a config reaches the WGSL specialisation: one pipeline per candidate, reused after', async () => {
      const be = await WebGpuDevice.create(info);
      const d = new Device(be);
      try {
        const rng = new Rng(30);
        const up = (shape: number[]) => {
          const t = randomTensor(rng, shape);
          return d.tensor(t.data, t.shape, t.dtype);
        };
        const a = up([37, 61]);
        const b = up([61, 29]);
        const g = up([2, 61]);
        const q = up([1, 2, 13, 16]);
        const kv = up([1, 2, 29, 16]);
        const ops: [OpDesc, () => Tensor][] = [
          [{ op: 'matmul', m: 37, n: 29, k: 61 }, () => d.matmul(a, b)],
          [{ op: 'matmul', m: 2, n: 29, k: 61 }, () => d.matmul(g, b)],
          [{ op: 'attention', hq: 2, sq: 13, skv: 29, d: 16 }, () => d.attention(q, kv, kv)],
        ];
        for (const [desc, run] of ops) {
          const all = candidates(desc);
          const before = be.stats().pipelines;
          for (const cfg of all) await d.withKernelConfig(cfg, run).read();
          expect(be.stats().pipelines - before, `${desc.op} m=${'m' in desc ? desc.m : ''}: one pipeline per candidate`).toBe(all.length);
          await d.withKernelConfig(all[1]!, run).read();
          await run().read(); // the built-in config is all[0]
          expect(be.stats().pipelines - before).toBe(all.length);
        }
      } finally {
        d.dispose();
      }
    });

    it('tiled matmul: batch, bias, gelu, residual; bf16 with transA + transB', async () => {
      const rng = new Rng(31);
      const f32: MatmulInputs = { a: randomTensor(rng, [2, 130, 257]), b: randomTensor(rng, [257, 70]), bias: randomTensor(rng, [70]), residual: randomTensor(rng, [70]) };
      const f32o: MatmulCaseOptions = { activation: 'gelu' };
      const bf: MatmulInputs = { a: randomTensor(rng, [67, 37], 'bf16'), b: randomTensor(rng, [45, 67], 'bf16') };
      const bfo: MatmulCaseOptions = { transA: true, transB: true, outDtype: 'f32' };
      const [e1, e2] = [expectMatmul(f32, f32o), expectMatmul(bf, bfo)];
      for (const cfg of candidates({ op: 'matmul', m: 130, n: 70, k: 257, batch: 2 })) {
        expect(cfg.TM, 'a tiled config').toBeDefined();
        // the op is enqueued synchronously inside withKernelConfig; its result is awaited after
        const j1 = await dev.withKernelConfig(cfg, () => judgeMatmul(dev, f32, f32o, e1));
        expect(j1.out.pass, `${configLabel(cfg)} ${show('out', j1.out)}`).toBe(true);
        const j2 = await dev.withKernelConfig(cfg, () => judgeMatmul(dev, bf, bfo, e2));
        expect(j2.out.pass, `${configLabel(cfg)} bf16 ${show('out', j2.out)}`).toBe(true);
      }
    }, 300_000);

    it('GEMV (M = 3), transB, bias, f16 out', async () => {
      const rng = new Rng(32);
      const x: MatmulInputs = { a: randomTensor(rng, [3, 300]), b: randomTensor(rng, [45, 300]), bias: randomTensor(rng, [45]) };
      const o: MatmulCaseOptions = { transB: true, outDtype: 'f16' };
      const e = expectMatmul(x, o);
      for (const cfg of candidates({ op: 'matmul', m: 3, n: 45, k: 300 })) {
        expect(cfg.WG, 'a GEMV config').toBeDefined();
        const j = await dev.withKernelConfig(cfg, () => judgeMatmul(dev, x, o, e));
        expect(j.out.pass, `${configLabel(cfg)} ${show('out', j.out)}`).toBe(true);
      }
    }, 300_000);

    it.each([
      ['flash prefill, causal GQA, kvLengths', { name: 'prefill', b: 2, hq: 4, hkv: 2, sq: 70, skv: 300, d: 64, dv: 40, options: { causal: true, kvLengths: [300, 211] } } as Case],
      ['split-KV decode', { name: 'decode', b: 1, hq: 4, hkv: 2, sq: 3, skv: 600, d: 64, dv: 64, options: { kvLengths: [555] } } as Case],
    ])('attention: %s', async (_n, c) => {
      const x = inputs(c, 33);
      const o = options(c);
      const e = expectAttention(x, o);
      const desc: OpDesc = { op: 'attention', batch: c.b, hq: c.hq!, hkv: c.hkv, sq: c.sq, skv: c.skv, d: c.d!, dv: c.dv, causal: !!c.options?.causal };
      expect(useSplit(c)).toBe(c.name === 'decode');
      for (const cfg of candidates(desc)) {
        const j = await dev.withKernelConfig(cfg, () => judgeAttention(dev, x, o, e));
        expect(j.out.pass, `${configLabel(cfg)} ${show('out', j.out)}`).toBe(true);
        expect(j.lse!.pass, `${configLabel(cfg)} ${show('lse', j.lse)}`).toBe(true);
      }
    }, 300_000);
  });

  describe('determinism', () => {
    it('repeated runs are bitwise identical (tiled matmul, GEMV, prefill, split-KV decode, 16-bit out)', async () => {
      const rng = new Rng(99);
      const up = (shape: number[], dtype: DType = 'f32') => {
        const t = randomTensor(rng, shape, dtype);
        return dev.tensor(t.data, t.shape, t.dtype);
      };
      const a = up([2, 67, 131]);
      const b = up([131, 53]);
      const bias = up([53]);
      const x = up([3, 131]);
      const q = up([2, 8, 37, 64]);
      const k = up([2, 2, 211, 64]);
      const v = up([2, 2, 211, 48]);
      const qd = up([1, 8, 1, 64], 'bf16');
      const kd = up([1, 2, 999, 64], 'bf16');
      const vd = up([1, 2, 999, 64], 'bf16');
      const runAll = async () => {
        const outs: Tensor[] = [
          dev.matmul(a, b, { bias, activation: 'gelu' }),
          dev.matmul(x, b, { activation: 'silu', outDtype: 'f16' }),
        ];
        const att = dev.attention(q, k, v, { causal: true, kvLengths: [150, 211], returnLse: true });
        const dec = dev.attention(qd, kd, vd, { returnLse: true });
        outs.push(att.out, att.lse, dec.out, dec.lse);
        const bytes = await Promise.all(outs.map(async (t) => Buffer.from((await t.read()).buffer)));
        for (const t of outs) t.dispose();
        return bytes;
      };
      const first = await runAll();
      const second = await runAll();
      first.forEach((f, i) => expect(f.equals(second[i]!), `output ${i}`).toBe(true));
      for (const t of [a, b, bias, x, q, k, v, qd, kd, vd]) t.dispose();
    });
  });

  describe('errors and limits', () => {
    it('bad arguments throw synchronously, as on every backend', () => {
      const a = dev.tensor(new Float32Array(6), [2, 3]);
      const b = dev.tensor(new Float32Array(8), [4, 2]);
      expect(() => dev.matmul(a, b)).toThrow(RangeError);
      expect(() => dev.matmul(a, b)).toThrow(/inner dimensions differ/);
      const h = dev.tensor(new Uint16Array(8), [4, 2], 'f16');
      expect(() => dev.matmul(a, h)).toThrow(TypeError);
      const c = dev.tensor(new Float32Array(6), [3, 2]);
      c.dispose();
      expect(() => dev.matmul(a, c)).toThrow(/disposed/);
      for (const t of [a, b, h]) t.dispose();
    });

    it('tensors beyond maxBufferSize are refused with a clear error (larger than one binding is fine: test/webgpu-chunks.test.ts)', () => {
      const limit = (info.features.limits as Record<string, number>).maxBufferSize!;
      expect(() => dev.empty([limit / 4 + 1])).toThrow(RangeError);
      expect(() => dev.empty([limit / 4 + 1])).toThrow(/needs \d+ bytes, more than this adapter's maxBufferSize \(\d+ bytes\)/);
    });

    it('buffers are pooled: 10k alloc/dispose cycles do not grow the device memory', async () => {
      const be = await WebGpuDevice.create(info);
      const d = new Device(be);
      try {
        const t0 = d.tensor(new Float32Array(1000), [1000]);
        t0.dispose();
        const before = be.stats();
        for (let i = 0; i < 10_000; i++) {
          const t = i % 2 ? d.empty([1000 + (i % 7)]) : d.tensor(new Float32Array(1000), [1000]);
          t.dispose();
        }
        await d.sync();
        const after = be.stats();
        expect(after.buffers).toBe(before.buffers);
        expect(after.bytes).toBe(before.bytes);
        // and ops reuse their temporaries: a second identical op creates no buffer
        const a = d.tensor(new Float32Array(64 * 64).fill(1), [64, 64]);
        const y1 = d.matmul(a, a, { outDtype: 'f16' });
        await y1.read();
        y1.dispose();
        const mid = be.stats();
        const y2 = d.matmul(a, a, { outDtype: 'f16' });
        expect(decode(await y2.read(), 'f16')[0]).toBe(64);
        y2.dispose();
        a.dispose();
        expect(be.stats().buffers).toBe(mid.buffers);
      } finally {
        d.dispose();
      }
    });

    it('an op refused while it is encoded gives back the outputs it had allocated', async () => {
      const be = await WebGpuDevice.create(info);
      const d = new Device(be);
      try {
        // B [K, N] past one binding cannot be windowed by rows: refused after the output was allocated
        const a = d.empty([8, 8192]);
        const b = d.empty([8192, 4097]);
        expect(() => d.matmul(a, b)).toThrow(RangeError);
        const before = be.stats();
        for (let i = 0; i < 5; i++) expect(() => d.matmul(a, b)).toThrow(RangeError);
        expect(be.stats().buffers).toBe(before.buffers);
        expect(be.stats().bytes).toBe(before.bytes);
      } finally {
        d.dispose();
      }
    });

    it('a lost device becomes an error on reads and syncs, never a hang', async () => {
      const be = await WebGpuDevice.create(info);
      const d = new Device(be);
      const a = d.tensor(new Float32Array(16).fill(1), [4, 4]);
      const y = d.matmul(a, a);
      (be as unknown as { device: GPUDevice }).device.destroy();
      await expect(y.read()).rejects.toThrow(/lost|destroyed|failed/i);
      await new Promise((r) => setTimeout(r, 10));
      expect(() => d.matmul(a, a)).toThrow(/lost/);
      d.dispose();
    });

    it('sync() and pending() track submitted work', async () => {
      const a = dev.tensor(new Float32Array(128 * 128).fill(0.5), [128, 128]);
      const outs = Array.from({ length: 3 }, () => dev.matmul(a, a));
      await dev.sync();
      expect(dev.pending()).toBe(0);
      expect((await outs[2]!.read())[0]).toBe(32);
      for (const t of [a, ...outs]) t.dispose();
    });
  });
});
