// kernelport works from worker_threads: one device per thread, all sharing the process's native pool.
// The worker loads the built package (dist/), which `npm test` builds first.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

const run = (seed: number) =>
  new Promise<{ a: Float32Array; b: Float32Array; out: Float32Array; same: boolean }>((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/matmul-worker.mjs', import.meta.url), { workerData: { m: 45, k: 77, n: 39, seed } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });

describe('worker_threads', () => {
  it('runs independent devices in 4 workers at once with correct results', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(run));
    for (const { a, b, out, same } of results) {
      expect(same).toBe(true);
      // Small integers: the f32 result is exact, so compare exactly.
      for (let i = 0; i < 45; i++)
        for (let j = 0; j < 39; j++) {
          let s = 0;
          for (let p = 0; p < 77; p++) s += a[i * 77 + p]! * b[p * 39 + j]!;
          expect(out[i * 39 + j]).toBe(Math.max(0, s));
        }
    }
    expect(results[0]!.out).not.toEqual(results[1]!.out);
  });
});
