/// <reference types="@webgpu/types" />
/**
 * attention on WebGPU: flash prefill (one dispatch), or for short query blocks over long caches
 * split-KV decoding (partials per fixed split of SPLIT_SIZE keys, then a combine pass in split
 * order), plus a 16-bit pack pass when the output is f16/bf16. One dispatch (or pair) per chunk of
 * (batch, head) pairs where a tensor exceeds the binding limit (attention-chunks.ts).
 */
import { CAUSAL_CODE, DTYPE_CODE, LAYOUT_CODE, type KernelConfig } from '../backend.js';
import type { AttentionPlan } from '../../ops/attention.js';
import { byteSize } from '../../ops/shape.js';
import { Params } from './buffers.js';
import { encodePack, type GpuContext, type GpuStorage } from './context.js';
import { attentionChunks, attentionSpans } from './attention-chunks.js';
import type { AttentionSpec, TiledAttentionSpec } from './specialise.js';
import { keysPerDispatch, keysPerDispatchTiled } from './loops.js';
import { defaultTiledAttention, tiledAttentionFits, tiledAttentionStorage, type RowTileConfig } from './configs.js';
import { windowOf, type Window } from './windows.js';

/** Keys per split in split-KV decoding. Fixed (not tuned per device) so results never depend on the device. */
export const SPLIT_SIZE = 256;
/** Query rows per workgroup: prefill, and split-KV decode (built-in; a tuned BQ may replace them). */
export const BQ_PREFILL = 32;
export const BQ_DECODE = 8;

export function useSplit(plan: Pick<AttentionPlan, 'sq' | 'skv'>): boolean {
  return plan.sq <= BQ_DECODE && plan.skv >= 2 * SPLIT_SIZE;
}

/**
 * Keys per K/V tile and whether the tile is staged in workgroup memory. Built-in: up to 32 keys, as
 * many as fit; a tuned BK is staged when it fits and read from global memory otherwise.
 */
export function attentionTiles(limits: Pick<GpuContext['limits'], 'maxComputeWorkgroupStorageSize'>, d: number, dv: number, tunedBK?: number): { BK: number; STAGE: boolean } {
  const perKey = (Math.max(d, 1) + Math.max(dv, 1)) * 4;
  const fit = Math.floor(limits.maxComputeWorkgroupStorageSize / perKey);
  if (tunedBK !== undefined) return { BK: tunedBK, STAGE: tunedBK <= fit };
  if (fit < 1) return { BK: 16, STAGE: false };
  return { BK: Math.min(32, fit), STAGE: true };
}

/**
 * The tiled prefill kernel's config (attention_tiled.wgsl) for this op, or undefined for the portable
 * kernel: a config with NT forces it (BQ, BK from the config), a config without NT forces the portable
 * one, no config takes the adapter's default (configs.ts). Split-KV decode always runs the portable one.
 */
export function tiledAttentionConfig(
  ctx: Pick<GpuContext, 'portable' | 'limits'>,
  plan: Pick<AttentionPlan, 'sq' | 'skv' | 'd' | 'dv'>,
  config?: KernelConfig,
): RowTileConfig | undefined {
  if (useSplit(plan)) return undefined;
  if (config?.NT !== undefined) {
    const t = { BQ: config.BQ ?? BQ_PREFILL, BK: config.BK ?? 16, NT: config.NT };
    if (t.BK % t.NT !== 0) throw new RangeError(`webgpu attention: config BK=${t.BK} must be a multiple of NT=${t.NT}`);
    if (!tiledAttentionFits(t, ctx.limits, plan.d, plan.dv, Infinity))
      throw new RangeError(
        `webgpu attention: config BQ=${t.BQ} BK=${t.BK} NT=${t.NT} needs ${t.BQ * t.NT} invocations and ${tiledAttentionStorage(t, plan.d, plan.dv)} bytes of workgroup memory at D=${plan.d} Dv=${plan.dv}; this adapter allows ${ctx.limits.maxComputeInvocationsPerWorkgroup} and ${ctx.limits.maxComputeWorkgroupStorageSize}`,
      );
    return t;
  }
  if (config?.BQ !== undefined || config?.BK !== undefined) return undefined;
  return defaultTiledAttention({ software: ctx.portable, ...ctx.limits }, plan.d, plan.dv, false);
}

export function encodeAttention(
  ctx: GpuContext,
  enc: GPUCommandEncoder,
  plan: AttentionPlan,
  q: GpuStorage,
  k: GpuStorage,
  v: GpuStorage,
  mask: GpuStorage | undefined,
  config?: KernelConfig,
  given?: GpuStorage,
): { out: GpuStorage; lse?: GpuStorage } {
  const out = given ?? ctx.storage('the attention output', byteSize(plan.outShape, plan.outDtype));
  const lse = plan.returnLse ? ctx.storage('the attention lse', byteSize(plan.lseShape, 'f32')) : undefined;
  const { batch, hq, hkv, sq, skv, d, dv } = plan;
  const rows = batch * hq * sq;
  if (rows === 0) return { out, lse };

  const sixteen = plan.outDtype !== 'f32';
  const outF32 = sixteen ? ctx.temp('the attention f32 result', rows * dv * 4) : out.buffer;
  const lengths = new Uint32Array(batch).fill(skv);
  if (plan.kvLengths) lengths.set(plan.kvLengths);
  const kvlen = ctx.tempData('kvLengths', lengths);

  const split = useSplit(plan);
  const tiled = tiledAttentionConfig(ctx, plan, config);
  const BQ = tiled?.BQ ?? config?.BQ ?? (split ? BQ_DECODE : BQ_PREFILL);
  const nqb = Math.ceil(sq / BQ);
  const nSplits = split ? Math.ceil(skv / SPLIT_SIZE) : 1;
  const ms = plan.mask?.strides ?? [0, 0, 0, 0];
  const p = new Params(32)
    .set(0, batch)
    .set(1, hq)
    .set(2, hkv)
    .set(3, sq)
    .set(4, skv)
    .setF32(5, plan.scale)
    .set(6, CAUSAL_CODE[plan.causal])
    .set(7, LAYOUT_CODE[plan.layout])
    .set(8, hq / hkv)
    .set(9, nqb)
    .set(11, split ? SPLIT_SIZE : 0)
    .set(12, nSplits)
    .set(13, ms[0])
    .set(14, ms[1])
    .set(15, ms[2])
    .set(16, ms[3]);

  const tiles = attentionTiles(ctx.limits, d, dv, config?.BK);
  // Key chunks per dispatch (bounded loop work, loops.ts); the last one normalises.
  const keySpan = split ? SPLIT_SIZE : skv;
  const kc = tiled ? keysPerDispatchTiled(ctx.loopBudget, d, dv, tiled) : keysPerDispatch(ctx.loopBudget, d, dv, tiles.BK, BQ);
  const nChunks = Math.max(1, Math.ceil(keySpan / kc));
  const spec: AttentionSpec | TiledAttentionSpec = tiled
    ? {
        kernel: 'attention_tiled',
        DT: DTYPE_CODE[plan.dtype],
        D: d,
        DV: dv,
        D4: Math.ceil(Math.max(d, 1) / 4),
        DV4: Math.ceil(Math.max(dv, 1) / 4),
        ...tiled,
        HAS_MASK: mask !== undefined,
        HAS_LSE: lse !== undefined,
        CARRY: nChunks > 1,
      }
    : {
        kernel: 'attention',
        DT: DTYPE_CODE[plan.dtype],
        D: d,
        DV: dv,
        DA: Math.max(d, 1),
        DVA: Math.max(dv, 1),
        BQ,
        ...tiles,
        HAS_MASK: mask !== undefined,
        HAS_LSE: split || lse !== undefined,
        SPLIT: split,
        CARRY: !split && nChunks > 1,
      };
  const dva = Math.max(dv, 1);

  // One chunk (every binding the whole buffer) unless a tensor exceeds the binding limit (windows.ts).
  const L = ctx.binding;
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const chunks = attentionChunks(plan, L, nSplits, spec.CARRY, nqb * nSplits, maxDim * maxDim);
  for (const c of chunks) {
    const pairs = c.bh1 - c.bh0;
    const s = attentionSpans(plan, c, nSplits, spec.CARRY);
    const wq = windowOf(q.buffer, s.q, L);
    const wk = windowOf(k.buffer, s.k, L);
    const wv = windowOf(v.buffer, s.v, L);
    const wo = windowOf(outF32, s.out, L);
    const wl = lse ? windowOf(lse.buffer, s.lse!, L) : undefined;
    const wm = mask ? windowOf(mask.buffer, s.mask!, L) : undefined;
    const [gx, gy] = ctx.grid2(pairs * nqb * nSplits);
    p.set(10, gx).set(17, pairs).set(20, c.bh0).set(21, wq.baseWord).set(22, wk.baseWord).set(23, wv.baseWord);
    p.set(24, wo.baseWord).set(25, wl?.baseWord ?? 0).set(26, wm?.baseWord ?? 0).set(27, pairs * sq);
    const bindings: [number, GPUBuffer | Window][] = [
      [1, wq],
      [2, wk],
      [3, wv],
      [4, kvlen],
    ];
    if (wm) bindings.push([7, wm]);

    // One dispatch per key chunk, each with its own uniform block (the key range and first/last).
    const dispatchChunks = (extra: [number, GPUBuffer | Window][]) => {
      for (let c0 = 0; c0 < nChunks; c0++) {
        p.set(28, c0 * kc).set(29, Math.min(keySpan, (c0 + 1) * kc)).set(30, c0 === 0 ? 1 : 0).set(31, c0 === nChunks - 1 ? 1 : 0);
        ctx.dispatch(enc, spec, [[0, ctx.uniform(p)], ...bindings, ...extra], [gx, gy, 1]);
      }
    };
    if (!split) {
      const extra: [number, GPUBuffer | Window][] = [[5, wo]];
      if (wl) extra.push([6, wl]);
      if (spec.CARRY) extra.push([8, ctx.temp('the attention (m, l) carried between key chunks', pairs * sq * 8)]);
      dispatchChunks(extra);
      continue;
    }
    const parts = pairs * sq * nSplits;
    const pacc = ctx.temp('the split-KV partial outputs', parts * dva * 4);
    const pm = ctx.temp('the split-KV partial maxima', parts * 4);
    const pl = ctx.temp('the split-KV partial sums', parts * 4);
    dispatchChunks([[5, pacc], [6, pm], [8, pl]]);

    const [cx, cy] = ctx.grid2(Math.ceil((pairs * sq * dva) / 64));
    const cp = new Params(32);
    cp.u32.set(p.u32.subarray(0, cp.u32.length));
    cp.set(10, cx);
    const cb: [number, GPUBuffer | Window][] = [
      [0, ctx.uniform(cp)],
      [5, wo],
      [6, pm],
      [8, pl],
      [9, pacc],
    ];
    if (wl) cb.push([10, wl]);
    ctx.dispatch(enc, { kernel: 'attention_combine', DV: dv, DVA: dva, HAS_LSE: lse !== undefined }, cb, [cx, cy, 1]);
  }
  if (sixteen) encodePack(ctx, enc, outF32, out.buffer, rows * dv, DTYPE_CODE[plan.outDtype] as 1 | 2);
  return { out, lse };
}
