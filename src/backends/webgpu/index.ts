/// <reference types="@webgpu/types" />
/**
 * The webgpu backend in Node: the shared device (device.ts) on an adapter from Dawn (the optional
 * `webgpu` package, gpu.ts) with its .wgsl sources read from the package's kernels/wgsl. The browser
 * entry uses device.ts with navigator.gpu and build-time inlined sources instead (src/browser/).
 */
import type { DeviceInfo } from '../../types.js';
import type { AdapterChoice } from './adapter.js';
import { WebGpuDevice as SharedWebGpuDevice } from './device.js';
import { findAdapter } from './gpu.js';
import { nodeShaderSource } from './shaders-node.js';

export type WebGpuDevice = SharedWebGpuDevice;
export const WebGpuDevice = {
  /** A device on `choice`, else on the adapter findAdapter() picks (Dawn). */
  async create(info: DeviceInfo, choice?: AdapterChoice): Promise<WebGpuDevice> {
    return SharedWebGpuDevice.create(info, choice ?? (await findAdapter()), nodeShaderSource, {
      maxBinding: process.env.KERNELPORT_WEBGPU_MAX_BINDING,
      loopBudget: process.env.KERNELPORT_WEBGPU_LOOP_BUDGET,
    });
  },
};

export { adapterInfo } from './device.js';
export { findAdapter };
