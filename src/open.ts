/**
 * open(): the device for an explicit choice ('cpu', 'cuda:1', 'webgpu:0'), KERNELPORT_DEVICE /
 * KERNELPORT_BACKEND, or the best available one. 'auto' ranks available devices by estimated time for
 * typical ops (src/select/rank.ts: a roofline from probe data, measured cpu peaks when calibrated) under
 * a policy, an ordered `prefer` list and `require`; reference is never automatic. A device that fails to
 * initialise is skipped for the next candidate, the reason kept on `dev.info.fallback` and logged once
 * (`strict: true`: an error instead). An explicit choice never falls back.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpuDevice } from './backends/cpu/index.js';
import { CudaDevice } from './backends/cuda/index.js';
import { MusaDevice } from './backends/musa/index.js';
import { ReferenceDevice } from './backends/reference/index.js';
import { WebGpuDevice } from './backends/webgpu/index.js';
import { cachedCalibration, calibrationKey } from './bench/calibrate.js';
import { Device } from './device.js';
import { packageRoot, requireNative } from './native.js';
import { describe } from './ops/shape.js';
import { probe, probeBackend } from './probe.js';
import { parseSelector, rankDevices, selectorOf } from './select/rank.js';
import { defaultTuneCacheFile, FileTuneStore } from './tune/cache.js';
import { Tuner, type DeviceIdentity, type TuneMode } from './tune/tuner.js';
import type { BackendName, DeviceInfo, OpenOptions } from './types.js';

const BACKENDS: readonly string[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
const POLICIES: readonly string[] = ['auto', 'prefer-gpu', 'prefer-cpu'];
const warned = new Set<string>();

function warnOnce(msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  console.warn(msg);
}

let version: string | undefined;
function pkgVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

function cpuThreads(info: DeviceInfo, opts: OpenOptions): number {
  const env = Number(process.env.KERNELPORT_NUM_THREADS);
  return opts.threads ?? (Number.isInteger(env) && env > 0 ? env : (info.cpu?.usableCores ?? info.computeUnits));
}

/** Measured roofs from the calibration cache (`kernelport bench --calibrate`), when this cpu has them. */
export function measuredPeaks(info: DeviceInfo, opts: OpenOptions = {}): { flops: number; bandwidth: number } | undefined {
  if (info.backend !== 'cpu') return undefined;
  try {
    const cal = cachedCalibration(calibrationKey(info, pkgVersion(), cpuThreads(info, opts)));
    return cal ? { flops: cal.flopsF32, bandwidth: cal.readBandwidth } : undefined;
  } catch {
    return undefined;
  }
}

/** open({ autotune }), else KERNELPORT_AUTOTUNE: 'on' | 'cache' | undefined (off). */
function tuneMode(opts: OpenOptions): TuneMode | undefined {
  let v: unknown = opts.autotune;
  if (v === undefined) {
    const env = process.env.KERNELPORT_AUTOTUNE?.trim().toLowerCase();
    if (!env) return undefined;
    if (['1', 'true', 'on', 'yes'].includes(env)) v = true;
    else if (env === 'cache') v = 'cache';
    else if (['0', 'false', 'off', 'no'].includes(env)) v = false;
    else throw new TypeError(`KERNELPORT_AUTOTUNE must be 1, cache or 0, got '${process.env.KERNELPORT_AUTOTUNE}'`);
  }
  if (v === true) return 'on';
  if (v === 'cache') return 'cache';
  if (v === false) return undefined;
  throw new TypeError(`open: autotune must be true, false or 'cache', got ${describe(v)}`);
}

function checkTuneOptions(opts: Pick<OpenOptions, 'autotune' | 'tuneCache'>): TuneMode | undefined {
  const mode = tuneMode(opts as OpenOptions);
  if (opts.tuneCache !== undefined && (typeof opts.tuneCache !== 'string' || opts.tuneCache.length === 0))
    throw new TypeError(`open: tuneCache must be a file path, got ${describe(opts.tuneCache)}`);
  return mode;
}

/** The device as the tune cache keys it. */
export function tuneIdentity(info: DeviceInfo, threads: number): DeviceIdentity {
  const id: DeviceIdentity = { backend: info.backend, name: info.cpu?.model || info.name, architecture: info.cpu?.isa ?? info.architecture, kernelport: pkgVersion() };
  if (info.backend === 'cpu') id.threads = threads;
  else if (info.gpu) id.driver = String(info.gpu.driverVersion);
  else if (info.backend === 'webgpu') id.driver = [info.features.dawnBackend, info.features.description].filter((x) => typeof x === 'string' && x).join(': ') || undefined;
  return id;
}

const verboseOn = (): boolean => !!process.env.KERNELPORT_VERBOSE && process.env.KERNELPORT_VERBOSE !== '0';

/** Attaches an autotuner when open({ autotune }) / KERNELPORT_AUTOTUNE asks for one. */
export function attachTuner(dev: Device, opts: Pick<OpenOptions, 'autotune' | 'tuneCache'>, extra: { quick?: boolean } = {}): Device {
  const mode = checkTuneOptions(opts);
  if (!mode) return dev;
  const store = new FileTuneStore(opts.tuneCache ?? defaultTuneCacheFile());
  dev.setTuner(
    new Tuner(dev, {
      mode,
      identity: tuneIdentity(dev.info, dev.threads),
      store,
      quick: extra.quick,
      warn: (message, code) => warnOnceAs(message, code),
      log: (line) => {
        if (verboseOn()) console.error(line);
      },
    }),
  );
  return dev;
}

const warnedCodes = new Set<string>();
function warnOnceAs(message: string, code: string): void {
  if (warnedCodes.has(message)) return;
  warnedCodes.add(message);
  process.emitWarning(message, { code, type: 'KernelportWarning' });
}

async function construct(info: DeviceInfo, opts: OpenOptions): Promise<Device> {
  const dev = await constructBare(info, opts);
  try {
    return attachTuner(dev, opts);
  } catch (e) {
    dev.dispose();
    throw e;
  }
}

async function constructBare(info: DeviceInfo, opts: OpenOptions): Promise<Device> {
  switch (info.backend) {
    case 'cpu':
      return new Device(new CpuDevice(requireNative(), info, opts.threads ?? 0));
    case 'reference':
      return new Device(new ReferenceDevice(info));
    case 'webgpu':
      return new Device(await WebGpuDevice.create(info, undefined, opts.webgpuDisable));
    case 'cuda':
      return new Device(new CudaDevice(requireNative(), info));
    case 'musa':
      return new Device(new MusaDevice(requireNative(), info));
    default:
      throw new Error(`open: the ${info.backend} backend has no host implementation in this build`);
  }
}

export async function open(selector: BackendName | 'auto' | `${BackendName}:${number}` | OpenOptions = {}): Promise<Device> {
  const opts: OpenOptions = typeof selector === 'string' ? { backend: selector as OpenOptions['backend'] } : (selector ?? {});
  if (typeof opts !== 'object') throw new TypeError(`open: expected a backend name or options, got ${describe(selector)}`);
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > 1024))
    throw new RangeError(`open: threads must be an integer in [1, 1024], got ${describe(opts.threads)}`);
  if (opts.policy !== undefined && !POLICIES.includes(opts.policy))
    throw new TypeError(`open: policy must be one of ${POLICIES.join(', ')}, got ${describe(opts.policy)}`);
  checkTuneOptions(opts);

  let wanted: string = opts.device ?? opts.backend ?? 'auto';
  let source = opts.device !== undefined ? 'open({ device })' : 'open()';
  if (wanted === 'auto') {
    for (const name of ['KERNELPORT_DEVICE', 'KERNELPORT_BACKEND']) {
      const env = process.env[name]?.trim();
      if (env && env !== 'auto') {
        wanted = env;
        source = name;
        break;
      }
    }
  }
  const listAvailable = async () => [...new Set((await probe()).filter((d) => d.available).map((d) => d.backend))].join(', ');

  if (wanted !== 'auto') {
    const sel = parseSelector(wanted);
    if (!sel || !BACKENDS.includes(sel.backend))
      throw new TypeError(`${source}: unknown backend '${String(wanted)}'; known: ${BACKENDS.join(', ')} (devices as 'cuda:1', 'webgpu:0'; available here: ${await listAvailable()})`);
    const devices = await probeBackend(sel.backend as BackendName);
    const chosen = sel.index === undefined ? devices[0] : devices.find((d) => d.index === sel.index);
    if (!chosen) {
      const here = devices.filter((d) => d.available).map(selectorOf);
      const reason = devices.find((d) => !d.available)?.reason;
      throw new Error(`${source}: no device ${wanted}: ${here.length ? `${sel.backend} devices here: ${here.join(', ')}` : `the ${sel.backend} backend is unavailable: ${reason}`}`);
    }
    if (!chosen.available)
      throw new Error(`${source}: the ${chosen.backend} backend is unavailable: ${chosen.reason}. Available here: ${await listAvailable()}`);
    chosen.selection = { by: source, why: `explicit choice '${wanted}'` };
    const dev = await construct(chosen, opts);
    dev.setSelectionContext({ measured: measuredPeaks(chosen, opts) });
    return dev;
  }

  const devices = await probe();
  const measured = (d: DeviceInfo) => measuredPeaks(d, opts);
  const { ranked, excluded } = rankDevices(devices, { policy: opts.policy, prefer: opts.prefer, require: opts.require, measured });
  if (ranked.length === 0) {
    const why = excluded.map((x) => `${x.selector}: ${x.reason}`);
    throw new Error(`open: no compute backend is available (available: ${await listAvailable()}).\n  ${why.join('\n  ')}`);
  }
  const cpuPeer = devices.find((d) => d.backend === 'cpu' && d.available);
  const failures: { device: string; reason: string }[] = [];
  for (const c of ranked) {
    c.info.selection = { by: 'auto', policy: opts.policy ?? 'auto', estimateMs: c.estimateMs, why: c.why };
    if (failures.length) c.info.fallback = [...failures];
    try {
      const dev = await construct(c.info, opts);
      dev.setSelectionContext({ measured: measured(c.info), cpuPeer });
      return dev;
    } catch (e) {
      const reason = (e as Error).message;
      if (opts.strict) throw new Error(`open: ${c.selector} failed to initialise (strict: no fallback): ${reason}`, { cause: e });
      failures.push({ device: c.selector, reason });
      const next = ranked[ranked.indexOf(c) + 1];
      warnOnce(`kernelport: ${c.selector} failed to initialise (${reason}); ${next ? `trying ${next.selector}` : 'no other candidate'}`);
    }
  }
  throw new Error(`open: every candidate failed to initialise:\n  ${failures.map((f) => `${f.device}: ${f.reason}`).join('\n  ')}`);
}
