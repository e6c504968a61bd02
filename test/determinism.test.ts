// Threads split M and N, never K, into tiles (whose shape may follow the thread count for small ops),
// and every output element is the same sequence of float operations whatever tile holds it: results
// are bitwise identical for any number of threads, and across repeated runs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { open } from '../src/index.js';
import { bandCases } from './fixtures/gemm-band-cases.mjs';
import { randomTensor, Rng } from '../src/numerics/random.js';

async function runAll(threads: number) {
  const dev = await open({ backend: 'cpu', threads });
  const rng = new Rng(99);
  const up = (shape: number[], dtype: 'f32' | 'bf16' = 'f32') => {
    const t = randomTensor(rng, shape, dtype);
    return dev.tensor(t.data, t.shape, t.dtype);
  };
  const a = up([3, 301, 257]);
  const b = up([257, 263]);
  const bias = up([263]);
  const mm = dev.matmul(a, b, { bias, activation: 'gelu' });
  const a16 = up([67, 1031], 'bf16');
  const b16 = up([45, 1031], 'bf16');
  const mm16 = dev.matmul(a16, b16, { transB: true, outDtype: 'f32' });
  const q = up([2, 8, 77, 64]);
  const k = up([2, 2, 211, 64]);
  const v = up([2, 2, 211, 48]);
  const att = dev.attention(q, k, v, { causal: true, kvLengths: [150, 211], returnLse: true });
  const dec = dev.attention(up([1, 8, 1, 64]), up([1, 2, 999, 64]), up([1, 2, 999, 64]));
  // decoding's GEMV with B [K,N] (x @ W): its columns are cut into as many tasks as threads, at least
  const gemv = dev.matmul(up([3, 777]), up([777, 2500]), { bias: up([2500]) });
  const gemv16 = dev.matmul(up([1, 600], 'bf16'), up([600, 5000], 'bf16'), { outDtype: 'f32' });
  const linear16 = dev.matmul(up([1, 333], 'bf16'), up([205, 333], 'bf16'), { transB: true, outDtype: 'f32' }); // nn.Linear's [N,K]
  // few tiles for the threads: the tile shape follows the thread count (gemm_impl.h tile_shape), the bits must not
  const fewRows = dev.matmul(up([256, 300]), up([300, 250]), { bias: up([250]), activation: 'gelu' });
  const fewCols = dev.matmul(up([12, 600]), up([600, 300])); // 128-column tiles on 2 and 3 threads
  const outs = await Promise.all([mm.read(), mm16.read(), att.out.read(), att.lse.read(), dec.read(), gemv.read(), gemv16.read(), linear16.read(), fewRows.read(), fewCols.read()]);
  expect(dev.threads).toBe(threads);
  dev.dispose();
  return outs.map((o) => Buffer.from(o.buffer, o.byteOffset, o.byteLength));
}

describe('cpu determinism', () => {
  it('gives bitwise-identical results for 1, 2 and 3 threads and across runs', async () => {
    const one = await runAll(1);
    const two = await runAll(2);
    const three = await runAll(3);
    const again = await runAll(2);
    for (let i = 0; i < one.length; i++) {
      expect(two[i]!.equals(one[i]!), `output ${i}: 2 threads vs 1`).toBe(true);
      expect(three[i]!.equals(one[i]!), `output ${i}: 3 threads vs 1`).toBe(true);
      expect(again[i]!.equals(two[i]!), `output ${i}: repeated run`).toBe(true);
    }
  });

  it('KERNELPORT_NUM_THREADS sets the default thread count', async () => {
    process.env.KERNELPORT_NUM_THREADS = '3';
    try {
      const dev = await open('cpu');
      expect(dev.threads).toBe(3);
      dev.dispose();
    } finally {
      delete process.env.KERNELPORT_NUM_THREADS;
    }
  });
});

describe('cpu gemm packing bands', () => {
  it('packing A and B in bands (small KERNELPORT_GEMM_REGION_BYTES) gives the same bits as one band, and passes the reference', async () => {
    // At the default 64 MiB region these problems pack each operand in one band; in the child the
    // region is ~440 KB, so they take the banded loops (A repacked per band of B) that only
    // LLM-sized operands reach otherwise.
    const child = JSON.parse(
      execFileSync(process.execPath, [fileURLToPath(new URL('./fixtures/gemm-bands.mjs', import.meta.url))], {
        env: { ...process.env, KERNELPORT_GEMM_REGION_BYTES: '450000' },
        encoding: 'utf8',
      }),
    ) as { name: string; failures: number; worst: number; sha256: string }[];
    const dev = await open({ backend: 'cpu', threads: 2 });
    const cases = bandCases();
    expect(child.map((c) => c.name)).toEqual(cases.map((c) => c.name));
    for (const [i, c] of cases.entries()) {
      const t = (h: { data: Float32Array | Uint16Array; shape: number[]; dtype: 'f32' | 'f16' | 'bf16' }) => dev.tensor(h.data, h.shape, h.dtype);
      const got = await dev.matmul(t(c.a), t(c.b), { ...c.options, bias: c.bias && t(c.bias) }).read();
      expect(child[i]!.failures, `${c.name}: worst ${child[i]!.worst} of the bound`).toBe(0);
      const sha = createHash('sha256').update(Buffer.from(got.buffer, got.byteOffset, got.byteLength)).digest('hex');
      expect(sha, `${c.name}: banded vs one band`).toBe(child[i]!.sha256);
    }
    dev.dispose();
  }, 60_000);
});
