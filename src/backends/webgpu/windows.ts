/// <reference types="@webgpu/types" />
/**
 * Binding windows: how a tensor larger than maxStorageBufferBindingSize still reaches a kernel. A
 * buffer may be up to maxBufferSize, but one binding sees at most maxStorageBufferBindingSize bytes,
 * starting at a multiple of minStorageBufferOffsetAlignment. An op that can be split (matmul over
 * batch, M rows and N columns; attention over batch×heads) runs one dispatch per chunk, each binding
 * only the window of every tensor that chunk touches; the kernel subtracts the window's first word
 * (a uniform) from its indices, so its addressing stays global. The split never changes what an
 * output element sums or in which order: results are bitwise those of one dispatch.
 */

/** A span of elements [lo, hi) of a tensor whose elements are `bytes` bytes (4: f32/u32, 2: f16/bf16). */
export interface Span {
  lo: number;
  hi: number;
  bytes: 2 | 4;
}

/** A binding of part of a buffer, and its first word (what the kernel subtracts). */
export interface Window {
  buffer: GPUBuffer;
  offset: number;
  size: number;
  baseWord: number;
}

export interface BindingLimits {
  /** Bytes one binding may see (the adapter's maxStorageBufferBindingSize, or a lower cap). */
  maxBinding: number;
  /** minStorageBufferOffsetAlignment. */
  align: number;
}

/**
 * Bytes a window for `s` may need wherever the chunk lies: its length rounded to words plus the
 * alignment slack before its start. Planning with this bound makes every actual window fit.
 */
export function windowBound(s: Span, L: BindingLimits): number {
  if (s.hi <= s.lo) return 4;
  return Math.ceil(((s.hi - s.lo) * s.bytes) / 4) * 4 + L.align - 4;
}

export function fits(spans: Span[], L: BindingLimits): boolean {
  return spans.every((s) => windowBound(s, L) <= L.maxBinding);
}

/** The window of `buffer` that covers span `s` (an empty span binds the buffer's first word). */
export function windowOf(buffer: GPUBuffer, s: Span, L: BindingLimits): Window {
  if (s.hi <= s.lo) return { buffer, offset: 0, size: 4, baseWord: 0 };
  const offset = Math.floor((s.lo * s.bytes) / L.align) * L.align;
  const end = Math.ceil((s.hi * s.bytes) / 4) * 4;
  const size = end - offset;
  if (size > L.maxBinding || end > buffer.size)
    throw new Error(`webgpu: internal error: window [${offset}, ${end}) of a ${buffer.size}-byte buffer exceeds the binding limit ${L.maxBinding}`);
  return { buffer, offset, size, baseWord: offset / 4 };
}

/**
 * The largest n in [1, max] with ok(n), for ok monotone (true up to some n, false after); 0 when
 * even ok(1) is false.
 */
export function largest(max: number, ok: (n: number) => boolean): number {
  if (max < 1 || !ok(1)) return 0;
  if (ok(max)) return max;
  let lo = 1;
  let hi = max; // ok(lo), !ok(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
