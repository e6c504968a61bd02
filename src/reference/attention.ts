/**
 * float64 oracle for attention: softmax(scale · Q Kᵀ + mask) V per (batch, q head, query row), with
 * GQA, both causal alignments, per-batch kv lengths and an additive mask.
 *
 * The softmax is the standard two-pass one (max, then exp-sum) in float64 — deliberately not the
 * online form the kernels use, so the oracle shares none of their structure.
 *
 * Semantics fixed here:
 * - keys hidden by causality or kvLengths are never read (their K/V values, even NaN, do not matter);
 * - a key whose score is −∞ (an additive −∞ mask) contributes nothing, exactly like a hidden key;
 * - a row with no visible key, or whose visible scores are all −∞, is fully masked: out 0, lse −∞;
 * - a NaN score (NaN in q or a visible k, or NaN in the mask) makes the whole row NaN, lse included;
 *   NaN in a visible v makes only that output column NaN.
 */
import type { AttentionPlan } from '../ops/attention.js';

export interface AttentionReference {
  /** plan.outShape, in the plan's layout. */
  out: Float64Array;
  /** [B, Hq, Sq] natural-log log-sum-exp of the masked, scaled scores (always computed). */
  lse?: Float64Array;
  /** Per output element Σ_j p_ij |v_jd|, which bounds |out| and drives the error bound. */
  magnitude: Float64Array;
  /**
   * Per row (b, h, i): max over visible keys j of |scale|·Σ_d |q_id||k_jd|, plus |mask_ij| for keys with
   * p_ij > 0 — the size of a score's terms, which sets how wrong an f32 score can be.
   */
  scoreMagnitude: Float64Array;
}

export function referenceAttention(
  plan: AttentionPlan,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  mask?: Float64Array,
): AttentionReference {
  const { batch, hq, hkv, sq, skv, d, dv, scale, causal, kvLengths } = plan;
  if (plan.mask && !mask) throw new TypeError('referenceAttention: the plan has a mask but no mask values were given');
  const maskVals = plan.mask ? mask : undefined;
  const [ms0, ms1, ms2, ms3] = plan.mask?.strides ?? [0, 0, 0, 0];
  const group = hq / hkv;
  const absScale = Math.abs(scale);

  // Element strides of (b, h, s) for a [B, H, S, X] tensor in either layout; X is always contiguous.
  const bhsd = plan.layout === 'bhsd';
  const strides = (h: number, s: number, x: number) =>
    bhsd ? { b: h * s * x, h: s * x, s: x } : { b: s * h * x, h: x, s: h * x };
  const Qs = strides(hq, sq, d);
  const Ks = strides(hkv, skv, d);
  const Vs = strides(hkv, skv, dv);
  const Os = strides(hq, sq, dv);

  const out = new Float64Array(batch * hq * sq * dv);
  const magnitude = new Float64Array(out.length);
  const lse = new Float64Array(batch * hq * sq);
  const scoreMagnitude = new Float64Array(lse.length);
  const scores = new Float64Array(skv);
  const qkAbs = new Float64Array(skv);
  const accOut = new Float64Array(dv);
  const accMag = new Float64Array(dv);
  // No query row: done (empty heads are not walked one by one).
  if (lse.length === 0) return { out, lse, magnitude, scoreMagnitude };

  for (let b = 0; b < batch; b++) {
    const len = kvLengths ? kvLengths[b]! : skv;
    for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / group);
      const kBase = b * Ks.b + kh * Ks.h;
      const vBase = b * Vs.b + kh * Vs.h;
      for (let i = 0; i < sq; i++) {
        const row = (b * hq + h) * sq + i;
        const qOff = b * Qs.b + h * Qs.h + i * Qs.s;
        const oOff = b * Os.b + h * Os.h + i * Os.s;
        const mOff = b * ms0 + h * ms1 + i * ms2;
        // Keys 0 .. visible-1 pass causality and kvLengths.
        const last = causal === 'none' ? len - 1 : causal === 'top-left' ? i : i + len - sq;
        const visible = Math.max(0, Math.min(len, last + 1));

        let mx = -Infinity;
        for (let j = 0; j < visible; j++) {
          const kOff = kBase + j * Ks.s;
          let dot = 0;
          let dotAbs = 0;
          for (let x = 0; x < d; x++) {
            const qv = q[qOff + x]!;
            const kv = k[kOff + x]!;
            dot += qv * kv;
            dotAbs += Math.abs(qv) * Math.abs(kv);
          }
          const s = scale * dot + (maskVals ? maskVals[mOff + j * ms3]! : 0);
          scores[j] = s;
          qkAbs[j] = absScale * dotAbs;
          mx = Math.max(mx, s); // Math.max propagates NaN
        }

        accOut.fill(0);
        accMag.fill(0);
        if (visible === 0 || mx === -Infinity) {
          lse[row] = -Infinity;
          scoreMagnitude[row] = 0;
        } else {
          let sum = 0;
          let smag = 0;
          for (let j = 0; j < visible; j++) {
            const s = scores[j]!;
            if (s === -Infinity) continue;
            const p = Math.exp(s - mx); // NaN when mx is NaN or +∞: the row becomes NaN, as it should
            sum += p;
            const mv = maskVals && p > 0 ? Math.abs(maskVals[mOff + j * ms3]!) : 0;
            smag = Math.max(smag, qkAbs[j]! + mv);
            const vOff = vBase + j * Vs.s;
            for (let x = 0; x < dv; x++) {
              const vv = v[vOff + x]!;
              accOut[x]! += p * vv;
              accMag[x]! += p * Math.abs(vv);
            }
          }
          lse[row] = mx + Math.log(sum);
          scoreMagnitude[row] = smag;
          for (let x = 0; x < dv; x++) {
            accOut[x]! /= sum;
            accMag[x]! /= sum;
          }
        }
        for (let x = 0; x < dv; x++) {
          out[oOff + x] = accOut[x]!;
          magnitude[oOff + x] = accMag[x]!;
        }
      }
    }
  }
  return { out, lse, magnitude, scoreMagnitude };
}
