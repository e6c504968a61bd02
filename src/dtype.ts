/** Element types: sizes and exact host-side conversions (round to nearest even, as the kernels do). */
import type { DType, HostData } from './types.js';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];

export function isDType(x: unknown): x is DType {
  return x === 'f32' || x === 'f16' || x === 'bf16';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f32' ? 4 : 2;
}

/** Unit roundoff (half an ulp at 1): the relative error of one rounding to this type. */
export function unitRoundoff(dtype: DType): number {
  return dtype === 'f32' ? 2 ** -24 : dtype === 'f16' ? 2 ** -11 : 2 ** -8;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Puts x into f32[0] rounded to odd: x itself when it is an f32, else the f32 next to x toward zero
 * with its last bit set. Rounding that to nearest even in a format with fewer than 23 fraction bits
 * (bf16, f16) gives x's own nearest-even value, where going through the nearest f32 could round twice
 * (1 + 2^-11 + 2^-40 would become the f16 tie 1 + 2^-11 and round down to 1).
 */
function setF32RoundedToOdd(x: number): void {
  f32[0] = x;
  const r = f32[0]!;
  if (r === x || Number.isNaN(x)) return;
  if (Math.abs(r) > Math.abs(x)) u32[0] = u32[0]! - 1; // rounded away from zero (or to ±inf): one step back
  u32[0] = u32[0]! | 1;
}

/** Round to nearest even bf16 bits (of x itself, not of x rounded to f32 first). */
export function f32ToBf16(x: number): number {
  setF32RoundedToOdd(x);
  const bits = u32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Round to nearest even f16 bits (of x itself, not of x rounded to f32 first). */
export function f32ToF16(x: number): number {
  setF32RoundedToOdd(x);
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // rounds to zero (even a tie at 2^-25 rounds to the even zero)
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // may carry into the exponent: still correct
  return sign | h;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Converts numbers to the host representation of `dtype` (rounding to nearest even). */
export function encode(values: ArrayLike<number>, dtype: DType): HostData {
  if (dtype === 'f32') return Float32Array.from(values);
  const out = new Uint16Array(values.length);
  const conv = dtype === 'f16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) out[i] = conv(values[i]!);
  return out;
}

/** Exact float64 values of host data of `dtype`. */
export function decode(data: HostData, dtype: DType): Float64Array {
  if (dtype === 'f32') return Float64Array.from(data);
  const out = new Float64Array(data.length);
  const conv = dtype === 'f16' ? f16ToF32 : bf16ToF32;
  for (let i = 0; i < data.length; i++) out[i] = conv(data[i]!);
  return out;
}

/** Rounds float64 values to `dtype` (via f32 first, as the kernels' f32 results are). */
export function roundTo(values: Float64Array, dtype: DType): HostData {
  return encode(dtype === 'f32' ? values : Float32Array.from(values), dtype);
}
