/**
 * open() in a browser: webgpu (navigator.gpu) or reference. 'auto' ranks what probe() found exactly as
 * in Node (policy, prefer, require; the float64 reference only when preferred; strict turns fallback
 * off); there is no KERNELPORT_BACKEND here.
 */
import { ReferenceDevice } from '../backends/reference/device.js';
import { WebGpuDevice } from '../backends/webgpu/device.js';
import { findNavigatorAdapter } from '../backends/webgpu/navigator.js';
import { Device } from '../device.js';
import { describe } from '../ops/shape.js';
import { rankDevices } from '../select/rank.js';
import type { BackendName, DeviceInfo, OpenOptions } from '../types.js';
import { probe, probeBackend } from './probe.js';
import { browserShaderSource } from './shaders.js';

const BACKENDS: readonly string[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
const POLICIES: readonly string[] = ['auto', 'prefer-gpu', 'prefer-cpu'];

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

  if (opts.policy !== undefined && !POLICIES.includes(opts.policy))
    throw new TypeError(`open: policy must be one of ${POLICIES.join(', ')}, got ${describe(opts.policy)}`);

  if (wanted !== 'auto') {
    const chosen: DeviceInfo | undefined = (await probeBackend(wanted))[0];
    if (!chosen?.available)
      throw new Error(`open(): the ${wanted} backend is unavailable: ${chosen?.reason ?? 'not found by probe()'}. Available here: ${await listAvailable()}`);
    chosen.selection = { by: 'open()', why: `explicit choice '${wanted}'` };
    return construct(chosen, opts);
  }
  // The same ranking as in Node (src/select/rank.ts): policy, prefer, require; reference only when preferred.
  const { ranked, excluded } = rankDevices(await probe(), { policy: opts.policy, prefer: opts.prefer, require: opts.require });
  if (ranked.length === 0) {
    const why = excluded.map((x) => `${x.selector}: ${x.reason}`).join('; ');
    throw new Error(`open: no compute backend is available in this browser (${why}). open('reference') runs the float64 reference (slow).`);
  }
  const failures: { device: string; reason: string }[] = [];
  for (const c of ranked) {
    c.info.selection = { by: 'auto', policy: opts.policy ?? 'auto', estimateMs: c.estimateMs, why: c.why };
    if (failures.length) c.info.fallback = [...failures];
    try {
      return await construct(c.info, opts);
    } catch (e) {
      const reason = (e as Error).message;
      if (opts.strict) throw new Error(`open: ${c.selector} failed to initialise (strict: no fallback): ${reason}`, { cause: e });
      failures.push({ device: c.selector, reason });
    }
  }
  throw new Error(`open: every candidate failed to initialise:\n  ${failures.map((f) => `${f.device}: ${f.reason}`).join('\n  ')}`);
}

async function construct(info: DeviceInfo, opts: OpenOptions): Promise<Device> {
  if (info.backend === 'reference') return new Device(new ReferenceDevice(info));
  // A fresh adapter per device: an adapter hands out one device only.
  return new Device(await WebGpuDevice.create(info, await findNavigatorAdapter(), browserShaderSource, { disable: opts.webgpuDisable }));
}
