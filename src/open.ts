/**
 * open(): the device for an explicit choice, KERNELPORT_BACKEND, or the best available one.
 * First cut of selection: cpu is the only compute backend in this build, reference is never automatic.
 */
import { CpuDevice } from './backends/cpu/index.js';
import { CudaDevice } from './backends/cuda/index.js';
import { ReferenceDevice } from './backends/reference/index.js';
import { WebGpuDevice } from './backends/webgpu/index.js';
import { Device } from './device.js';
import { requireNative } from './native.js';
import { describe } from './ops/shape.js';
import { probe, probeBackend } from './probe.js';
import type { BackendName, DeviceInfo, OpenOptions } from './types.js';

const BACKENDS: readonly string[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
/**
 * Ranked for 'auto' until selection by estimated time lands. A software WebGPU adapter (llvmpipe,
 * SwiftShader, lavapipe: a rasteriser running on the CPU, `features.software` in its probe) ranks
 * below cpu: the native cpu kernels are far faster on the same cores.
 */
const AUTO_ORDER: BackendName[] = ['cuda', 'musa', 'webgpu', 'cpu'];
const rank = (d: DeviceInfo): number => (d.backend === 'webgpu' && d.features.software ? AUTO_ORDER.length : AUTO_ORDER.indexOf(d.backend));

export async function open(selector: BackendName | 'auto' | OpenOptions = {}): Promise<Device> {
  const opts: OpenOptions = typeof selector === 'string' ? { backend: selector } : (selector ?? {});
  if (typeof opts !== 'object') throw new TypeError(`open: expected a backend name or options, got ${describe(selector)}`);
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 1024))
    throw new RangeError(`open: threads must be an integer in [1, 1024], got ${describe(opts.threads)}`);

  let wanted = opts.backend ?? 'auto';
  let source = 'open()';
  const env = process.env.KERNELPORT_BACKEND;
  if (wanted === 'auto' && env) {
    wanted = env as BackendName;
    source = 'KERNELPORT_BACKEND';
  }
  if (!BACKENDS.includes(wanted) && wanted !== 'auto') {
    const available = (await probe()).filter((d) => d.available).map((d) => d.backend).join(', ');
    throw new TypeError(`${source}: unknown backend '${String(wanted)}'; known: ${BACKENDS.join(', ')} (available here: ${available})`);
  }
  const devices = wanted === 'auto' ? await probe() : await probeBackend(wanted as BackendName);
  const listAvailable = async () => (await probe()).filter((d) => d.available).map((d) => d.backend).join(', ');

  const chosen =
    wanted === 'auto'
      ? devices.filter((d) => d.available && AUTO_ORDER.includes(d.backend)).sort((x, y) => rank(x) - rank(y))[0]
      : devices.find((d) => d.backend === wanted);
  if (!chosen) {
    const why = devices.filter((d) => !d.available).map((d) => `${d.backend}: ${d.reason}`);
    throw new Error(`open: no compute backend is available (available: ${await listAvailable()}).\n  ${why.join('\n  ')}`);
  }
  if (!chosen.available)
    throw new Error(`${source}: the ${chosen.backend} backend is unavailable: ${chosen.reason}. Available here: ${await listAvailable()}`);

  switch (chosen.backend) {
    case 'cpu':
      return new Device(new CpuDevice(requireNative(), chosen, opts.threads ?? 0));
    case 'reference':
      return new Device(new ReferenceDevice(chosen));
    case 'webgpu':
      return new Device(await WebGpuDevice.create(chosen));
    case 'cuda':
      try {
        return new Device(new CudaDevice(requireNative(), chosen));
      } catch (e) {
        // 'auto' falls back to the next device with the reason logged; an explicit choice reports it.
        const next = wanted === 'auto' ? devices.filter((d) => d.available && AUTO_ORDER.includes(d.backend) && d.backend !== 'cuda').sort((x, y) => rank(x) - rank(y))[0] : undefined;
        if (!next) throw e;
        console.warn(`kernelport: cuda:${chosen.index} failed to initialise (${(e as Error).message}); using ${next.backend} instead`);
        return open({ ...opts, backend: next.backend });
      }
    default:
      throw new Error(`open: the ${chosen.backend} backend has no host implementation in this build`);
  }
}
