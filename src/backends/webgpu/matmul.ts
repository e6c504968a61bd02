/// <reference types="@webgpu/types" />
/** matmul on WebGPU: a MatmulPlan to one tiled (or GEMV) dispatch per 65535 batches, plus a 16-bit pack pass. */
import { DTYPE_CODE, ACTIVATION_CODE, type KernelConfig } from '../backend.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import { byteSize, numel } from '../../ops/shape.js';
import { Params } from './buffers.js';
import { encodePack, type GpuContext, type GpuStorage } from './context.js';
import type { GemvSpec, MatmulSpec } from './specialise.js';

export interface MatmulTiles {
  TM: number;
  TN: number;
  WGX: number;
  WGY: number;
  BK: number;
}

/** The built-in tile configuration, from the adapter's limits (a tuned one may replace it: src/tune). */
export function matmulTiles(limits: Pick<GpuContext['limits'], 'maxComputeInvocationsPerWorkgroup'>): MatmulTiles {
  const inv = limits.maxComputeInvocationsPerWorkgroup;
  const wgy = inv >= 256 ? 16 : 8;
  return { TM: 4, TN: 4, WGX: 16, WGY: wgy, BK: 16 };
}

/** Invocations per GEMV workgroup (a power of two: the reduction is a tree). */
export const GEMV_WG = 64;

export const GEMV_MAX_M = 4;

export function encodeMatmul(
  ctx: GpuContext,
  enc: GPUCommandEncoder,
  plan: MatmulPlan,
  a: GpuStorage,
  b: GpuStorage,
  bias: GpuStorage | undefined,
  residual: GpuStorage | undefined,
  config?: KernelConfig,
): GpuStorage {
  const out = ctx.storage('the matmul output', byteSize(plan.outShape, plan.outDtype));
  const { m, n, k } = plan;
  const batch = numel(plan.batchShape);
  if (batch * m * n === 0) return out;
  const sixteen = plan.outDtype !== 'f32';
  const f32Out = sixteen ? ctx.temp('the matmul f32 result', batch * m * n * 4) : out.buffer;

  const common = {
    A_DT: DTYPE_CODE[plan.dtype],
    BIAS_DT: DTYPE_CODE[plan.bias?.dtype ?? 'f32'],
    RES_DT: DTYPE_CODE[plan.residual?.dtype ?? 'f32'],
    ACT: ACTIVATION_CODE[plan.activation],
    HAS_BIAS: bias !== undefined,
    HAS_RES: residual !== undefined,
  };
  const gemv = m <= GEMV_MAX_M;
  let spec: MatmulSpec | GemvSpec;
  let units: number; // workgroups per batch
  let tilesN = 0;
  if (gemv) {
    spec = { kernel: 'gemv', ...common, MR: m, WG: config?.WG ?? GEMV_WG };
    units = n;
  } else {
    const t: MatmulTiles = config?.TM !== undefined ? { TM: config.TM, TN: config.TN!, WGX: config.WGX!, WGY: config.WGY!, BK: config.BK! } : matmulTiles(ctx.limits);
    spec = { kernel: 'matmul', ...common, ...t };
    tilesN = Math.ceil(n / (t.WGX * t.TN));
    units = Math.ceil(m / (t.WGY * t.TM)) * tilesN;
  }
  const [gx, gy] = ctx.grid2(units);

  const p = new Params(48)
    .set(0, m)
    .set(1, n)
    .set(2, k)
    .set(3, tilesN)
    .set(4, gx)
    .set(6, plan.transA ? 1 : k)
    .set(7, plan.transA ? m : 1)
    .set(8, plan.transB ? 1 : n)
    .set(9, plan.transB ? k : 1)
    .set(10, plan.residual?.rowStride ?? 0)
    .set(11, plan.residual?.colStride ?? 0)
    .setF32(12, plan.alpha)
    .setF32(13, plan.beta)
    .set(14, plan.batchShape.length);
  plan.batchShape.forEach((e, d) => {
    p.set(16 + d, e);
    p.set(24 + d, plan.aBatchStrides[d]!);
    p.set(32 + d, plan.bBatchStrides[d]!);
    p.set(40 + d, plan.residual?.batchStrides[d] ?? 0);
  });

  const maxZ = ctx.limits.maxComputeWorkgroupsPerDimension;
  for (let z0 = 0; z0 < batch; z0 += maxZ) {
    p.set(5, z0);
    const bindings: [number, GPUBuffer][] = [
      [0, ctx.uniform(p)],
      [1, a.buffer],
      [2, b.buffer],
      [3, f32Out],
    ];
    if (bias) bindings.push([4, bias.buffer]);
    if (residual) bindings.push([5, residual.buffer]);
    ctx.dispatch(enc, spec, bindings, [gx, gy, Math.min(maxZ, batch - z0)]);
  }
  if (sixteen) encodePack(ctx, enc, f32Out, out.buffer, batch * m * n, DTYPE_CODE[plan.outDtype] as 1 | 2);
  return out;
}
