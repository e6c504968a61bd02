/// <reference types="@webgpu/types" />
/**
 * Finding WebGPU adapters in Node: the optional `webgpu` package (Dawn). Which Dawn backends are
 * tried comes from KERNELPORT_WEBGPU_BACKEND (vulkan | opengles | opengl | metal | d3d12 | ...) or,
 * by default, Dawn's own choice (core features), OpenGL ES and desktop OpenGL in compatibility mode
 * (Mesa's llvmpipe on a machine without a GPU): one adapter per backend that gives one. Nothing here
 * throws for a missing package or adapter: the caller gets the reason.
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

/** One Dawn backend tried by findAdapters(): the adapter it gave, or why it gave none. */
export interface AdapterProbe {
  /** Dawn backend option ('' = Dawn's default: Vulkan on Linux, Metal, D3D12). */
  backend: string;
  choice?: AdapterChoice;
  reason?: string;
}

/** The Dawn backends to try, in order of preference: KERNELPORT_WEBGPU_BACKEND alone, else every one. */
function candidates(): { backend: string; levels: ('core' | 'compatibility')[]; skip?: string }[] {
  const forced = process.env.KERNELPORT_WEBGPU_BACKEND?.trim();
  if (forced) return [{ backend: forced, levels: ['core', 'compatibility'] }];
  return [
    { backend: '', levels: ['core'], skip: vulkanLoaderMissing() ? 'skipped, no Vulkan loader (libvulkan.so.1)' : undefined },
    { backend: 'opengles', levels: ['compatibility'] },
    { backend: 'opengl', levels: ['compatibility'] },
  ];
}

/**
 * Every adapter Dawn gives, one per backend (webgpu:0 is the first that works: Dawn's default backend
 * where it has one, then OpenGL ES, then desktop OpenGL), each backend that gives none with the reason.
 * Asks Dawn afresh each time: an adapter hands out one device only, so open() needs its own.
 */
export async function findAdapters(): Promise<AdapterProbe[] | Error> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu && typeof process === 'undefined') {
    const adapter = await nav.gpu.requestAdapter();
    return adapter ? [{ backend: 'browser', choice: { adapter, backend: 'browser', featureLevel: 'core' } }] : new Error('navigator.gpu.requestAdapter() returned null');
  }
  const dawn = await loadDawn();
  if (dawn instanceof Error) return dawn;
  const out: AdapterProbe[] = [];
  for (const c of candidates()) {
    const label = c.backend || 'default';
    if (c.skip) {
      out.push({ backend: c.backend, reason: `${label} (${c.levels.join('/')}): ${c.skip}` });
      continue;
    }
    const failed: string[] = [];
    let found: AdapterChoice | undefined;
    for (const featureLevel of c.levels) {
      try {
        const gpu = instance(dawn, c.backend);
        const adapter = await gpu.requestAdapter(featureLevel === 'compatibility' ? ({ featureLevel } as GPURequestAdapterOptions) : {});
        if (adapter) {
          found = { adapter, backend: c.backend, featureLevel };
          break;
        }
        failed.push(`${label} (${featureLevel}): no adapter`);
      } catch (e) {
        failed.push(`${label} (${featureLevel}): ${(e as Error).message.split('\n')[0]}`);
      }
    }
    out.push(found ? { backend: c.backend, choice: found } : { backend: c.backend, reason: failed.join('; ') });
  }
  return out;
}

/** Why there is no adapter at all: every backend's reason. */
export function noAdapter(all: AdapterProbe[]): Error {
  const forced = process.env.KERNELPORT_WEBGPU_BACKEND?.trim();
  const hint = forced ? '' : ' (on Linux without a GPU: apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)';
  return new Error(`no WebGPU adapter found: ${all.map((a) => a.reason).join('; ')}${hint}`);
}

/** The adapter to use (the first of findAdapters(), or the one at `index` of those that work), or the reason there is none. */
export async function findAdapter(index = 0): Promise<AdapterChoice | Error> {
  const all = await findAdapters();
  if (all instanceof Error) return all;
  const ok = all.filter((a) => a.choice);
  if (ok[index]) return ok[index]!.choice!;
  if (ok.length === 0) return noAdapter(all);
  return new Error(`no WebGPU adapter webgpu:${index}: Dawn gives ${ok.length} (${ok.map((a, i) => `webgpu:${i} ${a.backend || 'default'}`).join(', ')})`);
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
