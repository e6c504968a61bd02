/**
 * Device: the public handle over one backend device. It turns user arguments into checked plans
 * (src/ops), checks tensor ownership, and hands storage to the backend. Ops return at once.
 */
import type { BackendDevice, KernelConfig, Storage } from './backends/backend.js';
import { bytesPerElement, encode, isDType } from './dtype.js';
import { planAttention, type AttentionPlan } from './ops/attention.js';
import { planMatmul, type MatmulPlan } from './ops/matmul.js';
import { byteSize, checkOptionNames, checkShape, describe, fmt, numel } from './ops/shape.js';
import { Tensor } from './tensor.js';
import type { AttentionOptions, CopyOptions, DeviceInfo, DType, HostData, MatmulOptions, Shape } from './types.js';
import { explain as explainOp, shapeClass, supports as supportsOp, toDesc, type Explanation, type SupportResult } from './select/explain.js';
import type { OpDesc, OpName, SizesOf } from './select/rank.js';
import { configLabel } from './tune/candidates.js';
import type { Tuner, TuneResult, TuneStatus } from './tune/tuner.js';

// Every copy option's name (the compiler checks the list is whole), for checkOptionNames
const COPY_OPTIONS = Object.keys({ srcOffset: 1, dstOffset: 1, count: 1, rows: 1, srcStride: 1, dstStride: 1 } satisfies Record<keyof CopyOptions, 1>);

/** What open() knows that makes explain() sharper: measured peaks, the cpu beside a software adapter. */
export interface SelectionContext {
  measured?: { flops: number; bandwidth: number };
  cpuPeer?: DeviceInfo;
}

/** (op, shape class) decisions already logged under KERNELPORT_VERBOSE=1, per process. */
const logged = new Set<string>();
const verbose = (): boolean => typeof process !== 'undefined' && !!process.env?.KERNELPORT_VERBOSE && process.env.KERNELPORT_VERBOSE !== '0';

export class Device {
  #backend: BackendDevice | undefined;
  #selection: SelectionContext = {};
  #tuner: Tuner | undefined;
  /** Set inside withKernelConfig(): every op enqueued then runs with it. */
  #forced: KernelConfig | undefined;
  readonly info: DeviceInfo;

  /** @internal Use open(). */
  constructor(backend: BackendDevice) {
    this.#backend = backend;
    this.info = backend.info;
  }

  get backend(): string {
    return this.info.backend;
  }

  /** @internal open() passes what it learnt while selecting. */
  setSelectionContext(ctx: SelectionContext): void {
    this.#selection = ctx;
  }

  /**
   * Whether this device can run `op` on sizes `desc` (matmul: { m, n, k, batch?, dtype? }; attention:
   * { batch?, hq, hkv?, sq, skv, d, dv?, causal?, dtype? }), and why not: dtype, shape limits, features.
   */
  supports<O extends OpName>(op: O, desc: SizesOf<O>): SupportResult {
    return supportsOp(this.info, op, desc);
  }

  /**
   * The kernel variant, tile configuration, roofline estimate and bound this device uses for `op` on
   * `desc`; with autotuning on, the tuned configuration of its shape class when there is one
   * (`tuned`: the winner, where it came from, when it was measured).
   */
  explain<O extends OpName>(op: O, desc: SizesOf<O>): Explanation {
    const note = this.#tuner?.note(toDesc(op, desc));
    const x = explainOp(this.info, op, desc, this.#selection.measured, this.#selection.cpuPeer, note?.config);
    // GPU backends plan in native code: their own choice is the variant (the estimate is the model's),
    // with the tuned kernel choice where there is one.
    const native = this.kernelVariant(toDesc(op, desc), note?.config);
    if (native && native !== x.variant) {
      // The library names tiles the model only knows as families (gemm-simt -> gemm-simt-64x64).
      if (!native.startsWith(x.variant)) x.why = `${native}: the ${this.info.backend} library's choice (the estimate models ${x.variant}); ${x.why}`;
      x.variant = native;
    }
    if (note) {
      x.tuned = note;
      x.tileConfig = { ...x.tileConfig, ...note.config };
      const cfg = configLabel(note.config);
      x.why += `; tuned: ${cfg} (${note.source === 'cache' ? `from the tune cache ${note.file}` : 'measured by this process'}, ${note.measuredAt}: ${note.ms.toPrecision(3)} ms vs ${note.defaultMs.toPrecision(3)} ms built-in)`;
    }
    return x;
  }

  /**
   * @internal The kernel the backend's native planner runs for `d` with `config` (the tuner tells
   * candidates apart by it); undefined where the backend has no native planner.
   */
  kernelVariant(d: OpDesc, config?: KernelConfig): string | undefined {
    const backend = this.#backend;
    if (!backend?.nativeVariant) return undefined;
    const t = (shape: number[]) => ({ shape, dtype: d.dtype ?? 'f32' });
    let plan: MatmulPlan | AttentionPlan;
    try {
      if (d.op === 'matmul') {
        const { transA, transB } = d as { transA?: unknown; transB?: unknown };
        // A batch of the given size on both operands (the planner counts m·n·batch outputs).
        const bt = d.batch !== undefined && d.batch !== 1 ? [d.batch] : [];
        plan = planMatmul(t([...bt, ...(transA === true ? [d.k, d.m] : [d.m, d.k])]), t([...bt, ...(transB === true ? [d.n, d.k] : [d.k, d.n])]), {
          transA: transA === true,
          transB: transB === true,
          allowTf32: d.allowTf32 === true,
        });
      } else {
        const [b, hkv, dv] = [d.batch ?? 1, d.hkv ?? d.hq, d.dv ?? d.d];
        plan = planAttention(t([b, d.hq, d.sq, d.d]), t([b, hkv, d.skv, d.d]), t([b, hkv, d.skv, dv]), {
          causal: d.causal === true,
          allowP16: d.allowP16 === true,
          ...(d.mask === true ? { mask: { shape: [b, d.hq, d.sq, d.skv], dtype: 'f32' as const } } : {}),
        });
      }
    } catch {
      return undefined; // a description no op would accept: the model's answer stands
    }
    return backend.nativeVariant(plan, config) || undefined;
  }

  /** @internal open() attaches the autotuner (open({ autotune })). */
  setTuner(tuner: Tuner | undefined): void {
    this.#tuner = tuner;
  }

  /**
   * Times the candidate configurations for the shape class of `op` on `desc` now (on scratch tensors;
   * `desc` as for explain(), matmul also takes transA/transB), keeps the winner for this device's ops
   * when autotuning is on, and saves it in the tune cache (cuda/musa: which kernel the GPU library runs;
   * desc may say allowP16 / allowTf32). Undefined when the backend has nothing to tune (reference).
   * Needs open({ autotune: true | 'cache' }).
   */
  async tune<O extends OpName>(op: O, desc: SizesOf<O>, options: { quick?: boolean } = {}): Promise<TuneResult | undefined> {
    this.live('tune');
    if (!this.#tuner) throw new TypeError(`tune: autotuning is off on this device; open it with { autotune: true } (or 'cache')`);
    return this.#tuner.tune(toDesc(op, desc), options);
  }

  /** Resolves when the background tuning started by ops (autotune: true) has finished. */
  async tuned(): Promise<void> {
    await this.#tuner?.settled();
  }

  /** The autotuner's state: mode, cache file, the shape classes with a winner and how many ops used it. Undefined when off. */
  tuneStatus(): TuneStatus | undefined {
    return this.#tuner?.status();
  }

  /**
   * @internal Runs `fn` with every op it enqueues (synchronously) forced to `config`: the tuner's
   * timing runs and the tests that check every candidate configuration against the reference.
   */
  withKernelConfig<T>(config: KernelConfig, fn: () => T): T {
    const prev = this.#forced;
    this.#forced = config;
    try {
      return fn();
    } finally {
      this.#forced = prev;
    }
  }

  private logDecision(desc: OpDesc): void {
    try {
      const x = this.explain(desc.op, desc);
      const key = shapeClass(x, desc);
      if (logged.has(key)) return;
      logged.add(key);
      const tiles = x.tileConfig ? ` ${Object.entries(x.tileConfig).map(([k, v]) => `${k}=${v}`).join(' ')}` : '';
      console.error(`kernelport: ${key}: ${x.variant}${tiles}, ~${x.estimateMs.toPrecision(3)} ms, ${x.bound}-bound (${x.why})`);
    } catch {
      // logging never breaks an op
    }
  }

  /** Worker threads this device computes with (cpu), else 1. */
  get threads(): number {
    return this.live('threads').threads;
  }

  /**
   * Uploads host data. f32 from a Float32Array or number[]; f16/bf16 from a Uint16Array of raw bits
   * (with dtype given), or from a Float32Array/number[] which is rounded to nearest even.
   */
  tensor(data: HostData | ArrayLike<number>, shape: Shape, dtype?: DType | { dtype?: DType }): Tensor {
    const be = this.live('tensor');
    const dt = typeof dtype === 'object' && dtype !== null ? dtype.dtype : dtype;
    const s = checkShape('tensor: shape', shape);
    const host = toHost(data, dt);
    if (host.data.length !== numel(s))
      throw new RangeError(`tensor: data has ${host.data.length} elements but shape ${fmt(s)} needs ${numel(s)}`);
    return new Tensor(this, be, be.upload(host.data, host.dtype), s, host.dtype);
  }

  /** An uninitialised tensor. */
  empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    const be = this.live('empty');
    if (!isDType(dtype)) throw new TypeError(`empty: dtype must be 'f32', 'f16' or 'bf16', got ${describe(dtype)}`);
    const s = checkShape('empty: shape', shape);
    return new Tensor(this, be, be.allocate(byteSize(s, dtype)), s, dtype);
  }

  /** out = act(alpha · op(a) · op(b) + bias) + beta · residual. Enqueues and returns at once. */
  matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
    const be = this.live('matmul');
    const plan: MatmulPlan = planMatmul(a, b, options);
    let config = this.#forced;
    if (!config && this.#tuner) {
      const desc: OpDesc = { op: 'matmul', m: plan.m, n: plan.n, k: plan.k, batch: numel(plan.batchShape), dtype: plan.dtype, allowTf32: plan.allowTf32 };
      Object.assign(desc, { transA: plan.transA, transB: plan.transB });
      config = this.#tuner.configFor(desc);
    }
    if (verbose()) this.logDecision(toDesc('matmul', { m: plan.m, n: plan.n, k: plan.k, batch: numel(plan.batchShape), dtype: plan.dtype }));
    const ins: [string, Storage | undefined][] = [
      ['a', this.own('matmul', 'a', a)],
      ['b', this.own('matmul', 'b', b)],
      ['bias', options.bias ? this.own('matmul', 'bias', options.bias) : undefined],
      ['residual', options.residual ? this.own('matmul', 'residual', options.residual) : undefined],
    ];
    const into = this.into('matmul', options.out, plan.outShape, plan.outDtype, ins);
    const out = be.matmul(plan, ins[0]![1]!, ins[1]![1]!, ins[2]![1], ins[3]![1], config, into?.storage);
    return into?.tensor ?? new Tensor(this, be, out, plan.outShape, plan.outDtype);
  }

  /**
   * Scaled dot-product attention, flash-style. Returns the output, or { out, lse } with returnLse
   * (lse: [B, Hq, Sq] f32 natural-log log-sum-exp of the scaled, masked scores).
   */
  attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions & { returnLse: true }): { out: Tensor; lse: Tensor };
  attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions & { returnLse?: false }): Tensor;
  /** returnLse only known at run time: narrow the result ('lse' in r) before use. */
  attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): Tensor | { out: Tensor; lse: Tensor };
  attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor | { out: Tensor; lse: Tensor } {
    const be = this.live('attention');
    const plan: AttentionPlan = planAttention(q, k, v, options);
    let config = this.#forced;
    const desc = { op: 'attention' as const, batch: plan.batch, hq: plan.hq, hkv: plan.hkv, sq: plan.sq, skv: plan.skv, d: plan.d, dv: plan.dv, causal: plan.causal !== 'none', dtype: plan.dtype, allowP16: plan.allowP16, mask: plan.mask !== undefined };
    if (!config && this.#tuner) config = this.#tuner.configFor(desc);
    if (verbose()) this.logDecision(toDesc('attention', desc));
    const ins: [string, Storage | undefined][] = [
      ['q', this.own('attention', 'q', q)],
      ['k', this.own('attention', 'k', k)],
      ['v', this.own('attention', 'v', v)],
      ['mask', options.mask ? this.own('attention', 'mask', options.mask) : undefined],
    ];
    const into = this.into('attention', options.out, plan.outShape, plan.outDtype, ins);
    const r = be.attention(plan, ins[0]![1]!, ins[1]![1]!, ins[2]![1]!, ins[3]![1], config, into?.storage);
    const out = into?.tensor ?? new Tensor(this, be, r.out, plan.outShape, plan.outDtype);
    if (!r.lse) return out;
    return { out, lse: new Tensor(this, be, r.lse, plan.lseShape, 'f32') };
  }

  /**
   * Copies `count` elements of src from `srcOffset` into dst at `dstOffset` (row-major element offsets,
   * the same dtype), on the device and ordered like an op: a KV cache fed by a projection without a
   * round trip through the host. count defaults to the rest of src. Returns dst.
   *
   * With `rows`, that many such runs, `srcStride` and `dstStride` elements apart (both default to
   * count): one token's K [B, H, 1, D] into a [B, H, Smax, D] cache at position t is
   * `{ rows: B * H, count: D, dstOffset: t * D, dstStride: Smax * D }`.
   */
  copy(src: Tensor, dst: Tensor, options: CopyOptions = {}): Tensor {
    const be = this.live('copy');
    const [s, d] = [this.own('copy', 'src', src), this.own('copy', 'dst', dst)];
    if (options === null || typeof options !== 'object') throw new TypeError(`copy: options must be an object, got ${describe(options)}`);
    checkOptionNames('copy', options, COPY_OPTIONS);
    if (src.dtype !== dst.dtype) throw new TypeError(`copy: src and dst must share a dtype, got src ${src.dtype} and dst ${dst.dtype}`);
    const int = (name: string, v: unknown, dflt: number): number => {
      if (v === undefined) return dflt;
      if (typeof v !== 'number') throw new TypeError(`copy: ${name} must be a non-negative integer, got ${describe(v)}`);
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`copy: ${name} must be a non-negative integer, got ${v}`);
      return v;
    };
    const rows = int('rows', options.rows, 1);
    if (rows !== 1 && options.count === undefined) throw new TypeError('copy: count (elements per row) is required with rows');
    const srcOffset = int('srcOffset', options.srcOffset, 0);
    const dstOffset = int('dstOffset', options.dstOffset, 0);
    const count = int('count', options.count, Math.max(0, src.size - srcOffset));
    const srcStride = int('srcStride', options.srcStride, count);
    const dstStride = int('dstStride', options.dstStride, count);
    if (rows === 0 || count === 0) return dst;
    if (rows > 1 && dstStride < count)
      throw new RangeError(`copy: dstStride ${dstStride} is under count ${count}: the rows written would overlap each other`);
    const srcEnd = srcOffset + (rows - 1) * srcStride + count;
    const dstEnd = dstOffset + (rows - 1) * dstStride + count;
    const what = rows > 1 ? `${rows} rows of ${count} elements` : `${count} elements`;
    if (srcEnd > src.size) throw new RangeError(`copy: ${what} at srcOffset ${srcOffset}${rows > 1 ? ` (srcStride ${srcStride})` : ''} do not fit the ${src.size} of src ${fmt(src.shape)}`);
    if (dstEnd > dst.size) throw new RangeError(`copy: ${what} at dstOffset ${dstOffset}${rows > 1 ? ` (dstStride ${dstStride})` : ''} do not fit the ${dst.size} of dst ${fmt(dst.shape)}`);
    // One memory: refused wherever the spans overlap, even where the rows themselves would not touch.
    if (s === d && dstOffset < srcEnd && srcOffset < dstEnd)
      throw new RangeError(`copy: the ranges overlap in one tensor's memory (src ${srcOffset}..${srcEnd - 1}, dst ${dstOffset}..${dstEnd - 1})`);
    const e = bytesPerElement(src.dtype);
    be.copy(d, s, { dstOffset: dstOffset * e, dstStride: dstStride * e, srcOffset: srcOffset * e, srcStride: srcStride * e, bytes: count * e, rows });
    return dst;
  }

  /** @internal The device clock bench() times with, where the backend has one (webgpu: timestamp-query). */
  deviceTimer(): { clock: string; begin(): void; end(): Promise<number> } | undefined {
    return this.#backend?.deviceTimer?.();
  }

  /** Waits for every op enqueued so far; rejects with the first error raised since the last sync. */
  async sync(): Promise<void> {
    await this.live('sync').sync();
  }

  /** Ops enqueued and not yet finished. */
  pending(): number {
    return this.live('pending').pending();
  }

  /**
   * Releases the device. Its tensors can no longer be read or used by ops (a TypeError says so, on
   * every backend); their memory goes when they are disposed (or garbage collected).
   */
  dispose(): void {
    const be = this.#backend;
    this.#backend = undefined;
    be?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  get disposed(): boolean {
    return this.#backend === undefined;
  }

  private live(where: string): BackendDevice {
    if (!this.#backend) throw new TypeError(`${where}: the ${this.info.backend} device has been disposed`);
    return this.#backend;
  }

  /** options.out checked: this device's live tensor of the output's shape and dtype, no input's memory. */
  private into(where: string, t: unknown, shape: readonly number[], dtype: DType, inputs: [string, Storage | undefined][]): { tensor: Tensor; storage: Storage } | undefined {
    if (t === undefined || t === null) return undefined;
    const storage = this.own(where, 'out', t);
    const tensor = t as Tensor;
    if (tensor.dtype !== dtype) throw new TypeError(`${where}: out must be ${dtype} (the output's dtype), got ${tensor.dtype}`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i]))
      throw new RangeError(`${where}: out must have the output's shape ${fmt(shape)}, got ${fmt(tensor.shape)}; reshape() it to match`);
    for (const [name, s] of inputs)
      if (s === storage)
        throw new TypeError(`${where}: out shares its memory with ${name} (the same tensor or a reshape of it); the op reads its inputs while it writes out, so give out its own tensor`);
    return { tensor, storage };
  }

  private own(where: string, name: string, t: unknown): Storage {
    if (!(t instanceof Tensor)) throw new TypeError(`${where}: ${name} must be a kernelport Tensor, got ${describe(t)}`);
    if (t.owner !== this)
      throw new TypeError(
        `${where}: ${name} belongs to another device (${selectorOfOwner(t.owner)}${(t.owner as Device).disposed ? ', disposed' : ''}), not this ${this.info.backend}:${this.info.index}; copy it with dev.tensor(await t.read(), t.shape, t.dtype)`,
      );
    return t.storage(where, name);
  }
}

function selectorOfOwner(owner: object): string {
  const info = (owner as Device).info;
  return info ? `${info.backend}:${info.index}` : 'unknown';
}

function toHost(data: unknown, dtype: DType | undefined): { data: HostData; dtype: DType } {
  if (dtype !== undefined && !isDType(dtype)) throw new TypeError(`tensor: dtype must be 'f32', 'f16' or 'bf16', got ${describe(dtype)}`);
  if (data instanceof Uint16Array) {
    if (dtype === undefined || dtype === 'f32')
      throw new TypeError(`tensor: a Uint16Array holds 16-bit bits; pass dtype 'f16' or 'bf16' (got ${describe(dtype)})`);
    return { data, dtype };
  }
  if (data instanceof Float32Array || Array.isArray(data)) {
    const t = dtype ?? 'f32';
    return { data: t === 'f32' && data instanceof Float32Array ? data : encodeValues(data as ArrayLike<number>, t), dtype: t };
  }
  throw new TypeError(`tensor: data must be a Float32Array, a Uint16Array (f16/bf16 bits) or an array of numbers, got ${describe(data)}`);
}

function encodeValues(values: ArrayLike<number>, dtype: DType): HostData {
  for (let i = 0; i < values.length; i++)
    if (typeof values[i] !== 'number') throw new TypeError(`tensor: data[${i}] must be a number, got ${describe(values[i])}`);
  return encode(values, dtype);
}
