/// <reference types="@webgpu/types" />
/**
 * What the op encoders (matmul.ts, attention.ts) need from the device: storage, temporaries,
 * uniforms, pipelines and a dispatch helper. Kept apart from index.ts so each file stays small.
 */
import type { Storage } from '../backend.js';
import { BufferPool, Params, USAGE } from './buffers.js';
import { specialise, specKey, type ShaderSource, type Spec } from './specialise.js';

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
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
}

export class GpuContext {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Temporaries of the op being encoded; back to the pool once it is submitted. */
  private temps: GPUBuffer[] = [];
  pipelineCompiles = 0;

  constructor(
    readonly device: GPUDevice,
    readonly limits: Limits,
    readonly pool: BufferPool,
    readonly where: string,
    /** Where the kernels' .wgsl text comes from (Node: kernels/wgsl on disk; browser: inlined at build time). */
    readonly shaders: ShaderSource,
  ) {}

  /** Refuses a buffer the device cannot bind, with the numbers. */
  checkSize(what: string, bytes: number): void {
    const lim = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > lim)
      throw new RangeError(
        `${this.where}: ${what} needs ${bytes} bytes, more than this adapter's maxStorageBufferBindingSize (${lim} bytes); split the tensor or use another backend`,
      );
  }

  storage(what: string, bytes: number): GpuStorage {
    this.checkSize(what, bytes);
    return new GpuStorage(this.pool.acquire(bytes), bytes);
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

  dispatch(enc: GPUCommandEncoder, spec: Spec, bindings: [number, GPUBuffer][], grid: [number, number, number]): void {
    const pipeline = this.pipeline(spec);
    const bind = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
    });
    const pass = enc.beginComputePass();
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

  clearPipelines(): void {
    this.pipelines.clear();
  }
}

/** Appends the f32 → 16-bit conversion of `count` elements from src into dst. */
export function encodePack(ctx: GpuContext, enc: GPUCommandEncoder, src: GPUBuffer, dst: GPUBuffer, count: number, outDt: 1 | 2): void {
  const words = Math.ceil(count / 2);
  const [gx, gy] = ctx.grid2(Math.ceil(words / 64));
  const p = new Params(4).set(0, count).set(1, gx);
  ctx.dispatch(enc, { kernel: 'pack16', OUT_DT: outDt }, [
    [0, ctx.uniform(p)],
    [1, src],
    [2, dst],
  ], [gx, gy, 1]);
}
