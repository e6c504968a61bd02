/**
 * Op plans as the C ABI's descriptors, packed for the addon: one Float64Array per op in the field order
 * the addon exports (native/addon/descriptors.cpp), so the two sides cannot drift. An array field
 * "name[cap]" takes a count slot and cap value slots.
 */
import type { AttentionPlan } from '../../ops/attention.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import type { NativeAddon } from '../../native.js';
import { ACTIVATION_CODE, CAUSAL_CODE, DTYPE_CODE, LAYOUT_CODE, type KernelConfig } from '../backend.js';

export type DescriptorFields = Record<string, number | readonly number[]>;

/** The C ABI's kp_matmul_desc of a plan. */
export function matmulDesc(plan: MatmulPlan, config?: KernelConfig): DescriptorFields {
  return {
    dtype: DTYPE_CODE[plan.dtype],
    outDtype: DTYPE_CODE[plan.outDtype],
    transA: plan.transA ? 1 : 0,
    transB: plan.transB ? 1 : 0,
    m: plan.m,
    n: plan.n,
    k: plan.k,
    batchShape: plan.batchShape,
    aBatchStrides: plan.aBatchStrides,
    bBatchStrides: plan.bBatchStrides,
    alpha: plan.alpha,
    beta: plan.beta,
    activation: ACTIVATION_CODE[plan.activation],
    hasBias: plan.bias ? 1 : 0,
    biasDtype: DTYPE_CODE[plan.bias?.dtype ?? 'f32'],
    hasResidual: plan.residual ? 1 : 0,
    residualDtype: DTYPE_CODE[plan.residual?.dtype ?? 'f32'],
    rBatchStrides: plan.residual?.batchStrides ?? [],
    rRowStride: plan.residual?.rowStride ?? 0,
    rColStride: plan.residual?.colStride ?? 0,
    maxThreads: config?.threads ?? 0,
    allowTf32: plan.allowTf32 ? 1 : 0,
    gpuKernel: config?.kernel ?? 0,
    gpuSplitK: config?.splitK ?? 0,
  };
}

/** The C ABI's kp_attention_desc of a plan (its optional operands: kvLengths, mask, lse). */
export function attentionDesc(plan: AttentionPlan, config?: KernelConfig): DescriptorFields {
  return {
    dtype: DTYPE_CODE[plan.dtype],
    outDtype: DTYPE_CODE[plan.outDtype],
    layout: LAYOUT_CODE[plan.layout],
    batch: plan.batch,
    hq: plan.hq,
    hkv: plan.hkv,
    sq: plan.sq,
    skv: plan.skv,
    d: plan.d,
    dv: plan.dv,
    scale: plan.scale,
    causal: CAUSAL_CODE[plan.causal],
    hasKvLengths: plan.kvLengths ? 1 : 0,
    hasMask: plan.mask ? 1 : 0,
    maskStrides: plan.mask?.strides ?? [0, 0, 0, 0],
    returnLse: plan.returnLse ? 1 : 0,
    maxThreads: config?.threads ?? 0,
    allowP16: plan.allowP16 ? 1 : 0,
    gpuKernel: config?.kernel ?? 0,
    gpuKeyTile: config?.keys ?? 0,
  };
}

/** The packed arrays are reused: valid until the next call of the same packer. */
export interface DescriptorPacker {
  matmul(fields: DescriptorFields): Float64Array;
  attention(fields: DescriptorFields): Float64Array;
}

/** Where each field sits in a packed descriptor: an array field "name[cap]" takes a count slot then cap values. */
export function descriptorSlots(layout: readonly string[]): { name: string; cap: number; offset: number }[] {
  let offset = 0;
  return layout.map((f) => {
    const m = /^(\w+)\[(\d+)\]$/.exec(f);
    const slot = m ? { name: m[1]!, cap: Number(m[2]), offset } : { name: f, cap: 0, offset };
    offset += slot.cap ? 1 + slot.cap : 1;
    return slot;
  });
}

/** A field missing from the object packs as 0, the C ABI's default (test/native.test.ts checks the builders' fields are the addon's). */
function packerFor(layout: readonly string[]): (fields: DescriptorFields) => Float64Array {
  const slots = descriptorSlots(layout);
  const last = slots[slots.length - 1]!;
  const size = last.offset + (last.cap ? 1 + last.cap : 1);
  // One array reused: the addon copies it into a C struct before the call returns, and a fresh typed
  // array per op was a measurable share of the per-op cost (allocation and GC).
  const out = new Float64Array(size);
  return (fields) => {
    out.fill(0);
    for (const s of slots) {
      const v = fields[s.name];
      if (!s.cap) {
        out[s.offset] = (v as number | undefined) ?? 0;
        continue;
      }
      const a = (v ?? []) as readonly number[];
      out[s.offset] = a.length; // the addon refuses more than cap
      for (let j = 0; j < a.length && j < s.cap; ++j) out[s.offset + 1 + j] = a[j]!;
    }
    return out;
  };
}

const packers = new WeakMap<NativeAddon, DescriptorPacker>();

export function descriptorPacker(addon: NativeAddon): DescriptorPacker {
  let p = packers.get(addon);
  if (!p) {
    p = { matmul: packerFor(addon.descriptorFields.matmul), attention: packerFor(addon.descriptorFields.attention) };
    packers.set(addon, p);
  }
  return p;
}
