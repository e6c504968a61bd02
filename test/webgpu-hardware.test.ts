/**
 * The webgpu kernel configurations of hardware adapters (src/backends/webgpu/configs.ts):
 * - selection, with fake adapter infos (no adapter needed): software adapters keep the portable
 *   kernels and the llvmpipe loop budget; hardware ones get matmul_vec4.wgsl, attention_tiled.wgsl and
 *   a loop budget that leaves practical sizes in one dispatch; explain() and the autotune candidates
 *   name the same configs;
 * - the hardware kernels forced on this machine's adapter (llvmpipe here) through
 *   Device.withKernelConfig, against the float64 reference: every hardware candidate, transposes,
 *   batching, the fused epilogue, 16-bit inputs and outputs, masks, GQA, layouts, causal modes,
 *   kvLengths and their NaN semantics; K chunks and key chunks bitwise equal to one dispatch.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, probe } from '../src/index.js';
import { WebGpuDevice } from '../src/backends/webgpu/index.js';
import { defaultMatmulTiles, defaultTiledAttention, kernelSet, WIDE_TILES } from '../src/backends/webgpu/configs.js';
import { DEFAULT_LOOP_BUDGET, HARDWARE_LOOP_BUDGET, keysPerDispatchTiled, kPerDispatch, loopBudget } from '../src/backends/webgpu/loops.js';
import { tiledAttentionConfig } from '../src/backends/webgpu/attention.js';
import { classBounds, configLabel, tuneCandidates } from '../src/tune/candidates.js';
import { explain, variantOf } from '../src/select/explain.js';
import { decode, encode } from '../src/dtype.js';
import { expectAttention, expectMatmul, judgeAttention, judgeMatmul, type AttentionInputs, type MatmulCaseOptions, type MatmulInputs } from '../src/numerics/check.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { KernelConfig } from '../src/backends/backend.js';
import type { OpDesc } from '../src/select/rank.js';
import type { DeviceInfo } from '../src/types.js';
import { describeReport } from './support/report.js';
import { inputs, nanBehindMaskAndLength, options, type Case } from './support/attention-cases.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/probe/this-machine.json', import.meta.url), 'utf8')) as DeviceInfo[];
const llvmpipe = fixture.find((d) => d.backend === 'webgpu')!;

/** The H100 through Dawn's Vulkan backend, as adapterInfo() records it. */
const h100: DeviceInfo = {
  ...llvmpipe,
  name: 'NVIDIA H100 80GB HBM3',
  vendor: 'nvidia',
  architecture: 'hopper',
  features: {
    ...llvmpipe.features,
    software: false,
    subgroups: true,
    timestampQuery: true,
    featureLevel: 'core',
    dawnBackend: 'vulkan',
    kernelFeatures: ['subgroups', 'timestamp-query'],
    loopBudget: HARDWARE_LOOP_BUDGET,
    limits: {
      maxStorageBufferBindingSize: 2 ** 31 - 4,
      maxBufferSize: 2 ** 31,
      maxComputeWorkgroupStorageSize: 49152,
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupsPerDimension: 65535,
      maxStorageBuffersPerShaderStage: 16,
    },
  },
  reason: undefined,
};
const hwKind = { software: false, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupStorageSize: 49152 };
const swKind = { ...hwKind, software: true };

const mm4096: OpDesc = { op: 'matmul', m: 4096, n: 4096, k: 4096 };
const prefill: OpDesc = { op: 'attention', batch: 1, hq: 32, hkv: 32, sq: 2048, skv: 2048, d: 128, dv: 128, causal: true, dtype: 'f16' };

describe('config selection by adapter kind (fake adapter infos)', () => {
  it('loop budget: llvmpipe keeps 32768, hardware adapters a much larger one; the variable overrides both', () => {
    expect(loopBudget(undefined, true)).toBe(DEFAULT_LOOP_BUDGET);
    expect(loopBudget(undefined, false)).toBe(HARDWARE_LOOP_BUDGET);
    expect(loopBudget('64', false)).toBe(64);
    expect(loopBudget('1000000', true)).toBe(1000000);
    expect(loopBudget(String(2 ** 24), false)).toBe(2 ** 24);
    expect(() => loopBudget(String(2 ** 25), false)).toThrow(/KERNELPORT_WEBGPU_LOOP_BUDGET must be an integer in \[64, 16777216\]/);
    // what the hardware budget leaves in one dispatch: the shapes and far beyond
    expect(keysPerDispatchTiled(HARDWARE_LOOP_BUDGET, 128, 128, { BQ: 32, BK: 16, NT: 4 })).toBeGreaterThan(32768);
    expect(kPerDispatch(HARDWARE_LOOP_BUDGET, WIDE_TILES)).toBeGreaterThan(131072);
  });

  it('kernel set: portable on software adapters, wide on hardware ones; KERNELPORT_WEBGPU_KERNELS overrides', () => {
    expect(kernelSet(undefined, true)).toBe('portable');
    expect(kernelSet('auto', false)).toBe('wide');
    expect(kernelSet('portable', false)).toBe('portable');
    expect(kernelSet('wide', true)).toBe('wide');
    expect(() => kernelSet('fast', true)).toThrow(/KERNELPORT_WEBGPU_KERNELS must be auto, portable or wide/);
    // explain follows what adapterInfo recorded
    const portableH100 = { ...h100, features: { ...h100.features, kernelSet: 'portable' } } as DeviceInfo;
    expect(variantOf(portableH100, mm4096).variant).toBe('wgsl-matmul-tiled-4x4');
    expect(variantOf(portableH100, prefill).variant).toBe('wgsl-flash-attention+packed16');
    const wideLlvmpipe = { ...llvmpipe, features: { ...llvmpipe.features, kernelSet: 'wide' } } as DeviceInfo;
    expect(variantOf(wideLlvmpipe, mm4096).variant).toBe('wgsl-matmul-vec4-8x8');
  });

  it('matmul: software adapters keep the 4x4 tiles, hardware ones get 128x128 tiles of 8x8 (vec4)', () => {
    expect(defaultMatmulTiles(swKind)).toEqual({ TM: 4, TN: 4, WGX: 16, WGY: 16, BK: 16 });
    expect(defaultMatmulTiles(hwKind)).toEqual(WIDE_TILES);
    expect(WIDE_TILES).toMatchObject({ TM: 8, TN: 8, WGX: 16, WGY: 16, VEC: 1 });
    // too little workgroup memory or too few invocations: the portable tiles
    expect(defaultMatmulTiles({ ...hwKind, maxComputeWorkgroupStorageSize: 8192 }).VEC).toBeUndefined();
    expect(defaultMatmulTiles({ ...hwKind, maxComputeInvocationsPerWorkgroup: 128 })).toEqual({ TM: 4, TN: 4, WGX: 16, WGY: 8, BK: 16 });
  });

  it('attention: the tiled prefill kernel on hardware only, not for split-KV decode; a forced config wins', () => {
    expect(defaultTiledAttention(swKind, 128, 128, false)).toBeUndefined();
    expect(defaultTiledAttention(hwKind, 128, 128, true)).toBeUndefined();
    expect(defaultTiledAttention(hwKind, 128, 128, false)).toEqual({ BQ: 32, BK: 16, NT: 4 });
    expect(defaultTiledAttention(hwKind, 64, 64, false)).toEqual({ BQ: 32, BK: 32, NT: 4 });
    const hw = { portable: false, limits: { ...(h100.features.limits as never), maxStorageBufferBindingSize: 1 } } as never;
    const sw = { portable: true, limits: llvmpipe.features.limits as never } as never;
    const plan = { sq: 2048, skv: 2048, d: 128, dv: 128 };
    expect(tiledAttentionConfig(hw, plan)).toEqual({ BQ: 32, BK: 16, NT: 4 });
    expect(tiledAttentionConfig(sw, plan)).toBeUndefined();
    expect(tiledAttentionConfig(sw, plan, { BQ: 16, BK: 8, NT: 2 })).toEqual({ BQ: 16, BK: 8, NT: 2 });
    expect(tiledAttentionConfig(hw, plan, { BQ: 32, BK: 32 }), 'a portable config forces the portable kernel').toBeUndefined();
    expect(tiledAttentionConfig(hw, { ...plan, sq: 1 }), 'decode').toBeUndefined();
    expect(() => tiledAttentionConfig(sw, plan, { BQ: 16, BK: 6, NT: 4 })).toThrow(/multiple of NT/);
    expect(() => tiledAttentionConfig(sw, plan, { BQ: 64, BK: 32, NT: 4 })).toThrow(/needs 256 invocations and \d+ bytes of workgroup memory at D=128 Dv=128; this adapter allows 1024 and 32768/);
  });

  it('explain names the chosen configs: hardware wide tiles and tiled attention in one dispatch; llvmpipe the portable ones', () => {
    const hm = variantOf(h100, mm4096);
    expect(hm.variant).toBe('wgsl-matmul-vec4-8x8');
    expect(hm.tileConfig).toMatchObject({ TM: 8, TN: 8, WGX: 16, WGY: 16, BK: 16, VEC: 1, K_CHUNKS: 1 });
    const sm = variantOf(llvmpipe, mm4096);
    expect(sm.variant).toBe('wgsl-matmul-tiled-4x4');
    expect(sm.tileConfig).toMatchObject({ TM: 4, TN: 4, WGX: 16, WGY: 16, BK: 16 });

    const ha = variantOf(h100, prefill);
    expect(ha.variant).toBe('wgsl-flash-attention-tiled+packed16');
    expect(ha.tileConfig).toMatchObject({ BQ: 32, BK: 16, NT: 4, KEY_CHUNKS: 1 });
    expect(ha.why).toMatch(/32 query rows x 4 invocations/);
    const sa = variantOf(llvmpipe, prefill);
    expect(sa.variant).toMatch(/^wgsl-flash-attention\+packed16\+key-chunks$/);
    expect(sa.tileConfig!.NT).toBeUndefined();
    // decode stays split-KV on both
    expect(variantOf(h100, { ...prefill, sq: 1 }).variant).toMatch(/^wgsl-flash-decoding-split-kv/);
    const x = explain(h100, 'matmul', { m: 4096, n: 4096, k: 4096 });
    expect(x.variant).toBe('wgsl-matmul-vec4-8x8');
    expect(x.why).toMatch(/128x128/);
  });

  it('autotune candidates: the hardware default first, the portable tiles among them; llvmpipe unchanged', () => {
    const hm = tuneCandidates(h100, 1, classBounds(mm4096))!;
    expect(hm.default).toEqual(WIDE_TILES);
    expect(hm.all[0]).toEqual(WIDE_TILES);
    expect(hm.all.some((c) => c.VEC === undefined && c.TM === 4)).toBe(true);
    expect(hm.all.filter((c) => c.VEC === 1).length).toBeGreaterThan(2);
    for (const c of hm.quick) expect(hm.all).toContainEqual(c);
    const sm = tuneCandidates(llvmpipe, 1, classBounds(mm4096))!;
    expect(sm.default).toEqual({ TM: 4, TN: 4, WGX: 16, WGY: 16, BK: 16 });
    expect(sm.all.every((c) => c.VEC === undefined)).toBe(true);

    const ha = tuneCandidates(h100, 1, classBounds(prefill))!;
    expect(ha.default).toEqual({ BQ: 32, BK: 16, NT: 4 });
    expect(ha.all.some((c) => c.NT === undefined)).toBe(true);
    for (const c of ha.all.filter((c) => c.NT !== undefined)) expect(c.BK! % c.NT!).toBe(0);
    const sa = tuneCandidates(llvmpipe, 1, classBounds(prefill))!;
    expect(sa.all.every((c) => c.NT === undefined)).toBe(true);
    // decode: no tiled candidates
    expect(tuneCandidates(h100, 1, classBounds({ ...prefill, sq: 1 }))!.all.every((c) => c.NT === undefined)).toBe(true);
  });
});

const info: DeviceInfo = (await probe()).find((d) => d.backend === 'webgpu')!;
if (!info.available) console.log(`test/webgpu-hardware.test.ts: the kernel runs are skipped, the webgpu backend is unavailable: ${info.reason}`);

/** The hardware candidates, limited to what this adapter accepts (llvmpipe: 32 KiB of workgroup memory, compatibility mode). */
function hardwareCandidates(desc: OpDesc): KernelConfig[] {
  const here = { ...h100, features: { ...h100.features, featureLevel: info.features.featureLevel, limits: info.features.limits } } as DeviceInfo;
  return tuneCandidates(here, 1, classBounds(desc))!.all.filter((c) => c.VEC === 1 || c.NT !== undefined);
}

const same = (a: Float64Array, b: Float64Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

describe.skipIf(!info.available)('hardware kernels forced on this adapter, against the reference', () => {
  let dev: Device;
  let budget: Device;
  let budgetBe: WebGpuDevice;
  beforeAll(async () => {
    dev = new Device(await WebGpuDevice.create(info));
    process.env.KERNELPORT_WEBGPU_LOOP_BUDGET = '64';
    try {
      budgetBe = await WebGpuDevice.create(info);
      budget = new Device(budgetBe);
    } finally {
      delete process.env.KERNELPORT_WEBGPU_LOOP_BUDGET;
    }
  });
  afterAll(() => {
    dev?.dispose();
    budget?.dispose();
  });

  it('matmul_vec4: every hardware candidate; batch, bias, gelu, broadcast residual; bf16 transA + transB; f16 out', async () => {
    const rng = new Rng(71);
    const cases: [MatmulInputs, MatmulCaseOptions][] = [
      [{ a: randomTensor(rng, [2, 130, 257]), b: randomTensor(rng, [257, 70]), bias: randomTensor(rng, [70]), residual: randomTensor(rng, [70]) }, { activation: 'gelu' }],
      [{ a: randomTensor(rng, [67, 37], 'bf16'), b: randomTensor(rng, [45, 67], 'bf16') }, { transA: true, transB: true, outDtype: 'f32' }],
      [{ a: randomTensor(rng, [3, 1, 33, 21], 'f16'), b: randomTensor(rng, [1, 2, 150, 21], 'f16') }, { transB: true }],
      [{ a: randomTensor(rng, [19, 140]), b: randomTensor(rng, [19, 9]) }, { transA: true, activation: 'relu', alpha: 0.5 }],
    ];
    const expected = cases.map(([x, o]) => expectMatmul(x, o));
    const all = hardwareCandidates({ op: 'matmul', m: 130, n: 150, k: 257, batch: 6 });
    expect(all.length).toBeGreaterThan(2);
    for (const cfg of all)
      for (const [n, [x, o]] of cases.entries()) {
        const j = await dev.withKernelConfig(cfg, () => judgeMatmul(dev, x, o, expected[n]));
        expect(j.out.pass, `${configLabel(cfg)} case ${n}: ${describeReport(j.out, 'out')}`).toBe(true);
      }
  }, 600_000);

  it('matmul_vec4: long K in one dispatch is not cut short by llvmpipe; K chunks are bitwise equal to one pass; repeated runs identical', async () => {
    const rng = new Rng(72);
    const x: MatmulInputs = { a: randomTensor(rng, [9, 9990]), b: randomTensor(rng, [9990, 20]), bias: randomTensor(rng, [20]) };
    const o: MatmulCaseOptions = { activation: 'silu' };
    const e = expectMatmul(x, o);
    expect(kPerDispatch(DEFAULT_LOOP_BUDGET, WIDE_TILES), 'one dispatch at the llvmpipe budget').toBeGreaterThan(9990);
    const one = await dev.withKernelConfig(WIDE_TILES, () => judgeMatmul(dev, x, o, e));
    expect(one.out.pass, describeReport(one.out, 'out')).toBe(true);
    const again = await dev.withKernelConfig(WIDE_TILES, () => judgeMatmul(dev, x, o, e));
    expect(same(one.got, again.got)).toBe(true);
    const before = budgetBe.stats().dispatches;
    const chunked = await budget.withKernelConfig(WIDE_TILES, () => judgeMatmul(budget, x, o, e));
    expect(budgetBe.stats().dispatches - before, 'K chunks').toBeGreaterThan(2);
    expect(same(one.got, chunked.got), 'bitwise equal to one dispatch').toBe(true);
  }, 300_000);

  const cases: Case[] = [
    { name: 'Sq=13 Skv=29 D=24 Dv=40', sq: 13, skv: 29, d: 24, dv: 40 },
    { name: 'Sq=70 Skv=300 D=64 causal, GQA 4:2, kvLengths', b: 2, hq: 4, hkv: 2, sq: 70, skv: 300, d: 64, dv: 64, options: { causal: true, kvLengths: [300, 211] } },
    { name: 'D=128 Dv=80, MQA', b: 1, hq: 2, hkv: 1, sq: 33, skv: 130, d: 128, dv: 80 },
    { name: 'D=1 Dv=1', sq: 7, skv: 9, d: 1, dv: 1 },
    { name: 'D=7 Dv=5 (not multiples of 4), bf16 out', b: 1, hq: 1, sq: 3, skv: 5, d: 7, dv: 5, options: { outDtype: 'bf16' } },
    { name: 'Sq > Skv bottom-right: first rows fully masked', sq: 29, skv: 13, options: { causal: true } },
    { name: "top-left causal, 'bshd', GQA 8:2", hq: 8, hkv: 2, sq: 17, skv: 9, layout: 'bshd', options: { causal: 'top-left' } },
    { name: 'kvLengths [0, 29, 7] causal', b: 3, sq: 13, skv: 29, options: { kvLengths: [0, 29, 7], causal: true } },
    { name: 'mask [B,1,Sq,Skv] with -Inf, kvLengths', sq: 13, skv: 29, mask: [2, 1, 13, 29], maskNegInf: 0.3, options: { kvLengths: [29, 16] } },
    { name: 'mask [1,Hq,1,Skv] 90% -Inf', hq: 4, hkv: 2, sq: 13, skv: 29, mask: [1, 4, 1, 29], maskNegInf: 0.9 },
    { name: 'huge scores (q x 1000)', sq: 13, skv: 129, qScale: 1000 },
    { name: 'f16 in, f16 out, causal', sq: 40, skv: 70, dtype: 'f16', qScale: 100, options: { causal: true } },
    { name: 'bf16 in, f32 out, GQA', hq: 4, hkv: 2, sq: 13, skv: 29, dtype: 'bf16', options: { outDtype: 'f32' } },
    { name: 'Skv = 0', sq: 3, skv: 0, d: 8, dv: 12 },
    { name: 'Dv = 0 (lse only)', sq: 3, skv: 5, d: 8, dv: 0 },
    { name: 'D = 0 (uniform weights)', sq: 3, skv: 5, d: 0, dv: 4 },
  ];

  it('attention_tiled: every hardware candidate on a causal GQA prefill', async () => {
    const c = cases[1]!;
    const x = inputs(c, 81);
    const o = options(c);
    const e = expectAttention(x, o);
    const desc: OpDesc = { op: 'attention', batch: c.b, hq: c.hq!, hkv: c.hkv, sq: c.sq, skv: c.skv, d: c.d!, dv: c.dv, causal: true };
    const all = hardwareCandidates(desc);
    expect(all.length).toBeGreaterThan(2);
    for (const cfg of all) {
      const j = await dev.withKernelConfig(cfg, () => judgeAttention(dev, x, o, e));
      expect(j.out.pass, `${configLabel(cfg)} ${describeReport(j.out, 'out')}`).toBe(true);
      expect(j.lse!.pass, `${configLabel(cfg)} ${describeReport(j.lse, 'lse')}`).toBe(true);
    }
  }, 600_000);

  // BK 8 keeps D = 128 within llvmpipe's 32 KiB of workgroup memory.
  const FORCED = { BQ: 32, BK: 8, NT: 4 };
  it.each(cases.map((c, i) => [c.name, c, i] as const))(`attention_tiled ${configLabel(FORCED)}: %s; key chunks bitwise equal`, async (_n, c, i) => {
    const x = inputs(c, 300 + i);
    const o = options(c);
    const e = expectAttention(x, o);
    const j = await dev.withKernelConfig(FORCED, () => judgeAttention(dev, x, o, e));
    expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
    expect(j.lse!.pass, describeReport(j.lse, 'lse')).toBe(true);
    const before = budgetBe.stats().dispatches;
    const chunked = await budget.withKernelConfig(FORCED, () => judgeAttention(budget, x, o, e));
    if (c.skv > 16 && c.d !== 0) expect(budgetBe.stats().dispatches - before, 'key chunks').toBeGreaterThan(1);
    expect(same(j.got, chunked.got), 'bitwise equal to one dispatch').toBe(true);
  }, 300_000);

  it('attention_tiled: a long Skv at the llvmpipe budget runs in key chunks (not cut short), matching the reference', async () => {
    const c: Case = { name: 'long', b: 1, hq: 2, sq: 20, skv: 5000, d: 128, dv: 64, options: { causal: true } };
    const kc = keysPerDispatchTiled(DEFAULT_LOOP_BUDGET, 128, 64, FORCED);
    expect(Math.ceil(5000 / kc), 'key chunks').toBeGreaterThan(1);
    const x = inputs(c, 90);
    const o = options(c);
    const j = await dev.withKernelConfig(FORCED, () => judgeAttention(dev, x, o));
    expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
    expect(j.lse!.pass, describeReport(j.lse, 'lse')).toBe(true);
  }, 300_000);

  it('KERNELPORT_WEBGPU_KERNELS=wide: this adapter runs the wide kernels by default, and they pass; unset: the portable ones', async () => {
    process.env.KERNELPORT_WEBGPU_KERNELS = 'wide';
    let be: WebGpuDevice;
    try {
      be = await WebGpuDevice.create(info);
    } finally {
      delete process.env.KERNELPORT_WEBGPU_KERNELS;
    }
    const wide = new Device(be);
    try {
      const rng = new Rng(77);
      const x: MatmulInputs = { a: randomTensor(rng, [40, 70]), b: randomTensor(rng, [70, 33]) };
      const j = await judgeMatmul(wide, x, {});
      expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
      const c = cases[1]!;
      const ja = await judgeAttention(wide, inputs(c, 78), options(c));
      expect(ja.out.pass, describeReport(ja.out, 'out')).toBe(true);
      expect(be.stats().kernels.sort()).toEqual(['attention_tiled', 'matmul_vec4']);
    } finally {
      wide.dispose();
    }
    const plain = await WebGpuDevice.create(info);
    const p = new Device(plain);
    try {
      const rng = new Rng(79);
      await judgeMatmul(p, { a: randomTensor(rng, [40, 70]), b: randomTensor(rng, [70, 33]) }, {});
      const c = cases[0]!;
      await judgeAttention(p, inputs(c, 80), options(c));
      expect(plain.stats().kernels.sort()).toEqual(['attention', 'matmul']);
    } finally {
      p.dispose();
    }
  }, 300_000);

  it('a forced config reaches the kernels (their own checks answer)', () => {
    const t = (shape: number[]) => dev.tensor(new Float32Array(shape.reduce((p, e) => p * e, 1)), shape);
    const a = t([8, 8]);
    const q = t([1, 1, 16, 8]);
    expect(() => dev.withKernelConfig({ TM: 6, TN: 8, WGX: 16, WGY: 16, BK: 16, VEC: 1 }, () => dev.matmul(a, a))).toThrow(/VEC=1 needs TM and TN multiples of 4/);
    expect(() => dev.withKernelConfig({ BQ: 32, BK: 6, NT: 4 }, () => dev.attention(q, q, q))).toThrow(/multiple of NT/);
    for (const x of [a, q]) x.dispose();
  });

  it('attention_tiled: -Inf masked keys and keys beyond kvLengths are never read; NaN in q makes its row NaN', async () => {
    const skv = 11;
    const rng = new Rng(31);
    const { x, kvLengths } = nanBehindMaskAndLength(skv, rng); // y below continues rng's sequence
    const j = await dev.withKernelConfig(FORCED, () => judgeAttention(dev, x, { kvLengths }));
    expect(j.out.pass, describeReport(j.out, 'out')).toBe(true);
    expect(j.got.every(Number.isFinite)).toBe(true);

    const y: AttentionInputs = { q: randomTensor(rng, [1, 2, 3, 8]), k: randomTensor(rng, [1, 2, skv, 8]), v: randomTensor(rng, [1, 2, skv, 4]) };
    const q = decode(y.q.data, 'f32');
    q[1 * 8 + 2] = NaN;
    y.q = { ...y.q, data: encode(q, 'f32') };
    const jn = await dev.withKernelConfig(FORCED, () => judgeAttention(dev, y, {}));
    for (let row = 0; row < 6; row++) {
      const vals = Array.from(jn.got.subarray(row * 4, row * 4 + 4));
      expect(vals.every(row === 1 ? Number.isNaN : Number.isFinite), `row ${row}: ${vals}`).toBe(true);
    }
  });
});
