// Reliability: random arguments at the boundary never crash the process (they compute the right
// result or throw a TypeError/RangeError that names the argument), memory comes back (explicit
// dispose and the FinalizationRegistry path), and 8 worker threads run mixed ops at once.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../src/cli/args.js';
import { COMMANDS, DEFAULT_COMMAND } from '../src/cli/commands.js';
import { decode, encode, open, type Device, type DType } from '../src/index.js';
import { requireNative } from '../src/native.js';
import { expectAttention, expectMatmul, type HostTensor } from '../src/numerics/check.js';
import { compareToReference } from '../src/numerics/compare.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const stats = () => requireNative().memoryStats();

const DTYPES = ['f32', 'f16', 'bf16', 'f64', 'int8'] as const;
const dim = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, NaN, 2 ** 53) });
const shape = (minRank: number, maxRank: number) => fc.array(dim, { minLength: minRank, maxLength: maxRank }); // tensor() fuzzing
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 }); // absent half the time
const rarely = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });
const junk = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 3 }), fc.constant({}), fc.constant(NaN));

const host = (s: number[], dtype: string, seed: number): HostTensor => {
  // Shapes the API must refuse (negative, fractional, huge) still get a little data, so the refusal
  // comes from the API, not from this helper.
  const n = s.reduce((x, y) => x * y, 1);
  const len = Number.isSafeInteger(n) && n >= 0 && n <= 4096 ? n : 1;
  const values = Array.from({ length: len }, (_, i) => Math.sin(seed + i * 1.7) * 2);
  return { data: encode(values, dtype as DType), shape: s, dtype: dtype as DType };
};

const isArgumentError = (e: unknown, op: string) =>
  (e instanceof TypeError || e instanceof RangeError) && new RegExp(`^(${op}|tensor)`).test((e as Error).message);

describe.each(['cpu', 'reference'] as const)('fuzzing the API boundary on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev.dispose());

  // Uploads through the public API; a shape the API refuses comes back as the thrown error.
  const upload = (t: HostTensor) => dev.tensor(t.data, t.shape, t.dtype);

  it('matmul: random shapes, dtypes and options compute correctly or throw an argument error', async () => {
    const validDtype = fc.constantFrom<DType>('f32', 'f16', 'bf16');
    const small = fc.integer({ min: 0, max: 7 });
    // Consistent shapes most of the time; a mutation (one dimension replaced, possibly by garbage)
    // makes the rest exercise the refusals.
    const arb = fc
      .record({
        m: small, k: small, n: small, batchA: fc.array(fc.constantFrom(1, 2), { maxLength: 2 }), batchB: fc.array(fc.constantFrom(1, 2), { maxLength: 2 }),
        transA: fc.boolean(), transB: fc.boolean(), dtype: validDtype, bDtype: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: validDtype }),
        bias: fc.boolean(), residual: fc.constantFrom('none', 'full', 'row', 'col'),
        activation: maybe(fc.oneof({ weight: 9, arbitrary: fc.constantFrom('none', 'relu', 'gelu', 'gelu_tanh', 'silu') }, { weight: 1, arbitrary: fc.constantFrom('tanh', '') })),
        alpha: maybe(fc.oneof({ weight: 9, arbitrary: fc.double({ min: -2, max: 2, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity) })),
        beta: maybe(fc.double({ min: -2, max: 2, noNaN: true })),
        outDtype: maybe(fc.oneof({ weight: 9, arbitrary: fc.constantFrom<string>('f32', 'f16', 'bf16') }, { weight: 1, arbitrary: fc.constantFrom('f64', 'int8') })),
        junkFlag: rarely(junk),
        mutate: rarely(fc.record({ which: fc.constantFrom('a', 'b', 'bias', 'residual'), at: fc.nat(), value: dim })),
        seed: fc.integer(),
      })
      .map((c) => {
        const shapes: Record<string, number[] | undefined> = {
          a: [...c.batchA, ...(c.transA ? [c.k, c.m] : [c.m, c.k])],
          b: [...c.batchB, ...(c.transB ? [c.n, c.k] : [c.k, c.n])],
          bias: c.bias ? [c.n] : undefined,
          residual: { none: undefined, full: [c.m, c.n], row: [c.n], col: [c.m, 1] }[c.residual],
        };
        const t = c.mutate && shapes[c.mutate.which];
        if (c.mutate && t && t.length) t[c.mutate.at % t.length] = c.mutate.value;
        return { ...c, shapes };
      });
    let computed = 0, refused = 0;
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const { shapes } = c;
        const x = {
          a: host(shapes.a!, c.dtype, c.seed), b: host(shapes.b!, c.bDtype ?? c.dtype, c.seed + 1),
          bias: shapes.bias && host(shapes.bias, 'f32', c.seed + 2), residual: shapes.residual && host(shapes.residual, c.dtype, c.seed + 3),
        };
        const transA = c.junkFlag !== undefined ? c.junkFlag : c.transA;
        const options = { transA, transB: c.transB, activation: c.activation, alpha: c.alpha, beta: c.beta, outDtype: c.outDtype } as never;
        const tensors: ReturnType<typeof upload>[] = [];
        try {
          const [a, b, bias, residual] = [x.a, x.b, x.bias, x.residual].map((t) => t && (tensors.push(upload(t)), tensors.at(-1)!));
          const y = dev.matmul(a!, b!, { ...(options as object), bias, residual });
          tensors.push(y);
          const got = decode(await y.read(), y.dtype);
          const e = expectMatmul(x as never, options);
          const r = compareToReference(got, e.out, e.bound, e.plan.outShape, y.dtype);
          expect(r.pass, JSON.stringify(r.worst.slice(0, 2))).toBe(true);
          computed++;
        } catch (e) {
          if (!isArgumentError(e, 'matmul')) throw e;
          refused++;
        } finally {
          for (const t of tensors) t.dispose();
        }
      }),
      { numRuns: 250, seed: 20261126 },
    );
    expect(computed).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(20);
  });

  it('attention: random shapes and options compute correctly or throw an argument error', async () => {
    const arb = fc
      .record({
        b: fc.integer({ min: 0, max: 2 }), hkv: fc.integer({ min: 1, max: 2 }), group: fc.integer({ min: 1, max: 3 }),
        sq: fc.integer({ min: 0, max: 6 }), skv: fc.integer({ min: 0, max: 9 }), d: fc.integer({ min: 0, max: 8 }), dv: fc.integer({ min: 0, max: 8 }),
        dtype: fc.constantFrom<DType>('f32', 'f16', 'bf16'),
        causal: maybe(fc.oneof(fc.boolean(), fc.constantFrom('top-left', 'bottom-right', 'diagonal'))),
        layout: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('bhsd', 'bshd') }, { weight: 1, arbitrary: fc.constantFrom('hbsd', undefined) }),
        scale: maybe(fc.oneof(fc.double({ min: 0.01, max: 2, noNaN: true }), fc.constant(NaN))),
        lengths: fc.option(fc.array(fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 9 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, 99) }), { minLength: 0, maxLength: 3 }), { nil: undefined, freq: 2 }),
        mask: fc.constantFrom('none', 'full', 'row', 'head'),
        mutate: rarely(fc.record({ which: fc.constantFrom('q', 'k', 'v', 'mask'), at: fc.nat(), value: dim })),
        seed: fc.integer(),
      })
      .map((c) => {
        const hq = c.hkv * c.group;
        const lay = (b: number, h: number, s: number, d: number) => (c.layout === 'bshd' ? [b, s, h, d] : [b, h, s, d]);
        const shapes: Record<string, number[] | undefined> = {
          q: lay(c.b, hq, c.sq, c.d), k: lay(c.b, c.hkv, c.skv, c.d), v: lay(c.b, c.hkv, c.skv, c.dv),
          mask: { none: undefined, full: [c.b, hq, c.sq, c.skv], row: [c.sq, c.skv], head: [1, hq, 1, c.skv] }[c.mask],
        };
        const t = c.mutate && shapes[c.mutate.which];
        if (c.mutate && t && t.length) t[c.mutate.at % t.length] = c.mutate.value;
        // Lengths of the right count most of the time, so they are exercised, not just refused.
        const kvLengths = c.lengths && (c.lengths.length === 0 ? Array.from({ length: c.b }, (_, i) => i % (c.skv + 1)) : c.lengths);
        return { ...c, shapes, kvLengths };
      });
    let computed = 0, refused = 0;
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const { shapes } = c;
        const x = { q: host(shapes.q!, c.dtype, c.seed), k: host(shapes.k!, c.dtype, c.seed + 1), v: host(shapes.v!, c.dtype, c.seed + 2), mask: shapes.mask && host(shapes.mask, 'f32', c.seed + 3) };
        const options = { causal: c.causal, layout: c.layout, scale: c.scale, kvLengths: c.kvLengths } as never;
        const tensors: ReturnType<typeof upload>[] = [];
        try {
          const [q, k, v, mask] = [x.q, x.k, x.v, x.mask].map((t) => t && (tensors.push(upload(t)), tensors.at(-1)!));
          const r = dev.attention(q!, k!, v!, { ...(options as object), mask, returnLse: true });
          tensors.push(r.out, r.lse);
          const got = decode(await r.out.read(), r.out.dtype);
          const e = expectAttention(x as never, options);
          const rep = compareToReference(got, e.out, e.bound, e.plan.outShape, r.out.dtype);
          expect(rep.pass, JSON.stringify(rep.worst.slice(0, 2))).toBe(true);
          computed++;
        } catch (e) {
          if (!isArgumentError(e, 'attention')) throw e;
          refused++;
        } finally {
          for (const t of tensors) t.dispose();
        }
      }),
      { numRuns: 250, seed: 11262026 },
    );
    expect(computed).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(20);
  });

  it('tensor(): garbage data and shapes throw argument errors', () => {
    const data = fc.oneof(fc.constant(new Float64Array(4)), fc.constant(new Int32Array(4)), fc.constant(new Uint16Array(4)), fc.constant(new Float32Array(4)),
      fc.array(fc.oneof(fc.double(), junk), { maxLength: 5 }), junk);
    fc.assert(
      fc.property(data, fc.oneof(shape(0, 3), junk), fc.option(fc.constantFrom(...DTYPES), { nil: undefined }), (d, s, dt) => {
        try {
          dev.tensor(d as never, s as never, dt as never).dispose();
        } catch (e) {
          expect(isArgumentError(e, 'tensor'), String(e)).toBe(true);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});

describe('fuzzing the CLI arguments', () => {
  it('every argv either parses or is a usage error', () => {
    const word = fc.constantFrom('probe', 'tour', 'validate', 'bench', '--json', '--backend', 'cpu', '--quick', '--full', '--seed', '12', '--m', '1,2', '-1', '--op', 'matmul', '--suite', '--', '=', '--x=1', '-h', '');
    fc.assert(
      fc.property(fc.array(fc.oneof(word, fc.string({ maxLength: 6 })), { maxLength: 6 }), (argv) => {
        try {
          parseArgs(argv, COMMANDS, DEFAULT_COMMAND);
        } catch (e) {
          expect(e).toBeInstanceOf(UsageError);
        }
      }),
      { numRuns: 2000, seed: 3 },
    );
  });
});

describe('memory comes back', () => {
  it('10k create/use/dispose cycles leave no native buffer behind', async () => {
    const dev = await open('cpu');
    const a = dev.tensor(new Float32Array(16 * 16).fill(1), [16, 16]);
    await dev.sync();
    const before = stats();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 10_000; i++) {
      const b = dev.tensor(new Float32Array(16 * 8).fill(i % 5), [16, 8]);
      const y = dev.matmul(a, b, { activation: 'gelu' });
      const z = dev.attention(dev.tensor([1, 2, 3, 4], [1, 1, 1, 4]), dev.tensor([1, 2, 3, 4], [1, 1, 1, 4]), dev.tensor([5, 6, 7, 8], [1, 1, 1, 4]));
      if (i % 100 === 0) expect((await y.read())[0]).toBe(Math.fround(16 * (i % 5)));
      b.dispose();
      y.dispose();
      z.dispose();
    }
    await dev.sync();
    const after = stats();
    // The attention inputs above were never disposed: the FinalizationRegistry (or the buffer's own
    // finalizer) frees them once collected. Everything disposed is gone at once.
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    await new Promise((r) => setTimeout(r, 50));
    const collected = stats();
    expect(collected.liveBuffers - before.liveBuffers, `live buffers: before ${before.liveBuffers}, after ${after.liveBuffers}, after gc ${collected.liveBuffers}`).toBeLessThanOrEqual(50);
    expect(after.liveBuffers - before.liveBuffers).toBeLessThanOrEqual(30_000); // 3 undisposed per cycle at most
    expect(process.memoryUsage().rss - rss0).toBeLessThan(200 * 2 ** 20);
    a.dispose();
    dev.dispose();
  });

  it('freed large blocks are held for reuse at the same size, counted apart from live bytes, and a closing device gives them back', async () => {
    const dev = await open('cpu');
    await dev.sync();
    const base = stats();
    const big = 4 * 2 ** 20; // 4 MiB of f32
    let t = dev.empty([big / 4]);
    expect(stats().liveBytes - base.liveBytes).toBe(big);
    t.dispose();
    await dev.sync();
    expect(stats().liveBytes).toBe(base.liveBytes);
    expect(stats().cachedBytes - base.cachedBytes).toBe(big); // held, not leaked
    t = dev.empty([big / 4]); // the same size: the held block comes back
    expect(stats().cachedBytes).toBe(base.cachedBytes);
    t.dispose();
    const small = dev.empty([1000]); // 4000 bytes: below the cache's 64 KiB floor
    small.dispose();
    await dev.sync();
    expect(stats().cachedBytes - base.cachedBytes).toBe(big);
    dev.dispose(); // the native device closes once its queue drains (off the JS thread)
    for (let i = 0; i < 100 && stats().cachedBytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stats().cachedBytes).toBe(0);
  });

  it('the cache is given back when the last cpu device closes, not when another one does', async () => {
    // Closing is asynchronous (once the device's queue drains): a device closed by an earlier test used
    // to empty the cache in the middle of the next one, and a short-lived second device the main one's.
    const main = await open('cpu');
    const other = await open('cpu');
    const big = 4 * 2 ** 20;
    await main.sync();
    const base = stats().cachedBytes;
    main.empty([big / 4]).dispose();
    await main.sync();
    expect(stats().cachedBytes - base).toBe(big);
    other.dispose();
    await new Promise((r) => setTimeout(r, 200)); // long past its close
    expect(stats().cachedBytes - base).toBe(big); // still held for main
    main.dispose();
    for (let i = 0; i < 100 && stats().cachedBytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stats().cachedBytes).toBe(0);
  });

  it('large blocks reused from the host cache hold nothing of their last tensor', async () => {
    // Outputs of 2+ MiB go back to a cache on dispose and the next op of that size gets the same
    // block, stale values and all: every result must still be entirely the new op's.
    const dev = await open('cpu');
    const [M, K, N] = [513, 37, 1031]; // 2.0 MiB of f32 output, not a multiple of any tile
    for (const [seed, activation] of [[1, 'none'], [2, 'gelu'], [3, 'relu']] as const) {
      const filled = (shape: number[], phase: number): HostTensor => ({
        data: Float32Array.from({ length: shape[0]! * shape[1]! }, (_, i) => Math.sin(phase + i * 0.37)),
        shape,
        dtype: 'f32',
      });
      const [ha, hb] = [filled([M, K], seed), filled([K, N], seed + 10)];
      const [ta, tb] = [dev.tensor(ha.data, ha.shape), dev.tensor(hb.data, hb.shape)];
      const y = dev.matmul(ta, tb, { activation });
      const e = expectMatmul({ a: ha, b: hb }, { activation });
      const r = compareToReference(await y.read(), e.out, e.bound, e.plan.outShape);
      expect(r.failures, `${activation}: worst ${r.worstRatio} of the bound`).toBe(0);
      for (const t of [ta, tb, y]) t.dispose();
    }
    dev.dispose();
  });

  it('tensors dropped without dispose are freed by the garbage collector', async () => {
    const dev = await open('cpu');
    const before = stats().liveBuffers;
    (() => {
      for (let i = 0; i < 2000; i++) dev.tensor(new Float32Array(1024), [1024]);
    })();
    expect(stats().liveBuffers - before).toBe(2000);
    for (let i = 0; i < 5 && stats().liveBuffers - before > 20; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stats().liveBuffers - before).toBeLessThanOrEqual(20);
    dev.dispose();
  });
});

describe('concurrency', () => {
  it('8 worker threads x 1000 mixed ops, every result checked', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, seed) =>
        new Promise<{ checked: number; failures: string[] }>((resolve, reject) => {
          const w = new Worker(new URL('./fixtures/mixed-worker.mjs', import.meta.url), { workerData: { seed: seed + 1, ops: 1000 } });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
      ),
    );
    for (const r of results) {
      expect(r.failures).toEqual([]);
      expect(r.checked).toBe(1000);
    }
  }, 120_000);
});
