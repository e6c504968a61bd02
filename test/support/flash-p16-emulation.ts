/**
 * The arithmetic of cuda's tensor-core attention with allowP16 (kernels/gpu/attention_mma.cu, P16),
 * replayed on the CPU in f32 (Math.fround after every operation), as a validate() candidate. It lets
 * the bound's P-rounding term be checked here, where no GPU runs the kernel itself:
 * - scores accumulated in f32, scaled into log2 units by one f32 multiply (scale·log2 e);
 * - 64-key tiles with the online softmax: running max, exp2 of differences, rescaled l and O;
 * - exp2 carries a relative error of 2^-22 (CUDA's exp2f is within 2 ulp), always the same way, the
 *   worst case for a sum;
 * - P rounded once to the input dtype (f16: scaled by 2^15 first) before P·V, the products
 *   accumulated in f32; l sums the unrounded P; a tile whose V holds Inf or NaN takes the unrounded
 *   P key by key, skipping hidden keys, as the kernel does.
 * `roundAlways` rounds P even when the case does not allow it (to show the default bound catches it).
 */
import { bf16ToF32, decode, encode, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/dtype.js';
import { visibleKeys } from '../../src/ops/attention.js';
import type { Candidate, CandidateCall, CandidateResult } from '../../src/validate/index.js';

const f = Math.fround;
const KEYS = 64;
const EXP2_ERROR = 1 + 2 ** -22;

export function flashP16Emulation(roundAlways = false): Candidate {
  return { name: roundAlways ? 'flash-p16-emulation (always rounds)' : 'flash-p16-emulation', run: (call) => run(call, roundAlways) };
}

function run(call: CandidateCall, roundAlways: boolean): CandidateResult {
  if (call.op !== 'attention') return null;
  const { plan, inputs } = call;
  // The kernel's scope: 16-bit inputs, no additive mask (masked calls take the portable kernels).
  if (plan.dtype === 'f32' || plan.mask) return null;
  const round = plan.allowP16 || roundAlways;
  const bf16 = plan.dtype === 'bf16';
  const hiScale = bf16 ? 1 : 32768;
  const toP16 = (p: number) => (bf16 ? bf16ToF32(f32ToBf16(p)) : f16ToF32(f32ToF16(p * hiScale)));
  const q = decode(inputs.q.data, plan.dtype);
  const k = decode(inputs.k.data, plan.dtype);
  const v = decode(inputs.v.data, plan.dtype);
  const { batch, hq, hkv, sq, skv, d, dv } = plan;
  const bhsd = plan.layout === 'bhsd';
  const at = (h: number, s: number, x: number) => (b: number, hh: number, ss: number) => (bhsd ? ((b * h + hh) * s + ss) * x : ((b * s + ss) * h + hh) * x);
  const Q = at(hq, sq, d), K = at(hkv, skv, d), V = at(hkv, skv, dv), O = at(hq, sq, dv);
  const out = new Float64Array(batch * hq * sq * dv);
  const lse = new Float64Array(batch * hq * sq);
  const scoreScale = f(plan.scale * f(Math.LOG2E));
  const exp2 = (x: number) => f(f(2 ** x) * EXP2_ERROR);
  const s = new Float64Array(KEYS);
  const p = new Float64Array(KEYS);
  const o = new Float64Array(dv);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < hq; h++) {
      const hk = Math.floor(h / (hq / hkv));
      for (let i = 0; i < sq; i++) {
        const end = visibleKeys(plan, b, i);
        let m = -Infinity;
        let l = 0;
        o.fill(0);
        const qo = Q(b, h, i);
        for (let j0 = 0; j0 < end; j0 += KEYS) {
          const n = Math.min(KEYS, end - j0);
          let mx = m;
          for (let j = 0; j < n; j++) {
            const ko = K(b, hk, j0 + j);
            let acc = 0;
            for (let x = 0; x < d; x++) acc = f(acc + q[qo + x]! * k[ko + x]!);
            const y = f(acc * scoreScale);
            s[j] = y;
            if (y > mx) mx = y;
          }
          const corr = m === mx ? 1 : exp2(f(m - mx));
          let sum = 0;
          for (let j = 0; j < n; j++) {
            p[j] = s[j] === -Infinity ? 0 : exp2(f(s[j]! - mx));
            sum = f(sum + p[j]!);
          }
          l = f(f(l * corr) + sum);
          m = mx;
          let vFinite = true;
          for (let j = 0; j < n && vFinite; j++) {
            const vo = V(b, hk, j0 + j);
            for (let x = 0; x < dv; x++) if (!Number.isFinite(v[vo + x]!)) vFinite = false;
          }
          for (let x = 0; x < dv; x++) o[x] = f(o[x]! * corr);
          for (let j = 0; j < n; j++) {
            if (!vFinite && s[j] === -Infinity) continue;
            const pj = round && vFinite ? toP16(p[j]!) : f(p[j]! * hiScale);
            const vo = V(b, hk, j0 + j);
            for (let x = 0; x < dv; x++) o[x] = f(o[x]! + pj * v[vo + x]!);
          }
        }
        const oo = O(b, h, i);
        const empty = l === 0;
        for (let x = 0; x < dv; x++) out[oo + x] = empty ? 0 : f(f(o[x]! / hiScale) / l);
        lse[(b * hq + h) * sq + i] = empty ? -Infinity : f(f(m * f(Math.LN2)) + f(Math.log(l)));
      }
    }
  }
  return { out: encode(out, plan.outDtype), lse: Float32Array.from(lse) };
}
