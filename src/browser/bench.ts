/**
 * bench() in a browser: kernelport's webgpu (or reference) backend on the same cases, timing and
 * report format as the Node harness (src/bench), without peers or CPU calibration. Roofline columns
 * stay empty: the browser does not say what the adapter's peaks are.
 */
import type { Device } from '../device.js';
import { BenchInputError } from '../bench/errors.js';
import { work } from '../bench/metrics.js';
import type { TimingOptions } from '../bench/stats.js';
import { parseDtypes, type ShapeSpec } from '../bench/suites.js';
import { addRatios, clockOf, fmtG, kernelportRun, makeInputs, measureRow, REFERENCE_MAX_FLOPS, benchCases, timingOptions } from '../bench/timing.js';
import { SCHEMA, type BenchCase, type BenchReport, type BenchRow, type DevicePeaks } from '../bench/types.js';
import { Rng } from '../numerics/random.js';
import type { BackendName, DType } from '../types.js';
import { VERSION } from './assets.js';
import { open } from './open.js';
import { probe } from './probe.js';

export interface BrowserBenchOptions {
  /** Named suites (square, llm-prefill, llm-decode); default: all three, unless `shapes` or `cases` are given. */
  suites?: string[];
  /** Explicit shapes (multiplied out), instead of suites. */
  shapes?: ShapeSpec;
  /** Fully explicit cases. */
  cases?: BenchCase[];
  dtypes?: DType[];
  /** 'webgpu' and/or 'reference'; default: webgpu where the browser has an adapter, else reference. */
  backends?: string[];
  minTime?: number;
  warmup?: number;
  minSamples?: number;
  maxSamples?: number;
  seed?: number;
  onProgress?: (p: { done: number; total: number; label: string }) => void;
}

const BROWSER_BACKENDS = ['webgpu', 'reference'];

export async function bench(options: BrowserBenchOptions = {}): Promise<BenchReport> {
  const dtypes = parseDtypes(options.dtypes);
  const { cases, suites } = benchCases(options, dtypes);
  const all = await probe();
  const backends = [...new Set(options.backends ?? [all.find((d) => d.backend === 'webgpu')?.available ? 'webgpu' : 'reference'])];
  for (const b of backends)
    if (!BROWSER_BACKENDS.includes(b)) throw new BenchInputError(`backend '${b}' does not run in a browser (browser backends: ${BROWSER_BACKENDS.join(', ')})`);
  const timing: TimingOptions = timingOptions(options);

  const devices: Device[] = [];
  const warnings: string[] = [];
  const rows: BenchRow[] = [];
  const seed = options.seed ?? 2026;
  try {
    for (const b of backends) devices.push(await open({ backend: b as BackendName }));
    const peaks: DevicePeaks[] = devices.map((d) => ({
      backend: d.backend,
      flops: d.info.peak.flops.f32 ?? 0,
      bandwidth: d.info.peak.bandwidth,
      source: { flops: (d.info.peak.flops.f32 ?? 0) > 0 ? d.info.peak.source : 'none', bandwidth: d.info.peak.bandwidth > 0 ? d.info.peak.source : 'none' },
    }));
    const total = cases.length * devices.length;
    let done = 0;
    const rng = new Rng(seed);
    for (const c of cases) {
      const inputs = makeInputs(rng, c);
      const w = work(c);
      for (const [i, d] of devices.entries()) {
        options.onProgress?.({ done, total, label: `${c.id} kernelport:${d.backend}` });
        const base = { case: c, runner: 'kernelport', backend: d.backend, clock: clockOf(d), flops: w.flops, bytes: w.bytes, flopsNote: w.note, intensity: w.intensity };
        if (d.backend === 'reference' && w.flops > REFERENCE_MAX_FLOPS)
          rows.push({ ...base, skipped: `the float64 reference is far too slow for ${fmtG(w.flops)} FLOPs (limit ${fmtG(REFERENCE_MAX_FLOPS)})` });
        else rows.push(await measureRow(base, () => kernelportRun(d, c, inputs), timing, peaks[i]));
        done++;
      }
    }
    options.onProgress?.({ done, total, label: 'done' });
    addRatios(rows);
    for (const r of rows) if (r.error) warnings.push(`${r.case.id} on ${r.runner}:${r.backend} failed: ${r.error}`);
    const nav = (globalThis as { navigator?: { userAgent?: string; hardwareConcurrency?: number; deviceMemory?: number; platform?: string } }).navigator;
    const loc = (globalThis as { location?: { host?: string } }).location;
    return {
      schema: SCHEMA,
      createdAt: new Date().toISOString(),
      kernelport: { version: VERSION, abiVersion: null, nativeVersion: null },
      // In a browser: platform 'browser', release = the user agent, node = ''.
      machine: {
        hostname: loc?.host ?? '',
        platform: 'browser',
        release: nav?.userAgent ?? '',
        arch: nav?.platform ?? '',
        cpuModel: '',
        logicalCpus: nav?.hardwareConcurrency ?? 0,
        memoryBytes: (nav?.deviceMemory ?? 0) * 2 ** 30,
        node: '',
      },
      devices: all.filter((d) => backends.includes(d.backend)),
      peaks,
      peers: [],
      settings: {
        ops: [...new Set(cases.map((c) => c.op))],
        suites,
        backends,
        peers: [],
        dtypes,
        threads: 1,
        minTime: timing.minTime,
        warmup: timing.warmup,
        minSamples: timing.minSamples,
        maxSamples: timing.maxSamples,
        seed,
      },
      rows,
      warnings,
    };
  } finally {
    for (const d of devices) d.dispose();
  }
}
