/**
 * open() in a browser: webgpu (navigator.gpu) or reference. 'auto' means webgpu (the float64 reference
 * is never chosen automatically); there is no KERNELPORT_BACKEND here.
 */
import { ReferenceDevice } from '../backends/reference/device.js';
import { WebGpuDevice } from '../backends/webgpu/device.js';
import { findNavigatorAdapter } from '../backends/webgpu/navigator.js';
import { Device } from '../device.js';
import { describe } from '../ops/shape.js';
import type { BackendName, DeviceInfo, OpenOptions } from '../types.js';
import { probe, probeBackend } from './probe.js';
import { browserShaderSource } from './shaders.js';

const BACKENDS: readonly string[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];

export async function open(selector: BackendName | 'auto' | OpenOptions = {}): Promise<Device> {
  const opts: OpenOptions = typeof selector === 'string' ? { backend: selector } : (selector ?? {});
  if (typeof opts !== 'object') throw new TypeError(`open: expected a backend name or options, got ${describe(selector)}`);
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 1024))
    throw new RangeError(`open: threads must be an integer in [1, 1024], got ${describe(opts.threads)}`);
  // selectors: 'webgpu:0' is the one adapter navigator.gpu gives; the index is otherwise ignored here
  const wanted = String(opts.device ?? opts.backend ?? 'auto').split(':')[0] as BackendName | 'auto';
  const listAvailable = async () => (await probe()).filter((d) => d.available).map((d) => d.backend).join(', ');
  if (!BACKENDS.includes(wanted) && wanted !== 'auto')
    throw new TypeError(`open(): unknown backend '${String(wanted)}'; known: ${BACKENDS.join(', ')} (available here: ${await listAvailable()})`);

  const backend: BackendName = wanted === 'auto' ? 'webgpu' : wanted;
  const chosen: DeviceInfo | undefined = (await probeBackend(backend))[0];
  if (!chosen?.available) {
    const why = chosen?.reason ?? 'not found by probe()';
    if (wanted === 'auto')
      throw new Error(`open: no compute backend is available in this browser (webgpu: ${why}). open('reference') runs the float64 reference (slow).`);
    throw new Error(`open(): the ${backend} backend is unavailable: ${why}. Available here: ${await listAvailable()}`);
  }
  if (backend === 'reference') return new Device(new ReferenceDevice(chosen));
  // A fresh adapter per device: an adapter hands out one device only.
  return new Device(await WebGpuDevice.create(chosen, await findNavigatorAdapter(), browserShaderSource, { disable: opts.webgpuDisable }));
}
