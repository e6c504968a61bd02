/**
 * The musa backend's host side. The kernels live in the backend library (libkernelport_musa.so, the
 * kernels/gpu/ sources compiled by the MUSA SDK through native/vendors/musa.h), which the native core
 * loads lazily: only after libmusa.so loads and reports a device. Like cuda, a musa device is a native
 * device driven by the shared host code (CpuDevice) through the addon with the C ABI name 'musa:N'.
 *
 * Emulated: where no MUSA driver is present but the emulated library is (the same MUSA sources
 * compiled by nvcc through a test-only mapping onto CUDA), musa devices are NVIDIA GPUs running the
 * MUSA build; they say so (`features.emulated`, `gpu.emulated`, the name) and `open()`'s automatic
 * choice never takes them (src/select/rank.ts): they exist to test the MUSA build.
 */
import { driverFigures, driverGpuFields, gpuInfos, type GpuLibrary } from '../gpu-probe.js';
import { CpuDevice } from '../cpu/index.js';
import { partFigures } from '../cuda/parts.js';
import type { NativeAddon, NativeGpuDevice } from '../../native.js';
import type { DeviceInfo } from '../../types.js';
import { musaPartFigures } from './parts.js';

export { MUSA_PARTS, MUSA_ARCH_RATES, estimateMusaPart, matchMusaPart, musaArchOf, musaPartFigures } from './parts.js';

/** Every MUSA device, or one unavailable entry with the exact reason (no driver, no device, no library, no emulation). */
export function musaInfos(): DeviceInfo[] {
  return gpuInfos('musa', 'MUSA', 'Moore Threads', musaDeviceInfo);
}

/** The DeviceInfo of one device the driver reported, with the parts-table (or estimated) figures. */
export function musaDeviceInfo(d: NativeGpuDevice, lib: GpuLibrary): DeviceInfo {
  const probe = driverFigures(d);
  // The MUSA kernels are the portable tiles: no tensor-core path on any MUSA part in this version.
  const variants = lib.variants.split(',').filter((v) => v && !v.includes('-mma-'));
  const base = {
    backend: 'musa' as const,
    index: d.index,
    computeUnits: d.multiprocessors,
    memoryBytes: d.memoryBytes,
    variants,
    available: lib.loaded,
    reason: lib.loaded ? undefined : lib.reason,
  };
  const gpuCommon = driverGpuFields(d);
  if (d.emulated) {
    // An NVIDIA GPU running the MUSA build: its own figures, but SIMT kernels only, so 16-bit runs at the f32 rate.
    const fig = partFigures(probe);
    return {
      ...base,
      name: `${d.name} (emulated MUSA: the MUSA build on CUDA)`,
      vendor: 'NVIDIA',
      architecture: d.arch,
      features: { dtypes: ['f32', 'f16', 'bf16'], tensorCores: false, subgroups: true, shaderF16: true, warpSize: d.warpSize, emulated: true },
      peak: { flops: { f32: fig.flops.f32, f16: fig.flops.f32, bf16: fig.flops.f32 }, bandwidth: fig.bandwidth, source: fig.estimate ? 'estimate' : 'table' },
      gpu: { ...gpuCommon, part: fig.part?.name, estimate: fig.estimate, tf32Flops: 0, tpp: fig.tpp, emulated: true },
    };
  }
  const fig = musaPartFigures(probe);
  return {
    ...base,
    name: d.name,
    vendor: 'Moore Threads',
    architecture: d.arch,
    features: { dtypes: ['f32', 'f16', 'bf16'], tensorCores: false, subgroups: true, shaderF16: true, warpSize: d.warpSize },
    // The table's 16-bit figures need MUSA tensor cores; the portable tiles run at about the f32 rate.
    peak: { flops: { f32: fig.flops.f32, f16: fig.flops.f32, bf16: fig.flops.f32 }, bandwidth: fig.bandwidth, source: fig.estimate ? 'estimate' : 'table' },
    gpu: {
      ...gpuCommon,
      part: fig.part?.name,
      estimate: fig.estimate,
      tf32Flops: fig.flops.tf32 ?? 0,
      tpp: fig.tpp,
      tensor16Flops: fig.flops.bf16,
      int8Ops: fig.flops.int8,
      emulated: false,
    },
  };
}

/** A musa device: the native device 'musa:<index>' driven by the shared native host code. */
export class MusaDevice extends CpuDevice {
  constructor(addon: NativeAddon, info: DeviceInfo) {
    super(addon, info, 0, `musa:${info.index}`);
  }
}
