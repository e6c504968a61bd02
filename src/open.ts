/**
 * open(): the device for an explicit choice, KERNELPORT_BACKEND, or the best available one.
 * First cut of selection: cpu is the only compute backend in this build, reference is never automatic.
 */
import { CpuDevice } from './backends/cpu/index.js';
import { ReferenceDevice } from './backends/reference/index.js';
import { Device } from './device.js';
import { requireNative } from './native.js';
import { describe } from './ops/shape.js';
import { probe } from './probe.js';
import type { BackendName, OpenOptions } from './types.js';

const BACKENDS: readonly string[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
/** Ranked for 'auto' until selection by estimated time lands. */
const AUTO_ORDER: BackendName[] = ['cuda', 'musa', 'webgpu', 'cpu'];

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
  const devices = await probe();
  const availableList = devices.filter((d) => d.available).map((d) => d.backend).join(', ');
  if (!BACKENDS.includes(wanted) && wanted !== 'auto')
    throw new TypeError(`${source}: unknown backend '${String(wanted)}'; known: ${BACKENDS.join(', ')} (available here: ${availableList})`);

  const chosen =
    wanted === 'auto'
      ? AUTO_ORDER.map((b) => devices.find((d) => d.backend === b && d.available)).find((d) => d !== undefined)
      : devices.find((d) => d.backend === wanted);
  if (!chosen) {
    const why = devices.filter((d) => !d.available).map((d) => `${d.backend}: ${d.reason}`);
    throw new Error(`open: no compute backend is available (available: ${availableList}).\n  ${why.join('\n  ')}`);
  }
  if (!chosen.available)
    throw new Error(`${source}: the ${chosen.backend} backend is unavailable: ${chosen.reason}. Available here: ${availableList}`);

  switch (chosen.backend) {
    case 'cpu':
      return new Device(new CpuDevice(requireNative(), chosen, opts.threads ?? 0));
    case 'reference':
      return new Device(new ReferenceDevice(chosen));
    default:
      throw new Error(`open: the ${chosen.backend} backend has no host implementation in this build`);
  }
}
