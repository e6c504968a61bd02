/// <reference types="@webgpu/types" />
/**
 * attention on WebGPU: flash prefill (one dispatch), or for short query blocks over long caches
 * split-KV decoding (partials per fixed split of SPLIT_SIZE keys, then a combine pass in split
 * order), plus a 16-bit pack pass when the output is f16/bf16.
 */
import { CAUSAL_CODE, DTYPE_CODE, LAYOUT_CODE, type KernelConfig } from '../backend.js';
import type { AttentionPlan } from '../../ops/attention.js';
import { byteSize } from '../../ops/shape.js';
import { Params } from './buffers.js';
import { encodePack, type GpuContext, type GpuStorage } from './context.js';
import type { AttentionSpec } from './specialise.js';

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

export function encodeAttention(
  ctx: GpuContext,
  enc: GPUCommandEncoder,
  plan: AttentionPlan,
  q: GpuStorage,
  k: GpuStorage,
  v: GpuStorage,
  mask: GpuStorage | undefined,
  config?: KernelConfig,
): { out: GpuStorage; lse?: GpuStorage } {
  const out = ctx.storage('the attention output', byteSize(plan.outShape, plan.outDtype));
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
  const BQ = config?.BQ ?? (split ? BQ_DECODE : BQ_PREFILL);
  const nqb = Math.ceil(sq / BQ);
  const nSplits = split ? Math.ceil(skv / SPLIT_SIZE) : 1;
  const [gx, gy] = ctx.grid2(batch * hq * nqb * nSplits);
  const ms = plan.mask?.strides ?? [0, 0, 0, 0];
  const p = new Params(20)
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
    .set(10, gx)
    .set(11, split ? SPLIT_SIZE : 0)
    .set(12, nSplits)
    .set(13, ms[0])
    .set(14, ms[1])
    .set(15, ms[2])
    .set(16, ms[3]);

  const spec: AttentionSpec = {
    kernel: 'attention',
    DT: DTYPE_CODE[plan.dtype],
    D: d,
    DV: dv,
    DA: Math.max(d, 1),
    DVA: Math.max(dv, 1),
    BQ,
    ...attentionTiles(ctx.limits, d, dv, config?.BK),
    HAS_MASK: mask !== undefined,
    HAS_LSE: split || lse !== undefined,
    SPLIT: split,
  };
  const bindings: [number, GPUBuffer][] = [
    [0, ctx.uniform(p)],
    [1, q.buffer],
    [2, k.buffer],
    [3, v.buffer],
    [4, kvlen],
  ];
  if (mask) bindings.push([7, mask.buffer]);

  if (!split) {
    bindings.push([5, outF32]);
    if (lse) bindings.push([6, lse.buffer]);
    ctx.dispatch(enc, spec, bindings, [gx, gy, 1]);
  } else {
    const parts = rows * nSplits;
    const pacc = ctx.temp('the split-KV partial outputs', parts * Math.max(dv, 1) * 4);
    const pm = ctx.temp('the split-KV partial maxima', parts * 4);
    const pl = ctx.temp('the split-KV partial sums', parts * 4);
    bindings.push([5, pacc], [6, pm], [8, pl]);
    ctx.dispatch(enc, spec, bindings, [gx, gy, 1]);

    const dva = Math.max(dv, 1);
    const [cx, cy] = ctx.grid2(Math.ceil((rows * dva) / 64));
    const cp = new Params(20);
    cp.u32.set(p.u32.subarray(0, cp.u32.length));
    cp.set(10, cx);
    const cb: [number, GPUBuffer][] = [
      [0, ctx.uniform(cp)],
      [5, outF32],
      [6, pm],
      [8, pl],
      [9, pacc],
    ];
    if (lse) cb.push([10, lse.buffer]);
    ctx.dispatch(enc, { kernel: 'attention_combine', DV: dv, DVA: dva, HAS_LSE: lse !== undefined }, cb, [cx, cy, 1]);
  }
  if (sixteen) encodePack(ctx, enc, outF32, out.buffer, rows * dv, DTYPE_CODE[plan.outDtype] as 1 | 2);
  return { out, lse };
}
