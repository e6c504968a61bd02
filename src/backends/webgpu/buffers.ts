/// <reference types="@webgpu/types" />
/**
 * GPU buffers and their pool. Every kernelport buffer has the same usage (storage + copy both ways),
 * so any free buffer of a size class can serve any request of that class. Sizes are rounded up to a
 * size class (powers of two, then quarter steps, capped at the binding limit), released buffers go
 * back to a free list, and the pool keeps at most `maxPooledBytes` idle; beyond that they are
 * destroyed. Reusing a buffer is safe while earlier work still uses it: one queue, in order.
 */

export const USAGE = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Size class for a request of `bytes` (at least 16, a multiple of 16, never above `limit` unless bytes is). */
export function sizeClass(bytes: number, limit: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 4096) return 2 ** Math.ceil(Math.log2(b));
  // quarter steps between powers of two: at most 25% slack
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  const c = Math.ceil(b / step) * step;
  return c > limit ? b : c;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pooledBytes = 0;
  /** Buffers created and not destroyed (live + pooled), for tests and leak checks. */
  created = 0;
  liveBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly limit: number,
    private readonly maxPooledBytes: number,
  ) {}

  acquire(bytes: number, usage: number = STORAGE_USAGE): GPUBuffer {
    const size = sizeClass(bytes, this.limit);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const b = list?.pop();
    if (b) {
      this.pooledBytes -= size;
      return b;
    }
    const buf = this.device.createBuffer({ size, usage });
    this.created++;
    this.liveBytes += size;
    return buf;
  }

  release(b: GPUBuffer): void {
    const size = b.size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.liveBytes -= size;
      this.created--;
      b.destroy();
      return;
    }
    const key = `${b.usage}:${size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(b);
    this.pooledBytes += size;
  }

  stats(): { buffers: number; bytes: number; pooledBytes: number } {
    return { buffers: this.created, bytes: this.liveBytes, pooledBytes: this.pooledBytes };
  }

  destroyAll(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }
}

/** A uniform block of u32 slots (f32 values stored as their bits). */
export class Params {
  readonly u32: Uint32Array;
  private readonly f32: Float32Array;
  constructor(slots: number) {
    this.u32 = new Uint32Array(Math.ceil(slots / 4) * 4);
    this.f32 = new Float32Array(this.u32.buffer);
  }
  set(i: number, v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`webgpu: parameter ${i} = ${v} does not fit a u32`);
    this.u32[i] = v;
    return this;
  }
  setF32(i: number, v: number): this {
    this.f32[i] = v;
    return this;
  }
}
