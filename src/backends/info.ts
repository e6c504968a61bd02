/** DeviceInfo records shared by the Node and browser probes (no node: imports here). */
import type { BackendName, DeviceInfo, DType } from '../types.js';

export const ALL_DTYPES: DType[] = ['f32', 'f16', 'bf16'];

/** A backend that cannot run here, and why. */
export function unavailableInfo(backend: BackendName, name: string, reason: string, vendor = ''): DeviceInfo {
  return {
    backend,
    index: 0,
    name,
    vendor,
    architecture: '',
    computeUnits: 0,
    memoryBytes: 0,
    features: { dtypes: [], tensorCores: false, subgroups: false, shaderF16: false },
    peak: { flops: {}, bandwidth: 0, source: 'none' },
    variants: [],
    available: false,
    reason,
  };
}

export function referenceInfo(): DeviceInfo {
  return {
    backend: 'reference',
    index: 0,
    name: 'float64 reference (TypeScript)',
    vendor: 'kernelport',
    architecture: 'js',
    computeUnits: 1,
    memoryBytes: 0,
    features: { dtypes: ALL_DTYPES, tensorCores: false, subgroups: false, shaderF16: false },
    peak: { flops: {}, bandwidth: 0, source: 'none' },
    variants: ['reference-f64'],
    available: true,
    reason: 'the numerics oracle: synchronous and slow, never chosen by auto',
  };
}
