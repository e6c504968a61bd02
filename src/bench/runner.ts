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
import type { BackendName, DeviceInfo, DType } from '../types.js';
import { cachedCalibration, calibrateCpu, calibrationKey, devicePeaks, type CpuCalibration } from './calibrate.js';
import { BenchInputError } from './errors.js';
import { work } from './metrics.js';
import { builtinPeer, type Peer } from './peers/index.js';
import type { TimingOptions } from './stats.js';
import { parseDtypes, type ShapeSpec } from './suites.js';
import { addRatios, clockOf, fmtG, kernelportRun, makeInputs, measureRow, REFERENCE_MAX_FLOPS, benchCases, timingOptions } from './timing.js';
import { SCHEMA, type BenchCase, type BenchReport, type BenchRow, type DevicePeaks, type PeerInfo } from './types.js';

export { clockOf, measure, REFERENCE_MAX_FLOPS } from './timing.js';

export const KNOWN_BACKENDS: readonly BackendName[] = ['cpu', 'cuda', 'musa', 'webgpu', 'reference'];

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

export async function bench(options: BenchOptions = {}): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const dtypes = parseDtypes(options.dtypes);
  const { cases, suites } = benchCases(options, dtypes);
  const backends = [...new Set(options.backends ?? ['cpu'])];
  for (const b of backends)
    if (!(KNOWN_BACKENDS as readonly string[]).includes(b)) throw new BenchInputError(`unknown backend '${b}' (backends: ${KNOWN_BACKENDS.join(', ')})`);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024))
    throw new BenchInputError(`threads must be an integer in [1, 1024], got ${String(options.threads)}`);
  const timing: TimingOptions = timingOptions(options);
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
        const base = { case: c, runner: 'kernelport', backend: d.backend, clock: clockOf(d), flops: w.flops, bytes: w.bytes, flopsNote: w.note, intensity: w.intensity };
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

function pkgVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

