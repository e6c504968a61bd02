/**
 * attention on every backend against the float64 reference (src/numerics/check.ts): Dv != D, Sq vs Skv,
 * decode, both causal alignments, GQA/MQA, layouts, kvLengths, additive masks, fully masked rows,
 * dtypes, NaN propagation and the returnLse contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, Tensor, type Device } from '../src/index.js';
import { probeBackend } from '../src/probe.js';
import { decode, encode } from '../src/dtype.js';
import { judgeAttention, type AttentionCaseOptions, type AttentionInputs, type HostTensor } from '../src/numerics/check.js';
import type { ErrorReport } from '../src/numerics/compare.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { DType, Layout } from '../src/types.js';
import { describeReport } from './support/report.js';
import { planAttention, sumClampedRamp, visibleKeys } from '../src/ops/attention.js';
import { inputs, options, shapes, type Case } from './support/attention-cases.js';

// cuda joins wherever a CUDA device is present (test/cuda.test.ts says why it is skipped otherwise);
// musa wherever a MUSA device is, or the emulated MUSA build on an NVIDIA GPU (test/musa.test.ts).
const gpuBackends = async <B extends 'cuda' | 'musa'>(b: B): Promise<B[]> => ((await probeBackend(b)).some((d) => d.available) ? [b] : []);
const BACKENDS = ['cpu', 'reference', ...(await gpuBackends('cuda')), ...(await gpuBackends('musa'))] as const;

const showWorst = (what: string, r: ErrorReport | undefined) => describeReport(r, what);


function upload(dev: Device, t: HostTensor): Tensor {
  return dev.tensor(t.data, t.shape, t.dtype);
}

/** Runs attention directly (returnLse) and returns decoded out and lse with their tensors' metadata. */
async function runDirect(dev: Device, x: AttentionInputs, opts: AttentionCaseOptions) {
  const [q, k, v] = [x.q, x.k, x.v].map((t) => upload(dev, t)) as [Tensor, Tensor, Tensor];
  const mask = x.mask ? upload(dev, x.mask) : undefined;
  const r = dev.attention(q, k, v, { ...opts, mask, returnLse: true });
  try {
    return {
      outShape: [...r.out.shape],
      outDtype: r.out.dtype,
      lseShape: [...r.lse.shape],
      lseDtype: r.lse.dtype,
      out: decode(await r.out.read(), r.out.dtype),
      lse: decode(await r.lse.read(), 'f32'),
    };
  } finally {
    for (const t of [r.out, r.lse, q, k, v, mask]) t?.dispose();
  }
}

async function judge(dev: Device, x: AttentionInputs, opts: AttentionCaseOptions) {
  const r = await judgeAttention(dev, x, opts);
  expect(r.out.pass, showWorst('out', r.out)).toBe(true);
  expect(r.lse, 'lse report').toBeDefined();
  expect(r.lse!.pass, showWorst('lse', r.lse)).toBe(true);
  return r;
}

const CASES: Case[] = [
  { name: 'Sq=13 Skv=29 D=24 Dv=40', sq: 13, skv: 29, d: 24, dv: 40 },
  { name: 'Sq=Skv=17', sq: 17, skv: 17 },
  { name: 'Sq=31 > Skv=11', sq: 31, skv: 11, dv: 8 },
  { name: 'decode Sq=1 Skv=100', sq: 1, skv: 100, d: 32, dv: 16 },
  { name: 'decode Sq=1 Skv=100 causal', sq: 1, skv: 100, d: 32, options: { causal: true } },
  { name: 'Skv=1', sq: 5, skv: 1 },
  { name: 'D=1 Dv=1', sq: 7, skv: 9, d: 1, dv: 1 },
  { name: 'odd D=7 Dv=13, B=1 H=1', b: 1, hq: 1, sq: 19, skv: 23, d: 7, dv: 13 },
  { name: 'longer Skv=257 (more than one kv block)', b: 1, hq: 2, sq: 9, skv: 257, d: 40, dv: 24 },
  { name: 'D=64 Dv=64 Sq=70 Skv=300 causal', b: 1, hq: 2, sq: 70, skv: 300, d: 64, dv: 64, options: { causal: true } },
  { name: 'D=128 Dv=80 Sq=33 Skv=130', b: 1, hq: 2, hkv: 1, sq: 33, skv: 130, d: 128, dv: 80 },
  { name: 'D=256 Dv=8 decode Skv=67', b: 2, hq: 2, sq: 1, skv: 67, d: 256, dv: 8 },
  { name: 'large scores (scale 25): sharp softmax, online rescaling', sq: 13, skv: 129, options: { scale: 25 } },
  { name: 'huge scores (q x 1000): exp never overflows', sq: 13, skv: 129, qScale: 1000 },
  { name: 'huge scores with causal and f16 (q x 100)', sq: 13, skv: 70, qScale: 100, dtype: 'f16', options: { causal: true } },
  { name: 'tiny scores (q x 1e-30): uniform weights', sq: 13, skv: 29, qScale: 1e-30 },
  // causal alignments on Sq != Skv
  ...(['Sq<Skv', 'Sq>Skv', 'Sq=Skv'] as const).flatMap((rel) => {
    const [sq, skv] = rel === 'Sq<Skv' ? [13, 29] : rel === 'Sq>Skv' ? [29, 13] : [21, 21];
    return [
      { name: `causal true, ${rel}`, sq, skv, dv: 40, options: { causal: true } },
      { name: `causal 'bottom-right', ${rel}`, sq, skv, options: { causal: 'bottom-right' } },
      { name: `causal 'top-left', ${rel}`, sq, skv, dv: 16, options: { causal: 'top-left' } },
      { name: `causal false, ${rel}`, sq, skv, options: { causal: false } },
    ] as Case[];
  }),
  // GQA / MQA
  { name: 'GQA Hq:Hkv = 8:2', hq: 8, hkv: 2, sq: 11, skv: 19 },
  { name: 'MQA Hq:Hkv = 4:1', hq: 4, hkv: 1, sq: 11, skv: 19, dv: 40 },
  { name: 'MHA Hq:Hkv = 3:3', hq: 3, hkv: 3, sq: 11, skv: 19 },
  { name: 'GQA 8:2 causal top-left', hq: 8, hkv: 2, sq: 11, skv: 19, options: { causal: 'top-left' } },
  // layout
  { name: "layout 'bshd'", sq: 13, skv: 29, dv: 40, layout: 'bshd' },
  { name: "layout 'bshd' GQA 8:2 causal", hq: 8, hkv: 2, sq: 13, skv: 29, layout: 'bshd', options: { causal: true } },
  { name: "layout 'bshd' MQA 4:1, Sq>Skv, top-left", hq: 4, hkv: 1, sq: 17, skv: 9, layout: 'bshd', options: { causal: 'top-left' } },
  { name: "layout 'bhsd' explicit", sq: 13, skv: 29, options: { layout: 'bhsd' } },
  // kvLengths
  { name: 'kvLengths [0, 29, 7]', b: 3, sq: 13, skv: 29, options: { kvLengths: [0, 29, 7] } },
  { name: 'kvLengths Int32Array [29, 1]', sq: 13, skv: 29, options: { kvLengths: Int32Array.from([29, 1]) } },
  { name: 'kvLengths [0, 29, 7] causal bottom-right (aligned to each length)', b: 3, sq: 13, skv: 29, options: { kvLengths: [0, 29, 7], causal: true } },
  { name: 'kvLengths [20, 3] causal bottom-right, Sq=5', sq: 5, skv: 29, options: { kvLengths: [20, 3], causal: 'bottom-right' } },
  { name: 'kvLengths [0, 29, 7] causal top-left', b: 3, sq: 13, skv: 29, options: { kvLengths: [0, 29, 7], causal: 'top-left' } },
  { name: 'kvLengths decode [100, 37, 1]', b: 3, sq: 1, skv: 100, options: { kvLengths: [100, 37, 1], causal: true } },
  { name: "kvLengths with GQA 8:2 and 'bshd'", hq: 8, hkv: 2, sq: 6, skv: 21, layout: 'bshd', options: { kvLengths: [13, 21], causal: true } },
  // additive masks (broadcast), with -Infinity entries
  { name: 'mask [Sq,Skv]', sq: 13, skv: 29, mask: [13, 29], maskNegInf: 0.2 },
  { name: 'mask [B,1,Sq,Skv]', sq: 13, skv: 29, mask: [2, 1, 13, 29], maskNegInf: 0.2 },
  { name: 'mask [1,Hq,1,Skv]', hq: 4, hkv: 2, sq: 13, skv: 29, mask: [1, 4, 1, 29], maskNegInf: 0.3 },
  { name: 'mask [B,Hq,Sq,Skv]', sq: 13, skv: 29, mask: [2, 2, 13, 29], maskNegInf: 0.1 },
  { name: 'mask [Skv]', sq: 13, skv: 29, mask: [29], maskNegInf: 0.2 },
  { name: 'mask [Sq,1]', sq: 13, skv: 29, mask: [13, 1] },
  { name: 'mask + causal + kvLengths', sq: 13, skv: 29, mask: [13, 29], maskNegInf: 0.2, options: { causal: true, kvLengths: [29, 16] } },
  { name: "mask [B,1,Sq,Skv] with 'bshd'", hq: 4, hkv: 2, sq: 13, skv: 29, layout: 'bshd', mask: [2, 1, 13, 29], maskNegInf: 0.2 },
  // scale and dtypes
  { name: 'custom scale 0.3', sq: 13, skv: 29, options: { scale: 0.3 } },
  { name: 'custom scale -1.7', sq: 13, skv: 29, options: { scale: -1.7 } },
  { name: 'scale 0 (uniform average)', sq: 13, skv: 29, options: { scale: 0 } },
  { name: 'f16 inputs', sq: 13, skv: 29, dv: 40, dtype: 'f16' },
  { name: 'bf16 inputs', sq: 13, skv: 29, dv: 40, dtype: 'bf16' },
  { name: 'f16 in, f32 out', sq: 13, skv: 29, dtype: 'f16', options: { outDtype: 'f32' } },
  { name: 'bf16 in, f32 out, causal, GQA', hq: 4, hkv: 2, sq: 13, skv: 29, dtype: 'bf16', options: { outDtype: 'f32', causal: true } },
  { name: 'f32 in, bf16 out', sq: 13, skv: 29, options: { outDtype: 'bf16' } },
  { name: 'f16 with mask, kvLengths, bshd', sq: 13, skv: 29, dtype: 'f16', layout: 'bshd', mask: [13, 29], maskNegInf: 0.2, options: { kvLengths: [29, 9] } },
];

describe.each(BACKENDS)('attention on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev?.dispose());

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const x = inputs(c, 2000 + i);
    const opts = options(c);
    await judge(dev, x, opts);
    const s = shapes(c);
    const r = await runDirect(dev, x, opts);
    expect(r.outShape).toEqual(s.out);
    expect(r.outDtype).toBe(opts.outDtype ?? c.dtype ?? 'f32');
    expect(r.lseShape).toEqual(s.lse);
    expect(r.lseDtype).toBe('f32');
  });

  describe('fully masked rows give exactly 0 and lse -Infinity', () => {
    const Sq = 6;
    const Skv = 10;
    const bhsdRow = (b: number, h: number, i: number, Hq: number) => (b * Hq + h) * Sq + i;

    function checkRows(out: Float64Array, lse: Float64Array, Hq: number, Dv: number, masked: (b: number, h: number, i: number) => boolean, B = 2) {
      for (let b = 0; b < B; b++)
        for (let h = 0; h < Hq; h++)
          for (let i = 0; i < Sq; i++) {
            const row = bhsdRow(b, h, i, Hq);
            const vals = Array.from(out.subarray(row * Dv, (row + 1) * Dv));
            if (masked(b, h, i)) {
              expect(vals, `out row (${b}, ${h}, ${i})`).toEqual(new Array(Dv).fill(0));
              expect(lse[row], `lse (${b}, ${h}, ${i})`).toBe(-Infinity);
            } else {
              expect(vals.every(Number.isFinite), `out row (${b}, ${h}, ${i}) finite`).toBe(true);
              expect(Number.isFinite(lse[row]!), `lse (${b}, ${h}, ${i}) finite`).toBe(true);
            }
          }
    }

    it.each(['f32', 'f16', 'bf16'] as const)('a mask row of -Infinity (%s)', async (dt) => {
      const c: Case = { name: '', sq: Sq, skv: Skv, d: 8, dv: 12, dtype: dt, mask: [2, 1, Sq, Skv] };
      const x = inputs(c, 3001);
      const m = decode(x.mask!.data, 'f32');
      // batch 0, row 2 and batch 1, row 5: every key -Infinity
      m.fill(-Infinity, (0 * Sq + 2) * Skv, (0 * Sq + 3) * Skv);
      m.fill(-Infinity, (1 * Sq + 5) * Skv, (1 * Sq + 6) * Skv);
      x.mask = { ...x.mask!, data: encode(m, 'f32') };
      await judge(dev, x, {});
      const r = await runDirect(dev, x, {});
      checkRows(r.out, r.lse, 2, 12, (b, _h, i) => (b === 0 && i === 2) || (b === 1 && i === 5));
    });

    it('a [1,Hq,1,Skv] mask of -Infinity for one head masks that head entirely', async () => {
      const c: Case = { name: '', hq: 4, hkv: 2, sq: Sq, skv: Skv, d: 8, dv: 12, mask: [1, 4, 1, Skv] };
      const x = inputs(c, 3002);
      const m = decode(x.mask!.data, 'f32');
      m.fill(-Infinity, 3 * Skv, 4 * Skv);
      x.mask = { ...x.mask!, data: encode(m, 'f32') };
      await judge(dev, x, {});
      const r = await runDirect(dev, x, {});
      checkRows(r.out, r.lse, 4, 12, (_b, h) => h === 3);
    });

    it.each([false, true, 'top-left'] as const)('kvLengths 0 for one batch row (causal %s)', async (causal) => {
      const c: Case = { name: '', sq: Sq, skv: Skv, d: 8, dv: 12, options: { kvLengths: [Skv, 0], causal } };
      const x = inputs(c, 3003);
      await judge(dev, x, c.options!);
      const r = await runDirect(dev, x, c.options!);
      checkRows(r.out, r.lse, 2, 12, (b, _h, i) => b === 1 || (causal === true && i + Skv - Sq < 0));
    });

    it('bottom-right causal with Sq > Skv masks the first Sq - Skv rows', async () => {
      const c: Case = { name: '', sq: Sq, skv: 4, d: 8, dv: 12, options: { causal: true } };
      const x = inputs(c, 3004);
      await judge(dev, x, c.options!);
      const r = await runDirect(dev, x, c.options!);
      checkRows(r.out, r.lse, 2, 12, (_b, _h, i) => i < Sq - 4);
    });

    it('bottom-right causal aligns to each row length: kvLengths [3, 10] with Sq=6', async () => {
      const c: Case = { name: '', sq: Sq, skv: Skv, d: 8, dv: 12, options: { kvLengths: [3, 10], causal: true } };
      const x = inputs(c, 3005);
      await judge(dev, x, c.options!);
      const r = await runDirect(dev, x, c.options!);
      // batch 0: query i sees keys j <= i + 3 - 6, so rows 0..2 see nothing
      checkRows(r.out, r.lse, 2, 12, (b, _h, i) => b === 0 && i < 3);
    });

    it('Skv = 0 masks every row', async () => {
      const c: Case = { name: '', sq: 3, skv: 0, d: 8, dv: 12 };
      const x = inputs(c, 3006);
      await judge(dev, x, {});
      const r = await runDirect(dev, x, {});
      expect(Array.from(r.out)).toEqual(new Array(2 * 2 * 3 * 12).fill(0));
      expect(Array.from(r.lse)).toEqual(new Array(2 * 2 * 3).fill(-Infinity));
    });

    it('masked keys are never read: NaN in K/V beyond kvLengths and causally hidden keys do not leak', async () => {
      const c: Case = { name: '', sq: Sq, skv: Skv, d: 8, dv: 12, options: { kvLengths: [7, 10], causal: true } };
      const x = inputs(c, 3007);
      const k = decode(x.k.data, 'f32');
      const v = decode(x.v.data, 'f32');
      // batch 0, both heads: keys 7..9 are beyond the length
      for (let h = 0; h < 2; h++)
        for (let j = 7; j < Skv; j++) {
          k.fill(NaN, ((0 * 2 + h) * Skv + j) * 8, ((0 * 2 + h) * Skv + j + 1) * 8);
          v.fill(NaN, ((0 * 2 + h) * Skv + j) * 12, ((0 * 2 + h) * Skv + j + 1) * 12);
        }
      // batch 1: key 9 is hidden from every row but the last (bottom-right: i sees j <= i + 4)
      for (let h = 0; h < 2; h++) v.fill(NaN, ((1 * 2 + h) * Skv + 9) * 12, ((1 * 2 + h) * Skv + 10) * 12);
      x.k = { ...x.k, data: encode(k, 'f32') };
      x.v = { ...x.v, data: encode(v, 'f32') };
      await judge(dev, x, c.options!);
      const r = await runDirect(dev, x, c.options!);
      for (let row = 0; row < 2 * 2 * Sq; row++) {
        const lastRowOfBatch1 = Math.floor(row / (2 * Sq)) === 1 && row % Sq === Sq - 1;
        const vals = Array.from(r.out.subarray(row * 12, (row + 1) * 12));
        expect(vals.every(lastRowOfBatch1 ? Number.isNaN : Number.isFinite), `row ${row}`).toBe(true);
      }
    });
  });

  describe('NaN propagation', () => {
    it.each(['bhsd', 'bshd'] as const)('NaN in one q row makes that output row (and its lse) NaN, others finite (%s)', async (layout) => {
      const c: Case = { name: '', sq: 7, skv: 11, d: 8, dv: 12, layout };
      const x = inputs(c, 4001);
      const q = decode(x.q.data, 'f32');
      // (b=1, h=0, i=4), element 3
      const off = layout === 'bhsd' ? ((1 * 2 + 0) * 7 + 4) * 8 + 3 : ((1 * 7 + 4) * 2 + 0) * 8 + 3;
      q[off] = NaN;
      x.q = { ...x.q, data: encode(q, 'f32') };
      await judge(dev, x, { layout });
      const r = await runDirect(dev, x, { layout });
      for (let b = 0; b < 2; b++)
        for (let h = 0; h < 2; h++)
          for (let i = 0; i < 7; i++) {
            const o = layout === 'bhsd' ? ((b * 2 + h) * 7 + i) * 12 : ((b * 7 + i) * 2 + h) * 12;
            const vals = Array.from(r.out.subarray(o, o + 12));
            const isNaNRow = b === 1 && h === 0 && i === 4;
            expect(vals.every(isNaNRow ? Number.isNaN : Number.isFinite), `out (${b}, ${h}, ${i})`).toBe(true);
            const l = r.lse[(b * 2 + h) * 7 + i]!;
            expect(isNaNRow ? Number.isNaN(l) : Number.isFinite(l), `lse (${b}, ${h}, ${i}) = ${l}`).toBe(true);
          }
    });

    it('NaN in one q row with f16 inputs', async () => {
      const c: Case = { name: '', sq: 7, skv: 11, d: 8, dv: 12, dtype: 'f16' };
      const x = inputs(c, 4002);
      const q = decode(x.q.data, 'f16');
      q[(0 * 7 + 0) * 8] = NaN;
      x.q = { ...x.q, data: encode(q, 'f16') };
      const j = await judge(dev, x, {});
      for (let row = 0; row < 2 * 2 * 7; row++) {
        const vals = Array.from(j.got.subarray(row * 12, (row + 1) * 12));
        expect(vals.every(row === 0 ? Number.isNaN : Number.isFinite), `row ${row}`).toBe(true);
      }
    });

    it.each([
      ['+Infinity', Infinity],
      ['NaN', NaN],
    ])('a %s mask entry makes its row NaN (out and lse), others unaffected', async (_n, value) => {
      const c: Case = { name: '', sq: 7, skv: 11, d: 8, dv: 12, mask: [7, 11], maskNegInf: 0.2 };
      const x = inputs(c, 4004);
      const m = decode(x.mask!.data, 'f32');
      m[3 * 11 + 6] = value; // query row 3, key 6, every batch and head
      x.mask = { ...x.mask!, data: encode(m, 'f32') };
      await judge(dev, x, {});
      const r = await runDirect(dev, x, {});
      for (let row = 0; row < 2 * 2 * 7; row++) {
        const vals = Array.from(r.out.subarray(row * 12, (row + 1) * 12));
        const bad = row % 7 === 3;
        expect(vals.every(bad ? Number.isNaN : Number.isFinite), `row ${row}`).toBe(true);
        expect(bad ? Number.isNaN(r.lse[row]!) : Number.isFinite(r.lse[row]!), `lse ${row}`).toBe(true);
      }
    });

    it.each(['f32', 'bf16'] as const)('a key masked by -Infinity is never read: NaN in its v row does not leak (%s)', async (dt) => {
      const c: Case = { name: '', sq: 7, skv: 11, d: 8, dv: 12, dtype: dt, mask: [2, 1, 7, 11] };
      const x = inputs(c, 4005);
      const m = decode(x.mask!.data, 'f32');
      for (let i = 0; i < 2 * 7; i++) m[i * 11 + 4] = -Infinity; // key 4 hidden from every row
      x.mask = { ...x.mask!, data: encode(m, 'f32') };
      const v = decode(x.v.data, dt);
      for (let bh = 0; bh < 4; bh++) v.fill(NaN, (bh * 11 + 4) * 12, (bh * 11 + 5) * 12);
      x.v = { ...x.v, data: encode(v, dt) };
      const j = await judge(dev, x, {});
      expect(j.got.every(Number.isFinite)).toBe(true);
    });

    it('NaN in one visible v element makes only that output column NaN', async () => {
      const c: Case = { name: '', sq: 7, skv: 11, d: 8, dv: 12 };
      const x = inputs(c, 4003);
      const v = decode(x.v.data, 'f32');
      v[((0 * 2 + 1) * 11 + 5) * 12 + 9] = NaN; // b=0, kv head 1, key 5, column 9
      x.v = { ...x.v, data: encode(v, 'f32') };
      const j = await judge(dev, x, {});
      for (let row = 0; row < 2 * 2 * 7; row++)
        for (let col = 0; col < 12; col++) {
          const y = j.got[row * 12 + col]!;
          const nan = row >= 7 && row < 14 && col === 9;
          expect(nan ? Number.isNaN(y) : Number.isFinite(y), `(${row}, ${col}) = ${y}`).toBe(true);
        }
    });
  });

  describe('return value', () => {
    function small(seed: number) {
      const x = inputs({ name: '', b: 3, hq: 4, hkv: 2, sq: 5, skv: 7, d: 8, dv: 6 }, seed);
      const q = upload(dev, x.q);
      const k = upload(dev, x.k);
      const v = upload(dev, x.v);
      return { q, k, v, all: [q, k, v] };
    }

    it('without returnLse it returns a Tensor', async () => {
      const { q, k, v, all } = small(5001);
      const out = dev.attention(q, k, v);
      expect(out).toBeInstanceOf(Tensor);
      expect(out.shape).toEqual([3, 4, 5, 6]);
      expect(out.dtype).toBe('f32');
      expect((await out.read()).length).toBe(3 * 4 * 5 * 6);
      const out2 = dev.attention(q, k, v, { returnLse: false, causal: true });
      expect(out2).toBeInstanceOf(Tensor);
      for (const t of [out, out2, ...all]) t.dispose();
    });

    it('with returnLse it returns { out, lse } with lse [B, Hq, Sq] f32', async () => {
      const { q, k, v, all } = small(5002);
      const r = dev.attention(q, k, v, { returnLse: true });
      expect(r).not.toBeInstanceOf(Tensor);
      expect(Object.keys(r).sort()).toEqual(['lse', 'out']);
      expect(r.out).toBeInstanceOf(Tensor);
      expect(r.lse).toBeInstanceOf(Tensor);
      expect(r.out.shape).toEqual([3, 4, 5, 6]);
      expect(r.lse.shape).toEqual([3, 4, 5]);
      expect(r.lse.dtype).toBe('f32');
      const lse = await r.lse.read();
      expect(lse).toBeInstanceOf(Float32Array);
      expect(lse.length).toBe(60);
      // the output without lse equals the output with it
      const plain = dev.attention(q, k, v);
      expect(Array.from(await plain.read())).toEqual(Array.from(await r.out.read()));
      for (const t of [r.out, r.lse, plain, ...all]) t.dispose();
    });

    it("lse shape is [B, Hq, Sq] with layout 'bshd' and f16 inputs; out is [B, Sq, Hq, Dv] f16", async () => {
      const x = inputs({ name: '', b: 2, hq: 6, hkv: 3, sq: 5, skv: 7, d: 8, dv: 10, dtype: 'f16', layout: 'bshd' }, 5003);
      const r = await runDirect(dev, x, { layout: 'bshd' });
      expect(r.outShape).toEqual([2, 5, 6, 10]);
      expect(r.outDtype).toBe('f16');
      expect(r.lseShape).toEqual([2, 6, 5]);
      expect(r.lseDtype).toBe('f32');
    });

    it('lse is log Σ exp(scaled scores): one key gives lse = scale·q·k', async () => {
      const q = dev.tensor([1, 2, 3, 4], [1, 1, 1, 4]);
      const k = dev.tensor([0.5, -1, 0.25, 2], [1, 1, 1, 4]);
      const v = dev.tensor([7, -3], [1, 1, 1, 2]);
      const r = dev.attention(q, k, v, { returnLse: true });
      expect(Array.from(await r.out.read())).toEqual([7, -3]);
      const dot = 0.5 - 2 + 0.75 + 8;
      expect((await r.lse.read())[0]).toBeCloseTo(dot / 2, 5);
      for (const t of [q, k, v, r.out, r.lse]) t.dispose();
    });
  });
});

/** Seeded random configurations combining every option (reproducible from the seed). */
function fuzzCase(seed: number): Case {
  const r = new Rng(seed * 104729);
  const int = (lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]!;
  const b = int(1, 3);
  const hkv = int(1, 3);
  const hq = hkv * int(1, 3);
  const sq = int(1, 40);
  const skv = int(0, 90);
  const c: Case = {
    name: '',
    b,
    hq,
    hkv,
    sq,
    skv,
    d: int(1, 72),
    dv: int(1, 72),
    dtype: pick(['f32', 'f16', 'bf16'] as const),
    layout: pick(['bhsd', 'bshd'] as const),
    options: {
      causal: pick([false, true, 'bottom-right', 'top-left'] as const),
      ...(r.next() < 0.4 ? { kvLengths: Array.from({ length: b }, () => int(0, skv)) } : {}),
      ...(r.next() < 0.3 ? { scale: r.uniform(-1, 1) } : {}),
      ...(r.next() < 0.3 ? { outDtype: pick(['f32', 'f16', 'bf16'] as const) } : {}),
    },
  };
  if (r.next() < 0.4) {
    c.mask = pick([[sq, skv], [b, 1, sq, skv], [1, hq, 1, skv], [b, hq, sq, skv], [skv], [sq, 1]]);
    c.maskNegInf = pick([0, 0.2, 0.9]);
  }
  c.name = `seed ${seed}: ${JSON.stringify({ ...c, name: undefined })}`;
  return c;
}

describe.each(BACKENDS)('attention fuzz on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev?.dispose());

  it.each(Array.from({ length: 40 }, (_, i) => fuzzCase(i + 1)).map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const x = inputs(c, 6000 + i);
    const opts = options(c);
    await judge(dev, x, opts);
  });
});

describe('attention: cpu results do not depend on the thread count', () => {
  it.each([2, 3])('threads=%i gives the same bits as threads=1', async (threads) => {
    const c: Case = { name: '', b: 2, hq: 4, hkv: 2, sq: 37, skv: 150, d: 40, dv: 24, options: { causal: true } };
    const x = inputs(c, 7001);
    const bits: Buffer[] = [];
    for (const t of [1, threads]) {
      const dev = await open({ backend: 'cpu', threads: t });
      try {
        const r = await runDirect(dev, x, c.options!);
        bits.push(Buffer.from(new Float64Array([...r.out, ...r.lse]).buffer));
      } finally {
        dev.dispose();
      }
    }
    expect(bits[0]!.equals(bits[1]!)).toBe(true);
  });
});

// Zero-width heads: Dv = 0 has an empty output but a real lse; D = 0 makes every score 0.
describe.each(['cpu', 'reference'] as const)('zero-width heads on %s', (backend) => {
  it('Dv = 0 still computes the lse, and D = 0 gives lse = log(visible keys)', async () => {
    const dev = await open(backend);
    const q = dev.tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const k = dev.tensor([1, 0, 0, 1, 1, 1], [1, 1, 3, 2]);
    const r = dev.attention(q, k, dev.empty([1, 1, 3, 0]), { returnLse: true });
    expect(r.out.shape).toEqual([1, 1, 2, 0]);
    const s = (i: number) => [0, 1, 2].map((j) => ([1, 2, 3, 4][2 * i]! * [1, 0, 1][j]! + [1, 2, 3, 4][2 * i + 1]! * [0, 1, 1][j]!) / Math.SQRT2);
    const lse = await r.lse.read();
    for (const i of [0, 1]) expect(lse[i]).toBeCloseTo(Math.log(s(i).reduce((a, x) => a + Math.exp(x), 0)), 5);
    const z = dev.attention(dev.empty([1, 1, 2, 0]), dev.empty([1, 1, 5, 0]), dev.tensor(new Float32Array(10).fill(3), [1, 1, 5, 2]), { returnLse: true, causal: true });
    expect(Array.from(await z.lse.read())).toEqual([Math.fround(Math.log(4)), Math.fround(Math.log(5))]);
    expect(Array.from(await z.out.read())).toEqual([3, 3, 3, 3]);
    dev.dispose();
  });
});

describe('attention plan: causal key counts in closed form, and 32-bit dimensions', () => {
  it('sumClampedRamp equals the per-row loop (visibleKeys) on every small case', () => {
    for (let n = 0; n <= 9; n++)
      for (let len = 0; len <= 9; len++)
        for (let c = -12; c <= 12; c++) {
          let loop = 0;
          for (let i = 0; i < n; i++) loop += Math.min(len, Math.max(0, i + c));
          expect(sumClampedRamp(n, c, len), `n=${n} c=${c} len=${len}`).toBe(loop);
        }
  });

  it('the FLOP count of causal attention with kvLengths matches the row-by-row count', () => {
    const t = (shape: number[]) => ({ shape, dtype: 'f32' as const });
    const kvLengths = [0, 5, 29, 17];
    for (const causal of [true, 'top-left'] as const) {
      const plan = planAttention(t([4, 2, 13, 8]), t([4, 1, 29, 8]), t([4, 1, 29, 8]), { causal, kvLengths });
      let pairs = 0;
      for (let b = 0; b < 4; b++) for (let i = 0; i < 13; i++) pairs += visibleKeys(plan, b, i);
      expect(plan.flops).toBe(2 * pairs * (2 * 8 + 2 * 8));
    }
  });

  it('an empty tensor with Sq = 2^40 is planned without a loop over its rows (the test timeout catches one), and refused with a RangeError naming Sq', async () => {
    const dev = await open('cpu');
    const q = dev.tensor(new Float32Array(0), [1, 1, 2 ** 40, 0]);
    const k = dev.tensor(new Float32Array(0), [1, 1, 4, 0]);
    expect(() => dev.attention(q, k, k, { causal: true })).toThrow(/attention: Sq = 1099511627776 exceeds the largest supported dimension, 2\^31 - 1/);
    expect(() => dev.attention(q, k, k, { causal: true })).toThrow(RangeError);
    dev.dispose();
  });
});
