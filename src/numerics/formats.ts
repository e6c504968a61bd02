/**
 * Floating-point format facts the numerics need beyond dtype.ts: precision, exponent range and the
 * overflow threshold of each storage type (IEEE-style, round to nearest even).
 */
import type { DType } from '../types.js';

export interface FormatInfo {
  /** Significand bits including the implicit one. */
  precision: number;
  /** Exponent of the smallest normal number. */
  minExponent: number;
  maxFinite: number;
  /** Values at or beyond this magnitude round to infinity (max finite + half an ulp). */
  overflowThreshold: number;
  minNormal: number;
  minSubnormal: number;
}

function make(precision: number, minExponent: number, maxExponent: number): FormatInfo {
  const maxFinite = (2 - 2 ** (1 - precision)) * 2 ** maxExponent;
  return {
    precision,
    minExponent,
    maxFinite,
    overflowThreshold: (2 - 2 ** -precision) * 2 ** maxExponent,
    minNormal: 2 ** minExponent,
    minSubnormal: 2 ** (minExponent - precision + 1),
  };
}

const FORMATS: Record<DType, FormatInfo> = {
  f32: make(24, -126, 127),
  f16: make(11, -14, 15),
  bf16: make(8, -126, 127),
};

export function formatInfo(dtype: DType): FormatInfo {
  return FORMATS[dtype];
}

/** Spacing of `dtype` values around |x| (the subnormal spacing below the normal range). */
export function ulpOf(x: number, dtype: DType): number {
  const f = FORMATS[dtype];
  const ax = Math.abs(x);
  if (!(ax >= f.minNormal)) return f.minSubnormal; // zero, subnormal range (NaN also lands here)
  let e = Math.floor(Math.log2(ax));
  // log2 may round up to the next integer just below a power of two: settle on the true binade.
  if (2 ** e > ax) e--;
  else if (2 ** (e + 1) <= ax) e++;
  return 2 ** (e - f.precision + 1);
}
