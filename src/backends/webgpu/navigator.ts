/// <reference types="@webgpu/types" />
/**
 * Finding a WebGPU adapter in a browser (or a worker): navigator.gpu. Core features first, then
 * compatibility mode (WebGPU over OpenGL ES / D3D11 where the browser offers it). Never throws: the
 * caller gets the reason there is none, which probe() reports.
 */
import type { AdapterChoice } from './adapter.js';

export async function findNavigatorAdapter(): Promise<AdapterChoice | Error> {
  const g = globalThis as { navigator?: { gpu?: GPU; userAgent?: string }; isSecureContext?: boolean };
  const gpu = g.navigator?.gpu;
  if (!gpu) {
    if (!g.navigator) return new Error('no navigator: this is not a browser or worker global scope');
    if (g.isSecureContext === false)
      return new Error('navigator.gpu is undefined: WebGPU needs a secure context (https:// or http://localhost / 127.0.0.1)');
    return new Error(
      'navigator.gpu is undefined: this browser does not expose WebGPU (Chromium on Linux: start it with --enable-unsafe-webgpu; Firefox: dom.webgpu.enabled)',
    );
  }
  const failed: string[] = [];
  for (const featureLevel of ['core', 'compatibility'] as const) {
    try {
      const adapter = await gpu.requestAdapter(featureLevel === 'compatibility' ? ({ featureLevel } as GPURequestAdapterOptions) : {});
      if (adapter) return { adapter, backend: 'browser', featureLevel };
      failed.push(`${featureLevel}: navigator.gpu.requestAdapter() returned null`);
    } catch (e) {
      failed.push(`${featureLevel}: requestAdapter() threw ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return new Error(`no WebGPU adapter: ${failed.join('; ')} (the browser exposes WebGPU but found no usable GPU; it may be blocklisted or disabled)`);
}
