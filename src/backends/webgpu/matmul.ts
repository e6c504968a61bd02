/// <reference types="@webgpu/types" />
/**
 * matmul on WebGPU: a MatmulPlan to one tiled (or GEMV) dispatch per chunk (65535 batches, or less
 * where a tensor exceeds the binding limit: matmul-chunks.ts), plus a 16-bit pack pass.
 */
import { DTYPE_CODE, ACTIVATION_CODE, type KernelConfig } from '../backend.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import { byteSize, numel } from '../../ops/shape.js';
import { Params } from './buffers.js';
import { encodePack, type GpuContext, type GpuStorage } from './context.js';
import { matmulChunks, matmulSpans } from './matmul-chunks.js';
import type { GemvSpec, MatmulSpec } from './specialise.js';
import { gemvFits, kPerDispatch } from './loops.js';
import { windowOf, type Window } from './windows.js';
import { defaultMatmulTiles, type TileConfig } from './configs.js';

export type MatmulTiles = TileConfig;

/**
 * The built-in tile configuration, from the adapter's kind and limits (configs.ts; a tuned or forced
 * one may replace it: src/tune, Device.withKernelConfig).
 */
export function matmulTiles(limits: Pick<GpuContext['limits'], 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupStorageSize'>, software = true): MatmulTiles {
  return defaultMatmulTiles({ software, ...limits });
}

/** The tiles of a tuned or forced config (VEC: 1 selects matmul_vec4.wgsl), else undefined. */
function configTiles(config: KernelConfig | undefined): MatmulTiles | undefined {
  if (config?.TM === undefined) return undefined;
  const t: MatmulTiles = { TM: config.TM, TN: config.TN!, WGX: config.WGX!, WGY: config.WGY!, BK: config.BK! };
  if (config.VEC) {
    if (t.TM % 4 !== 0 || t.TN % 4 !== 0) throw new RangeError(`webgpu matmul: config VEC=1 needs TM and TN multiples of 4, got TM=${t.TM} TN=${t.TN}`);
    t.VEC = 1;
  }
  return t;
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
  given?: GpuStorage,
): GpuStorage {
  const out = given ?? ctx.storage('the matmul output', byteSize(plan.outShape, plan.outDtype));
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
  const gemv = gemvFits(m, k, ctx.loopBudget);
  const tiles: MatmulTiles = configTiles(config) ?? matmulTiles(ctx.limits, ctx.portable);
  const kc = gemv ? Math.max(k, 1) : kPerDispatch(ctx.loopBudget, tiles);
  const kChunks = Math.max(1, Math.ceil(k / kc));
  const p = new Params(60)
    .set(0, m)
    .set(1, n)
    .set(2, k)
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

  // One chunk (every binding the whole buffer) unless a tensor exceeds the binding limit (windows.ts).
  const L = ctx.binding;
  const chunks = matmulChunks(plan, L, ctx.limits.maxComputeWorkgroupsPerDimension);
  for (const c of chunks) {
    const rows = c.i1 - c.i0;
    const cols = c.j1 - c.j0;
    let spec: MatmulSpec | GemvSpec;
    let units: number; // workgroups per batch
    let tilesN = 0;
    if (gemv) {
      spec = { kernel: 'gemv', ...common, MR: rows, WG: config?.WG ?? GEMV_WG, SUBGROUPS: ctx.features.subgroups };
      units = cols;
    } else {
      const { VEC, ...t } = tiles;
      spec = { kernel: VEC ? 'matmul_vec4' : 'matmul', ...common, ...t };
      tilesN = Math.ceil(cols / (t.WGX * t.TN));
      units = Math.ceil(rows / (t.WGY * t.TM)) * tilesN;
    }
    const [gx, gy] = ctx.grid2(units);
    const s = matmulSpans(plan, c);
    const wa = windowOf(a.buffer, s.a, L);
    const wb = windowOf(b.buffer, s.b, L);
    const wo = windowOf(f32Out, s.out, L);
    p.set(3, tilesN).set(4, gx).set(5, c.z0).set(48, c.i0).set(49, c.i1).set(50, c.j0).set(51, c.j1);
    p.set(52, wa.baseWord).set(53, wb.baseWord).set(54, wo.baseWord).set(55, 0).set(56, 0);
    const bindings: [number, GPUBuffer | Window][] = [
      [1, wa],
      [2, wb],
      [3, wo],
    ];
    if (bias) {
      const w = windowOf(bias.buffer, s.bias!, L);
      p.set(56, w.baseWord);
      bindings.push([4, w]);
    }
    if (residual) {
      const w = windowOf(residual.buffer, s.res!, L);
      p.set(55, w.baseWord);
      bindings.push([5, w]);
    }
    // One dispatch per K chunk (the GEMV kernel: always one), each with its uniform block.
    for (let q = 0; q < kChunks; q++) {
      p.set(57, q * kc).set(58, Math.min(k, (q + 1) * kc)).set(59, (q === 0 ? 1 : 0) | (q === kChunks - 1 ? 2 : 0));
      ctx.dispatch(enc, spec, [[0, ctx.uniform(p)], ...bindings], [gx, gy, c.z1 - c.z0]);
    }
  }
  if (sixteen) encodePack(ctx, enc, f32Out, out.buffer, batch * m * n, DTYPE_CODE[plan.outDtype] as 1 | 2);
  return out;
}
