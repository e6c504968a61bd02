/**
 * The autotuner of one device (opt-in: open({ autotune }) or `kernelport tune`). For a shape class
 * (src/select/explain.ts tuneClass) it times the candidate configurations (candidates.ts) on scratch
 * tensors of the op's shape (never the caller's tensors), keeps the fastest, and stores it through a
 * TuneStore (cache.ts: the tune cache file). Later ops of the class run with the winner.
 *
 * Modes: 'on' (autotune: true) uses stored winners and, the first time an op of a class without one
 * is enqueued, tunes that class in the background (the op itself runs with the built-in heuristic;
 * ops enqueued after the tuning finishes use the winner; `await dev.tuned()` waits for it). 'cache'
 * only uses stored winners. Without a tuner (the default) every op runs the built-in heuristics, so
 * results never change because a file appeared.
 *
 * No Node APIs here (persistence and warnings come in through options).
 */
import type { KernelConfig } from '../backends/backend.js';
import { summarize } from '../bench/stats.js';
import { randomTensor, Rng } from '../numerics/random.js';
import { tuneClass, variantOf, type TunedNote } from '../select/explain.js';
import { selectorOf, type OpDesc } from '../select/rank.js';
import type { Tensor } from '../tensor.js';
import type { DeviceInfo, DType, HostData, Shape } from '../types.js';
import { classBounds, configLabel, sameConfig, tuneCandidates } from './candidates.js';

export type TuneMode = 'on' | 'cache';

/** Who measured: the device as the cache file keys it. */
export interface DeviceIdentity {
  backend: string;
  name: string;
  architecture: string;
  /** GPU driver / WebGPU implementation, where there is one. */
  driver?: string;
  /** cpu: the device's thread count (winners are per thread count). */
  threads?: number;
  kernelport: string;
}

/** One shape class's measurement, as stored. */
export interface TuneEntry {
  config: Record<string, number>;
  /** Every candidate timed, with its median milliseconds per op. */
  candidates: { config: Record<string, number>; medianMs: number }[];
  /** The built-in configuration's median, and the winner's. */
  defaultMs: number;
  ms: number;
  measuredAt: string;
  /** The op measured (one shape of the class). */
  shape: Record<string, unknown>;
}

export interface TuneStore {
  readonly file?: string;
  load(device: DeviceIdentity): Record<string, TuneEntry>;
  save(device: DeviceIdentity, entries: Record<string, TuneEntry>): void;
}

/** What a tuner needs of its Device (implemented by Device; no import cycle at run time). */
export interface TuneTarget {
  readonly info: DeviceInfo;
  readonly threads: number;
  tensor(data: HostData, shape: Shape, dtype: DType): Tensor;
  matmul(a: Tensor, b: Tensor, options: { transA?: boolean; transB?: boolean; allowTf32?: boolean }): Tensor;
  attention(q: Tensor, k: Tensor, v: Tensor, options: { causal?: boolean; allowP16?: boolean; mask?: Tensor }): Tensor;
  /** Runs `fn` with every op it enqueues forced to `config`. */
  withKernelConfig<T>(config: KernelConfig, fn: () => T): T;
  empty(shape: Shape, dtype: DType): Tensor;
  copy(src: Tensor, dst: Tensor, options: { count: number }): Tensor;
  /** The kernel a GPU backend's library runs for desc with config (candidates that name the same one are timed once). */
  kernelVariant?(desc: OpDesc, config: KernelConfig): string | undefined;
}

export interface TunerOptions {
  mode: TuneMode;
  identity: DeviceIdentity;
  store?: TuneStore;
  /** Fewer candidates and samples (`kernelport tune --quick`). */
  quick?: boolean;
  /** A warning (Node: process.emitWarning); once per message. */
  warn?: (message: string, code: string) => void;
  /** KERNELPORT_VERBOSE lines. */
  log?: (line: string) => void;
}

export interface CandidateTiming {
  config: KernelConfig;
  label: string;
  medianMs: number;
  minMs: number;
  p10Ms: number;
  p90Ms: number;
  samples: number;
  itersPerSample: number;
}

export interface TuneResult {
  device: string;
  shapeClass: string;
  shape: OpDesc;
  candidates: CandidateTiming[];
  default: KernelConfig;
  defaultMs: number;
  winner: KernelConfig;
  winnerMs: number;
  /** defaultMs / winnerMs. */
  speedup: number;
  /** Where the winner was saved, if it was. */
  savedTo?: string;
}

export interface TuneStatus {
  mode: TuneMode;
  file?: string;
  /** Background tunings in flight. */
  pending: number;
  classes: { shapeClass: string; config: Record<string, number>; source: 'cache' | 'measured'; uses: number; measuredAt: string }[];
}

interface Held {
  entry: TuneEntry;
  source: 'cache' | 'measured';
  uses: number;
  /** Checked against this build's candidates for the class (a cached config must be one). */
  checked: boolean;
}

/** A candidate must beat the built-in configuration by this much to replace it (timing noise). */
const MARGIN = 0.03;

export class Tuner {
  readonly mode: TuneMode;
  readonly #target: TuneTarget;
  readonly #o: TunerOptions;
  readonly #held = new Map<string, Held>();
  readonly #pending = new Map<string, Promise<unknown>>();
  readonly #failed = new Set<string>();
  readonly #logged = new Set<string>();

  constructor(target: TuneTarget, options: TunerOptions) {
    this.#target = target;
    this.#o = options;
    this.mode = options.mode;
    const stored = options.store?.load(options.identity) ?? {};
    for (const [k, entry] of Object.entries(stored)) this.#held.set(k, { entry, source: 'cache', uses: 0, checked: false });
  }

  get file(): string | undefined {
    return this.#o.store?.file;
  }

  /** The class of `desc` on this device. */
  classOf(desc: OpDesc): string {
    return tuneClass(variantOf(this.#target.info, desc).variant, desc);
  }

  /** The stored winner for desc's class, checked against this build's candidates (a bad one is dropped with a warning). */
  #winner(desc: OpDesc, key: string): Held | undefined {
    const h = this.#held.get(key);
    if (!h || h.checked) return h;
    const set = tuneCandidates(this.#target.info, this.#target.threads, classBounds(desc));
    if (!set || !set.all.some((c) => sameConfig(c, h.entry.config))) {
      this.#held.delete(key);
      this.#o.warn?.(
        `kernelport: ignoring the tuned winner for '${key}' in ${this.file ?? 'the tune cache'}: ${configLabel(h.entry.config)} is not a candidate of this build for this device`,
        'KERNELPORT_TUNE_CACHE_STALE',
      );
      return undefined;
    }
    h.checked = true;
    return h;
  }

  /**
   * The configuration an op of `desc` runs with now: the stored winner of its class, or undefined
   * (the built-in heuristic). In mode 'on', the first op of a class without a winner starts tuning it
   * in the background.
   */
  configFor(desc: OpDesc): KernelConfig | undefined {
    const key = this.classOf(desc);
    const h = this.#winner(desc, key);
    if (h) {
      h.uses++;
      if (!this.#logged.has(key)) {
        this.#logged.add(key);
        this.#o.log?.(`kernelport: ${selectorOf(this.#target.info)} ${key}: tuned ${configLabel(h.entry.config)} (${h.source === 'cache' ? `from ${this.file}` : 'measured now'}, ${h.entry.measuredAt})`);
      }
      return h.entry.config;
    }
    if (this.mode === 'on' && !this.#pending.has(key) && !this.#failed.has(key)) {
      // Started after the op that asked has been enqueued (not inside its call).
      const p = Promise.resolve()
        .then(() => this.tune(desc))
        .catch((e: unknown) => {
          this.#failed.add(key);
          // A disposed device ends tuning quietly; anything else is worth one warning.
          if (!/disposed/.test(String((e as Error)?.message)))
            this.#o.warn?.(`kernelport: tuning '${key}' on ${selectorOf(this.#target.info)} failed: ${(e as Error)?.message ?? String(e)}; the built-in configuration stays`, 'KERNELPORT_TUNE_FAILED');
        })
        .finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return undefined;
  }

  /** What explain() says about desc's class: the winner that applies, if any. */
  note(desc: OpDesc): TunedNote | undefined {
    const key = this.classOf(desc);
    const h = this.#winner(desc, key);
    if (!h) return undefined;
    return { shapeClass: key, config: { ...h.entry.config }, source: h.source, file: this.file, measuredAt: h.entry.measuredAt, ms: h.entry.ms, defaultMs: h.entry.defaultMs };
  }

  /** Resolves when no background tuning is in flight. */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending.values()]);
  }

  status(): TuneStatus {
    return {
      mode: this.mode,
      file: this.file,
      pending: this.#pending.size,
      classes: [...this.#held].map(([shapeClass, h]) => ({ shapeClass, config: { ...h.entry.config }, source: h.source, uses: h.uses, measuredAt: h.entry.measuredAt })),
    };
  }

  /**
   * Times every candidate for desc's class on scratch tensors of desc's shape, keeps the winner for
   * this tuner's ops and saves it. Undefined when the backend has nothing to tune.
   */
  async tune(desc: OpDesc, options: { quick?: boolean } = {}): Promise<TuneResult | undefined> {
    const t = this.#target;
    const key = this.classOf(desc);
    const kernelOf = t.kernelVariant ? (c: KernelConfig) => t.kernelVariant!(desc, c) : undefined;
    const set = tuneCandidates(t.info, t.threads, classBounds(desc), kernelOf);
    if (!set) return undefined;
    const quick = options.quick ?? this.#o.quick ?? false;
    const list = quick ? set.quick : set.all;
    const { run, dispose } = scratchOp(t, desc);
    const timings: CandidateTiming[] = [];
    try {
      const minSampleTime = quick ? 0.005 : 0.02;
      const rounds = quick ? 3 : 7;
      const sample = async (c: KernelConfig, iters: number): Promise<number> => {
        const outs: Tensor[] = [];
        const t0 = performance.now();
        try {
          for (let i = 0; i < iters; i++) outs.push(t.withKernelConfig(c, run));
          await settled(t, outs[outs.length - 1]!);
          return (performance.now() - t0) / 1e3;
        } finally {
          for (const o of outs) o.dispose();
        }
      };
      // Warm-up (a GPU pipeline compiles here), then an estimate per candidate; samples interleave the
      // candidates round by round so that a noisy neighbour hurts them alike.
      const plan: { c: KernelConfig; iters: number; times: number[] }[] = [];
      for (const c of list) {
        await sample(c, 1);
        const est = await sample(c, 1);
        plan.push({ c, iters: Math.min(200, Math.max(1, Math.ceil(minSampleTime / Math.max(est, 1e-7)))), times: [] });
      }
      for (let r = 0; r < rounds; r++) for (const p of plan) p.times.push((await sample(p.c, p.iters)) / p.iters);
      for (const p of plan) {
        const s = summarize(p.times, p.iters);
        const kernel = kernelOf?.(p.c);
        timings.push({ config: p.c, label: `${configLabel(p.c)}${kernel ? ` (${kernel})` : ''}`, medianMs: s.median * 1e3, minMs: s.min * 1e3, p10Ms: s.p10 * 1e3, p90Ms: s.p90 * 1e3, samples: s.samples, itersPerSample: p.iters });
      }
    } finally {
      dispose();
    }
    const def = timings.find((x) => sameConfig(x.config, set.default)) ?? timings[0]!;
    // The fastest median wins, but replaces the built-in only when it is faster by MARGIN on the median
    // and on the best sample too: on a busy machine one location estimate alone is easily fooled.
    let best = timings.reduce((a, b) => (b.medianMs < a.medianMs ? b : a));
    if (best !== def && (best.medianMs > def.medianMs * (1 - MARGIN) || best.minMs >= def.minMs)) best = def;
    const entry: TuneEntry = {
      config: { ...best.config },
      candidates: timings.map((x) => ({ config: { ...x.config }, medianMs: x.medianMs })),
      defaultMs: def.medianMs,
      ms: best.medianMs,
      measuredAt: new Date().toISOString(),
      shape: { ...desc },
    };
    this.#held.set(key, { entry, source: 'measured', uses: 0, checked: true });
    let savedTo: string | undefined;
    if (this.#o.store) {
      try {
        this.#o.store.save(this.#o.identity, { [key]: entry });
        savedTo = this.#o.store.file;
      } catch (e) {
        this.#o.warn?.(`kernelport: could not write the tune cache ${this.#o.store.file}: ${(e as Error).message}`, 'KERNELPORT_TUNE_CACHE_UNWRITABLE');
      }
    }
    this.#logged.add(key);
    this.#o.log?.(
      `kernelport: tuned ${selectorOf(t.info)} ${key}: ${best.label} ${best.medianMs.toPrecision(3)} ms vs built-in ${def.label} ${def.medianMs.toPrecision(3)} ms (${(def.medianMs / best.medianMs).toFixed(2)}x) over ${timings.length} candidates${savedTo ? `; saved to ${savedTo}` : ''}`,
    );
    return {
      device: selectorOf(t.info),
      shapeClass: key,
      shape: desc,
      candidates: timings,
      default: set.default,
      defaultMs: def.medianMs,
      winner: best.config,
      winnerMs: best.medianMs,
      speedup: def.medianMs / best.medianMs,
      savedTo,
    };
  }
}

/**
 * Waits for the ops up to the one that made `last` (the queue runs in order) and raises its error, if
 * any: by reading two of its elements copied on the device, not the whole output, whose transfer (32 MiB
 * for a 4096 x 4096 bf16 GEMM) would add the same time to every candidate and flatten their ratios. Not
 * dev.sync(): that would also take the first error of the caller's own ops, which background tuning
 * shares the device with. (Two elements: webgpu copies whole 4-byte words.)
 */
async function settled(t: TuneTarget, last: Tensor): Promise<void> {
  if (last.size < 2) {
    await last.read();
    return;
  }
  const probe = t.empty([2], last.dtype);
  try {
    t.copy(last, probe, { count: 2 });
    await probe.read();
  } finally {
    probe.dispose();
  }
}

/** Scratch operands of desc's shape (seeded values, weights scaled so outputs stay O(1)) and the op on them. */
function scratchOp(t: TuneTarget, desc: OpDesc & { transA?: boolean; transB?: boolean }): { run: () => Tensor; dispose: () => void } {
  const rng = new Rng(0x7e57);
  const dt = desc.dtype ?? 'f32';
  const held: Tensor[] = [];
  const up = (shape: number[], scale = 1) => {
    const h = randomTensor(rng, shape, dt, scale);
    const x = t.tensor(h.data, h.shape, h.dtype);
    held.push(x);
    return x;
  };
  const dispose = () => {
    for (const x of held) x.dispose();
  };
  try {
    if (desc.op === 'matmul') {
      const batch = desc.batch ?? 1;
      const lead = batch > 1 ? [batch] : [];
      const a = up([...lead, ...(desc.transA ? [desc.k, desc.m] : [desc.m, desc.k])]);
      const b = up(desc.transB ? [desc.n, desc.k] : [desc.k, desc.n], 1 / Math.sqrt(Math.max(1, desc.k)));
      const opts = { transA: desc.transA, transB: desc.transB, allowTf32: desc.allowTf32 };
      return { run: () => t.matmul(a, b, opts), dispose };
    }
    const batch = desc.batch ?? 1;
    const hkv = desc.hkv ?? desc.hq;
    const dv = desc.dv ?? desc.d;
    const q = up([batch, desc.hq, desc.sq, desc.d]);
    const k = up([batch, hkv, desc.skv, desc.d]);
    const v = up([batch, hkv, desc.skv, dv]);
    // A masked class is timed with a padding-style mask ([B, 1, 1, Skv] of zeros): its kernels, at the
    // least mask traffic a caller can have (the class does not say how the caller's mask broadcasts).
    const mask = desc.mask ? t.tensor(new Float32Array(batch * desc.skv), [batch, 1, 1, desc.skv], 'f32') : undefined;
    if (mask) held.push(mask);
    const opts = { causal: desc.causal ?? false, allowP16: desc.allowP16, mask };
    return { run: () => t.attention(q, k, v, opts), dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
