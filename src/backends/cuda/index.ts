/**
 * The cuda backend's host side. The kernels live in the backend library (libkernelport_cuda.so,
 * kernels/gpu/), which the native core loads lazily: only after libcuda.so.1 loads and reports a
 * device. A cuda device is a native device like cpu, so the same host code (CpuDevice) drives it
 * through the addon with the C ABI name 'cuda:N'; its buffers are device memory.
 */
import { driverFigures, driverGpuFields, gpuInfos, type GpuLibrary } from '../gpu-probe.js';
import { CpuDevice } from '../cpu/index.js';
import type { NativeAddon, NativeGpuDevice } from '../../native.js';
import type { DeviceInfo } from '../../types.js';
import { exportClass, partFigures } from './parts.js';

export { PARTS, estimatePart, matchPart, partFigures, performanceDensity, tpp, exportClass } from './parts.js';

/** Every CUDA device, or one unavailable entry with the exact reason (no driver, no device, no library). */
export function cudaInfos(): DeviceInfo[] {
  return gpuInfos('cuda', 'CUDA', 'NVIDIA', cudaDeviceInfo);
}

/** The DeviceInfo of one device the driver reported, with the parts-table (or estimated) figures. */
export function cudaDeviceInfo(d: NativeGpuDevice, lib: GpuLibrary): DeviceInfo {
  const fig = partFigures(driverFigures(d));
  const mma = d.ccMajor >= 8 && d.warpSize === 32;
  const variants = lib.variants
    .split(',')
    .filter((v) => v && (mma || !v.includes('-mma-')));
  return {
    backend: 'cuda',
    index: d.index,
    name: d.name,
    vendor: 'NVIDIA',
    architecture: d.arch,
    computeUnits: d.multiprocessors,
    memoryBytes: d.memoryBytes,
    features: { dtypes: ['f32', 'f16', 'bf16'], tensorCores: mma, subgroups: true, shaderF16: true, warpSize: d.warpSize },
    peak: {
      flops: { f32: fig.flops.f32, f16: fig.flops.f16, bf16: fig.flops.bf16 },
      bandwidth: fig.bandwidth,
      source: fig.estimate ? 'estimate' : 'table',
    },
    variants,
    available: lib.loaded,
    reason: lib.loaded ? undefined : lib.reason,
    gpu: {
      ...driverGpuFields(d),
      part: fig.part?.name,
      estimate: fig.estimate,
      tf32Flops: fig.flops.tf32,
      tpp: fig.tpp,
      performanceDensity: fig.performanceDensity,
      exportClass: fig.part ? exportClass(fig.part) : undefined,
    },
  };
}


/** A cuda device: the native device 'cuda:<index>' driven by the shared native host code. */
export class CudaDevice extends CpuDevice {
  constructor(addon: NativeAddon, info: DeviceInfo) {
    super(addon, info, 0, `cuda:${info.index}`);
  }
}
