/// <reference types="@webgpu/types" />
/**
 * What the webgpu backend knows about an adapter, shared by every way of finding one: Dawn in Node
 * (gpu.ts) and navigator.gpu in a browser (navigator.ts). No Node or DOM APIs here.
 */

export interface AdapterChoice {
  adapter: GPUAdapter;
  /** The Dawn backend option used ('' = Dawn's default; 'browser' = navigator.gpu). */
  backend: string;
  featureLevel: 'core' | 'compatibility';
}

/** llvmpipe, SwiftShader, lavapipe, WARP...: a rasteriser running on the CPU. */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; type?: string };
  if (info.isFallbackAdapter || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter) return true;
  if (info.type === 'CPU') return true;
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|warp/i.test(text);
}
