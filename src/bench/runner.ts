/**
 * Runs cases × backends × peers: builds inputs once per case, warms up, times with batched
 * iterations until the minimum measured time, and turns times into rows with the roofline.
 */
import { readFileSync } from 'node:fs';
import { cpus, hostname, platform, release, totalmem, arch } from 'node:os';
import { join } from 'node:path';
import type { Device } from '../device.js';
import { loadNative, packageRoot } from '../native.js';
import { Rng } from '../numerics/random.js';
import { open } from '../open.js';
import { probe } from '../probe.js';
import type { Tensor } from '../tensor.js';
import type { BackendName, DeviceInfo, DType } from '../types.js';
import { cachedCalibration, calibrateCpu, calibrationKey, devicePeaks, type CpuCalibration } from './calibrate.js';
import { BenchInputError } from './errors.js';
import { roofline, work } from './metrics.js';
import { builtinPeer, type CaseInputs, type Peer, type PeerRun } from './peers/index.js';
import { DEFAULT_TIMING, planIterations, summarize, type TimingOptions } from './stats.js';
import { DEFAULT_SUITES, parseDtypes, shapeCases, suiteCases, type ShapeSpec } from './suites.js';
import { SCHEMA, type BenchCase, type BenchReport, type BenchRow, type DevicePeaks, type PeerInfo } from './types.js';

export const KNOWN_BACKENDS: readonly BackendName[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];
/** The float64 reference runs in JavaScript: cases above this many FLOPs are skipped on it. */
export const REFERENCE_MAX_FLOPS = 5e8;

export interface BenchProgress {
  done: number;
  total: number;
  label: string;
}

export interface BenchOptions {
  /** Named suites (square, llm-prefill, llm-decode); default: all three, unless `shapes` or `cases` are given. */
  suites?: string[];
  /** Explicit shapes (multiplied out), instead of suites. */
  shapes?: ShapeSpec;
  /** Fully explicit cases. */
  cases?: BenchCase[];
  dtypes?: DType[];
  /** kernelport backends; default ['cpu']. 'reference' only when asked, and only for small shapes. */
  backends?: string[];
  /** Peers by built-in name or as Peer objects; default ['onnxruntime-node']; [] for none. */
  peers?: (string | Peer)[];
  /** cpu threads for kernelport and the peers; default: the cpu device's default. */
  threads?: number;
  minTime?: number;
  warmup?: number;
  minSamples?: number;
  maxSamples?: number;
  /** auto: cached peaks, measuring once when none are cached; force: measure again; never: table/estimate peaks. */
  calibrate?: 'auto' | 'force' | 'never';
  seed?: number;
  onProgress?: (p: BenchProgress) => void;
  /** Notices (calibrating, peer missing); default: none. */
  log?: (line: string) => void;
}

interface Timed {
  time(iters: number): Promise<number>;
  dispose(): Promise<void> | void;
}

export async function bench(options: BenchOptions = {}): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const dtypes = parseDtypes(options.dtypes);
  const suites = options.cases || options.shapes ? (options.suites ?? []) : (options.suites ?? DEFAULT_SUITES);
  const cases: BenchCase[] = [...(options.cases ?? []), ...(options.shapes ? shapeCases(options.shapes, dtypes) : []), ...suiteCases(suites, dtypes)];
  if (cases.length === 0) throw new BenchInputError('nothing to run: give suites, shapes or cases');
  const backends = [...new Set(options.backends ?? ['cpu'])];
  for (const b of backends)
    if (!(KNOWN_BACKENDS as readonly string[]).includes(b)) throw new BenchInputError(`unknown backend '${b}' (backends: ${KNOWN_BACKENDS.join(', ')})`);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024))
    throw new BenchInputError(`threads must be an integer in [1, 1024], got ${String(options.threads)}`);
  const timing: TimingOptions = {
    ...DEFAULT_TIMING,
    ...(options.minTime !== undefined ? { minTime: positive('minTime', options.minTime) } : {}),
    ...(options.warmup !== undefined ? { warmup: nonNegative('warmup', options.warmup) } : {}),
    ...(options.minSamples !== undefined ? { minSamples: Math.max(1, Math.floor(positive('minSamples', options.minSamples))) } : {}),
    ...(options.maxSamples !== undefined ? { maxSamples: Math.max(1, Math.floor(positive('maxSamples', options.maxSamples))) } : {}),
  };
  timing.maxSamples = Math.max(timing.maxSamples, timing.minSamples);
  const peerList = (options.peers ?? ['onnxruntime-node']).map((p) => (typeof p === 'string' ? builtinPeer(p) : p));
  const warnings: string[] = [];

  // Devices first: opening checks availability with the reason.
  const devices: Device[] = [];
  for (const b of backends) devices.push(await open({ backend: b as BackendName, threads: b === 'cpu' ? options.threads : undefined }));
  const threads = options.threads ?? devices.find((d) => d.backend === 'cpu')?.threads ?? 1;
  const version = pkgVersion();

  const peaks: DevicePeaks[] = [];
  for (const d of devices) {
    let cal: CpuCalibration | undefined;
    if (d.backend === 'cpu' && options.calibrate !== 'never') {
      const key = calibrationKey(d.info, version, d.threads);
      cal = options.calibrate === 'force' ? undefined : cachedCalibration(key);
      if (!cal) {
        log(`calibrating this machine's peaks (FMA throughput per ISA, streaming-read bandwidth) on ${d.threads} threads; cached for next time...`);
        cal = await calibrateCpu(key, d.threads);
      }
    }
    peaks.push(devicePeaks(d.info, cal));
  }
  for (const p of peaks)
    if (p.source.flops !== 'measured' && p.backend === 'cpu')
      warnings.push(`cpu roofline % uses ${p.source.flops} peaks (bandwidth: ${p.source.bandwidth}); run \`kernelport bench --calibrate\` to measure this machine's`);

  const peerInfos: PeerInfo[] = [];
  const peers: Peer[] = [];
  for (const p of peerList) {
    const info = await p.init({ threads });
    peerInfos.push(info);
    if (info.available) peers.push(p);
    else {
      warnings.push(`peer ${info.name} unavailable: ${info.reason ?? 'no reason given'}`);
      log(`peer ${info.name} unavailable: ${info.reason ?? ''}`);
    }
  }

  const rows: BenchRow[] = [];
  const total = cases.length * (devices.length + peers.length);
  let done = 0;
  const rng = new Rng(options.seed ?? 2026);
  try {
    for (const c of cases) {
      const inputs = makeInputs(rng, c);
      const w = work(c);
      for (const [i, d] of devices.entries()) {
        options.onProgress?.({ done, total, label: `${c.id} kernelport:${d.backend}` });
        const base = { case: c, runner: 'kernelport', backend: d.backend, clock: clockOf(d.backend), flops: w.flops, bytes: w.bytes, flopsNote: w.note, intensity: w.intensity };
        if (d.backend === 'reference' && w.flops > REFERENCE_MAX_FLOPS)
          rows.push({ ...base, skipped: `the float64 reference is far too slow for ${fmtG(w.flops)} FLOPs (limit ${fmtG(REFERENCE_MAX_FLOPS)}); bench it with small --m/--k/--n` });
        else rows.push(await measureRow(base, () => kernelportRun(d, c, inputs), timing, peaks[i]));
        done++;
      }
      for (const p of peers) {
        options.onProgress?.({ done, total, label: `${c.id} ${p.name}` });
        const base = { case: c, runner: p.name, backend: p.backend, clock: p.clock, flops: w.flops, bytes: w.bytes, flopsNote: w.note, intensity: w.intensity };
        const why = p.supports(c);
        if (why) rows.push({ ...base, skipped: why });
        else rows.push(await measureRow(base, () => p.prepare(c, inputs), timing, peaks.find((x) => x.backend === p.backend)));
        done++;
      }
    }
    options.onProgress?.({ done, total, label: 'done' });
  } finally {
    for (const d of devices) d.dispose();
    for (const p of peers) await p.close?.();
  }

  addRatios(rows);
  const noisy = rows.filter((r) => r.stats?.noisy).length;
  if (noisy > 0)
    warnings.push(`${noisy} of ${rows.filter((r) => r.stats).length} measurements had a p10-p90 spread above 10% of the median: the machine is noisy (other load, frequency scaling); trust min over median, or rerun`);
  for (const r of rows) if (r.error) warnings.push(`${r.case.id} on ${r.runner}:${r.backend} failed: ${r.error}`);

  const all = await probe();
  const native = loadNative();
  return {
    schema: SCHEMA,
    createdAt: new Date().toISOString(),
    kernelport: { version, abiVersion: native instanceof Error ? null : native.abiVersion, nativeVersion: native instanceof Error ? null : native.version },
    machine: {
      hostname: hostname(),
      platform: platform(),
      release: release(),
      arch: arch(),
      cpuModel: cpus()[0]?.model ?? '',
      logicalCpus: cpus().length,
      memoryBytes: totalmem(),
      node: process.version,
    },
    devices: all.filter((d: DeviceInfo) => backends.includes(d.backend)),
    peaks,
    peers: peerInfos,
    settings: {
      ops: [...new Set(cases.map((c) => c.op))],
      suites,
      backends,
      peers: peerInfos.map((p) => p.name),
      dtypes,
      threads,
      minTime: timing.minTime,
      warmup: timing.warmup,
      minSamples: timing.minSamples,
      maxSamples: timing.maxSamples,
      seed: options.seed ?? 2026,
    },
    rows,
    warnings,
  };
}

type RowBase = Omit<BenchRow, 'stats' | 'error' | 'skipped'>;

async function measureRow(base: RowBase, prepare: () => Promise<Timed>, timing: TimingOptions, peaks: DevicePeaks | undefined): Promise<BenchRow> {
  let run: Timed | undefined;
  try {
    run = await prepare();
    const stats = await measure(run, timing);
    const flopsPerSec = base.flops / stats.median;
    return { ...base, stats, flopsPerSec, bytesPerSec: base.bytes / stats.median, roofline: roofline(flopsPerSec, base.intensity, peaks) };
  } catch (e) {
    return { ...base, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await run?.dispose();
  }
}

/** Warm-up, then samples of batched iterations; per-iteration seconds. */
export async function measure(run: Timed, o: TimingOptions) {
  let estimate = await run.time(1);
  let warm = 1;
  let spent = estimate;
  while (spent < o.warmup) {
    estimate = await run.time(1);
    spent += estimate;
    warm++;
  }
  const { itersPerSample, samples } = planIterations(estimate, o);
  const times: number[] = [];
  for (let s = 0; s < samples; s++) times.push((await run.time(itersPerSample)) / itersPerSample);
  return summarize(times, itersPerSample, warm);
}

function kernelportRun(dev: Device, c: BenchCase, inputs: CaseInputs): Promise<Timed> {
  const held: Tensor[] = [];
  const up = (data: Float32Array, shape: number[]) => {
    const t = dev.tensor(data, shape, c.dtype);
    held.push(t);
    return t;
  };
  let op: () => Tensor;
  if (c.op === 'matmul' && inputs.op === 'matmul') {
    const a = up(inputs.a, [c.m, c.k]);
    const b = up(inputs.b, [c.k, c.n]);
    const bias = inputs.bias ? up(inputs.bias, [c.n]) : undefined;
    op = () => dev.matmul(a, b, { bias, activation: c.activation });
  } else if (c.op === 'attention' && inputs.op === 'attention') {
    const q = up(inputs.q, [c.batch, c.hq, c.sq, c.d]);
    const k = up(inputs.k, [c.batch, c.hkv, c.skv, c.d]);
    const v = up(inputs.v, [c.batch, c.hkv, c.skv, c.d]);
    op = () => dev.attention(q, k, v, { causal: c.causal });
  } else throw new Error('case and inputs disagree on the op');
  return Promise.resolve({
    async time(iters: number): Promise<number> {
      const outs: Tensor[] = [];
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) outs.push(op());
      await dev.sync();
      const dt = (performance.now() - t0) / 1e3;
      for (const o of outs) o.dispose();
      return dt;
    },
    dispose() {
      for (const t of held) t.dispose();
    },
  });
}

export function clockOf(backend: string): string {
  if (backend === 'cpu') return 'host: performance.now() around enqueue + dev.sync() (the cpu queue thread runs the kernels)';
  if (backend === 'reference') return 'host: performance.now() around the synchronous call';
  return `host: performance.now() around enqueue + dev.sync() (the ${backend} backend exposes no device timer yet)`;
}

/** Uniform values, weights scaled by 1/sqrt(K) so outputs stay O(1); the same arrays feed every runner. */
function makeInputs(rng: Rng, c: BenchCase): CaseInputs {
  const fill = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rng.next() * 2 - 1) * scale;
    return a;
  };
  if (c.op === 'matmul') return { op: 'matmul', a: fill(c.m * c.k, 1), b: fill(c.k * c.n, 1 / Math.sqrt(c.k)), bias: c.bias ? fill(c.n, 1) : undefined };
  const q = c.batch * c.hq * c.sq * c.d;
  const kv = c.batch * c.hkv * c.skv * c.d;
  return { op: 'attention', q: fill(q, 1), k: fill(kv, 1), v: fill(kv, 1) };
}

/** kernelport rows get peerTime/kernelportTime per peer for the same case (> 1: kernelport faster). */
function addRatios(rows: BenchRow[]): void {
  for (const r of rows) {
    if (r.runner !== 'kernelport' || !r.stats) continue;
    for (const p of rows)
      if (p.runner !== 'kernelport' && p.case === r.case && p.stats) (r.ratios ??= {})[p.runner] = p.stats.median / r.stats.median;
  }
}

function pkgVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function positive(name: string, x: number): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new BenchInputError(`${name} must be a positive number, got ${String(x)}`);
  return x;
}
function nonNegative(name: string, x: number): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new BenchInputError(`${name} must be a non-negative number, got ${String(x)}`);
  return x;
}
const fmtG = (x: number) => `${(x / 1e9).toFixed(2)} G`;
