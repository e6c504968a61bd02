/**
 * allowP16 (attention): the option's plan and C ABI semantics, its bound, and that bound against the
 * arithmetic of the cuda kernel that uses it, replayed in f32 on the CPU (test/support/flash-p16-emulation.ts):
 * the replay passes every allowP16 case of the full suite, the same arithmetic without the rounding
 * passes the default bound, and rounding P where the caller did not allow it fails that bound — so
 * the suite can tell the two apart on a GPU, and the extra term is what makes the difference.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../src/dtype.js';
import { open, validate } from '../src/index.js';
import { attentionBound } from '../src/numerics/bounds.js';
import { planAttention } from '../src/ops/attention.js';
import { referenceAttention } from '../src/reference/attention.js';
import { flashP16Emulation } from './support/flash-p16-emulation.js';

const t = (dtype: 'f32' | 'f16' | 'bf16') => ({ shape: [1, 2, 5, 8], dtype });

describe('allowP16: plan and bound', () => {
  it('is a boolean, off by default, and means nothing for f32 inputs', () => {
    expect(planAttention(t('bf16'), t('bf16'), t('bf16')).allowP16).toBe(false);
    expect(planAttention(t('bf16'), t('bf16'), t('bf16'), { allowP16: true }).allowP16).toBe(true);
    expect(planAttention(t('f16'), t('f16'), t('f16'), { allowP16: true }).allowP16).toBe(true);
    expect(planAttention(t('f32'), t('f32'), t('f32'), { allowP16: true }).allowP16).toBe(false);
    expect(() => planAttention(t('f16'), t('f16'), t('f16'), { allowP16: 1 as unknown as boolean })).toThrow(/attention: allowP16 must be a boolean, got 1/);
  });

  it('adds 2·u_p of the magnitude, u_p the input dtype’s unit roundoff', () => {
    const vals = (n: number, s: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + s));
    for (const [dtype, up] of [['bf16', 2 ** -8], ['f16', 2 ** -11]] as const) {
      const plain = planAttention(t(dtype), t(dtype), t(dtype));
      const p16 = planAttention(t(dtype), t(dtype), t(dtype), { allowP16: true });
      const ref = referenceAttention(plain, vals(80, 1), vals(80, 2), vals(80, 3));
      const [a, b] = [attentionBound(plain, ref), attentionBound(p16, ref)];
      for (let i = 0; i < a.length; i++) expect(b[i]! - a[i]!).toBeCloseTo(2 * up * ref.magnitude[i]!, 15);
    }
  });
});

describe('allowP16: the cuda kernel’s arithmetic replayed on the CPU', () => {
  const run = (candidate: ReturnType<typeof flashP16Emulation>, filter: string | RegExp, size: 'quick' | 'full' = 'full') =>
    validate({ backends: ['reference'], ops: ['attention'], dtypes: ['f16', 'bf16'], size, filter, candidate, cross: false, determinism: false });
  const judged = (r: Awaited<ReturnType<typeof validate>>) => r.results.filter((c) => c.backend !== 'reference' && c.status !== 'skip');

  it('meets the allowP16 bound on every allowP16 case, every distribution', async () => {
    const r = await run(flashP16Emulation(), 'allowP16');
    const mine = judged(r);
    expect(mine.length).toBeGreaterThanOrEqual(14); // 5 distributions + normal on 2 edge shapes, two dtypes
    for (const c of mine) expect(c.status, `${c.case}: ${c.worstRatio}`).toBe('pass');
    expect(r.pass).toBe(true);
  }, 120_000);

  it('without the rounding meets the default bound on cancelling outputs; with it, fails that bound', async () => {
    const exact = judged(await run(flashP16Emulation(), /attention\/(f16|bf16)\/cancel\//, 'quick'));
    expect(exact.length).toBeGreaterThan(0);
    for (const c of exact) expect(c.status, `${c.case}: ${c.worstRatio}`).toBe('pass');
    const rounded = judged(await run(flashP16Emulation(true), /attention\/(f16|bf16)\/cancel\/(?!allowP16)/, 'quick'));
    const failed = rounded.filter((c) => c.status === 'fail');
    expect(failed.length, rounded.map((c) => `${c.case} ${c.worstRatio.toFixed(2)}`).join('\n')).toBeGreaterThan(0);
  }, 120_000);
});

describe('allowP16 on the cpu device', () => {
  it('keeps P in f32: bitwise the same output and lse as without it', async () => {
    const dev = await open('cpu');
    try {
      const shape = [2, 4, 33, 64];
      const n = shape.reduce((x, y) => x * y);
      const make = (s: number) => dev.tensor(encode(Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s)), 'bf16'), shape, 'bf16');
      const [q, k, v] = [make(1), make(2), make(3)];
      const a = dev.attention(q, k, v, { causal: true, returnLse: true });
      const b = dev.attention(q, k, v, { causal: true, returnLse: true, allowP16: true });
      expect(decode(await b.out.read(), 'bf16')).toEqual(decode(await a.out.read(), 'bf16'));
      expect(await b.lse.read()).toEqual(await a.lse.read());
      for (const x of [q, k, v, a.out, a.lse, b.out, b.lse]) x.dispose();
    } finally {
      dev.dispose();
    }
  });
});
