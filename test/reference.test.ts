import { describe, it, expect } from 'vitest';
import { planMatmul } from '../src/ops/matmul.js';
import { planAttention, visibleKeys } from '../src/ops/attention.js';
import type { AttentionOptions, MatmulOptions } from '../src/types.js';
import { referenceMatmul } from '../src/reference/matmul.js';
import { referenceAttention } from '../src/reference/attention.js';
import { erf, erfc } from '../src/reference/erf.js';
import { gelu, geluTanh, relu, silu } from '../src/reference/activation.js';
import { matmulBound, attentionBound, attentionLseBound } from '../src/numerics/bounds.js';
import { compareToReference } from '../src/numerics/compare.js';
import { decode, f32ToBf16, f32ToF16 } from '../src/dtype.js';
import { Rng } from '../src/numerics/random.js';
import { ulpOf } from '../src/numerics/formats.js';

const t = (...shape: number[]) => ({ shape, dtype: 'f32' as const });
const f64 = (xs: number[]) => Float64Array.from(xs);

/** Deterministic uniform values in [-1, 1), rounded to f32 like real inputs. */
function rand(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    out[i] = Math.fround((((z ^ (z >>> 14)) >>> 0) / 2 ** 32) * 2 - 1);
  }
  return out;
}

function relClose(got: number, want: number, tol: number) {
  expect(Math.abs(got - want)).toBeLessThanOrEqual(tol * Math.abs(want));
}

function mm(aShape: number[], bShape: number[], a: number[] | Float64Array, b: number[] | Float64Array, opts: MatmulOptions = {}, bias?: number[], res?: number[]) {
  const plan = planMatmul(t(...aShape), t(...bShape), opts);
  return { plan, ...referenceMatmul(plan, Float64Array.from(a), Float64Array.from(b), bias && f64(bias), res && f64(res)) };
}

describe('erf / erfc', () => {
  // 20-digit values from mpmath.
  const table: [number, number, number][] = [
    [0.1, 0.1124629160182848984, 0.8875370839817151016],
    [0.3, 0.32862675945912741619, 0.67137324054087258381],
    [0.46875, 0.49261347321793799159, 0.50738652678206200841],
    [0.5, 0.52049987781304653768, 0.47950012218695346232],
    [1, 0.84270079294971486934, 0.15729920705028513066],
    [2, 0.99532226501895273416, 0.0046777349810472658379],
    [3.5, 0.99999925690162765859, 7.4309837234141274552e-7],
    [4, 0.99999998458274209972, 1.5417257900280018852e-8],
    [5, 0.99999999999846254021, 1.5374597944280348502e-12],
    [-0.7, -0.67780119383741844228, 1.6778011938374184423],
  ];
  it('matches known constants to 1e-15 relative', () => {
    for (const [x, e, ec] of table) {
      relClose(erf(x), e, 1e-15);
      relClose(erfc(x), ec, 1e-15);
      relClose(erf(-x), -e, 1e-15);
    }
  });
  it('handles zero, infinities, NaN and the far tail', () => {
    expect(erf(0)).toBe(0);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erf(NaN)).toBeNaN();
    expect(erfc(NaN)).toBeNaN();
    relClose(erfc(10), 2.0884875837625447570e-45, 1e-14);
    relClose(erfc(26), 5.6631924088561428e-296, 1e-13);
    relClose(erf(1e-10), 1.1283791670955126e-10, 1e-15);
  });
});

describe('activations', () => {
  const cases: [number, number, number, number][] = [
    // x, gelu, gelu_tanh, silu (mpmath)
    [-3, -0.00404969409489028358, -0.0036373920817730188378, -0.14227761953270034264],
    [-1, -0.15865525393145705141, -0.15880800939172329522, -0.26894142136999512075],
    [0.5, 0.34573123063700655182, 0.34571400982514392204, 0.31122966560092728232],
    [1, 0.84134474606854294859, 0.84119199060827670478, 0.73105857863000487925],
    [2, 1.9544997361036415856, 1.9545976940877750188, 1.7615941559557648881],
  ];
  it('gelu, gelu_tanh and silu match known values', () => {
    for (const [x, g, gt, s] of cases) {
      relClose(gelu(x), g, 1e-14);
      relClose(geluTanh(x), gt, 1e-14);
      relClose(silu(x), s, 1e-14);
    }
  });
  it('relu, limits and NaN', () => {
    expect(relu(-2)).toBe(0);
    expect(relu(3)).toBe(3);
    expect(relu(NaN)).toBeNaN();
    for (const f of [gelu, geluTanh, silu, relu]) {
      expect(f(Infinity)).toBe(Infinity);
      expect(f(-Infinity)).toBe(0);
      expect(f(NaN)).toBeNaN();
      expect(f(0)).toBe(0);
      expect(Math.abs(f(-1000))).toBe(0); // no cancellation, no NaN far out
    }
  });
  it('are applied by the matmul epilogue', () => {
    for (const [x, g, gt, s] of cases) {
      expect(mm([1, 1], [1, 1], [x], [1], { activation: 'gelu' }).out[0]).toBe(gelu(x));
      relClose(mm([1, 1], [1, 1], [x], [1], { activation: 'gelu' }).out[0]!, g, 1e-14);
      relClose(mm([1, 1], [1, 1], [x], [1], { activation: 'gelu_tanh' }).out[0]!, gt, 1e-14);
      relClose(mm([1, 1], [1, 1], [x], [1], { activation: 'silu' }).out[0]!, s, 1e-14);
      expect(mm([1, 1], [1, 1], [x], [1], { activation: 'relu' }).out[0]).toBe(Math.max(0, x));
    }
  });
});

describe('referenceMatmul', () => {
  const A = [1, 2, 3, 4, 5, 6]; // [2, 3]
  const B = [7, 8, 9, 10, 11, 12]; // [3, 2]
  const C = [58, 64, 139, 154];

  it('computes a small integer product', () => {
    const r = mm([2, 3], [3, 2], A, B);
    expect([...r.out]).toEqual(C);
    expect([...r.magnitude]).toEqual(C);
    expect(r.plan.outShape).toEqual([2, 2]);
  });

  it('honours transA / transB storage', () => {
    const At = [1, 4, 2, 5, 3, 6]; // [3, 2] holding A^T
    const Bt = [7, 9, 11, 8, 10, 12]; // [2, 3] holding B^T
    expect([...mm([3, 2], [3, 2], At, B, { transA: true }).out]).toEqual(C);
    expect([...mm([2, 3], [2, 3], A, Bt, { transB: true }).out]).toEqual(C);
    expect([...mm([3, 2], [2, 3], At, Bt, { transA: true, transB: true }).out]).toEqual(C);
  });

  it('magnitude is |alpha|·|A||B| + |bias|', () => {
    const r = mm([1, 2], [2, 1], [1, -2], [3, 4], { alpha: -2, bias: t(1) }, [-5]);
    expect(r.out[0]).toBe(-2 * (3 - 8) - 5);
    expect(r.magnitude[0]).toBe(2 * (3 + 8) + 5);
  });

  it('applies bias, alpha, activation, then beta·residual with broadcasting', () => {
    // residual [2, 1] broadcasts along N
    const r = mm([2, 3], [3, 2], A, B, { alpha: 0.5, bias: t(2), activation: 'relu', residual: t(2, 1), beta: 2 }, [-40, 1], [10, 100]);
    expect([...r.out]).toEqual([Math.max(0, 29 - 40) + 20, 33 + 20, 69.5 - 40 + 200, 78 + 200]);
    expect([...r.residualMagnitude!]).toEqual([20, 20, 200, 200]);
  });

  it('broadcasts batch dimensions by the plan strides', () => {
    const a = rand(2 * 1 * 2 * 3, 1); // [2, 1, 2, 3]
    const b = rand(3 * 3 * 2, 2); // [3, 3, 2]
    const r = mm([2, 1, 2, 3], [3, 3, 2], a, b);
    expect(r.plan.outShape).toEqual([2, 3, 2, 2]);
    for (let x = 0; x < 2; x++)
      for (let y = 0; y < 3; y++)
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 2; j++) {
            let s = 0;
            for (let p = 0; p < 3; p++) s += a[x * 6 + i * 3 + p]! * b[y * 6 + p * 2 + j]!;
            expect(r.out[((x * 3 + y) * 2 + i) * 2 + j]).toBeCloseTo(s, 14);
          }
  });

  it('K = 0 leaves act(bias) + residual', () => {
    const r = mm([2, 0], [0, 2], [], [], { bias: t(2), activation: 'relu', residual: t(2, 2) }, [-1, 3], [1, 2, 3, 4]);
    expect([...r.out]).toEqual([1, 5, 3, 7]);
  });

  it('propagates NaN and Inf by IEEE rules', () => {
    const r = mm([2, 2], [2, 2], [NaN, 1, 1, 1], [1, 2, 3, 4]);
    expect(r.out[0]).toBeNaN();
    expect(r.out[1]).toBeNaN();
    expect([...r.out.slice(2)]).toEqual([4, 6]);
    const s = mm([1, 2], [2, 1], [Infinity, 0], [1, Infinity]);
    expect(s.out[0]).toBeNaN(); // 0·∞
  });
});

function att(qs: number[], ks: number[], vs: number[], q: Float64Array, k: Float64Array, v: Float64Array, opts: AttentionOptions = {}, mask?: Float64Array) {
  const plan = planAttention(t(...qs), t(...ks), t(...vs), opts);
  return { plan, ...referenceAttention(plan, q, k, v, mask) };
}

describe('referenceAttention', () => {
  it('one key returns that value whatever the query', () => {
    const r = att([1, 1, 2, 3], [1, 1, 1, 3], [1, 1, 1, 2], f64([1, 2, 3, -4, 5, 6]), f64([0.5, -1, 2]), f64([7, -8]), { returnLse: true });
    expect([...r.out]).toEqual([7, -8, 7, -8]);
    expect(r.lse![0]).toBeCloseTo((1 * 0.5 - 2 + 6) / Math.sqrt(3), 14);
  });

  it('uniform scores give the mean of V and lse = log(Skv)', () => {
    const v = rand(5 * 3, 3);
    const r = att([1, 1, 1, 4], [1, 1, 5, 4], [1, 1, 5, 3], new Float64Array(4), rand(20, 4), v);
    for (let x = 0; x < 3; x++) {
      let m = 0;
      for (let j = 0; j < 5; j++) m += v[j * 3 + x]! / 5;
      expect(r.out[x]).toBeCloseTo(m, 15);
    }
    expect(r.lse![0]).toBeCloseTo(Math.log(5), 15);
  });

  it('softmax weights follow the scores and an additive mask', () => {
    // q·k scaled: scores 0 and log 3 → weights 1/4, 3/4
    const r = att([1, 1, 1, 1], [1, 1, 2, 1], [1, 1, 2, 1], f64([1]), f64([0, Math.log(3)]), f64([1, 2]), { scale: 1 });
    expect(r.out[0]).toBeCloseTo(0.25 + 1.5, 15);
    const m = att([1, 1, 1, 1], [1, 1, 2, 1], [1, 1, 2, 1], f64([0]), f64([0, 0]), f64([1, 2]), { mask: t(2) }, f64([Math.log(3), 0]));
    expect(m.out[0]).toBeCloseTo(0.75 + 0.5, 15);
  });

  /** q = 0 and v_j = e_j: out row = uniform weights over exactly the visible keys. */
  function countVisible(sq: number, skv: number, opts: AttentionOptions, batch = 1) {
    const v = new Float64Array(batch * skv * skv);
    for (let b = 0; b < batch; b++) for (let j = 0; j < skv; j++) v[(b * skv + j) * skv + j] = 1;
    const r = att([batch, 1, sq, 2], [batch, 1, skv, 2], [batch, 1, skv, skv], new Float64Array(batch * sq * 2), rand(batch * skv * 2, 5), v, opts);
    const counts: number[] = [];
    for (let b = 0; b < batch; b++)
      for (let i = 0; i < sq; i++) {
        const row = r.out.slice((b * sq + i) * skv, (b * sq + i + 1) * skv);
        const nz = [...row].filter((x) => x !== 0);
        nz.forEach((x) => expect(x).toBeCloseTo(1 / nz.length, 15));
        // the visible keys are a prefix
        expect([...row].findIndex((x) => x === 0)).toBe(nz.length === skv ? -1 : nz.length);
        counts.push(nz.length);
        expect(visibleKeys(r.plan, b, i)).toBe(nz.length);
      }
    return { counts, r };
  }

  it('causal bottom-right and top-left on Sq != Skv', () => {
    expect(countVisible(3, 5, { causal: true }).counts).toEqual([3, 4, 5]);
    expect(countVisible(3, 5, { causal: 'bottom-right' }).counts).toEqual([3, 4, 5]);
    expect(countVisible(3, 5, { causal: 'top-left' }).counts).toEqual([1, 2, 3]);
    expect(countVisible(5, 3, { causal: 'top-left' }).counts).toEqual([1, 2, 3, 3, 3]);
    const { counts, r } = countVisible(5, 3, { causal: true, returnLse: true });
    expect(counts).toEqual([0, 0, 1, 2, 3]);
    expect(r.lse![0]).toBe(-Infinity);
    expect(r.lse![2]).toBe(0);
  });

  it('kvLengths mask keys and move the bottom-right diagonal', () => {
    expect(countVisible(2, 4, { kvLengths: [3, 1] }, 2).counts).toEqual([3, 3, 1, 1]);
    expect(countVisible(2, 4, { kvLengths: [3, 1], causal: true }, 2).counts).toEqual([2, 3, 0, 1]);
    expect(countVisible(2, 4, { kvLengths: [3, 1], causal: 'top-left' }, 2).counts).toEqual([1, 2, 1, 1]);
  });

  it('maps q head h to kv head floor(h / (Hq/Hkv))', () => {
    const r = att([1, 6, 1, 2], [1, 3, 1, 2], [1, 3, 1, 1], rand(12, 6), rand(6, 7), f64([10, 20, 30]));
    expect([...r.out]).toEqual([10, 10, 20, 20, 30, 30]);
    const mqa = att([1, 4, 1, 2], [1, 1, 1, 2], [1, 1, 1, 1], rand(8, 6), rand(2, 7), f64([5]));
    expect([...mqa.out]).toEqual([5, 5, 5, 5]);
  });

  it('a fully masked row gives 0 and lse -Infinity, never NaN', () => {
    const mask = f64([-Infinity, -Infinity, 0, -Infinity]); // [1, 1, 2, 2]
    const r = att([1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 3], rand(4, 8), rand(4, 9), rand(6, 10), { mask: t(1, 1, 2, 2), returnLse: true }, mask);
    expect([...r.out.slice(0, 3)]).toEqual([0, 0, 0]);
    expect(r.lse![0]).toBe(-Infinity);
    expect(r.scoreMagnitude[0]).toBe(0);
    expect(r.out[3]).not.toBe(0);
    const z = att([1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 3], rand(4, 8), rand(4, 9), rand(6, 10), { kvLengths: [0] });
    expect([...z.out]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...z.lse!]).toEqual([-Infinity, -Infinity]);
  });

  it('propagates NaN: a NaN score poisons its row, a NaN value its column, hidden keys are never read', () => {
    const q = rand(2 * 2, 11);
    q[0] = NaN; // row 0
    const v = rand(3 * 2, 12);
    v[2 * 2 + 1] = NaN; // key 2, column 1
    const r = att([1, 1, 2, 2], [1, 1, 3, 2], [1, 1, 3, 2], q, rand(6, 13), v, { causal: 'top-left' });
    expect(r.out[0]).toBeNaN();
    expect(r.out[1]).toBeNaN();
    expect(r.lse![0]).toBeNaN();
    // row 1 sees keys 0..1 only: key 2's NaN is hidden
    expect(Number.isFinite(r.out[2])).toBe(true);
    expect(Number.isFinite(r.out[3])).toBe(true);
    const all = att([1, 1, 2, 2], [1, 1, 3, 2], [1, 1, 3, 2], rand(4, 11), rand(6, 13), v);
    expect(Number.isFinite(all.out[0])).toBe(true);
    expect(all.out[1]).toBeNaN();
    const nanMask = att([1, 1, 1, 2], [1, 1, 3, 2], [1, 1, 3, 2], rand(2, 11), rand(6, 13), rand(6, 1), { mask: t(3) }, f64([0, NaN, 0]));
    expect(nanMask.out[0]).toBeNaN();
  });

  it('bshd equals bhsd transposed', () => {
    const [B, H, HK, S, SK, D, DV] = [2, 4, 2, 3, 5, 4, 3];
    const q = rand(B * H * S * D, 20);
    const k = rand(B * HK * SK * D, 21);
    const v = rand(B * HK * SK * DV, 22);
    const tr = (x: Float64Array, h: number, s: number, d: number) => {
      const y = new Float64Array(x.length);
      for (let b = 0; b < B; b++)
        for (let hh = 0; hh < h; hh++)
          for (let ss = 0; ss < s; ss++)
            for (let dd = 0; dd < d; dd++) y[((b * s + ss) * h + hh) * d + dd] = x[((b * h + hh) * s + ss) * d + dd]!;
      return y;
    };
    const opts: AttentionOptions = { causal: true, kvLengths: [4, 5], returnLse: true };
    const a = att([B, H, S, D], [B, HK, SK, D], [B, HK, SK, DV], q, k, v, opts);
    const b = att([B, S, H, D], [B, SK, HK, D], [B, SK, HK, DV], tr(q, H, S, D), tr(k, HK, SK, D), tr(v, HK, SK, DV), { ...opts, layout: 'bshd' });
    expect(b.plan.outShape).toEqual([B, S, H, DV]);
    expect([...b.out]).toEqual([...tr(a.out, H, S, DV)]);
    expect([...b.magnitude]).toEqual([...tr(a.magnitude, H, S, DV)]);
    expect([...b.lse!]).toEqual([...a.lse!]);
  });

  it('scoreMagnitude and magnitude', () => {
    const r = att([1, 1, 1, 2], [1, 1, 2, 2], [1, 1, 2, 1], f64([1, -2]), f64([3, 1, -1, 4]), f64([-2, 6]), { scale: 0.5 });
    expect(r.scoreMagnitude[0]).toBe(0.5 * Math.max(3 + 2, 1 + 8));
    // scores 0.5 and -4.5: magnitude = Σ p|v|
    const p0 = 1 / (1 + Math.exp(-5));
    expect(r.magnitude[0]).toBeCloseTo(p0 * 2 + (1 - p0) * 6, 14);
    expect(r.out[0]).toBeCloseTo(-p0 * 2 + (1 - p0) * 6, 14);
  });
});

describe('compareToReference', () => {
  it('a perturbation just inside the bound passes, just outside fails', () => {
    const r = mm([8, 64], [64, 8], rand(512, 30), rand(512, 31), { activation: 'gelu' });
    const bound = matmulBound(r.plan, r);
    const inside = r.out.map((x, i) => x + 0.99 * bound[i]! * (i % 2 ? 1 : -1));
    const ok = compareToReference(inside, r.out, bound, r.plan.outShape);
    expect(ok.pass).toBe(true);
    expect(ok.failures).toBe(0);
    expect(ok.worstRatio).toBeGreaterThan(0.98);
    expect(ok.worstRatio).toBeLessThan(1);
    const outside = Float64Array.from(r.out);
    outside[13] = r.out[13]! + 1.01 * bound[13]!;
    outside[60] = r.out[60]! - 2 * bound[60]!;
    const bad = compareToReference(outside, r.out, bound, r.plan.outShape);
    expect(bad.pass).toBe(false);
    expect(bad.failures).toBe(2);
    expect(bad.worst[0]!.index).toEqual([7, 4]);
    expect(bad.worst[0]!.ratio).toBeCloseTo(2, 6);
    expect(bad.worst[1]!.index).toEqual([1, 5]);
    expect(bad.worst).toHaveLength(5);
  });

  it('NaN and infinity rules', () => {
    const exp = f64([NaN, Infinity, 1, 1, -Infinity, 2]);
    const bound = f64([1, 1, 1, 1, 1, 1]);
    const good = compareToReference(f64([NaN, Infinity, 1.5, 0.5, -Infinity, 2]), exp, bound, [6]);
    expect(good.pass).toBe(true);
    expect(good.worstRatio).toBe(0.5);
    for (const [i, g] of [[0, 0], [1, -Infinity], [1, 1e300], [2, NaN], [3, Infinity], [4, NaN]] as const) {
      const got = f64([NaN, Infinity, 1, 1, -Infinity, 2]);
      got[i] = g;
      const rep = compareToReference(got, exp, bound, [6]);
      expect(rep.pass).toBe(false);
      expect(rep.failures).toBe(1);
      expect(rep.worstRatio).toBe(Infinity);
      expect(rep.worst[0]!.index).toEqual([i]);
    }
  });

  it('an expected value beyond the out dtype range expects infinity', () => {
    const exp = f64([70000, -70000, 65510]);
    const bound = f64([1, 1, 1]);
    expect(compareToReference(f64([Infinity, -Infinity, Infinity]), exp, bound, [3], 'f16').pass).toBe(false); // 65510 + 1 < 65520
    expect(compareToReference(f64([Infinity, -Infinity, 65504]), exp, f64([1, 1, 7]), [3], 'f16').pass).toBe(true);
    expect(compareToReference(f64([Infinity, -Infinity, Infinity]), exp, f64([1, 1, 10]), [3], 'f16').pass).toBe(true); // 65510 may round up
    const r = compareToReference(f64([65504, Infinity, 65504]), exp, f64([1, 1, 7]), [3], 'f16');
    expect(r.failures).toBe(2); // a finite 65504 for 70000, and +∞ for −70000
  });

  it('reports NMSE, max ULP and max abs error', () => {
    const exp = f64([1, -2, 0.75, 0]);
    const got = f64([1 + 2 ** -23, -2, 0.75 - 2 * 2 ** -24, 0]);
    const rep = compareToReference(got, exp, f64([1, 1, 1, 1]), [2, 2]);
    expect(rep.maxUlp).toBe(2); // 0.75 lives in [0.5, 1): ulp 2^-24
    expect(rep.maxAbsError).toBe(2 ** -23);
    expect(rep.nmse).toBeCloseTo((2 * 2 ** -46) / (1 + 4 + 0.5625), 30);
    expect(compareToReference(f64([0, 0]), f64([0, 0]), f64([0, 0]), [2]).nmse).toBe(0);
    expect(ulpOf(1, 'bf16')).toBe(2 ** -7);
    expect(ulpOf(0, 'f16')).toBe(2 ** -24);
  });
});

/** Simulated kernels: the bound must accept honest f32 arithmetic and reject a real precision bug. */
describe('bounds against simulated f32 kernels', () => {
  const fr = Math.fround;

  function f32Matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, lossy: boolean) {
    const out = new Float64Array(m * n);
    const bf = (x: number) => {
      const h = Math.fround(x);
      return lossy ? Number(h.toPrecision(3)) : h; // ~ 16-bit accumulation
    };
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s = bf(s + fr(a[i * k + p]! * b[p * n + j]!));
        out[i * n + j] = s;
      }
    return out;
  }

  it('sequential f32 accumulation passes; 16-bit-ish accumulation fails', () => {
    const [m, k, n] = [16, 512, 16];
    const a = rand(m * k, 40);
    const b = rand(k * n, 41);
    const r = mm([m, k], [k, n], a, b);
    const bound = matmulBound(r.plan, r);
    const good = compareToReference(f32Matmul(a, b, m, k, n, false), r.out, bound, r.plan.outShape);
    expect(good.pass).toBe(true);
    expect(good.worstRatio).toBeLessThan(0.5);
    const bad = compareToReference(f32Matmul(a, b, m, k, n, true), r.out, bound, r.plan.outShape);
    expect(bad.pass).toBe(false);
  });

  it('f16 output rounding is covered by u_out', () => {
    const r = mm([4, 32], [32, 4], rand(128, 42), rand(128, 43), { outDtype: 'f16', activation: 'silu' });
    const bound = matmulBound(r.plan, r);
    // round to f16 through the spacing of f16 values
    const got = r.out.map((x) => Math.round(x / ulpOf(x, 'f16')) * ulpOf(x, 'f16'));
    expect(compareToReference(got, r.out, bound, r.plan.outShape, 'f16').pass).toBe(true);
  });

  it('online-softmax f32 attention passes the attention and lse bounds', () => {
    const [B, H, S, SK, D] = [1, 2, 8, 40, 16];
    const q = rand(B * H * S * D, 50).map((x) => x * 3);
    const k = rand(B * H * SK * D, 51).map((x) => x * 3);
    const v = rand(B * H * SK * D, 52);
    const r = att([B, H, S, D], [B, H, SK, D], [B, H, SK, D], q, k, v, { causal: true, returnLse: true });
    const out = new Float64Array(r.out.length);
    const lse = new Float64Array(r.lse!.length);
    const scale = fr(1 / Math.sqrt(D));
    for (let h = 0; h < H; h++)
      for (let i = 0; i < S; i++) {
        let m = -Infinity;
        let l = 0;
        const acc = new Float64Array(D);
        for (let j = 0; j <= i + SK - S; j++) {
          let s = 0;
          for (let x = 0; x < D; x++) s = fr(s + fr(q[(h * S + i) * D + x]! * k[(h * SK + j) * D + x]!));
          s = fr(s * scale);
          const mNew = Math.max(m, s);
          const corr = fr(Math.exp(fr(m - mNew)));
          const p = fr(Math.exp(fr(s - mNew)));
          l = fr(fr(l * corr) + p);
          for (let x = 0; x < D; x++) acc[x] = fr(fr(acc[x]! * corr) + fr(p * v[(h * SK + j) * D + x]!));
          m = mNew;
        }
        for (let x = 0; x < D; x++) out[(h * S + i) * D + x] = fr(acc[x]! / l);
        lse[h * S + i] = fr(m + fr(Math.log(l)));
      }
    const rep = compareToReference(out, r.out, attentionBound(r.plan, r), r.plan.outShape);
    expect(rep.pass).toBe(true);
    expect(compareToReference(lse, r.lse!, attentionLseBound(r.plan, r), r.plan.lseShape).pass).toBe(true);
    // a lost key (an off-by-one in the causal limit) is caught
    const broken = Float64Array.from(out);
    broken[0] = r.out[0]! + (r.out[0]! - v[0]!) * 0.02;
    expect(compareToReference(broken, r.out, attentionBound(r.plan, r), r.plan.outShape).pass).toBe(false);
  });
});

describe('allowTf32', () => {
  // TF32 keeps 10 mantissa bits: round to nearest (ties away, as cvt.rna.tf32.f32 does).
  const tf32 = (x: number) => {
    if (x === 0 || !Number.isFinite(x)) return x;
    const e = Math.floor(Math.log2(Math.abs(x)));
    const q = 2 ** (e - 10);
    return Math.sign(x) * Math.round(Math.abs(x) / q) * q;
  };

  it('is a boolean option that applies to f32 inputs only', () => {
    expect(planMatmul(t(4, 8), t(8, 3), { allowTf32: true }).allowTf32).toBe(true);
    expect(planMatmul(t(4, 8), t(8, 3)).allowTf32).toBe(false);
    const h = (...shape: number[]) => ({ shape, dtype: 'bf16' as const });
    expect(planMatmul(h(4, 8), h(8, 3), { allowTf32: true }).allowTf32).toBe(false);
    expect(() => planMatmul(t(4, 8), t(8, 3), { allowTf32: 1 as unknown as boolean })).toThrow(/matmul: allowTf32 must be a boolean, got 1/);
  });

  it('the TF32 bound holds a product of TF32-rounded inputs that the f32 bound rejects', () => {
    const [m, k, n] = [16, 300, 12];
    const a = rand(m * k, 40), b = rand(k * n, 41);
    const exact = mm([m, k], [k, n], a, b, { activation: 'gelu' });
    const rounded = mm([m, k], [k, n], a.map(tf32), b.map(tf32), { activation: 'gelu' }).out; // what a TF32 kernel computes
    const strict = compareToReference(rounded, exact.out, matmulBound(exact.plan, exact), exact.plan.outShape);
    const loose = mm([m, k], [k, n], a, b, { activation: 'gelu', allowTf32: true });
    const tf = compareToReference(rounded, loose.out, matmulBound(loose.plan, loose), loose.plan.outShape);
    expect(strict.failures, 'TF32 rounding must not pass as f32').toBeGreaterThan(0);
    expect(tf.failures).toBe(0);
    expect(tf.worstRatio).toBeGreaterThan(0.01); // and the bound is not vacuous
  });
});

describe('16-bit encoding of host numbers', () => {
  it('rounds each number once to nearest even (not through f32 first)', () => {
    // Just above a tie of the 16-bit format by less than an f32 ulp: through f32 it became the tie
    // itself and rounded to even (down); rounded once it goes up.
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -40)).toBe(0x3f81);
    expect(f32ToBf16(-(1 + 2 ** -8 + 2 ** -40))).toBe(0xbf81);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // the tie itself: to even
    // Random doubles against a float64 round-to-nearest-even of the decoded neighbours.
    const rng = new Rng(7);
    for (let n = 0; n < 2000; n++) {
      const x = rng.uniform() * 2 ** Math.round(rng.next() * 40 - 20);
      for (const [dt, enc] of [['f16', f32ToF16], ['bf16', f32ToBf16]] as const) {
        const h = enc(x);
        if ((h & 0x7fff) === 0) continue; // zero's neighbours are not both on one side
        const [lo, hi] = [decode(Uint16Array.of(h - 1), dt)[0]!, decode(Uint16Array.of(h + 1), dt)[0]!];
        const v = decode(Uint16Array.of(h), dt)[0]!;
        if (!Number.isFinite(v)) continue; // past the format's range
        // no neighbour is closer, and a tie went to the even code
        expect(Math.abs(v - x) <= Math.abs(lo - x) && Math.abs(v - x) <= Math.abs(hi - x), `${dt} ${x}`).toBe(true);
        if (Math.abs(v - x) === Math.abs(lo - x) || Math.abs(v - x) === Math.abs(hi - x)) expect(h & 1).toBe(0);
      }
    }
  });
});
