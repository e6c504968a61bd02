/**
 * matmul through every cpu kernel path this machine can run (KERNELPORT_CPU_ISA = avx512, avx2,
 * generic; neon runs under qemu in scripts/test-aarch64.sh): the op's semantics against the float64
 * reference, sizes on each side of every blocking boundary of that path (microtile MR x NR, k block
 * KC, task tile MT x NT, the skinny-path thresholds), and bitwise determinism across thread counts.
 * The active ISA is process-wide and chosen when a cpu device opens, so each path opens its own device.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { open, type Device } from '../src/index.js';
import { judgeMatmul, type MatmulCaseOptions, type MatmulInputs } from '../src/numerics/check.js';
import type { ErrorReport } from '../src/numerics/compare.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { DType } from '../src/types.js';
import { describeReport } from './support/report.js';

/** Blocking of each path (kernels/cpu/gemm_*.cpp and ukernel_*.h). */
const BLOCKS = {
  avx512: { MR: 12, NR: 32, KC: 256, MT: 96, NT: 256 },
  avx2: { MR: 6, NR: 16, KC: 256, MT: 96, NT: 128 },
  generic: { MR: 4, NR: 8, KC: 256, MT: 64, NT: 128 },
} as const;
type Isa = keyof typeof BLOCKS;

async function openIsa(isa: Isa, threads?: number): Promise<Device> {
  const saved = process.env.KERNELPORT_CPU_ISA;
  process.env.KERNELPORT_CPU_ISA = isa;
  try {
    return await open({ backend: 'cpu', ...(threads ? { threads } : {}) });
  } finally {
    if (saved === undefined) delete process.env.KERNELPORT_CPU_ISA;
    else process.env.KERNELPORT_CPU_ISA = saved;
  }
}

// Which paths this CPU runs; a missing one is reported, not silently passed.
const available: Isa[] = [];
const missing: string[] = [];
for (const isa of Object.keys(BLOCKS) as Isa[]) {
  try {
    (await openIsa(isa)).dispose();
    available.push(isa);
  } catch (e) {
    missing.push(`${isa}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
if (missing.length) console.log(`cpu-isa: paths this machine cannot run (not tested here):\n  ${missing.join('\n  ')}`);

const showWorst = (r: ErrorReport) => describeReport(r);

interface Case {
  name: string;
  a: number[];
  b: number[];
  dtype?: DType;
  bias?: number[];
  residual?: number[];
  options?: MatmulCaseOptions;
}

function inputs(c: Case, seed: number): MatmulInputs {
  const rng = new Rng(seed);
  const dt = c.dtype ?? 'f32';
  const x: MatmulInputs = { a: randomTensor(rng, c.a, dt), b: randomTensor(rng, c.b, dt) };
  if (c.bias) x.bias = randomTensor(rng, c.bias, dt);
  if (c.residual) x.residual = randomTensor(rng, c.residual, dt);
  return x;
}

const mm = (name: string, m: number, k: number, n: number, extra: Partial<Case> = {}): Case => {
  const o = extra.options ?? {};
  return { name, a: o.transA ? [k, m] : [m, k], b: o.transB ? [n, k] : [k, n], ...extra };
};

/** The op's semantics (the same features as test/matmul.test.ts, fewer sizes). */
const SEMANTICS: Case[] = [
  mm('37x61x29', 37, 61, 29),
  mm('K=1', 37, 1, 29),
  mm('K=0 with bias and gelu', 7, 0, 9, { bias: [9], options: { activation: 'gelu' } }),
  mm('transA', 37, 61, 29, { options: { transA: true } }),
  mm('transB', 37, 61, 29, { options: { transB: true } }),
  mm('transA + transB + bias + residual column + relu', 67, 131, 53, { bias: [53], residual: [67, 1], options: { transA: true, transB: true, activation: 'relu' } }),
  mm('alpha, bias, silu, beta, residual', 37, 61, 29, { bias: [29], residual: [37, 29], options: { alpha: 0.75, beta: -0.5, activation: 'silu' } }),
  mm('gelu_tanh with residual row', 37, 61, 29, { bias: [29], residual: [29], options: { activation: 'gelu_tanh' } }),
  mm('gelu, f32 in, bf16 out', 37, 61, 29, { bias: [29], options: { activation: 'gelu', outDtype: 'bf16' } }),
  mm('f16 with bias, residual, gelu, transB', 37, 61, 29, { dtype: 'f16', bias: [29], residual: [37, 29], options: { activation: 'gelu', transB: true } }),
  mm('bf16 with transA, silu, alpha, f32 out', 37, 61, 29, { dtype: 'bf16', bias: [29], options: { transA: true, activation: 'silu', alpha: 0.5, outDtype: 'f32' } }),
  { name: 'batch broadcast a [3,1,M,K] x b [1,4,K,N], residual [4,1,N], gelu', a: [3, 1, 13, 40], b: [1, 4, 40, 21], bias: [21], residual: [4, 1, 21], options: { activation: 'gelu' } },
  { name: 'batch shared B [2,M,K] x [K,N] (shared packing per entry)', a: [2, 200, 70], b: [70, 300], bias: [300], options: { activation: 'gelu' } },
  // skinny paths: M <= 4 (axpy over B [K,N], dot over B [N,K]) and N <= 4 (dot over A [M,K])
  ...[1, 2, 3, 4, 5].map((m) => mm(`M=${m} (GEMV) with bias + gelu`, m, 300, 1100, { bias: [1100], residual: [m, 1100], options: { activation: 'gelu' } })),
  ...[1, 4].map((m) => mm(`M=${m}, transB`, m, 301, 130, { options: { transB: true } })),
  // M = 1 with 16-bit B [N,K]: 8 lines a step on AVX-512 (N = 2 full tasks of 64, then 13: an 8 and 4 + 1)
  mm('M=1 bf16, transB, 8-line steps and their tail', 1, 300, 141, { dtype: 'bf16', bias: [141], options: { transB: true } }),
  mm('M=2, transA', 2, 77, 90, { options: { transA: true } }),
  mm('M=3 f16, transB, bf16 out', 3, 100, 70, { dtype: 'f16', options: { transB: true, outDtype: 'bf16' } }),
  mm('M=1 bf16 GEMV', 1, 513, 700, { dtype: 'bf16', bias: [700], options: { activation: 'silu' } }),
  // 16-bit rows 8 a step on AVX-512, 4 elsewhere: K = 2 blocks of 256 and 13 (an 8, a 4 and a 1 step)
  mm('M=3 f16 GEMV, K past two k blocks', 3, 525, 300, { dtype: 'f16', bias: [300] }),
  ...[1, 3, 4, 5].map((n) => mm(`N=${n} (tall skinny)`, 150, 99, n, { bias: [n], residual: [150, n], options: { activation: 'relu' } })),
  mm('N=2, transB, f16', 70, 45, 2, { dtype: 'f16', options: { transB: true } }),
  mm('N=3, transA (blocked path)', 70, 45, 3, { options: { transA: true } }),
];

function boundaryCases(isa: Isa): Case[] {
  const { MR, NR, KC, MT, NT } = BLOCKS[isa];
  const out: Case[] = [];
  for (const m of [MR - 1, MR + 1, MT - 1, MT, MT + 1]) out.push(mm(`M=${m} (MR ${MR}, MT ${MT})`, m, 19, NR + 3));
  for (const n of [NR - 1, NR + 1, NT - 1, NT, NT + 1]) out.push(mm(`N=${n} (NR ${NR}, NT ${NT})`, MR + 2, 19, n, { bias: [n] }));
  for (const k of [KC - 1, KC, KC + 1, 2 * KC + 1]) out.push(mm(`K=${k} (KC ${KC})`, MR + 1, k, NR + 1, { options: { activation: 'gelu' } }));
  // several tiles each way (the shared-packing path) with partial tiles and a k remainder
  out.push(mm(`shared packing ${2 * MT + 1}x${KC + 3}x${2 * NT + 1}`, 2 * MT + 1, KC + 3, 2 * NT + 1, { bias: [2 * NT + 1], residual: [2 * MT + 1, 1], options: { activation: 'gelu' } }));
  out.push(mm(`shared packing, transA + transB, bf16`, 2 * MT - 1, KC + 1, NT + 1, { dtype: 'bf16', options: { transA: true, transB: true, outDtype: 'f32' } }));
  return out;
}

const bytes = (x: Float32Array | Uint16Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

describe.each(available)('cpu path %s', (isa) => {
  let dev: Device;
  afterAll(() => dev?.dispose());

  it('opens with the forced path', async () => {
    dev = await openIsa(isa);
    expect(dev.threads).toBeGreaterThan(0);
  });

  it.each(SEMANTICS.map((c, i) => [c.name, c, i] as const))('semantics: %s', async (_name, c, i) => {
    const r = await judgeMatmul(dev, inputs(c, 100 + i), c.options ?? {});
    expect(r.out.pass, showWorst(r.out)).toBe(true);
  });

  it.each(boundaryCases(isa).map((c, i) => [c.name, c, i] as const))('blocking boundary: %s', async (_name, c, i) => {
    const r = await judgeMatmul(dev, inputs(c, 200 + i), c.options ?? {});
    expect(r.out.pass, showWorst(r.out)).toBe(true);
  });

  it.each([
    ['NaN in A row 5', 'a'],
    ['NaN in B column 13', 'b'],
  ] as const)('%s propagates to exactly that row/column through every activation', async (_n, where) => {
    for (const activation of ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'] as const) {
      for (const [m, k, n] of [[37, 61, 29], [3, 61, 29], [37, 61, 4]] as const) {
        const x = inputs(mm('nan', m, k, n), 7);
        const row = Math.min(5, m - 1), col = Math.min(13, n - 1);
        if (where === 'a') (x.a.data as Float32Array)[row * k + 17] = NaN;
        else (x.b.data as Float32Array)[9 * n + col] = NaN;
        const r = await judgeMatmul(dev, x, { activation });
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            const hit = where === 'a' ? i === row : j === col;
            expect(Number.isNaN(r.got[i * n + j]!), `${activation} ${m}x${k}x${n} (${i}, ${j})`).toBe(hit);
          }
      }
    }
  });

  it('activations at +-Inf: act(+Inf) = +Inf, act(-Inf) = 0 (none: -Inf)', async () => {
    for (const activation of ['none', 'relu', 'gelu', 'gelu_tanh', 'silu'] as const) {
      for (const m of [2, 25]) {
        const x = inputs(mm('inf', m, 10, 40), 3);
        (x.a.data as Float32Array)[1 * 10 + 0] = Infinity;
        const bv = x.b.data as Float32Array;
        const r = await judgeMatmul(dev, x, { activation });
        for (let j = 0; j < 40; j++) expect(r.got[40 + j], `${activation} m=${m} j=${j}`).toBe(bv[j]! > 0 ? Infinity : activation === 'none' ? -Infinity : 0);
      }
    }
  });

  it('is bitwise identical for 1, 2 and 3 threads (blocked, shared, skinny paths)', async () => {
    const { MT, NT, KC } = BLOCKS[isa];
    const shapes: Case[] = [
      mm('shared', 2 * MT + 5, KC + 7, 2 * NT + 3, { bias: [2 * NT + 3], options: { activation: 'gelu' } }),
      mm('private', 50, 600, 40),
      mm('gemv', 1, 700, 3000, { bias: [3000] }),
      mm('gemv transB', 3, 700, 300, { options: { transB: true } }),
      mm('tall skinny', 500, 300, 3),
      mm('bf16 shared', MT + 9, 2 * KC + 1, NT * 2, { dtype: 'bf16', options: { transB: true, outDtype: 'f32' } }),
    ];
    const results: Buffer[][] = [];
    for (const threads of [1, 2, 3]) {
      const d = await openIsa(isa, threads);
      const outs: Buffer[] = [];
      for (const [i, c] of shapes.entries()) {
        const x = inputs(c, 50 + i);
        const up = (t: MatmulInputs['a'] | undefined) => (t ? d.tensor(t.data, t.shape, t.dtype) : undefined);
        const [a, b, bias] = [up(x.a)!, up(x.b)!, up(x.bias)];
        const y = d.matmul(a, b, { ...c.options, bias });
        outs.push(bytes(await y.read()));
        for (const t of [a, b, bias, y]) t?.dispose();
      }
      d.dispose();
      results.push(outs);
    }
    for (let t = 1; t < results.length; t++)
      for (let i = 0; i < shapes.length; i++) expect(results[t]![i]!.equals(results[0]![i]!), `${shapes[i]!.name}: ${t + 1} threads vs 1`).toBe(true);
  });
});

it('reports which cpu paths were tested, and forcing a path really switches kernels', async () => {
  expect(available).toContain('generic');
  // generic (x86-64 baseline: separate multiply and add) rounds differently from the FMA paths, so
  // equal bits would mean KERNELPORT_CPU_ISA did not reach the native selection.
  const fma = available.find((i) => i !== 'generic');
  if (fma && process.arch === 'x64') {
    const x = inputs(mm('switch', 40, 300, 50), 1);
    const run = async (isa: Isa) => {
      const d = await openIsa(isa);
      const r = await judgeMatmul(d, x);
      d.dispose();
      return Buffer.from(new Float64Array(r.got).buffer);
    };
    expect((await run('generic')).equals(await run(fma))).toBe(false);
  }
  if (!available.includes('avx512')) console.log('cpu-isa: AVX-512 is not available on this CPU: its path is compiled but not run here');
});
