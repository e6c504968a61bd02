/**
 * Per-element error bounds that a backend's result must meet against the float64 reference (DESIGN.md,
 * "Numerics"). A bound scales with the problem instead of being a fixed epsilon.
 *
 * Model. Kernels accumulate in f32 (unit roundoff u = 2^-24). A dot product of length K summed in f32 has
 * a worst-case error of about K·u·Σ|a||b|, but rounding errors of independent terms behave like a random
 * walk, so the realistic error is about sqrt(K)·u·Σ|a||b| (Higham, "Accuracy and Stability", §3.5 / the
 * probabilistic bounds of Higham & Mary 2019). Blocked and tree summation (what every tiled kernel does)
 * only lower it. c = 4 leaves head-room for the tail of that distribution, for FMA-vs-separate rounding and
 * for the handful of epilogue roundings, while a real bug (a lost term, a wrong index, 16-bit or TF32
 * accumulation, which err by ~2^-11·Σ|a||b|) still overshoots by orders of magnitude.
 * Caveat: the sqrt(K) model assumes data without systematic rounding bias; constant-valued or otherwise
 * adversarial inputs can approach the K·u worst case for large K — use exactly representable data there.
 *
 * Underflow. WGSL lets implementations flush f32 subnormals and GPUs often do, so each f32 operation may
 * lose up to the smallest normal (2^-126) in absolute terms; the bound adds that per accumulated term,
 * plus the output dtype's smallest subnormal for the final rounding. Both are negligible at normal scales.
 */
import type { DType } from '../types.js';
import { unitRoundoff } from '../dtype.js';
import type { MatmulPlan } from '../ops/matmul.js';
import type { AttentionPlan } from '../ops/attention.js';
import { activationLipschitz } from '../reference/activation.js';
import type { MatmulReference } from '../reference/matmul.js';
import type { AttentionReference } from '../reference/attention.js';
import { formatInfo } from './formats.js';

/** Unit roundoff of the f32 accumulation every backend uses. */
export const U_ACC = 2 ** -24;
/** Safety factor on the sqrt(K) model (see the module comment). */
export const DEFAULT_C = 4;
const F32_MIN_NORMAL = 2 ** -126;

export interface BoundOptions {
  /** Safety factor; default 4. */
  c?: number;
}

/**
 * matmul: bound_ij = (c·(sqrt(K)+2)·u + t)·L·mag_ij + 2u·|beta·res_ij| + u_out·|ref_ij| + floor,
 * with t = 2^-10 when the plan allows TF32 inputs (else 0).
 * - sqrt(K)·u·mag: the f32 dot product; +2 for the alpha scaling and the bias add (one rounding each,
 *   each at most u·mag) and the activation's own f32 evaluation error (a few u relative to |pre| <= mag);
 * - L: the activation's Lipschitz constant carries the pre-activation error through act;
 * - 2u·|beta·r|: rounding beta·r and adding it;
 * - u_out·|ref|: the final rounding to the output dtype.
 */
export function matmulBound(plan: MatmulPlan, ref: MatmulReference, options: BoundOptions = {}): Float64Array {
  const c = options.c ?? DEFAULT_C;
  const L = activationLipschitz(plan.activation);
  const uOut = unitRoundoff(plan.outDtype);
  // allowTf32: each input rounded to TF32 (u = 2^-11) makes each product off by up to (2u + u^2)|a||b|,
  // and those errors add up over K in the worst case: 2^-10 (and a hair) times the magnitude.
  const tf32 = plan.allowTf32 ? 1.01 * 2 ** -10 : 0;
  const scaleMag = (c * (Math.sqrt(plan.k) + 2) * U_ACC + tf32) * L;
  const floor =
    (L * (Math.abs(plan.alpha) * (plan.k + 2) + 2) + 1) * F32_MIN_NORMAL + formatInfo(plan.outDtype).minSubnormal;
  const res = ref.residualMagnitude;
  if (plan.residual && !res) throw new TypeError('matmulBound: the plan has a residual but the reference carries no residualMagnitude');
  const n = ref.out.length;
  const bound = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let e = scaleMag * ref.magnitude[i]! + uOut * Math.abs(ref.out[i]!) + floor;
    if (res) e += 2 * U_ACC * res[i]!;
    bound[i] = e;
  }
  return bound;
}

/**
 * attention: bound = c·u·(2·sqrt(D)·S_row + sqrt(Skv) + 4)·mag_elem + 2·u_p·mag_elem + u_out·|ref| + floor.
 * - A score s_j = scale·q·k_j (+ mask) computed in f32 is off by δ_j ≲ c·sqrt(D)·u·S_row (S_row = scoreMagnitude).
 *   Softmax turns that into δp_j = p_j(δ_j − Σ_k p_k δ_k), so δout_d = Σ_j p_j (δ_j − Σ p δ) v_jd and
 *   |δout_d| <= max|δ|·(Σ_j p_j|v_jd| + |out_d|) <= 2·max|δ|·mag_d: the factor 2.
 * - The P·V accumulation over the keys: sqrt(Skv)·u·mag (the same random-walk model as matmul).
 * - +4: exp, the online-softmax rescalings and the final division, each a few u relative to mag.
 * - 2·u_p (only with allowP16, u_p the input dtype's unit roundoff): each p_j rounded to 16 bits before
 *   P·V is off by u_p·p_j, so the numerator Σ p_j v_jd by at most u_p·mag; twice that leaves room for a
 *   kernel that also normalises by the rounded p. Without the term a cancelling output (|out| << mag)
 *   shows the rounding at many times the bound, which is why the default keeps P at f32 accuracy.
 */
export function attentionBound(plan: AttentionPlan, ref: AttentionReference, options: BoundOptions = {}): Float64Array {
  const c = options.c ?? DEFAULT_C;
  const uOut = unitRoundoff(plan.outDtype);
  const uP = plan.allowP16 ? unitRoundoff(plan.dtype) : 0;
  const sqrtD = Math.sqrt(plan.d);
  const keyTerm = Math.sqrt(plan.skv) + 4;
  const floor = (plan.d + plan.skv + 4) * F32_MIN_NORMAL + formatInfo(plan.outDtype).minSubnormal;
  const bound = new Float64Array(ref.out.length);
  const { batch, hq, sq, dv } = plan;
  const bhsd = plan.layout === 'bhsd';
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < hq; h++)
      for (let i = 0; i < sq; i++) {
        const row = (b * hq + h) * sq + i;
        const rel = c * U_ACC * (2 * sqrtD * ref.scoreMagnitude[row]! + keyTerm) + 2 * uP;
        const o = bhsd ? row * dv : ((b * sq + i) * hq + h) * dv;
        for (let x = 0; x < dv; x++)
          bound[o + x] = rel * ref.magnitude[o + x]! + uOut * Math.abs(ref.out[o + x]!) + floor;
      }
  return bound;
}

/**
 * lse = m + log Σ_j exp(s_j − m), returned in f32: it moves by at most max|δ_j| (the score error), plus the
 * relative error of the exp-sum (sqrt(Skv)·u + a few u, which log turns into an absolute error), plus
 * the f32 rounding of lse itself.
 */
export function attentionLseBound(plan: AttentionPlan, ref: AttentionReference, options: BoundOptions = {}): Float64Array {
  const c = options.c ?? DEFAULT_C;
  if (!ref.lse) throw new TypeError('attentionLseBound: the reference carries no lse');
  const sqrtD = Math.sqrt(plan.d);
  const keyTerm = Math.sqrt(plan.skv) + 4;
  const bound = new Float64Array(ref.lse.length);
  for (let r = 0; r < bound.length; r++)
    bound[r] = c * U_ACC * (sqrtD * ref.scoreMagnitude[r]! + keyTerm) + U_ACC * Math.abs(ref.lse[r]!) + F32_MIN_NORMAL;
  return bound;
}
