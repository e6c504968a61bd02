/**
 * probe() in a browser: every backend, available or not, with the reason. Only webgpu (navigator.gpu)
 * and reference can run here; cpu, cuda and musa live in the native addon, which a browser cannot load.
 */
import { ALL_DTYPES, referenceInfo, unavailableInfo } from '../backends/info.js';
import { adapterInfo } from '../backends/webgpu/device.js';
import { findNavigatorAdapter } from '../backends/webgpu/navigator.js';
import type { BackendName, DeviceInfo, DType } from '../types.js';


let cache: Promise<DeviceInfo[]> | undefined;

/** Every backend's devices, available or not. Cached per page (ask again after a reload). */
export async function probe(): Promise<DeviceInfo[]> {
  cache ??= (async () => [...nativeOnly(['cpu']), referenceInfo(), ...nativeOnly(['cuda', 'musa']), await webgpuInfo()])();
  return (await cache).map((d) => structuredClone(d));
}

/** One backend's devices (open() with an explicit backend probes only that one). */
export async function probeBackend(backend: BackendName): Promise<DeviceInfo[]> {
  if (cache) return (await probe()).filter((d) => d.backend === backend);
  if (backend === 'reference') return [referenceInfo()];
  if (backend === 'webgpu') return [await webgpuInfo()];
  return nativeOnly([backend]);
}

/** The navigator.gpu adapter: its info, features and limits, or why there is none. */
export async function webgpuInfo(): Promise<DeviceInfo> {
  try {
    const choice = await findNavigatorAdapter();
    if (choice instanceof Error) return unavailableInfo('webgpu', 'WebGPU', choice.message);
    return adapterInfo(choice);
  } catch (e) {
    return unavailableInfo('webgpu', 'WebGPU', `probing WebGPU failed: ${(e as Error).message}`);
  }
}


function nativeOnly(backends: BackendName[]): DeviceInfo[] {
  return backends.map((b) =>
    unavailableInfo(b, b === 'cpu' ? 'CPU' : b.toUpperCase(), `the ${b} backend is part of the native addon, which the browser build of kernelport does not contain (here: webgpu, reference)`),
  );
}

