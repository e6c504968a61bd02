/// <reference types="@webgpu/types" />
/**
 * Finding a WebGPU adapter in Node: the optional `webgpu` package (Dawn). Which Dawn backend is
 * tried comes from KERNELPORT_WEBGPU_BACKEND (vulkan | opengles | opengl | metal | d3d12 | ...) or,
 * by default, Dawn's own choice (core features) and then OpenGL ES in compatibility mode (Mesa's
 * llvmpipe on a machine without a GPU). Nothing here throws for a missing package or adapter: the
 * caller gets the reason.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isSoftwareAdapter, type AdapterChoice } from './adapter.js';

export type { AdapterChoice };
export { isSoftwareAdapter };

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

let modulePromise: Promise<DawnModule | Error> | undefined;
const instances = new Map<string, GPU>();

async function loadDawn(): Promise<DawnModule | Error> {
  modulePromise ??= (async () => {
    try {
      // A variable specifier keeps bundlers and tsc from resolving the optional package statically.
      const name = 'webgpu';
      return (await import(name)) as DawnModule;
    } catch (e) {
      return new Error(`the optional 'webgpu' package (Dawn for Node) is not installed or cannot load: ${(e as Error).message.split('\n')[0]}`);
    }
  })();
  return modulePromise;
}

function instance(dawn: DawnModule, backend: string): GPU {
  let gpu = instances.get(backend);
  if (!gpu) {
    // Dawn's GL backends need an EGL platform; without a display, surfaceless is the one that works.
    if ((backend === 'opengles' || backend === 'opengl') && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
    gpu = dawn.create(backend ? [`backend=${backend}`] : []);
    instances.set(backend, gpu);
  }
  return gpu;
}

/** The adapter to use, or the reason there is none. */
export async function findAdapter(): Promise<AdapterChoice | Error> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu && typeof process === 'undefined') {
    const adapter = await nav.gpu.requestAdapter();
    return adapter ? { adapter, backend: 'browser', featureLevel: 'core' } : new Error('navigator.gpu.requestAdapter() returned null');
  }
  const dawn = await loadDawn();
  if (dawn instanceof Error) return dawn;
  const forced = process.env.KERNELPORT_WEBGPU_BACKEND?.trim();
  const tries: [string, 'core' | 'compatibility'][] = forced
    ? [
        [forced, 'core'],
        [forced, 'compatibility'],
      ]
    : [
        ...(vulkanLoaderMissing() ? [] : ([['', 'core']] as [string, 'core'][])),
        ['opengles', 'compatibility'],
      ];
  const failed: string[] = forced || !vulkanLoaderMissing() ? [] : ['default (core): skipped, no Vulkan loader (libvulkan.so.1)'];
  for (const [backend, featureLevel] of tries) {
    try {
      const gpu = instance(dawn, backend);
      const adapter = await gpu.requestAdapter(featureLevel === 'compatibility' ? ({ featureLevel } as GPURequestAdapterOptions) : {});
      if (adapter) return { adapter, backend, featureLevel };
      failed.push(`${backend || 'default'} (${featureLevel}): no adapter`);
    } catch (e) {
      failed.push(`${backend || 'default'} (${featureLevel}): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const hint = forced ? '' : ' (on Linux without a GPU: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)';
  return new Error(`no WebGPU adapter found: ${failed.join('; ')}${hint}`);
}

/**
 * On Linux, Dawn's default backend is Vulkan; without the loader it only prints warnings. Looking for
 * libvulkan.so.1 first keeps probe() quiet on such machines (a wrong guess only costs that attempt).
 */
function vulkanLoaderMissing(): boolean {
  if (process.platform !== 'linux') return false;
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib/x86_64-linux-gnu',
    '/lib/aarch64-linux-gnu',
    '/usr/local/lib',
  ];
  return !dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

/** Drops the cached Dawn instances (they are recreated on demand). */
export function releaseInstances(): void {
  instances.clear();
}
