/// <reference types="@webgpu/types" />
/**
 * The webgpu backend's device: WGSL kernels (kernels/wgsl/) on an adapter found by the caller: Dawn in
 * Node (index.ts, gpu.ts) or navigator.gpu in a browser (navigator.ts). Ops are encoded and submitted
 * at once; errors (validation, out-of-memory, internal, device loss) are caught per op with error
 * scopes and surface when an affected tensor is read or on sync(), never as a hang.
 *
 * Shared by the Node and the browser entries: no Node APIs here (the adapter and the .wgsl sources
 * come in as arguments).
 */
import type { AttentionPlan } from '../../ops/attention.js';
import type { MatmulPlan } from '../../ops/matmul.js';
import type { DeviceInfo, DType, HostData, WebGpuOptionalFeature } from '../../types.js';
import type { BackendDevice, CopyRegion, KernelConfig, Storage } from '../backend.js';
import { isSoftwareAdapter, type AdapterChoice } from './adapter.js';
import { encodeAttention } from './attention.js';
import { BufferPool, USAGE } from './buffers.js';
import { GpuContext, GpuStorage, type KernelFeatures, type Limits } from './context.js';
import { loopBudget } from './loops.js';
import { kernelSet } from './configs.js';
import { GpuTimer } from './timer.js';
import { encodeMatmul } from './matmul.js';
import type { ShaderSource } from './specialise.js';

/** Idle bytes the buffer pool keeps for reuse before it destroys released buffers. */
const MAX_POOLED_BYTES = 256 * 2 ** 20;

const LIMIT_NAMES: (keyof Limits | 'maxStorageBuffersPerShaderStage')[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minStorageBufferOffsetAlignment',
];

/** How a device is set up beyond its adapter (Node: from KERNELPORT_WEBGPU_* variables; open() options). */
export interface DeviceSettings {
  /** KERNELPORT_WEBGPU_MAX_BINDING: a lower binding size than the adapter's. */
  maxBinding?: string;
  /** KERNELPORT_WEBGPU_LOOP_BUDGET (loops.ts). */
  loopBudget?: string;
  /** Optional features not to use even where the adapter has them (the fallback paths). */
  disable?: string | readonly string[];
  /** KERNELPORT_WEBGPU_KERNELS: auto | portable | wide (configs.ts). */
  kernels?: string;
}

const OPTIONAL_FEATURES: readonly WebGpuOptionalFeature[] = ['subgroups', 'timestamp-query'];

/** 'subgroups,timestamp-query' (KERNELPORT_WEBGPU_DISABLE) as a list; unknown names are an error. */
export function parseDisable(list: string | readonly string[] | undefined): WebGpuOptionalFeature[] {
  const names = typeof list === 'string' ? list.split(',').map((x) => x.trim()).filter(Boolean) : [...(list ?? [])];
  for (const n of names)
    if (!OPTIONAL_FEATURES.includes(n as WebGpuOptionalFeature))
      throw new TypeError(`webgpu: cannot disable unknown feature '${n}'; known: ${OPTIONAL_FEATURES.join(', ')}`);
  return names as WebGpuOptionalFeature[];
}

/** The optional features the kernels will use on adapter `a`: those it has, less the disabled ones. */
export function kernelFeatures(a: GPUAdapter, disable: string | readonly string[] | undefined): WebGpuOptionalFeature[] {
  const off = parseDisable(disable);
  return OPTIONAL_FEATURES.filter((f) => a.features.has(f) && !off.includes(f));
}

/** Smallest binding cap accepted: a few alignment units, so every chunked pass can make progress. */
const MIN_BINDING_CAP = 4096;

/**
 * The binding size the backend assumes: the device's, or a lower cap from `cap` (the
 * KERNELPORT_WEBGPU_MAX_BINDING environment variable in Node, for tests of the split paths on small
 * tensors). A cap that is not an integer in [4096, the device's limit] is an error, not ignored.
 */
export function bindingCap(deviceLimit: number, cap: string | undefined): number {
  if (cap === undefined || cap.trim() === '') return deviceLimit;
  const v = Number(cap);
  if (!Number.isInteger(v) || v < MIN_BINDING_CAP || v % 4 !== 0)
    throw new RangeError(`KERNELPORT_WEBGPU_MAX_BINDING must be a multiple of 4 bytes, at least ${MIN_BINDING_CAP}, got '${cap}'`);
  return Math.min(v, deviceLimit);
}

export class WebGpuDevice implements BackendDevice {
  readonly threads = 1;
  private readonly ctx: GpuContext;
  private inflight = 0;
  private firstError: Error | undefined;
  private lost: Error | undefined;
  private disposed = false;
  private readonly outstanding = new Set<Promise<unknown>>();
  /** Reads in progress: dispose() lets them finish before the memory goes (as the cpu's queue drains). */
  private readonly reads = new Set<Promise<void>>();
  private timer: GpuTimer | undefined;

  private constructor(
    readonly info: DeviceInfo,
    private readonly device: GPUDevice,
    limits: Limits,
    shaders: ShaderSource,
    budget: number,
    features: KernelFeatures,
    portable: boolean,
  ) {
    const where = `webgpu:${info.index}`;
    this.ctx = new GpuContext(device, limits, new BufferPool(device, limits.maxBufferSize, MAX_POOLED_BYTES), where, shaders, budget, features, portable);
    device.lost.then((l) => {
      if (!this.disposed) this.lost = new Error(`${where}: the WebGPU device was lost (${l.reason}): ${l.message}`);
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.firstError ??= new Error(`${where}: ${ev.error.message}`);
    };
  }

  /** A device on the adapter `c` (or the reason there is none), its kernels' .wgsl text read through `shaders`. */
  static async create(info: DeviceInfo, c: AdapterChoice | Error, shaders: ShaderSource, opts: DeviceSettings = {}): Promise<WebGpuDevice> {
    if (c instanceof Error) throw new Error(`open: the webgpu backend is unavailable: ${c.message}`);
    const a = c.adapter;
    const requiredLimits: Record<string, number> = {};
    for (const n of LIMIT_NAMES) {
      const v = (a.limits as unknown as Record<string, number | undefined>)[n];
      if (typeof v === 'number') requiredLimits[n] = v;
    }
    const software = isSoftwareAdapter(a);
    const budget = loopBudget(opts.loopBudget, software);
    const portable = kernelSet(opts.kernels, software) === 'portable';
    const cap = bindingCap((a.limits as unknown as Record<string, number>).maxStorageBufferBindingSize!, opts.maxBinding);
    const features = kernelFeatures(a, opts.disable);
    const device = await a.requestDevice({ requiredLimits, requiredFeatures: features as GPUFeatureName[] });
    // What the kernels use on this device (explain() names it): a subset of the adapter's features.
    info.features.kernelFeatures = features;
    const L = device.limits as unknown as Record<string, number>;
    const limits: Limits = {
      maxStorageBufferBindingSize: Math.min(cap, L.maxStorageBufferBindingSize!),
      minStorageBufferOffsetAlignment: L.minStorageBufferOffsetAlignment ?? 256,
      maxBufferSize: L.maxBufferSize!,
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize!,
      maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup!,
      maxComputeWorkgroupsPerDimension: L.maxComputeWorkgroupsPerDimension!,
    };
    if ((L.maxStorageBuffersPerShaderStage ?? 0) < 8) {
      device.destroy();
      throw new Error(`open: the webgpu adapter allows ${L.maxStorageBuffersPerShaderStage} storage buffers per stage; kernelport needs 8`);
    }
    return new WebGpuDevice(info, device, limits, shaders, budget, { subgroups: features.includes('subgroups'), timestamps: features.includes('timestamp-query') }, portable);
  }

  /** @internal For tests: pool, pipeline and dispatch counters. */
  stats(): { buffers: number; bytes: number; pooledBytes: number; pipelines: number; dispatches: number; kernels: string[] } {
    return { ...this.ctx.pool.stats(), pipelines: this.ctx.pipelineCompiles, dispatches: this.ctx.dispatches, kernels: this.ctx.kernelsCompiled() };
  }

  /** GPU timestamps for bench timing (timer.ts), where the device has timestamp-query. */
  deviceTimer(): { clock: string; begin(): void; end(): Promise<number> } | undefined {
    if (!this.ctx.features.timestamps) return undefined;
    const t = (this.timer ??= new GpuTimer(this.device));
    const ctx = this.ctx;
    return {
      clock: 'device: WebGPU timestamp-query (GPU time from the first kernel start to the last kernel end)',
      begin: () => {
        t.begin();
        ctx.timer = t;
      },
      end: async () => {
        ctx.timer = undefined;
        return t.end();
      },
    };
  }

  get limits(): Limits {
    return this.ctx.limits;
  }

  upload(data: HostData, _dtype: DType): Storage {
    this.live();
    const s = this.ctx.storage('the tensor', data.byteLength);
    const n = data.byteLength;
    if (n > 0) {
      if (n % 4 === 0) this.device.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, n);
      else {
        const padded = new Uint8Array(Math.ceil(n / 4) * 4);
        padded.set(new Uint8Array(data.buffer, data.byteOffset, n));
        this.device.queue.writeBuffer(s.buffer, 0, padded.buffer, 0, padded.byteLength);
      }
    }
    return s;
  }

  allocate(bytes: number): Storage {
    this.live();
    return this.ctx.storage('the tensor', bytes);
  }

  // queue.writeBuffer is ordered after the work already submitted and before what follows.
  write(s: Storage, byteOffset: number, data: HostData): void {
    this.live();
    if (byteOffset % 4 !== 0 || data.byteLength % 4 !== 0)
      throw new RangeError(
        `write: webgpu writes whole 4-byte words: a 16-bit write needs an even element offset and count, got offset ${byteOffset / 2} and ${data.length} elements`,
      );
    if (data.byteLength > 0) this.device.queue.writeBuffer((s as GpuStorage).buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  copy(dst: Storage, src: Storage, r: CopyRegion): void {
    this.live();
    if ([r.dstOffset, r.srcOffset, r.bytes, ...(r.rows > 1 ? [r.dstStride, r.srcStride] : [])].some((v) => v % 4 !== 0))
      throw new RangeError(
        `copy: webgpu copies whole 4-byte words: a 16-bit copy needs even element offsets, count${r.rows > 1 ? ' and strides' : ''}, got offsets ${r.srcOffset / 2} -> ${r.dstOffset / 2} and ${r.bytes / 2} elements`,
      );
    if (r.bytes === 0 || r.rows === 0) return;
    const [d, s] = [dst as GpuStorage, src as GpuStorage];
    this.run([s], (enc) => {
      if (s.buffer !== d.buffer) {
        for (let i = 0; i < r.rows; i++) enc.copyBufferToBuffer(s.buffer, r.srcOffset + i * r.srcStride, d.buffer, r.dstOffset + i * r.dstStride, r.bytes);
      } else {
        // WebGPU copies between two buffers only: within one, through a temporary (the rows packed)
        const t = this.ctx.temp('the copy staging', r.bytes * r.rows);
        for (let i = 0; i < r.rows; i++) enc.copyBufferToBuffer(s.buffer, r.srcOffset + i * r.srcStride, t, i * r.bytes, r.bytes);
        for (let i = 0; i < r.rows; i++) enc.copyBufferToBuffer(t, i * r.bytes, d.buffer, r.dstOffset + i * r.dstStride, r.bytes);
      }
      return [d];
    }, d);
  }

  release(s: Storage): void {
    const g = s as GpuStorage;
    if (g.released) return;
    g.released = true;
    if (!this.disposed) this.ctx.pool.release(g.buffer);
  }

  read(s: Storage, dst: HostData): Promise<void> {
    this.live();
    if (this.lost) return Promise.reject(this.lost);
    const g = s as GpuStorage;
    const n = dst.byteLength;
    // The copy is enqueued now: the read sees what the ops before it wrote and nothing queued after it
    // (a later op into the same out, a write, a new tensor in the memory once this one is disposed).
    let staging: GPUBuffer | undefined;
    const size = Math.ceil(n / 4) * 4;
    if (n > 0) {
      staging = this.ctx.pool.acquire(size, USAGE.MAP_READ | USAGE.COPY_DST);
      try {
        const enc = this.device.createCommandEncoder();
        enc.copyBufferToBuffer(g.buffer, 0, staging, 0, size);
        this.device.queue.submit([enc.finish()]);
      } catch (e) {
        this.ctx.pool.release(staging);
        return Promise.reject(this.lost ?? new Error(`${this.ctx.where}: reading a tensor failed: ${(e as Error).message}`));
      }
    }
    const p = this.finishRead(g, dst, staging, size);
    this.reads.add(p);
    const done = () => this.reads.delete(p);
    p.then(done, done);
    return p;
  }

  /** The op's error if it failed, else the staged copy mapped and copied out. */
  private async finishRead(g: GpuStorage, dst: HostData, staging: GPUBuffer | undefined, size: number): Promise<void> {
    try {
      const err = await g.error;
      if (err) throw err;
      if (this.lost) throw this.lost;
      if (!staging) return;
      try {
        await this.track(staging.mapAsync(1 /* GPUMapMode.READ */, 0, size));
        new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(new Uint8Array(staging.getMappedRange(0, size), 0, dst.byteLength));
        staging.unmap();
      } catch (e) {
        throw this.lost ?? new Error(`${this.ctx.where}: reading a tensor failed: ${(e as Error).message}`);
      }
    } finally {
      if (staging && staging.mapState === 'unmapped') this.ctx.pool.release(staging);
    }
  }

  matmul(plan: MatmulPlan, a: Storage, b: Storage, bias?: Storage, residual?: Storage, config?: KernelConfig, given?: Storage): Storage {
    const ins = [a, b, bias, residual] as (GpuStorage | undefined)[];
    const g = given as GpuStorage | undefined;
    return this.run(ins, (enc) => [encodeMatmul(this.ctx, enc, plan, a as GpuStorage, b as GpuStorage, bias as GpuStorage, residual as GpuStorage, config, g)], g)[0]!;
  }

  attention(plan: AttentionPlan, q: Storage, k: Storage, v: Storage, mask?: Storage, config?: KernelConfig, given?: Storage): { out: Storage; lse?: Storage } {
    let lse: GpuStorage | undefined;
    const g = given as GpuStorage | undefined;
    const [out] = this.run(
      [q, k, v, mask] as (GpuStorage | undefined)[],
      (enc) => {
        const r = encodeAttention(this.ctx, enc, plan, q as GpuStorage, k as GpuStorage, v as GpuStorage, mask as GpuStorage | undefined, config, g);
        lse = r.lse;
        return r.lse ? [r.out, r.lse] : [r.out];
      },
      g,
    );
    return { out: out!, lse };
  }

  async sync(): Promise<void> {
    this.live();
    await this.track(this.device.queue.onSubmittedWorkDone());
    await Promise.all([...this.outstanding]);
    const e = this.lost ?? this.firstError;
    this.firstError = undefined;
    if (e) throw e;
  }

  pending(): number {
    return this.inflight;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const teardown = () => {
      this.ctx.pool.destroyAll();
      this.ctx.clearPipelines();
      this.timer?.destroy();
      this.device.destroy();
    };
    // A read started before dispose() still gives its values; the device goes once it has.
    if (this.reads.size === 0) teardown();
    else void Promise.allSettled([...this.reads]).then(teardown);
  }

  private live(): void {
    if (this.disposed) throw new TypeError(`${this.ctx.where}: the device has been disposed`);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.outstanding.add(p);
    const done = () => this.outstanding.delete(p);
    p.then(done, done);
    return p;
  }

  /**
   * Encodes one op (its outputs are allocated by `encode`, or are the caller's `callersOut`, which a
   * failure leaves alone), submits it, and attaches to every output the first error of the op or of
   * its inputs' producers. Temporaries go back to the pool at once (later ops are ordered after this
   * one on the queue).
   */
  private run(inputs: (GpuStorage | undefined)[], encode: (enc: GPUCommandEncoder) => GpuStorage[], callersOut?: GpuStorage): GpuStorage[] {
    this.live();
    if (this.lost) throw this.lost;
    const d = this.device;
    d.pushErrorScope('internal');
    d.pushErrorScope('out-of-memory');
    d.pushErrorScope('validation');
    let outs: GpuStorage[] = [];
    const created: GpuStorage[] = (this.ctx.opOutputs = []);
    try {
      const enc = d.createCommandEncoder();
      outs = encode(enc);
      d.queue.submit([enc.finish()]);
    } catch (e) {
      // Every output the op allocated, also those a check refused after their allocation; never the caller's
      for (const o of new Set([...created, ...outs])) if (o !== callersOut) this.release(o);
      for (const t of this.ctx.takeTemps()) this.ctx.pool.release(t);
      void d.popErrorScope();
      void d.popErrorScope();
      void d.popErrorScope();
      throw e;
    } finally {
      this.ctx.opOutputs = undefined;
      for (const t of this.ctx.takeTemps()) this.ctx.pool.release(t);
    }
    const scopes = [d.popErrorScope(), d.popErrorScope(), d.popErrorScope()];
    const where = this.ctx.where;
    const own = Promise.all(scopes).then(
      (errs) => {
        const e = errs.find((x) => x);
        if (!e) return undefined;
        const kind = e.constructor?.name === 'GPUOutOfMemoryError' || /memory/i.test(e.message) ? 'out of memory' : 'error';
        return new Error(`${where}: kernel ${kind}: ${e.message}`);
      },
      (e: Error) => this.lost ?? new Error(`${where}: ${e.message}`),
    );
    const upstream = inputs.filter((s): s is GpuStorage => s !== undefined).map((s) => s.error);
    const error = Promise.all([own, ...upstream]).then((errs) => errs.find((x) => x));
    void error.then((e) => {
      if (e) this.firstError ??= e;
    });
    this.track(error);
    for (const o of outs) o.error = error;
    this.inflight++;
    void this.track(d.queue.onSubmittedWorkDone()).then(
      () => this.inflight--,
      () => this.inflight--,
    );
    return outs;
  }
}

/**
 * DeviceInfo for an adapter (probe). `settings`: the caps a device opened from it will use (Node:
 * KERNELPORT_WEBGPU_MAX_BINDING / _LOOP_BUDGET), recorded so explain() names the variant actually run.
 */
export function adapterInfo(choice: AdapterChoice, settings: DeviceSettings = {}): DeviceInfo {
  const a = choice.adapter;
  const info = a.info;
  const features = [...a.features].sort();
  const L = a.limits as unknown as Record<string, number>;
  const software = isSoftwareAdapter(a);
  const limits: Record<string, number> = {};
  for (const n of LIMIT_NAMES) if (typeof L[n] === 'number') limits[n] = L[n]!;
  const sub = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  // Browsers may leave device and description empty (privacy): vendor + architecture then, e.g. 'google swiftshader'.
  const name = info.device || info.description || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'WebGPU adapter';
  return {
    backend: 'webgpu',
    index: 0,
    name,
    vendor: info.vendor || (software ? 'software' : ''),
    architecture: info.architecture || (choice.backend ? `dawn-${choice.backend}` : 'webgpu'),
    computeUnits: 0,
    memoryBytes: L.maxBufferSize ?? 0,
    features: {
      dtypes: ['f32', 'f16', 'bf16'],
      tensorCores: false,
      subgroups: features.includes('subgroups'),
      shaderF16: features.includes('shader-f16'),
      timestampQuery: features.includes('timestamp-query'),
      software,
      featureLevel: choice.featureLevel,
      dawnBackend: choice.backend || 'default',
      description: info.description,
      subgroupSizes: sub.subgroupMinSize ? [sub.subgroupMinSize, sub.subgroupMaxSize] : undefined,
      adapterFeatures: features,
      limits,
      bindingLimit: bindingCap(L.maxStorageBufferBindingSize ?? 0, settings.maxBinding),
      loopBudget: loopBudget(settings.loopBudget, software),
      kernelSet: kernelSet(settings.kernels, software),
      kernelFeatures: kernelFeatures(a, settings.disable),
    },
    peak: { flops: {}, bandwidth: 0, source: 'none' },
    variants: ['wgsl-matmul-tiled-4x4', 'wgsl-matmul-vec4-8x8', 'wgsl-gemv', 'wgsl-flash-attention', 'wgsl-flash-attention-tiled', 'wgsl-flash-decoding-split-kv', '16-bit-as-packed-u32', 'binding-split', 'k-chunks', 'key-chunks'],
    available: true,
    reason: software
      ? `software adapter (${name}): a CPU rasteriser${choice.backend === 'browser' ? '' : ', ranked below cpu by auto'}`
      : undefined,
  };
}
