/**
 * validate(): the bounds on hand-computed cases, the judge on deliberately perturbed outputs, the
 * cross-backend and determinism checks on a deliberately nondeterministic candidate, the case generator
 * and the CLI command.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { decode, encode } from '../src/dtype.js';
import { validate, type CandidateCall } from '../src/index.js';
import { attentionBound, attentionLseBound, matmulBound } from '../src/numerics/bounds.js';
import { expectAttention, expectMatmul, type HostTensor } from '../src/numerics/check.js';
import { planAttention } from '../src/ops/attention.js';
import { planMatmul } from '../src/ops/matmul.js';
import { referenceAttention } from '../src/reference/attention.js';
import { referenceMatmul } from '../src/reference/matmul.js';
import { caseSeed, generateCases, materialize, type CaseSpec } from '../src/validate/cases.js';
import { crossCompare } from '../src/validate/cross.js';
import { bitDifferences } from '../src/validate/determinism.js';
import { formatJson, formatMarkdown, formatTerminal } from '../src/validate/report.js';

const u = 2 ** -24;
const host = (values: number[], shape: number[]): HostTensor => ({ data: Float32Array.from(values), shape, dtype: 'f32' });

describe('bounds on hand-computed cases', () => {
  it('matmul: c·(sqrt(K)+2)·u·L·Σ|a||b| + u_out·|ref| + floor', () => {
    // [1, 2] · [3, -4]ᵀ = 3 - 8 = -5; Σ|a||b| = 11; K = 2, c = 4, L = 1 (no activation)
    const a = host([1, 2], [1, 2]);
    const b = host([3, -4], [2, 1]);
    const plan = planMatmul(a, b);
    const ref = referenceMatmul(plan, decode(a.data, 'f32'), decode(b.data, 'f32'));
    expect(ref.out[0]).toBe(-5);
    expect(ref.magnitude[0]).toBe(11);
    const floor = (1 * (1 * (2 + 2) + 2) + 1) * 2 ** -126 + 2 ** -149;
    expect(matmulBound(plan, ref)[0]).toBeCloseTo(4 * (Math.SQRT2 + 2) * u * 11 + u * 5 + floor, 20);
    // f16 output: the final rounding is 2^-11 relative; gelu: L = 1.2
    const plan16 = planMatmul(a, b, { outDtype: 'f16', activation: 'gelu' });
    const ref16 = referenceMatmul(plan16, decode(a.data, 'f32'), decode(b.data, 'f32'));
    const floor16 = (1.2 * (1 * (2 + 2) + 2) + 1) * 2 ** -126 + 2 ** -24;
    expect(matmulBound(plan16, ref16)[0]).toBeCloseTo(4 * (Math.SQRT2 + 2) * u * 1.2 * 11 + 2 ** -11 * Math.abs(ref16.out[0]!) + floor16, 20);
  });

  it('matmul with residual: adds 2u·|beta·r|', () => {
    const a = host([2], [1, 1]);
    const b = host([3], [1, 1]);
    const r = host([10], [1, 1]);
    const plan = planMatmul(a, b, { residual: r, beta: -0.5 });
    const ref = referenceMatmul(plan, Float64Array.of(2), Float64Array.of(3), undefined, Float64Array.of(10));
    expect(ref.out[0]).toBe(6 - 5);
    const floor = (1 * (1 * 3 + 2) + 1) * 2 ** -126 + 2 ** -149;
    expect(matmulBound(plan, ref)[0]).toBeCloseTo(4 * 3 * u * 6 + 2 * u * 5 + u * 1 + floor, 20);
  });

  it('attention: one query, one key: c·u·(2·sqrt(D)·S + sqrt(Skv) + 4)·mag + u_out·|ref| + floor, and the lse bound', () => {
    const q = host([2], [1, 1, 1, 1]);
    const k = host([3], [1, 1, 1, 1]);
    const v = host([5], [1, 1, 1, 1]);
    const plan = planAttention(q, k, v);
    const ref = referenceAttention(plan, Float64Array.of(2), Float64Array.of(3), Float64Array.of(5));
    expect(ref.out[0]).toBe(5);
    expect(ref.lse![0]).toBe(6);
    expect(ref.scoreMagnitude[0]).toBe(6);
    const floor = (1 + 1 + 4) * 2 ** -126 + 2 ** -149;
    expect(attentionBound(plan, ref)[0]).toBeCloseTo(4 * u * (2 * 1 * 6 + 1 + 4) * 5 + u * 5 + floor, 20);
    expect(attentionLseBound(plan, ref)[0]).toBeCloseTo(4 * u * (6 + 1 + 4) + u * 6 + 2 ** -126, 20);
  });
});

// ---------------------------------------------------------------------------------------------------

/** The exact result rounded to f32, computed from the float64 reference (a perfect candidate's output). */
function exact(call: CandidateCall): { out: Float32Array; lse?: Float32Array } {
  if (call.op === 'matmul') return { out: Float32Array.from(expectMatmul(call.inputs, call.options).out) };
  const e = expectAttention(call.inputs, call.options);
  return { out: Float32Array.from(e.out), lse: Float32Array.from(e.lse!) };
}

/** Moves a finite f32 value one ulp away from zero. */
function nextUlp(x: number): number {
  const f = Float32Array.of(x);
  const bits = new Uint32Array(f.buffer);
  if (Number.isFinite(x)) bits[0] = bits[0]! + 1;
  return f[0]!;
}

const ONE_CASE = 'matmul/f32/normal/primes 67x131x53';
const base = { backends: [] as string[], ops: ['matmul' as const], dtypes: ['f32' as const], filter: ONE_CASE };

describe('the judge catches perturbed outputs', () => {
  it('an exact candidate passes; so does one that is one ulp off everywhere (f32 output)', async () => {
    const ok = await validate({ ...base, candidate: { name: 'exact', run: (c) => exact(c).out } });
    expect(ok.cases).toBe(1);
    expect(ok.pass).toBe(true);
    const ulp = await validate({ ...base, candidate: { name: 'ulp', run: (c) => exact(c).out.map(nextUlp) } });
    expect(ulp.pass, formatTerminal(ulp)).toBe(true);
    expect(ulp.summary[0]!.worstRatio).toBeGreaterThan(0);
    expect(ulp.summary[0]!.worstRatio).toBeLessThan(1);
  });

  it('one wrong element is caught and reported with its index, values and bound', async () => {
    const r = await validate({
      ...base,
      candidate: {
        name: 'one-wrong',
        run: (c) => {
          const out = exact(c).out;
          out[5 * 53 + 7] = out[5 * 53 + 7]! * 1.001; // 0.1% off: far beyond a ~1e-6 relative bound
          return out;
        },
      },
    });
    expect(r.pass).toBe(false);
    expect(r.failures).toHaveLength(1);
    const f = r.failures[0]!;
    expect(f.backend).toBe('one-wrong');
    expect(f.out!.failures).toBe(1);
    const w = f.out!.worst[0]!;
    expect(w.index).toEqual([5, 7]);
    expect(w.ratio).toBeGreaterThan(1);
    expect(Math.abs(w.got - w.expected)).toBeGreaterThan(w.bound);
    expect(formatTerminal(r)).toMatch(/\[5,7\] got=.* expected=.* bound=.* ratio=/);
    expect(formatTerminal(r)).toMatch(/reproduce: kernelport validate --quick --seed 1 --case 'matmul\/f32\/normal\/primes 67x131x53'/);
  });

  it('a NaN where a number belongs is caught (ratio Infinity), and JSON keeps it', async () => {
    const r = await validate({
      ...base,
      candidate: (c) => {
        const out = exact(c).out;
        out[100] = NaN;
        return out;
      },
    });
    expect(r.pass).toBe(false);
    expect(r.failures[0]!.worstRatio).toBe(Infinity);
    expect(Number.isNaN(r.failures[0]!.out!.worst[0]!.got)).toBe(true);
    const json = JSON.parse(formatJson(r)) as { failures: { worstRatio: unknown }[] };
    expect(json.failures[0]!.worstRatio).toBe('Infinity');
  });

  it('a NaN that should be there must be there: dropping NaN propagation is caught', async () => {
    const r = await validate({
      backends: [],
      ops: ['matmul'],
      dtypes: ['f32'],
      filter: 'matmul/f32/nonfinite/',
      candidate: (c) => exact(c).out.map((x) => (Number.isNaN(x) ? 0 : x)),
    });
    expect(r.cases).toBeGreaterThan(0);
    expect(r.pass).toBe(false);
    expect(r.failures.length).toBeGreaterThan(0);
  });

  it('attention: a wrong lse is caught even when out is right', async () => {
    const r = await validate({
      backends: [],
      ops: ['attention'],
      dtypes: ['f32'],
      filter: 'attention/f32/normal/Sq<Skv 13x29',
      candidate: (c) => {
        const e = exact(c);
        e.lse![3] = e.lse![3]! + 1e-3;
        return e;
      },
    });
    expect(r.pass).toBe(false);
    expect(r.failures[0]!.out!.pass).toBe(true);
    expect(r.failures[0]!.lse!.pass).toBe(false);
  });

  it('a throwing candidate fails its cases without stopping the run; null skips', async () => {
    const thrown = await validate({ ...base, candidate: () => { throw new Error('boom'); } });
    expect(thrown.pass).toBe(false);
    expect(thrown.failures[0]!.status).toBe('error');
    expect(thrown.failures[0]!.error).toMatch(/boom/);
    const wrongLength = await validate({ ...base, candidate: () => new Float32Array(3) });
    expect(wrongLength.failures[0]!.error).toMatch(/has 3 elements, expected 3551/);
    const skipped = await validate({ ...base, candidate: () => null });
    expect(skipped.pass).toBe(true);
    expect(skipped.summary[0]!.skipped).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('cross-backend and determinism checks catch a nondeterministic candidate', () => {
  const sel = { backends: ['cpu'], ops: ['matmul' as const, 'attention' as const], dtypes: ['f32' as const], filter: /\/normal\/(primes 67x131x53|Sq<Skv 13x29)$/ };

  it('within its bound but not repeatable: only determinism fails', async () => {
    let calls = 0;
    const r = await validate({
      ...sel,
      candidate: {
        name: 'jitter',
        run: (c) => {
          const e = exact(c);
          const i = calls++ % e.out.length;
          e.out[i] = nextUlp(e.out[i]!); // a different element one ulp off on every call
          return e;
        },
      },
    });
    expect(r.cases).toBe(2);
    expect(r.failures, formatTerminal(r)).toHaveLength(0);
    expect(r.cross.every((x) => x.disagreements === 0)).toBe(true);
    const det = r.determinism.find((d) => d.backend === 'jitter')!;
    expect(det.pass).toBe(false);
    expect(det.mismatches).toBe(2);
    expect(r.determinism.find((d) => d.backend === 'cpu')!.pass).toBe(true);
    expect(r.pass).toBe(false);
    expect(r.determinismFailures[0]).toMatchObject({ backend: 'jitter', variant: 'repeat', tensor: 'out', differing: 2 }); // its first run's element and the repeat's
  });

  it('noisy beyond the bound: judged, cross-backend and determinism all fail', async () => {
    let state = 12345;
    const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const r = await validate({
      ...sel,
      candidate: {
        name: 'noisy',
        run: (c) => {
          const e = exact(c);
          const i = Math.floor(rand() * e.out.length);
          e.out[i] = e.out[i]! + 0.01 * (1 + rand());
          return e;
        },
      },
    });
    expect(r.pass).toBe(false);
    expect(r.failures.filter((f) => f.backend === 'noisy')).toHaveLength(2);
    expect(r.failures.filter((f) => f.backend === 'cpu')).toHaveLength(0);
    const pair = r.cross.filter((x) => x.a === 'cpu' && x.b === 'noisy');
    expect(pair.reduce((s, x) => s + x.disagreements, 0)).toBe(2);
    expect(r.crossFailures[0]!.report.worst[0]!.ratio).toBeGreaterThan(1);
    expect(r.determinism.find((d) => d.backend === 'noisy')!.mismatches).toBe(2);
    const md = formatMarkdown(r);
    expect(md).toMatch(/## Cross-backend disagreements/);
    expect(md).toMatch(/## Determinism mismatches/);
  });

  it('crossCompare: equal NaN/∞ agree; overflow to ∞ vs the largest finite value agrees when both are within bound', () => {
    const ref = Float64Array.of(1, NaN, Infinity, 65519, 5);
    const bound = Float64Array.of(1e-6, 0, 0, 16, 1e-6);
    const a = Float64Array.of(1, NaN, Infinity, Infinity, 5);
    const b = Float64Array.of(1 + 1e-6, NaN, Infinity, 65504, NaN);
    const r = crossCompare(a, b, ref, bound, bound, [5], 'f16');
    expect(r.failures).toBe(1); // only the last: 5 vs NaN
    expect(r.worst[0]!.index).toEqual([4]);
    expect(r.worst.find((w) => w.index[0] === 0)!.ratio).toBeCloseTo(0.5, 6);
  });

  it('bitDifferences compares bits, NaN payloads and signed zeros included', () => {
    const raw = (x: Float32Array) => ({ out: { values: Float64Array.from(x), bytes: new Uint8Array(x.buffer), width: 4 } });
    expect(bitDifferences(raw(Float32Array.of(1, NaN)), raw(Float32Array.of(1, NaN)))).toEqual([]);
    const d = bitDifferences(raw(Float32Array.of(0, 2, 3)), raw(Float32Array.of(-0, 2, 4)));
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ tensor: 'out', index: 0, differing: 2 });
  });
});

// ---------------------------------------------------------------------------------------------------

describe('cases', () => {
  const all = generateCases({ ops: ['matmul', 'attention'], dtypes: ['f32', 'f16', 'bf16'], size: 'quick', seed: 1 });
  const full = generateCases({ ops: ['matmul', 'attention'], dtypes: ['f32', 'f16', 'bf16'], size: 'full', seed: 1 });

  it('names are unique and every dtype × distribution is covered for both ops', () => {
    for (const list of [all, full]) {
      expect(new Set(list.map((c) => c.name)).size).toBe(list.length);
      for (const op of ['matmul', 'attention'])
        for (const dt of ['f32', 'f16', 'bf16'])
          for (const dist of ['normal', 'uniform', 'large', 'tiny', 'cancel', 'nonfinite'])
            expect(list.some((c) => c.op === op && c.dtype === dt && c.dist === dist), `${op} ${dt} ${dist}`).toBe(true);
    }
  });

  it('covers the edge cases the issue lists', () => {
    const mm = all.filter((c): c is Extract<CaseSpec, { op: 'matmul' }> => c.op === 'matmul');
    const at = all.filter((c): c is Extract<CaseSpec, { op: 'attention' }> => c.op === 'attention');
    expect(mm.some((c) => c.k === 1)).toBe(true);
    expect(mm.some((c) => c.k >= 8192)).toBe(true);
    expect(mm.some((c) => [c.m, c.n, c.k].every((x) => x > 2 && [...Array(x).keys()].slice(2).every((d) => x % d !== 0)))).toBe(true); // all prime
    expect(mm.some((c) => c.batchA.length > 0 && c.batchB.length > 0 && c.batchA.join() !== c.batchB.join())).toBe(true);
    for (const ratio of [1, 4, 8, 32]) expect(at.some((c) => c.hq / c.hkv === ratio), `GQA ${ratio}`).toBe(true);
    for (const causal of [true, 'top-left'])
      for (const rel of [(c: { sq: number; skv: number }) => c.sq < c.skv, (c: { sq: number; skv: number }) => c.sq > c.skv])
        expect(at.some((c) => c.options.causal === causal && rel(c))).toBe(true);
    expect(at.some((c) => c.options.kvLengths?.includes(0) && c.options.kvLengths.includes(c.skv))).toBe(true);
    expect(at.some((c) => c.mask && c.mask.negInf > 0 && c.mask.fullRows > 0)).toBe(true);
    expect(full.some((c) => c.op === 'attention' && c.skv >= 1024)).toBe(true);
  });

  it('values depend only on (seed, name): filtering does not change them; another seed does', () => {
    const spec = all.find((c) => c.name === 'attention/bf16/nonfinite/mask with -inf rows')!;
    expect(spec.seed).toBe(caseSeed(1, spec.name));
    const q = (s: CaseSpec) => {
      const c = materialize(s);
      if (c.op !== 'attention') throw new Error('not attention');
      return Buffer.from(c.inputs.q.data.buffer);
    };
    const again = generateCases({ ops: ['attention'], dtypes: ['bf16'], size: 'quick', seed: 1 }).find((c) => c.name === spec.name)!;
    expect(q(spec).equals(q(again))).toBe(true);
    const other = generateCases({ ops: ['attention'], dtypes: ['bf16'], size: 'quick', seed: 2 }).find((c) => c.name === spec.name)!;
    expect(q(spec).equals(q(other))).toBe(false);
  });

  it('distributions: nonfinite injects NaN and ±Inf; cancel pairs cancel exactly; large reaches the f16 limit region', () => {
    const get = (name: string) => materialize(all.find((c) => c.name === name)!);
    const aOf = (name: string) => {
      const c = get(name);
      if (c.op !== 'matmul') throw new Error('not matmul');
      return c.inputs.a;
    };
    const a = decode(aOf('matmul/f16/nonfinite/37x61x29 bias gelu').data, 'f16');
    expect(a.some(Number.isNaN) && a.some((v) => v === Infinity) && a.some((v) => v === -Infinity)).toBe(true);
    const av = decode(aOf('matmul/bf16/cancel/37x61x29 bias gelu').data, 'bf16');
    expect(av[1]).toBe(-av[0]!);
    expect(av[0]).not.toBe(0);
    const big = Math.max(...decode(aOf('matmul/f16/large/37x61x29 bias gelu').data, 'f16').map(Math.abs));
    expect(big).toBeGreaterThan(8192);
    expect(big).toBeLessThanOrEqual(65504);
    expect(encode([1], 'f16')).toBeInstanceOf(Uint16Array);
  });
});

// ---------------------------------------------------------------------------------------------------

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, (s) => lines.push(s));
  return { code, out: lines.join('\n') };
}

describe('kernelport validate (CLI)', () => {
  it.each([
    [['validate', '--quick', '--full']],
    [['validate', '--backends', 'tpu']],
    [['validate', '--ops', 'conv']],
    [['validate', '--dtypes', 'f64']],
    [['validate', '--seed', '-3']],
    [['validate', '--frob']],
  ])('%j is bad usage: exit 2', async (argv) => {
    expect((await capture(argv)).code).toBe(2);
  });

  it('--json and --md on a small selection of cpu and reference; exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kp-validate-'));
    const md = join(dir, 'report.md');
    const { code, out } = await capture(['validate', '--backends', 'cpu,reference', '--dtypes', 'f16', '--case', '/normal/K=1', '--json', '--md', md]);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { pass: boolean; cases: number; summary: { backend: string }[]; cross: unknown[]; determinism: { backend: string; variants: string[] }[] };
    expect(report.pass).toBe(true);
    expect(report.cases).toBe(1);
    expect(report.summary.map((s) => s.backend)).toEqual(['cpu', 'reference']);
    expect(report.cross).toHaveLength(1);
    expect(report.determinism.find((d) => d.backend === 'cpu')!.variants).toEqual(['repeat', 'threads=1', 'threads=2', 'threads=3']);
    expect(existsSync(md)).toBe(true);
    expect(readFileSync(md, 'utf8')).toMatch(/^# kernelport numerics validation: PASS/);
  });

  it('the terminal summary shows pass/fail per backend × op × dtype with the worst bound multiple', async () => {
    const { code, out } = await capture(['validate', '--backends', 'cpu', '--case', 'primes', '--seed', '7']);
    expect(code).toBe(0);
    expect(out).toMatch(/backend\s+op\s+dtype\s+cases.*worst err\/bound/);
    for (const dt of ['f32', 'f16', 'bf16']) expect(out).toMatch(new RegExp(`cpu\\s+matmul\\s+${dt}\\s+\\d+.*pass`));
    expect(out).toMatch(/PASS in/);
  });

  it('an unavailable backend fails the run (exit 1)', async () => {
    const { code, out } = await capture(['validate', '--backends', 'musa', '--case', 'primes']);
    expect(code).toBe(1);
    expect(out).toMatch(/musa.*UNAVAILABLE/);
  });
});

describe('which backends validate() runs by default', () => {
  it('every available backend once, though probe() lists a device per adapter (webgpu:0, webgpu:1, ...)', async () => {
    const { runValidation } = await import('../src/validate/run.js');
    const { referenceInfo } = await import('../src/backends/info.js');
    const { open } = await import('../src/index.js');
    const opened: string[] = [];
    const r = await runValidation(
      { ops: ['matmul'], dtypes: ['f32'], filter: 'M=N=K=1', cross: false, determinism: false },
      {
        probe: async () => [referenceInfo(), { ...referenceInfo(), index: 1 }],
        open: async (o) => {
          opened.push(String(o.backend));
          return open(o);
        },
      },
    );
    expect(opened).toEqual(['reference']);
    expect(r.backends.map((b) => `${b.name}:${b.kind}`)).toEqual(['reference:backend']);
    expect(r.pass).toBe(true);
  });
});
