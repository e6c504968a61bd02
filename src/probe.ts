/**
 * probe(): every backend, available or not, with the reason. The cpu entry comes from the native
 * core's cpuid/XCR0 probe; cuda and musa from the vendor drivers (loaded lazily by the core,
 * src/backends/cuda, src/backends/musa), each with the exact reason when unavailable.
 */
import { ALL_DTYPES, referenceInfo, unavailableInfo } from './backends/info.js';
import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { cudaInfos } from './backends/cuda/index.js';
import { musaInfos } from './backends/musa/index.js';
import { adapterInfo, findAdapters, noAdapter } from './backends/webgpu/index.js';
import { loadNative, type NativeCpuInfo } from './native.js';
import type { BackendName, DeviceInfo, DType } from './types.js';

const FEATURE_BITS: [number, string][] = [
  [1 << 0, 'sse2'],
  [1 << 1, 'avx'],
  [1 << 2, 'avx2'],
  [1 << 3, 'fma'],
  [1 << 4, 'f16c'],
  [1 << 5, 'avx512f'],
  [1 << 6, 'avx512bw'],
  [1 << 7, 'avx512vl'],
  [1 << 8, 'avx512_bf16'],
  [1 << 9, 'avx512_fp16'],
  [1 << 10, 'amx'],
  [1 << 16, 'neon'],
  [1 << 17, 'asimdhp'],
  [1 << 18, 'sve'],
];


export function featureNames(bits: number): string[] {
  return FEATURE_BITS.filter(([b]) => (bits & b) !== 0).map(([, n]) => n);
}

let cache: Promise<DeviceInfo[]> | undefined;

/** Every backend's devices, available or not. Cached per process (probing is cheap but not free). */
export async function probe(): Promise<DeviceInfo[]> {
  cache ??= (async () => [cpuInfo(), referenceInfo(), ...cudaInfos(), ...musaInfos(), ...(await webgpuInfos())])();
  return (await cache).map((d) => structuredClone(d));
}

/**
 * One backend's devices. open() with an explicit backend probes only that one: opening cpu must
 * not start a GPU runtime (Dawn, a driver) in a process, or a worker thread, that never asked for it.
 */
export async function probeBackend(backend: BackendName): Promise<DeviceInfo[]> {
  if (cache) return (await probe()).filter((d) => d.backend === backend);
  switch (backend) {
    case 'cpu':
      return [cpuInfo()];
    case 'reference':
      return [referenceInfo()];
    case 'webgpu':
      return webgpuInfos();
    case 'cuda':
      return cudaInfos();
    case 'musa':
      return musaInfos();
    default:
      return [];
  }
}

/**
 * The WebGPU adapters (Dawn's `webgpu` package in Node): one DeviceInfo per Dawn backend that gives
 * one (webgpu:0, webgpu:1, ...), then each backend that gives none, unavailable with its reason; a
 * single unavailable entry when there is no adapter at all.
 */
export async function webgpuInfos(): Promise<DeviceInfo[]> {
  // Dawn's Node binding aborts the whole process (napi_fatal_error) when it looks for an adapter
  // from a worker thread, and crashes at thread exit once loaded there: never load it off the main thread.
  if (!isMainThread)
    return [unavailableInfo('webgpu', 'WebGPU', 'the webgpu backend runs on the main thread only: Dawn (the webgpu package) aborts the process when used from a worker thread')];
  try {
    const all = await findAdapters();
    if (all instanceof Error) return [unavailableInfo('webgpu', 'WebGPU', all.message)];
    const ok = all.filter((a) => a.choice);
    if (ok.length === 0) return [unavailableInfo('webgpu', 'WebGPU', noAdapter(all).message)];
    const settings = {
      maxBinding: process.env.KERNELPORT_WEBGPU_MAX_BINDING,
      loopBudget: process.env.KERNELPORT_WEBGPU_LOOP_BUDGET,
      kernels: process.env.KERNELPORT_WEBGPU_KERNELS,
      disable: process.env.KERNELPORT_WEBGPU_DISABLE,
    };
    const infos = ok.map((a, index) => ({ ...adapterInfo(a.choice!, settings), index }));
    for (const a of all.filter((x) => !x.choice))
      infos.push({ ...unavailableInfo('webgpu', `WebGPU (Dawn ${a.backend || 'default'})`, a.reason ?? 'no adapter'), index: infos.length });
    return infos;
  } catch (e) {
    return [unavailableInfo('webgpu', 'WebGPU', `probing WebGPU failed: ${(e as Error).message}`)];
  }
}

export function cpuInfo(): DeviceInfo {
  const addon = loadNative();
  if (addon instanceof Error) return unavailableInfo('cpu', 'CPU', addon.message);
  const c = addon.cpuProbe();
  const features = featureNames(c.features);
  const available = c.isa !== 'unavailable';
  return {
    backend: 'cpu',
    index: 0,
    name: c.model || `${c.arch} CPU`,
    vendor: c.vendor,
    architecture: `${c.arch}/${c.isa}`,
    computeUnits: c.usableCores,
    memoryBytes: c.memoryBytes,
    features: { dtypes: ALL_DTYPES, tensorCores: false, subgroups: false, shaderF16: false },
    peak: { flops: cpuPeak(c), bandwidth: 0, source: 'estimate' },
    variants: [`gemm-blocked-${c.isa}`, `gemv-${c.isa}`, `gemm-tall-skinny-${c.isa}`, `flash-attention-${c.isa}`, `flash-decoding-split-kv-${c.isa}`],
    available,
    reason: available ? undefined : `no usable kernel path (KERNELPORT_CPU_ISA=${process.env.KERNELPORT_CPU_ISA ?? ''} is not supported here)`,
    cpu: {
      vendor: c.vendor,
      model: c.model,
      arch: c.arch,
      features,
      logicalCores: c.logicalCores,
      usableCores: c.usableCores,
      caches: { l1d: c.l1d, l2: c.l2, l3: c.l3 },
      isa: c.isa,
    },
  };
}

/** FLOP/cycle/core from the vector width and two FMA pipes, times the nominal clock: an estimate. */
function cpuPeak(c: NativeCpuInfo): Partial<Record<DType, number>> {
  const lanes = c.isa === 'avx512' ? 16 : c.isa === 'avx2' ? 8 : c.isa === 'neon' ? 4 : 4;
  const perCycle = lanes * 2 /* FMA */ * 2; /* pipes */
  const hz = cpuClockHz();
  const f32 = perCycle * hz * c.usableCores;
  return { f32, f16: f32, bf16: f32 };
}

function cpuClockHz(): number {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return Number(m[1]) * 1e6;
  } catch {
    // not Linux: fall through
  }
  return 2.5e9;
}


