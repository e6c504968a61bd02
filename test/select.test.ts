// Selection: the ranking function on recorded probe data, open() policies, selectors, fallback, supports/explain.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { open, probe } from '../src/index.js';
import { explain, supports } from '../src/select/explain.js';
import { parseSelector, rankDevices, type OpDesc } from '../src/select/rank.js';
import type { DeviceInfo } from '../src/types.js';

const fixture = (n: string): DeviceInfo[] => JSON.parse(readFileSync(new URL(`./fixtures/probe/${n}.json`, import.meta.url), 'utf8')) as DeviceInfo[];
const here = fixture('this-machine');
const [h20a, h20b] = fixture('h20x2') as [DeviceInfo, DeviceInfo];
const [l20] = fixture('l20') as [DeviceInfo];
const [d4090] = fixture('rtx4090d') as [DeviceInfo];
const [s4000] = fixture('mtt-s4000') as [DeviceInfo];
const cpu = here.find((d) => d.backend === 'cpu')!;
const llvmpipe = here.find((d) => d.backend === 'webgpu')!;
const decode: OpDesc[] = [{ op: 'matmul', m: 1, n: 4096, k: 4096, dtype: 'f16' }];
const f16mm: OpDesc[] = [{ op: 'matmul', m: 4096, n: 4096, k: 4096, dtype: 'f16' }];

describe('rankDevices on recorded probe data', () => {
  it('this machine: cpu first, the software adapter below it, reference and unavailable backends excluded', () => {
    const r = rankDevices(here);
    expect(r.ranked.map((c) => c.selector)).toEqual(['cpu:0', 'webgpu:0']);
    expect(r.ranked[1]!.estimates[0]!.peaks.notes.join()).toMatch(/software adapter/);
    expect(r.excluded.find((x) => x.selector === 'reference:0')!.reason).toMatch(/never chosen automatically/);
    expect(r.excluded.find((x) => x.selector === 'cuda:0')!.reason).toMatch(/unavailable: libcuda/);
    // prefer-gpu does not count a software adapter as a GPU
    expect(rankDevices(here, { policy: 'prefer-gpu' }).ranked[0]!.selector).toBe('cpu:0');
  });

  it('a real GPU machine (probe captured on an H100): cuda first for every op, the emulated musa device never, webgpu Vulkan below cuda', () => {
    const h100 = fixture('h100-captured');
    const cuda = h100.find((d) => d.backend === 'cuda')!;
    expect(cuda).toMatchObject({ name: 'NVIDIA H100 80GB HBM3', architecture: 'sm_90', computeUnits: 132, available: true });
    expect(cuda.gpu).toMatchObject({ part: 'H100 SXM', estimate: false, computeCapability: '9.0' });
    for (const ops of [undefined, f16mm, decode]) {
      const r = rankDevices(h100, ops ? { ops } : {});
      expect(r.ranked[0]!.selector).toBe('cuda:0');
      expect(r.ranked.map((c) => c.selector)).not.toContain('musa:0');
      expect(r.ranked.map((c) => c.selector)).toContain('webgpu:0');
    }
    expect(rankDevices(h100).excluded.find((x) => x.selector === 'musa:0')!.reason).toMatch(/emulated musa device .* never chosen automatically/);
    expect(rankDevices(h100, { policy: 'prefer-cpu' }).ranked[0]!.selector).toBe('cpu:0');
  });

  it('GPU machines: roofline picks by op, never the cpu for big work', () => {
    const all = [cpu, h20a, h20b, l20, d4090, s4000];
    // f32 2048³: SIMT-bound; the 4090D has the highest f32 rate
    expect(rankDevices(all).ranked[0]!.info.name).toMatch(/4090 D/);
    // f16 GEMM: H20's 148 TFLOP/s dense tensor rate edges the 4090D's 147 (f32 accumulate)
    expect(rankDevices(all, { ops: f16mm }).ranked[0]!.selector).toBe('cuda:0');
    // decode GEMV is bandwidth-bound: H20's 4 TB/s wins, and the estimate says so
    const dec = rankDevices(all, { ops: decode });
    expect(dec.ranked[0]!.info.name).toBe('NVIDIA H20');
    expect(dec.ranked[0]!.estimates[0]!.bound).toBe('bandwidth');
    expect(dec.ranked.at(-1)!.selector).toBe('cpu:0');
    // equal devices: the lower index first
    expect(rankDevices([h20b, h20a]).ranked.map((c) => c.selector)).toEqual(['cuda:0', 'cuda:1']);
  });

  it('policies, prefer lists and requirements', () => {
    const all = [cpu, l20, s4000, ...here.filter((d) => d.backend === 'reference')];
    expect(rankDevices(all, { policy: 'prefer-cpu' }).ranked[0]!.selector).toBe('cpu:0');
    expect(rankDevices(all, { policy: 'prefer-gpu' }).ranked[0]!.selector).toBe('cuda:0');
    const pref = rankDevices(all, { prefer: ['musa', 'cpu'] });
    expect(pref.ranked.map((c) => c.selector)).toEqual(['musa:0', 'cpu:0', 'cuda:0']);
    expect(pref.ranked[0]!.why).toMatch(/prefer\[0\] = 'musa'/);
    // reference only when named
    expect(rankDevices(all, { prefer: ['reference'] }).ranked[0]!.selector).toBe('reference:0');
    // require
    const noBf16 = { ...s4000, features: { ...s4000.features, dtypes: ['f32', 'f16'] } } as DeviceInfo;
    const r = rankDevices([noBf16, cpu], { require: { dtype: 'bf16' } });
    expect(r.ranked.map((c) => c.selector)).toEqual(['cpu:0']);
    expect(r.excluded[0]!.reason).toMatch(/lacks dtype bf16/);
    const noAttn = { ...l20, variants: ['gemm-simt'] } as DeviceInfo;
    expect(rankDevices([noAttn, cpu], { require: { ops: ['attention'] } }).excluded[0]!.reason).toMatch(/no kernel for attention/);
    expect(() => rankDevices(all, { policy: 'fastest' as never })).toThrow(/policy must be/);
    expect(() => rankDevices(all, { prefer: ['cuda#1'] })).toThrow(/prefer entries/);
  });

  it('measured peaks replace the estimate for cpu', () => {
    const base = rankDevices([cpu]).ranked[0]!;
    const slow = rankDevices([cpu], { measured: () => ({ flops: 1e9, bandwidth: 1e9 }) }).ranked[0]!;
    expect(slow.estimates[0]!.peaks.flopsSource).toBe('measured');
    expect(slow.estimateMs).toBeGreaterThan(base.estimateMs * 10);
  });

  it('parses selectors', () => {
    expect(parseSelector('cuda:1')).toEqual({ backend: 'cuda', index: 1 });
    expect(parseSelector('webgpu')).toEqual({ backend: 'webgpu', index: undefined });
    expect(parseSelector('cuda:x')).toBeUndefined();
  });
});

describe('supports / explain on recorded devices', () => {
  it('webgpu: shape limits from the adapter', () => {
    const lim = (llvmpipe.features.limits as Record<string, number>).maxStorageBufferBindingSize!;
    // A larger than one binding: split over M rows (explain names it)
    const rows = { m: 65536, n: 8, k: Math.ceil(lim / 4 / 65536) + 1 };
    expect(supports(llvmpipe, 'matmul', rows).ok).toBe(true);
    expect(explain(llvmpipe, 'matmul', rows).variant).toBe('wgsl-matmul-tiled-4x4+binding-split');
    // B [K, N] larger than one binding cannot be split (a column of B is strided over all of it)
    const big = supports(llvmpipe, 'matmul', { m: 8, n: 65536, k: Math.ceil(lim / 4 / 65536) + 1 });
    expect(big.ok).toBe(false);
    expect(big.reason).toMatch(/b \(\[K, N\].*transB splits over N.*maxStorageBufferBindingSize/);
    expect(supports(llvmpipe, 'matmul', { m: 8, n: 65536, k: Math.ceil(lim / 4 / 65536) + 1, transB: true }).ok).toBe(true);
    expect(supports(llvmpipe, 'matmul', { m: 64, n: 64, k: 64, dtype: 'bf16' }).ok).toBe(true);
    expect(supports(here.find((d) => d.backend === 'cuda')!, 'matmul', { m: 1, n: 1, k: 1 }).reason).toMatch(/unavailable/);
    const noF16 = { ...cpu, features: { ...cpu.features, dtypes: ['f32'] } } as DeviceInfo;
    expect(supports(noF16, 'attention', { hq: 8, sq: 4, skv: 4, d: 64, dtype: 'f16' }).reason).toMatch(/no f16 support/);
    expect(supports(cpu, 'attention', { hq: 8, hkv: 3, sq: 4, skv: 4, d: 64 }).reason).toMatch(/Hq % Hkv/);
    expect(() => supports(cpu, 'matmul', { m: 1, n: 1 })).toThrow(/desc.k/);
  });

  it('explain and supports refuse sizes no op could have', () => {
    expect(() => explain(cpu, 'attention', { batch: -1, hq: 32, sq: 1, skv: 1024, d: 128 })).toThrow(/desc.batch must be a non-negative integer, got -1/);
    expect(() => supports(cpu, 'attention', { hq: 32, hkv: 0, sq: 1, skv: 1024, d: 128 })).toThrow(/desc.hkv must be at least 1/);
    expect(() => explain(cpu, 'matmul', { m: 1, n: 2, k: 3, batch: 1.5 })).toThrow(/desc.batch/);
  });

  it('explain names variant, tiles, estimate and bound', () => {
    const gemv = explain(llvmpipe, 'matmul', { m: 1, n: 4096, k: 4096 });
    expect(gemv.variant).toBe('wgsl-gemv');
    expect(gemv.bound).toBe('bandwidth');
    const tiled = explain(llvmpipe, 'matmul', { m: 512, n: 512, k: 512 }, undefined, cpu);
    expect(tiled.variant).toBe('wgsl-matmul-tiled-4x4');
    expect(tiled.tileConfig).toMatchObject({ TM: 4, TN: 4, WGX: 16 });
    // D = Dv = 128: a 256-key split is more loop work than one invocation may do (loops.ts)
    expect(explain(llvmpipe, 'attention', { hq: 8, sq: 1, skv: 4096, d: 128 }).variant).toBe('wgsl-flash-decoding-split-kv+key-chunks');
    expect(explain(llvmpipe, 'attention', { hq: 8, sq: 1, skv: 4096, d: 32 }).variant).toBe('wgsl-flash-decoding-split-kv');
    expect(explain(llvmpipe, 'attention', { hq: 8, sq: 512, skv: 512, d: 64, dtype: 'bf16' }).variant).toBe('wgsl-flash-attention+packed16+key-chunks');
    expect(explain(llvmpipe, 'matmul', { m: 2, n: 8, k: 2_000_000 }).variant).toBe('wgsl-matmul-tiled-4x4+k-chunks');
    // an adapter whose kernels use subgroups (SwiftShader in Chromium): the GEMV reduction says so
    const withSg = { ...llvmpipe, features: { ...llvmpipe.features, subgroups: true, kernelFeatures: ['subgroups'] } } as DeviceInfo;
    expect(explain(withSg, 'matmul', { m: 1, n: 4096, k: 4096, dtype: 'f16' }).variant).toBe('wgsl-gemv+subgroups+packed16');
    const off = { ...withSg, features: { ...withSg.features, kernelFeatures: [] } } as DeviceInfo;
    expect(explain(off, 'matmul', { m: 1, n: 4096, k: 4096 }).variant).toBe('wgsl-gemv');
    const fa = explain(cpu, 'attention', { hq: 8, hkv: 2, sq: 512, skv: 512, d: 64, causal: true });
    expect(fa.variant).toBe(`flash-attention-${cpu.cpu!.isa}`);
    expect(fa.estimateMs).toBeGreaterThan(0);
    expect(explain(cpu, 'matmul', { m: 2048, n: 2048, k: 2048 }).bound).toBe('compute');
    expect(explain(d4090, 'matmul', { m: 2048, n: 2048, k: 2048, dtype: 'f16' }).variant).toBe('gemm-mma-f16');
    // sm_90 (H20, 78 SMs): the wgmma + TMA GEMM from a quarter of a 128x128 tile per SM, in 2-block
    // clusters where 128x256 tiles fill the SMs (2048^2: 128 of them), alone on 128-wide tiles where they
    // do not; below, the SIMT tiles
    expect(explain(h20a, 'matmul', { m: 2048, n: 2048, k: 2048, dtype: 'bf16' }).variant).toBe('gemm-wgmma-cluster2-bf16');
    expect(explain(h20a, 'matmul', { m: 1024, n: 1024, k: 2048, dtype: 'bf16' }).variant).toBe('gemm-wgmma-bf16'); // 32 tiles 256 wide: 128-wide ones
    expect(explain(h20a, 'matmul', { m: 256, n: 1024, k: 64, batch: 24, dtype: 'bf16' }).variant).toBe('gemm-wgmma-cluster2-bf16'); // 2 x 4 x 24 tiles
    expect(explain(h20a, 'matmul', { m: 512, n: 512, k: 4096, dtype: 'f16' }).variant).toBe('gemm-simt');
    // Split-K only when asked (slower where measured): 512x4096x4096 (the fused MLP case) on an H100 takes
    // 128-wide tiles; KERNELPORT_GPU_GEMM_SPLITK=2 splits K in 2 (tiles 256 wide, so paired).
    const h100 = { ...h20a, computeUnits: 132 } as DeviceInfo;
    expect(explain(h100, 'matmul', { m: 512, n: 4096, k: 4096, dtype: 'bf16' }).variant).toBe('gemm-wgmma-bf16');
    try {
      process.env.KERNELPORT_GPU_GEMM_SPLITK = '2';
      const fused = explain(h100, 'matmul', { m: 512, n: 4096, k: 4096, dtype: 'bf16' });
      expect(fused.variant).toBe('gemm-wgmma-cluster2-splitk-bf16');
      expect(fused.why).toMatch(/K split 2 ways \(KERNELPORT_GPU_GEMM_SPLITK; 64 tiles of 128 x 256 for 132 multiprocessors/);
      expect(explain(h100, 'matmul', { m: 256, n: 4096, k: 4096, batch: 2, dtype: 'f16' }).variant).toBe('gemm-wgmma-f16'); // batched: never
      expect(explain(h100, 'matmul', { m: 512, n: 4096, k: 64, dtype: 'f16' }).variant).toBe('gemm-wgmma-f16'); // one K tile: nothing to split
    } finally {
      delete process.env.KERNELPORT_GPU_GEMM_SPLITK;
    }
    try {
      process.env.KERNELPORT_GPU_GEMM = 'mma';
      expect(explain(h20a, 'matmul', { m: 2048, n: 2048, k: 2048, dtype: 'bf16' }).variant).toBe('gemm-mma-bf16');
      expect(explain(h20a, 'matmul', { m: 512, n: 512, k: 4096, dtype: 'f16' }).variant).toBe('gemm-mma-f16');
      process.env.KERNELPORT_GPU_GEMM = 'wgmma';
      // forced however small; split when asked
      expect(explain(h20a, 'matmul', { m: 512, n: 512, k: 4096, dtype: 'f16' }).variant).toBe('gemm-wgmma-f16');
      process.env.KERNELPORT_GPU_GEMM_SPLITK = '4';
      expect(explain(h20a, 'matmul', { m: 512, n: 512, k: 4096, dtype: 'f16' }).variant).toBe('gemm-wgmma-splitk-f16');
      delete process.env.KERNELPORT_GPU_GEMM_SPLITK;
      expect(explain(h20a, 'matmul', { m: 2048, n: 2048, k: 2048, dtype: 'bf16' }).variant).toBe('gemm-wgmma-bf16'); // forced: no clusters
      process.env.KERNELPORT_GPU_GEMM = 'wgmma-cluster';
      expect(explain(h20a, 'matmul', { m: 512, n: 4096, k: 4096, dtype: 'bf16' }).variant).toBe('gemm-wgmma-cluster2-bf16');
      process.env.KERNELPORT_GPU_GEMM = 'wgmma-cluster2x2';
      expect(explain(h20a, 'matmul', { m: 512, n: 4096, k: 4096, dtype: 'bf16' }).variant).toBe('gemm-wgmma-cluster2x2-bf16');
      expect(explain(h20a, 'matmul', { m: 64, n: 64, k: 64, dtype: 'f16' }).variant).toBe('gemm-wgmma-cluster2x2-f16'); // forced: however small
      expect(explain(l20, 'matmul', { m: 2048, n: 2048, k: 2048, dtype: 'bf16' }).variant).toBe('gemm-mma-bf16'); // sm_89
    } finally {
      delete process.env.KERNELPORT_GPU_GEMM;
      delete process.env.KERNELPORT_GPU_GEMM_SPLITK;
    }
    // f32 stays on the SIMT GEMM unless TF32 is allowed; then the TF32 tensor-core rate is the roof
    const f32 = explain(h20a, 'matmul', { m: 4096, n: 4096, k: 4096 });
    const tf32 = explain(h20a, 'matmul', { m: 4096, n: 4096, k: 4096, allowTf32: true });
    expect(f32.variant).toBe('gemm-simt');
    expect(tf32.variant).toBe('gemm-mma-tf32');
    expect(tf32.why).toMatch(/TF32 tensor-core rate/);
    expect(tf32.estimateMs).toBeLessThan(f32.estimateMs);
    expect(explain(cpu, 'matmul', { m: 512, n: 512, k: 512, allowTf32: true }).variant).toBe(`gemm-blocked-${cpu.cpu!.isa}`);
    // N <= 4 with A as stored: the tall-skinny dot path; transposed A packs (kernels/cpu/gemm_skinny.h)
    expect(explain(cpu, 'matmul', { m: 4096, n: 3, k: 512 }).variant).toBe(`gemm-tall-skinny-${cpu.cpu!.isa}`);
    expect(explain(cpu, 'matmul', { m: 4096, n: 3, k: 512, transA: true }).variant).toBe(`gemm-blocked-${cpu.cpu!.isa}`);
    expect(explain(s4000, 'matmul', { m: 4096, n: 4096, k: 4096, dtype: 'f16' }).variant).toBe('gemm-simt'); // no mma.sync on MUSA
    // Attention on tensor cores where the plugin takes it (f16/bf16, D == Dv in {64, 80, 96, 128}, Sq >= 16);
    // elsewhere the portable kernels, at the f32 rate
    const prefill = { hq: 32, hkv: 8, sq: 2048, skv: 2048, d: 128, causal: true, dtype: 'bf16' } as const;
    // sm_90 (H20): the wgmma kernel for D = 128, mma.sync for the other head sizes; sm_89 (L20): mma.sync
    expect(explain(h20a, 'attention', prefill).variant).toBe('flash-attention-wgmma-m64n64k16');
    const faMma = explain(h20a, 'attention', { ...prefill, d: 64 });
    expect(faMma.variant).toBe('flash-attention-mma-m16n8k16');
    expect(explain(l20, 'attention', prefill).variant).toBe('flash-attention-mma-m16n8k16');
    // allowP16: the same kernel with P rounded once (half the P·V work); nothing changes off tensor cores
    expect(explain(h20a, 'attention', { ...prefill, allowP16: true }).variant).toBe('flash-attention-wgmma-m64n64k16-p16');
    expect(explain(l20, 'attention', { ...prefill, allowP16: true }).variant).toBe('flash-attention-mma-m16n8k16-p16');
    expect(explain(h20a, 'attention', { ...prefill, allowP16: true, d: 112 }).variant).toBe('flash-attention');
    expect(explain(h20a, 'attention', { ...prefill, d: 96 }).variant).toBe('flash-attention-mma-m16n8k16');
    // DeepSeek's MLA prefill (D = 192, Dv = 128): mma.sync where a block gets 92 KiB of shared memory
    // (the L20's 99 KiB: one V buffer); not below that
    expect(explain(h20a, 'attention', { ...prefill, d: 192, dv: 128 }).variant).toBe('flash-attention-mma-m16n8k16');
    expect(explain(l20, 'attention', { ...prefill, d: 192, dv: 128 }).variant).toBe('flash-attention-mma-m16n8k16');
    const l20Small = { ...l20, gpu: { ...l20.gpu!, sharedPerBlockOptin: 94207 } };
    expect(explain(l20Small, 'attention', { ...prefill, d: 192, dv: 128 }).variant).toBe('flash-attention');
    expect(explain(h20a, 'attention', { ...prefill, d: 192, dv: 192 }).variant).toBe('flash-attention');
    // An additive mask: the masked mma.sync kernels, on sm_90 too (the wgmma kernel takes none)
    expect(explain(h20a, 'attention', { ...prefill, mask: true }).variant).toBe('flash-attention-mma-m16n8k16-mask');
    expect(explain(l20, 'attention', { ...prefill, allowP16: true, mask: true }).variant).toBe('flash-attention-mma-m16n8k16-p16-mask');
    expect(explain(h20a, 'attention', { ...prefill, mask: true, d: 112 }).variant).toBe('flash-attention');
    const faSimt = explain(h20a, 'attention', { ...prefill, d: 112 });
    expect(faSimt.variant).toBe('flash-attention');
    expect(faSimt.why).toMatch(/portable SIMT attention: the f32 rate/);
    expect(explain(h20a, 'attention', { ...prefill, dtype: 'f32' }).variant).toBe('flash-attention');
    expect(explain(h20a, 'attention', { ...prefill, sq: 1 }).variant).toBe('flash-decoding-split-kv-vec');
    // KERNELPORT_GPU_ATTENTION mirrored as the plugin reads it: simt never takes tensor cores or the
    // decode kernel; mma takes tensor cores for decoding shapes too
    try {
      process.env.KERNELPORT_GPU_ATTENTION = 'simt';
      expect(explain(h20a, 'attention', prefill).variant).toBe('flash-attention');
      expect(explain(h20a, 'attention', { ...prefill, sq: 1 }).variant).not.toMatch(/mma|vec/);
      process.env.KERNELPORT_GPU_ATTENTION = 'mma';
      expect(explain(h20a, 'attention', prefill).variant).toBe('flash-attention-mma-m16n8k16'); // never wgmma
      expect(explain(h20a, 'attention', { ...prefill, sq: 1 }).variant).toBe('flash-attention-mma-m16n8k16');
      expect(explain(h20a, 'attention', { ...prefill, sq: 1, dtype: 'f32' }).variant).toBe('flash-decoding-split-kv-vec');
      // wgmma: the sm_90 kernel (H20), decoding shapes and D = 64 too; an sm_89 part (L20) as auto
      process.env.KERNELPORT_GPU_ATTENTION = 'wgmma';
      expect(explain(h20a, 'attention', { ...prefill, sq: 1 }).variant).toBe('flash-attention-wgmma-m64n64k16');
      expect(explain(h20a, 'attention', { ...prefill, d: 64 }).variant).toBe('flash-attention-wgmma-m64n64k16');
      expect(explain(h20a, 'attention', { ...prefill, allowP16: true }).variant).toBe('flash-attention-wgmma-m64n64k16-p16');
      expect(explain(h20a, 'attention', { ...prefill, d: 80 }).variant).toBe('flash-attention-mma-m16n8k16'); // wgmma: 64 and 128 only
      expect(explain(l20, 'attention', prefill).variant).toBe('flash-attention-mma-m16n8k16');
      expect(explain(l20, 'attention', { ...prefill, sq: 1 }).variant).toBe('flash-decoding-split-kv-vec');
    } finally {
      delete process.env.KERNELPORT_GPU_ATTENTION;
    }
    // Keys per tile of the wgmma kernel (attention_wgmma_keys): 128 with allowP16 but for f16 at D = 128;
    // KERNELPORT_GPU_ATTENTION_KEYS=64 keeps 64, under its own name where auto takes 128
    expect(explain(h20a, 'attention', prefill).why).toMatch(/ 64-key tiles/);
    expect(explain(h20a, 'attention', { ...prefill, allowP16: true }).why).toMatch(/ 128-key tiles/);
    expect(explain(h20a, 'attention', { ...prefill, allowP16: true, dtype: 'f16' }).why).toMatch(/ 64-key tiles/);
    try {
      process.env.KERNELPORT_GPU_ATTENTION_KEYS = '64';
      const k64 = explain(h20a, 'attention', { ...prefill, allowP16: true });
      expect([k64.variant, /64-key tiles/.test(k64.why)]).toEqual(['flash-attention-wgmma-m64n64k16-p16-keys64', true]);
      expect(explain(h20a, 'attention', { ...prefill, allowP16: true, dtype: 'f16' }).variant).toBe('flash-attention-wgmma-m64n64k16-p16');
    } finally {
      delete process.env.KERNELPORT_GPU_ATTENTION_KEYS;
    }
    expect(explain(s4000, 'attention', prefill).variant).toBe('flash-attention'); // MUSA: portable kernels
    // A tuned kernel choice (src/tune/candidates.ts) as the plugin takes it: before the environment's
    const cfg = (c: Record<string, number>) => explain(h20a, 'attention', { ...prefill, allowP16: true }, undefined, undefined, c).variant;
    expect([cfg({}), cfg({ keys: 64 }), cfg({ kernel: 2 }), cfg({ kernel: 1 })]).toEqual([
      'flash-attention-wgmma-m64n64k16-p16',
      'flash-attention-wgmma-m64n64k16-p16-keys64',
      'flash-attention-mma-m16n8k16-p16',
      'flash-attention',
    ]);
    // M <= 4: the GEMV unless mma.sync, or a wgmma kernel that can run, is forced (gemm.cu's choose)
    const small = (c: Record<string, number>, dtype: 'bf16' | 'f32' = 'bf16') => explain(h20a, 'matmul', { m: 3, n: 512, k: 512, dtype }, undefined, undefined, c).variant;
    expect([small({}), small({ kernel: 1 }), small({ kernel: 2 }), small({ kernel: 3 }), small({ kernel: 2 }, 'f32')]).toEqual(['gemv', 'gemv', 'gemm-mma-bf16', 'gemm-wgmma-bf16', 'gemm-simt']);
    try {
      process.env.KERNELPORT_GPU_GEMM = 'simt';
      expect(small({ kernel: 3 })).toBe('gemm-wgmma-bf16'); // the op's choice wins over the environment's
    } finally {
      delete process.env.KERNELPORT_GPU_GEMM;
    }
  });
});

describe('open() selection', () => {
  afterEach(() => {
    delete process.env.KERNELPORT_BACKEND;
    delete process.env.KERNELPORT_DEVICE;
    delete process.env.KERNELPORT_CPU_ISA;
    delete process.env.KERNELPORT_VERBOSE;
    vi.restoreAllMocks();
  });

  it('auto records why; policies and selectors', async () => {
    const dev = await open();
    expect(dev.info.backend).toBe('cpu');
    expect(dev.info.selection).toMatchObject({ by: 'auto', policy: 'auto' });
    dev.dispose();
    const c = await open('cpu:0');
    expect(c.info.selection!.why).toMatch(/explicit choice 'cpu:0'/);
    c.dispose();
    await expect(open('cpu:3' as never)).rejects.toThrow(/no device cpu:3: cpu devices here: cpu:0/);
    await expect(open({ device: 'cuda:1' })).rejects.toThrow(/cuda backend is unavailable/);
    process.env.KERNELPORT_DEVICE = 'reference:0';
    const r = await open();
    expect(r.info.backend).toBe('reference');
    r.dispose();
    await expect(open({ policy: 'best' as never })).rejects.toThrow(/policy must be/);
    const p = await open({ prefer: ['reference'] });
    expect(p.info.backend).toBe('reference');
    p.dispose();
  });

  it('falls back when the first candidate fails to initialise; strict refuses', async () => {
    const devices = await probe();
    const w = devices.find((d) => d.backend === 'webgpu')!;
    process.env.KERNELPORT_CPU_ISA = 'neon'; // the native cpu device now fails to initialise (no NEON here)
    if (w.available) {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const dev = await open({ policy: 'prefer-cpu' });
      expect(dev.info.backend).toBe('webgpu');
      expect(dev.info.fallback![0]).toMatchObject({ device: 'cpu:0' });
      expect(dev.info.fallback![0]!.reason).toMatch(/neon/i);
      dev.dispose();
      const again = await open({ policy: 'prefer-cpu' });
      again.dispose();
      expect(warn.mock.calls.filter((c) => /cpu:0 failed to initialise/.test(String(c[0])))).toHaveLength(1);
    } else {
      await expect(open({ policy: 'prefer-cpu' })).rejects.toThrow(/every candidate failed/);
    }
    await expect(open({ policy: 'prefer-cpu', strict: true })).rejects.toThrow(/cpu:0 failed to initialise \(strict: no fallback\).*neon/i);
  }, 60_000);

  it('dev.supports / dev.explain, and KERNELPORT_VERBOSE logs each new decision once', async () => {
    const dev = await open('cpu');
    expect(dev.supports('matmul', { m: 8, n: 8, k: 8, dtype: 'bf16' }).ok).toBe(true);
    const x = dev.explain('matmul', { m: 256, n: 256, k: 256 });
    expect(x).toMatchObject({ device: 'cpu:0', bound: expect.stringMatching(/compute|bandwidth/) });
    expect(x.why).toMatch(/FLOP\/byte/);
    process.env.KERNELPORT_VERBOSE = '1';
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const a = dev.tensor(new Float32Array(6 * 6), [6, 6]);
    for (let i = 0; i < 3; i++) dev.matmul(a, a).dispose();
    dev.matmul(dev.tensor(new Float32Array(600 * 6), [600, 6]), a);
    await dev.sync();
    const lines = err.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('kernelport: cpu:0 matmul'));
    expect(lines).toHaveLength(2);
    dev.dispose();
  });
});

describe('kernelport probe table', () => {
  it('shows export-control figures for GPUs that carry them', async () => {
    const { probeTable } = await import('../src/cli/probe.js');
    const t = probeTable([cpu, ...fixture('rtx4090d'), ...fixture('h20x2')]);
    expect(t).toMatch(/export \(TPP\/PD\)/);
    expect(t).toMatch(/cuda:0 .*TPP 4706 PD [\d.]+ 3A090\.a/);
    expect(t).toMatch(/TPP 2368 .*below 3A090|TPP 2368 PD [\d.]+ 3A090\.b/);

    // bandwidth beside the FLOP/s, GPU features, and the kernel variants each device has compiled in
    expect(t).toMatch(/read GB\/s/);
    expect(t).toMatch(/cuda:0 .* 4000 \(table\)/);
    expect(t).toMatch(/tensor-cores.*warp 32/);
    expect(t).toMatch(/kernel variants compiled in:\n(.|\n)*cuda:0  .*gemm/);
  });
});
