/// <reference types="@webgpu/types" />
/**
 * The webgpu backend in Node: the shared device (device.ts) on an adapter from Dawn (the optional
 * `webgpu` package, gpu.ts) with its .wgsl sources read from the package's kernels/wgsl. The browser
 * entry uses device.ts with navigator.gpu and build-time inlined sources instead (src/browser/).
 */
import type { DeviceInfo } from '../../types.js';
import type { AdapterChoice } from './adapter.js';
import { parseDisable, WebGpuDevice as SharedWebGpuDevice } from './device.js';
import { findAdapter, findAdapters, noAdapter } from './gpu.js';
import { nodeShaderSource } from './shaders-node.js';

export type WebGpuDevice = SharedWebGpuDevice;
export const WebGpuDevice = {
  /** A device on `choice`, else on adapter webgpu:`info.index` of those Dawn gives. */
  async create(info: DeviceInfo, choice?: AdapterChoice, disable: readonly string[] = []): Promise<WebGpuDevice> {
    return SharedWebGpuDevice.create(info, choice ?? (await findAdapter(info.index)), nodeShaderSource, {
      maxBinding: process.env.KERNELPORT_WEBGPU_MAX_BINDING,
      loopBudget: process.env.KERNELPORT_WEBGPU_LOOP_BUDGET,
      kernels: process.env.KERNELPORT_WEBGPU_KERNELS,
      disable: [...parseDisable(process.env.KERNELPORT_WEBGPU_DISABLE), ...disable],
    });
  },
};

export { adapterInfo } from './device.js';
export { findAdapter, findAdapters, noAdapter };
