/**
 * The matmul epilogue activations in float64, written so that no branch loses relative accuracy to
 * cancellation (the oracle must be far more accurate than any f32 kernel it judges).
 *
 * At x = −∞ every activation returns its limit 0 instead of the NaN that the naive formulas give
 * (−∞·0, −∞/∞): the oracle states the mathematical function; NaN still propagates.
 */
import type { Activation } from '../types.js';
import { erfc } from './erf.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function relu(x: number): number {
  return x < 0 ? 0 : x; // NaN < 0 is false: NaN propagates (fmaxf(x, 0) would drop it)
}

/** Exact GELU: x·Φ(x) = ½x(1+erf(x/√2)) = ½x·erfc(−x/√2); the erfc form keeps full accuracy for x ≪ 0. */
export function gelu(x: number): number {
  if (x === -Infinity) return 0;
  return 0.5 * x * erfc(-x * Math.SQRT1_2);
}

/** tanh GELU: ½x(1+tanh(y)) = x / (1 + e^{−2y}), y = √(2/π)(x + 0.044715x³); the identity avoids 1+tanh cancelling. */
export function geluTanh(x: number): number {
  if (x === -Infinity) return 0;
  const y = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x / (1 + Math.exp(-2 * y));
}

export function silu(x: number): number {
  if (x === -Infinity) return 0;
  return x / (1 + Math.exp(-x));
}

export function activationFn(a: Activation): (x: number) => number {
  switch (a) {
    case 'none':
      return (x) => x;
    case 'relu':
      return relu;
    case 'gelu':
      return gelu;
    case 'gelu_tanh':
      return geluTanh;
    case 'silu':
      return silu;
  }
}

/**
 * Upper bound on |act'(x)| over the reals: how much an error in the pre-activation sum can grow.
 * GELU peaks at 1.1289 (x ≈ 2.42), tanh-GELU at about 1.13, SiLU at 1.0998 (x ≈ 2.40); 1.2 covers all.
 */
export function activationLipschitz(a: Activation): number {
  return a === 'none' || a === 'relu' ? 1 : 1.2;
}
