/// <reference types="@webgpu/types" />
/**
 * What the op encoders (matmul.ts, attention.ts) need from the device: storage, temporaries,
 * uniforms, pipelines and a dispatch helper. Kept apart from index.ts so each file stays small.
 */
import type { Storage } from '../backend.js';
import { BufferPool, Params, USAGE } from './buffers.js';
import { specialise, specKey, type ShaderSource, type Spec } from './specialise.js';
import { DEFAULT_LOOP_BUDGET } from './loops.js';
import type { GpuTimer } from './timer.js';
import type { BindingLimits, Window } from './windows.js';

export class GpuStorage implements Storage {
  /** Resolves to the error of the op that wrote this storage (or one of that op's inputs), or undefined. */
  error: Promise<Error | undefined> = Promise.resolve(undefined);
  released = false;
  constructor(
    public buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
}

export interface Limits {
  /** The adapter's, or the lower cap KERNELPORT_WEBGPU_MAX_BINDING sets (tests of the split paths). */
  maxStorageBufferBindingSize: number;
  minStorageBufferOffsetAlignment: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
}

/** Optional adapter features the kernels use on this device. */
export interface KernelFeatures {
  subgroups: boolean;
  timestamps: boolean;
}

export class GpuContext {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Temporaries of the op being encoded; back to the pool once it is submitted. */
  private temps: GPUBuffer[] = [];
  /** Outputs allocated by the op being encoded (set by the device while it encodes one): freed if it fails. */
  opOutputs: GpuStorage[] | undefined;
  pipelineCompiles = 0;
  /** Dispatches encoded so far (tests: did an op run in chunks?). */
  dispatches = 0;
  /** Set while a bench timing window is open (timer.ts). */
  timer: GpuTimer | undefined;

  constructor(
    readonly device: GPUDevice,
    readonly limits: Limits,
    readonly pool: BufferPool,
    readonly where: string,
    /** Where the kernels' .wgsl text comes from (Node: kernels/wgsl on disk; browser: inlined at build time). */
    readonly shaders: ShaderSource,
    /** Loop iterations one invocation may run per dispatch (loops.ts). */
    readonly loopBudget: number = DEFAULT_LOOP_BUDGET,
    readonly features: KernelFeatures = { subgroups: false, timestamps: false },
    /** The portable kernel set (software adapters by default: configs.ts), else the wide one. */
    readonly portable = true,
  ) {}

  /**
   * Refuses a buffer the device cannot create, with the numbers. Buffers up to maxBufferSize are fine:
   * ops bind windows of at most maxStorageBufferBindingSize (windows.ts) and refuse what they cannot split.
   */
  checkSize(what: string, bytes: number): void {
    const lim = this.limits.maxBufferSize;
    if (bytes > lim)
      throw new RangeError(`${this.where}: ${what} needs ${bytes} bytes, more than this adapter's maxBufferSize (${lim} bytes); use another backend`);
  }

  get binding(): BindingLimits {
    return { maxBinding: this.limits.maxStorageBufferBindingSize, align: this.limits.minStorageBufferOffsetAlignment };
  }

  storage(what: string, bytes: number): GpuStorage {
    this.checkSize(what, bytes);
    const s = new GpuStorage(this.pool.acquire(bytes), bytes);
    this.opOutputs?.push(s);
    return s;
  }

  temp(what: string, bytes: number): GPUBuffer {
    this.checkSize(what, bytes);
    const b = this.pool.acquire(bytes);
    this.temps.push(b);
    return b;
  }

  tempData(what: string, data: Uint32Array): GPUBuffer {
    const b = this.temp(what, data.byteLength);
    this.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  }

  uniform(p: Params): GPUBuffer {
    const b = this.pool.acquire(p.u32.byteLength, USAGE.UNIFORM | USAGE.COPY_DST);
    this.temps.push(b);
    this.device.queue.writeBuffer(b, 0, p.u32.buffer, 0, p.u32.byteLength);
    return b;
  }

  pipeline(spec: Spec): GPUComputePipeline {
    const key = specKey(spec);
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: specialise(spec, this.shaders), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelineCompiles++;
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** One dispatch; a binding is a whole buffer or a window of one (windows.ts). */
  dispatch(enc: GPUCommandEncoder, spec: Spec, bindings: [number, GPUBuffer | Window][], grid: [number, number, number]): void {
    const pipeline = this.pipeline(spec);
    const bind = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map(([binding, b]) => ({
        binding,
        resource: 'baseWord' in b ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b },
      })),
    });
    this.dispatches++;
    const timestampWrites = this.timer?.passWrites();
    const pass = enc.beginComputePass(timestampWrites ? { timestampWrites } : undefined);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    pass.end();
  }

  /** x/y workgroup counts covering `count` workgroups (x first, at most the per-dimension limit). */
  grid2(count: number): [number, number] {
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    const x = Math.max(1, Math.min(count, maxDim));
    const y = Math.ceil(count / x);
    if (y > maxDim) throw new RangeError(`${this.where}: ${count} workgroups exceed the dispatch limit (${maxDim}²)`);
    return [x, Math.max(1, y)];
  }

  takeTemps(): GPUBuffer[] {
    const t = this.temps;
    this.temps = [];
    return t;
  }

  /** The kernels (specialise.ts FILES keys) of the pipelines compiled so far (tests: which kernel ran?). */
  kernelsCompiled(): string[] {
    return [...new Set([...this.pipelines.keys()].map((k) => /(?:^|,)kernel=(\w+)/.exec(k)?.[1] ?? '?'))];
  }

  clearPipelines(): void {
    this.pipelines.clear();
  }
}

/**
 * Appends the f32 → 16-bit conversion of `count` elements from src into dst, in chunks whose windows
 * fit one binding (a chunk starts at a multiple of `align` elements, so both windows start aligned).
 */
export function encodePack(ctx: GpuContext, enc: GPUCommandEncoder, src: GPUBuffer, dst: GPUBuffer, count: number, outDt: 1 | 2): void {
  const { maxBinding, align } = ctx.binding;
  const per = Math.max(align, Math.floor(maxBinding / 4 / align) * align);
  for (let e0 = 0; e0 < count; e0 += per) {
    const n = Math.min(per, count - e0);
    const words = Math.ceil(n / 2);
    const [gx, gy] = ctx.grid2(Math.ceil(words / 64));
    const p = new Params(4).set(0, n).set(1, gx);
    const whole = e0 === 0 && n === count;
    const s: Window = { buffer: src, offset: e0 * 4, size: n * 4, baseWord: e0 };
    const d: Window = { buffer: dst, offset: e0 * 2, size: words * 4, baseWord: e0 / 2 };
    ctx.dispatch(enc, { kernel: 'pack16', OUT_DT: outDt }, [
      [0, ctx.uniform(p)],
      [1, whole ? src : s],
      [2, whole ? dst : d],
    ], [gx, gy, 1]);
  }
}
