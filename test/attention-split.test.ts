/**
 * The cpu backend's split-KV decode path (Sq <= 8: keys in fixed splits of 256, softmax chunks of 64,
 * partials combined in split order) against the float64 reference: lengths around the split and chunk
 * boundaries, GQA/MQA, kvLengths (0 and boundary values), -inf masks (a whole split masked, fully
 * masked rows), both causal alignments, 16-bit dtypes, 'bshd', NaN in keys that must not be read, the
 * first prefill size above the threshold, and more (b, kv head) pairs than one round of partials holds.
 * Every case must also give bitwise-identical out and lse for 1, 2 and 3 threads.
 */
import { describe, expect, it } from 'vitest';
import { open, type Tensor } from '../src/index.js';
import { decode, encode } from '../src/dtype.js';
import { expectAttention, judgeAttention, type AttentionCaseOptions, type AttentionInputs, type HostTensor } from '../src/numerics/check.js';
import type { ErrorReport } from '../src/numerics/compare.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { DType, Layout } from '../src/types.js';
import { describeReport } from './support/report.js';

interface Case {
  name: string;
  b?: number;
  hq?: number;
  hkv?: number;
  sq: number;
  skv: number;
  d?: number;
  dv?: number;
  dtype?: DType;
  layout?: Layout;
  options?: AttentionCaseOptions;
  /** Additive f32 mask [B, Hq, Sq, Skv]: entry (b, h, i, j) is -Infinity where this says so, else random. */
  maskNegInf?: (b: number, h: number, i: number, j: number) => boolean;
  /** Overwrite K and V rows (b, kv head, key j) with NaN where this says so (keys that must never be read). */
  nanKeys?: (b: number, h: number, j: number) => boolean;
}

function inputs(c: Case, seed: number): AttentionInputs {
  const rng = new Rng(seed);
  const [B, Hq, Hkv, Sq, Skv, D] = [c.b ?? 1, c.hq ?? 8, c.hkv ?? 2, c.sq, c.skv, c.d ?? 32];
  const Dv = c.dv ?? D;
  const dt = c.dtype ?? 'f32';
  const bshd = c.layout === 'bshd';
  const shape = (h: number, s: number, x: number) => (bshd ? [B, s, h, x] : [B, h, s, x]);
  const x: AttentionInputs = { q: randomTensor(rng, shape(Hq, Sq, D), dt), k: randomTensor(rng, shape(Hkv, Skv, D), dt), v: randomTensor(rng, shape(Hkv, Skv, Dv), dt) };
  if (c.nanKeys) {
    const poison = (t: HostTensor, X: number): HostTensor => {
      const vals = decode(t.data, dt);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < Hkv; h++)
          for (let j = 0; j < Skv; j++)
            if (c.nanKeys!(b, h, j)) {
              const at = bshd ? ((b * Skv + j) * Hkv + h) * X : ((b * Hkv + h) * Skv + j) * X;
              vals.fill(NaN, at, at + X);
            }
      return { ...t, data: encode(vals, dt) };
    };
    x.k = poison(x.k, D);
    x.v = poison(x.v, Dv);
  }
  if (c.maskNegInf) {
    const m = randomTensor(rng, [B, Hq, Sq, Skv], 'f32');
    const vals = decode(m.data, 'f32');
    for (let b = 0, n = 0; b < B; b++)
      for (let h = 0; h < Hq; h++)
        for (let i = 0; i < Sq; i++)
          for (let j = 0; j < Skv; j++, n++) if (c.maskNegInf(b, h, i, j)) vals[n] = -Infinity;
    x.mask = { ...m, data: encode(vals, 'f32') };
  }
  return x;
}

const showWorst = (what: string, r: ErrorReport | undefined) => describeReport(r, what);

/** out and lse of one run, as raw bytes. */
async function bits(threads: number, x: AttentionInputs, options: AttentionCaseOptions): Promise<Buffer[]> {
  const dev = await open({ backend: 'cpu', threads });
  const up = (t: HostTensor) => dev.tensor(t.data, t.shape, t.dtype);
  const [q, k, v] = [x.q, x.k, x.v].map(up) as [Tensor, Tensor, Tensor];
  const mask = x.mask ? up(x.mask) : undefined;
  try {
    const r = dev.attention(q, k, v, { ...options, mask, returnLse: true });
    const out = await Promise.all([r.out.read(), r.lse.read()]);
    return out.map((o) => Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  } finally {
    dev.dispose();
  }
}

const hash = (s: number) => ((s * 2654435761) >>> 0) / 2 ** 32;

const CASES: Case[] = [
  // split (256) and chunk (64) boundaries, every decode Sq, GQA 8:2, Dv with a scalar tail
  ...[1, 2, 4, 8].flatMap((sq) =>
    [63, 64, 65, 255, 256, 257].map((skv) => ({ name: `Sq=${sq} Skv=${skv} GQA 8:2`, sq, skv, dv: 24 }) as Case),
  ),
  ...[511, 512, 513].map((skv) => ({ name: `MQA 4:1 Sq=1 Skv=${skv} D=Dv=64`, hq: 4, hkv: 1, sq: 1, skv, d: 64 }) as Case),
  { name: 'Skv=1', sq: 1, skv: 1 },
  { name: 'MHA 3:3 Sq=3 Skv=700, odd D=7 Dv=13', hq: 3, hkv: 3, sq: 3, skv: 700, d: 7, dv: 13 },
  // kv lengths: 0, split boundaries, 1; causal alignments
  { name: 'kvLengths [0, 256, 257, 1, 513] causal', b: 5, sq: 2, skv: 600, options: { kvLengths: [0, 256, 257, 1, 513], causal: true } },
  { name: 'kvLengths [255, 600] no causal', b: 2, sq: 4, skv: 600, options: { kvLengths: [255, 600] } },
  { name: "causal 'top-left' Sq=8 Skv=513", sq: 8, skv: 513, options: { causal: 'top-left' } },
  { name: 'causal bottom-right Sq=8 > Skv=5', sq: 8, skv: 5, options: { causal: true } },
  { name: 'causal bottom-right Sq=8 Skv=300', sq: 8, skv: 300, options: { causal: true } },
  // masks: random -inf, a whole split masked, one head fully masked (out 0, lse -inf)
  { name: 'mask with 30% -inf, Sq=4 Skv=300', sq: 4, skv: 300, maskNegInf: (b, h, i, j) => hash(((h * 7 + i) * 1000 + j) | 0) < 0.3 },
  { name: 'mask: the first split entirely -inf', sq: 2, skv: 600, maskNegInf: (_b, _h, _i, j) => j < 256 },
  { name: 'mask: all but the last split -inf', sq: 1, skv: 600, maskNegInf: (_b, _h, _i, j) => j < 512 },
  { name: 'mask: head 3 fully -inf', sq: 2, skv: 400, maskNegInf: (_b, h) => h === 3 },
  { name: 'mask -inf on NaN keys: they contribute nothing', sq: 2, skv: 300, maskNegInf: (_b, _h, _i, j) => j % 37 === 5, nanKeys: (_b, _h, j) => j % 37 === 5 },
  { name: 'NaN keys beyond kvLengths are never read', b: 2, sq: 4, skv: 520, options: { kvLengths: [300, 257], causal: true }, nanKeys: (b, _h, j) => j >= (b === 0 ? 300 : 257) },
  // dtypes and layout
  { name: 'f16 Sq=4 Skv=600', sq: 4, skv: 600, dtype: 'f16' },
  { name: 'bf16 in, f32 out, Sq=1 Skv=300', sq: 1, skv: 300, dtype: 'bf16', options: { outDtype: 'f32' } },
  { name: "'bshd' GQA 8:2 Sq=4 Skv=600 causal", sq: 4, skv: 600, layout: 'bshd', options: { causal: true } },
  // the first prefill size, beside the last decode one
  { name: 'Sq=9 (prefill path) Skv=300 causal', sq: 9, skv: 300, options: { causal: true } },
  // more (b, kv head) pairs than one round of partials holds
  { name: '96 kv heads x 3 splits: several rounds', hq: 384, hkv: 96, sq: 8, skv: 600, d: 16, dv: 128 },
];

describe('attention: split-KV decode on cpu', () => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const x = inputs(c, 9100 + i);
    const options: AttentionCaseOptions = { ...(c.layout ? { layout: c.layout } : {}), ...c.options };
    const expected = expectAttention(x, options);
    const dev = await open({ backend: 'cpu', threads: 2 });
    try {
      const r = await judgeAttention(dev, x, options, expected);
      expect(r.out.pass, showWorst('out', r.out)).toBe(true);
      expect(r.lse!.pass, showWorst('lse', r.lse)).toBe(true);
    } finally {
      dev.dispose();
    }
    const one = await bits(1, x, options);
    for (const t of [2, 3]) {
      const other = await bits(t, x, options);
      expect(other[0]!.equals(one[0]!), `out: ${t} threads vs 1`).toBe(true);
      expect(other[1]!.equals(one[1]!), `lse: ${t} threads vs 1`).toBe(true);
    }
  }, 60_000);

  it('a fully masked head gives exactly 0 and lse -Infinity', async () => {
    const c: Case = { name: '', sq: 2, skv: 400, maskNegInf: (_b, h) => h === 3 };
    const x = inputs(c, 9999);
    const [out, lse] = await bits(2, x, {});
    const o = new Float32Array(out!.buffer, out!.byteOffset, out!.byteLength / 4);
    const l = new Float32Array(lse!.buffer, lse!.byteOffset, lse!.byteLength / 4);
    const Dv = 32;
    for (let h = 0; h < 8; h++)
      for (let i = 0; i < 2; i++) {
        const row = Array.from(o.subarray((h * 2 + i) * Dv, (h * 2 + i + 1) * Dv));
        if (h === 3) {
          expect(row.every((v) => Object.is(v, 0))).toBe(true);
          expect(l[h * 2 + i]).toBe(-Infinity);
        } else {
          expect(row.every(Number.isFinite)).toBe(true);
          expect(Number.isFinite(l[h * 2 + i])).toBe(true);
        }
      }
  });
});
