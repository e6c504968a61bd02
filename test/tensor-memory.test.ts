/**
 * A tensor's memory from the API: reshape views (no copy, no op, so framework glue needs no host round
 * trip: an attention output in layout 'bshd' is the output projection's [B·S, H·D] operand as it is;
 * views and their tensor are disposed independently, the memory goes with the last of them) and
 * writes ordered with the device's ops (after those already enqueued, before later ones: what a decode
 * loop needs for a KV cache that lives on the device).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, probe, type Device } from '../src/index.js';
import { decode, encode } from '../src/dtype.js';
import { packageRoot, requireNative } from '../src/native.js';
import { randomTensor, Rng } from '../src/numerics/random.js';

const webgpu = (await probe()).some((d) => d.backend === 'webgpu' && d.available);
const BACKENDS = ['cpu', 'reference', ...(webgpu ? ['webgpu' as const] : [])] as const;

describe.each(BACKENDS)('tensor memory on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev?.dispose());

  it('a view reads the same values under the new shape, with -1 inferred', async () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => i - 7.5);
    const t = dev.tensor(data, [2, 3, 4]);
    const v = t.reshape([6, -1]);
    expect(v.shape).toEqual([6, 4]);
    expect(Array.from((await v.read()) as Float32Array)).toEqual(Array.from(data));
    t.dispose(); // the view keeps the memory
    expect(Array.from((await v.read()) as Float32Array)).toEqual(Array.from(data));
    expect(v.reshape([24]).shape).toEqual([24]);
    v.dispose();
  });

  it("an attention output in layout 'bshd' feeds the output projection as [B·S, H·D] (the same numbers as through the host)", async () => {
    const [B, S, H, D, N] = [2, 5, 3, 8, 7];
    const rng = new Rng(3);
    const [q, k, v] = [0, 1, 2].map(() => dev.tensor(randomTensor(rng, [B, S, H, D]).data, [B, S, H, D]));
    const w = dev.tensor(randomTensor(rng, [H * D, N]).data, [H * D, N]);
    const o = dev.attention(q!, k!, v!, { layout: 'bshd', causal: true });
    const viaView = (await dev.matmul(o.reshape([B * S, H * D]), w).read()) as Float32Array;
    const viaHost = (await dev.matmul(dev.tensor((await o.read()) as Float32Array, [B * S, H * D]), w).read()) as Float32Array;
    expect(Buffer.from(viaView.buffer).equals(Buffer.from(viaHost.buffer))).toBe(true);
  });

  it('refuses shapes of another size, two -1, and disposed tensors, saying why', () => {
    const t = dev.tensor(new Float32Array(12), [3, 4]);
    expect(() => t.reshape([5, 3])).toThrow(new RangeError('reshape: shape [5, 3] does not hold the 12 elements of [3, 4]'));
    expect(() => t.reshape([-1, -1])).toThrow(/at most one dimension may be -1/);
    expect(() => t.reshape([-1, 5])).toThrow(/the 12 elements of \[3, 4\] do not fill \[-1, 5\] for any -1/);
    expect(() => t.reshape([2.5, 4] as number[])).toThrow(RangeError);
    t.dispose();
    expect(() => t.reshape([12])).toThrow(/reshape: the tensor \(shape \[3, 4\], f32\) has been disposed/);
  });

  it('writes values at an element offset, in f32 and 16-bit, through views too', async () => {
    const t = dev.tensor(new Float32Array(12).fill(1), [3, 4]);
    t.write(Float32Array.of(5, 6, 7, 8), 4);
    expect(Array.from((await t.read()) as Float32Array)).toEqual([1, 1, 1, 1, 5, 6, 7, 8, 1, 1, 1, 1]);
    t.reshape([12]).write(Float32Array.of(9, 9), 10);
    expect(Array.from((await t.read()) as Float32Array).slice(8)).toEqual([1, 1, 9, 9]);
    const h = dev.tensor(encode([0, 0, 0, 0, 0, 0], 'bf16'), [6], 'bf16');
    h.write(encode([1.5, -2], 'bf16') as Uint16Array, 2);
    expect(Array.from(decode(await h.read(), 'bf16'))).toEqual([0, 0, 1.5, -2, 0, 0]);
  });

  it('an op enqueued before a write sees the old values, one enqueued after it the new ones', async () => {
    const n = backend === 'reference' ? 24 : 192;
    const a = dev.tensor(new Float32Array(n * n).fill(1), [n, n]);
    const b = dev.tensor(new Float32Array(n * n).fill(1), [n, n]);
    const before = [0, 1, 2, 3].map(() => dev.matmul(a, b)); // a queue of work ahead of the write
    b.write(new Float32Array(n * n).fill(2));
    const after = dev.matmul(a, b);
    for (const y of before) expect(((await y.read()) as Float32Array).every((x) => x === n)).toBe(true);
    expect(((await after.read()) as Float32Array).every((x) => x === 2 * n)).toBe(true);
  });

  it('a KV cache on the device: one row written per decode step, attention with kvLengths, the same as the whole sequence', async () => {
    const [H, D, C, steps] = [2, 8, 16, 7];
    const rng = new Rng(9);
    const k = randomTensor(rng, [1, steps, H, D]).data as Float32Array;
    const v = randomTensor(rng, [1, steps, H, D]).data as Float32Array;
    const q = randomTensor(rng, [1, steps, H, D]).data as Float32Array;
    const kc = dev.empty([1, C, H, D]);
    const vc = dev.empty([1, C, H, D]);
    kc.write(new Float32Array(C * H * D)); // a fresh tensor's contents are undefined: zeros past the valid rows
    vc.write(new Float32Array(C * H * D));
    for (let t = 0; t < steps; t++) {
      kc.write(k.subarray(t * H * D, (t + 1) * H * D), t * H * D);
      vc.write(v.subarray(t * H * D, (t + 1) * H * D), t * H * D);
      const qt = dev.tensor(q.slice(t * H * D, (t + 1) * H * D), [1, 1, H, D]);
      const step = (await dev.attention(qt, kc, vc, { layout: 'bshd', kvLengths: [t + 1] }).read()) as Float32Array;
      const whole = (await dev
        .attention(qt, dev.tensor(k.slice(0, (t + 1) * H * D), [1, t + 1, H, D]), dev.tensor(v.slice(0, (t + 1) * H * D), [1, t + 1, H, D]), { layout: 'bshd' })
        .read()) as Float32Array;
      expect(Array.from(step), `step ${t}`).toEqual(Array.from(whole));
    }
  });

  it('refuses the wrong array type, ranges past the end, and disposed tensors', () => {
    const t = dev.tensor(new Float32Array(4), [4]);
    expect(() => t.write(new Uint16Array(2) as never)).toThrow(new TypeError('write: a f32 tensor takes a Float32Array, got Uint16Array'));
    expect(() => t.write(new Float32Array(3), 2)).toThrow(new RangeError('write: 3 elements at offset 2 do not fit the 4 of [4]'));
    expect(() => t.write(new Float32Array(1), -1)).toThrow(new RangeError('write: offset must be a non-negative integer (elements), got -1'));
    expect(() => t.write(new Float32Array(1), 2.5)).toThrow(/write: offset must be a non-negative integer \(elements\), got 2\.5/);
    expect(() => t.write(new Float32Array(1), '1' as never)).toThrow(TypeError);
    expect(() => t.reshape([-2, -2])).toThrow(/reshape: dimension 0 must be a non-negative integer or -1 \(inferred\), got -2/);
    expect(() => dev.empty([0, 2 ** 41])).toThrow(new RangeError('empty: shape: dimension 1 is 2199023255552, more than the supported 2^40, in shape [0, 2199023255552]'));
    t.dispose();
    expect(() => t.write(new Float32Array(1))).toThrow(/write: the tensor \(shape \[4\], f32\) has been disposed/);
  });

  it('a read gives the values when it is asked for, not what is queued after it (an op into the same out, a write, a reuse of the memory)', async () => {
    const a = dev.tensor([1, 2, 3, 4], [2, 2]);
    const eye = dev.tensor([1, 0, 0, 1], [2, 2]);
    const o = dev.empty([2, 2]);
    dev.matmul(a, eye, { out: o });
    const first = o.read();
    dev.matmul(eye, eye, { out: o });
    const t = dev.tensor([5, 6, 7, 8], [2, 2]);
    const before = t.read();
    t.write(new Float32Array(4));
    const x = dev.matmul(a, a);
    const product = x.read();
    x.dispose();
    dev.tensor([9, 9, 9, 9], [2, 2]);
    expect(Array.from((await first) as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from((await before) as Float32Array)).toEqual([5, 6, 7, 8]);
    expect(Array.from((await product) as Float32Array)).toEqual([7, 10, 15, 22]);
    expect(Array.from((await o.read()) as Float32Array)).toEqual([1, 0, 0, 1]);
  });

  it('copy: element ranges between tensors on the device, ordered like an op (a KV cache fed by a projection)', async () => {
    const rng = new Rng(5);
    const [S, H, D] = [6, 2, 8];
    const x = dev.tensor(randomTensor(rng, [S, 16]).data, [S, 16]);
    const wk = dev.tensor(randomTensor(rng, [16, H * D]).data, [16, H * D]);
    const cache = dev.tensor(new Float32Array(1 * 8 * H * D).fill(Number.NaN), [1, 8, H, D]); // bshd, capacity 8
    const q = dev.tensor(randomTensor(rng, [1, 1, 2 * H, D]).data, [1, 1, 2 * H, D]);
    // Each step's projected row goes into its cache slot on the device, then attention reads the cache
    const k = dev.matmul(x, wk); // [S, H·D]: row s is step s's keys
    for (let step = 0; step < S; step++) dev.copy(k, cache, { srcOffset: step * H * D, dstOffset: step * H * D, count: H * D });
    const viaCopy = await bytes(dev.attention(q, cache, cache, { layout: 'bshd', kvLengths: [S] }));
    const host = (await k.read()) as Float32Array;
    const whole = dev.tensor(host, [1, S, H, D]);
    expect(viaCopy.equals(await bytes(dev.attention(q, whole, whole, { layout: 'bshd' })))).toBe(true);
    // Ordered: a later op into the source does not reach a copy enqueued before it
    const dst = dev.empty([S, H * D]);
    dev.copy(k, dst);
    dev.matmul(x, x.reshape([16, S]), { out: dev.empty([S, S]) }); // unrelated work in between
    dev.matmul(x, wk, { alpha: 2, out: k });
    expect(Array.from((await dst.read()) as Float32Array)).toEqual(Array.from(host));
    // 16-bit, even offsets and counts (what webgpu takes)
    const b = dev.tensor(encode([1, 2, 3, 4, 5, 6], 'bf16'), [6], 'bf16');
    const c = dev.tensor(encode([9, 9, 9, 9, 9, 9, 9, 9], 'bf16'), [8], 'bf16');
    dev.copy(b, c, { srcOffset: 2, dstOffset: 4, count: 4 });
    dev.copy(dev.tensor(new Uint16Array(2), [2], 'bf16'), c, { dstOffset: 0 });
    expect(Array.from(decode(await c.read(), 'bf16'))).toEqual([0, 0, 9, 9, 3, 4, 5, 6]);
    expect(dev.copy(b, b, { srcOffset: 0, dstOffset: 2, count: 2 })).toBe(b); // one tensor, apart ranges
    expect(Array.from(decode(await b.read(), 'bf16'))).toEqual([1, 2, 1, 2, 5, 6]);
  });

  it('copy with rows: one token of every head into a bhsd KV cache in one call, strides on both sides', async () => {
    const [B, H, Smax, D] = [2, 3, 5, 4];
    const cache = dev.tensor(new Float32Array(B * H * Smax * D).fill(-1), [B, H, Smax, D]);
    const kNew = dev.tensor(Float32Array.from({ length: B * H * D }, (_, i) => i), [B, H, 1, D]);
    const t = 3;
    dev.copy(kNew, cache, { rows: B * H, count: D, dstOffset: t * D, dstStride: Smax * D });
    const got = (await cache.read()) as Float32Array;
    for (let bh = 0; bh < B * H; bh++)
      for (let s = 0; s < Smax; s++)
        for (let d = 0; d < D; d++) expect(got[(bh * Smax + s) * D + d]).toBe(s === t ? bh * D + d : -1);
    // Strided on the source too: every other row of a [6, 4] matrix, its first 2 columns (even counts: webgpu's 4-byte rule)
    const m = dev.tensor(Float32Array.from({ length: 24 }, (_, i) => i), [6, 4]);
    const picked = dev.copy(m, dev.empty([3, 2]), { rows: 3, count: 2, srcStride: 8 });
    expect(Array.from((await picked.read()) as Float32Array)).toEqual([0, 1, 8, 9, 16, 17]);
    // Nothing to copy: rows 0
    expect(dev.copy(m, picked, { rows: 0, count: 2 })).toBe(picked);
  });

  it('copy: refuses another dtype, ranges past the end, overlapping ranges of one memory and another device, saying why', async () => {
    const a = dev.tensor(new Float32Array(8), [8]);
    expect(() => dev.copy(a, dev.empty([8], 'bf16'))).toThrow(new TypeError('copy: src and dst must share a dtype, got src f32 and dst bf16'));
    expect(() => dev.copy(a, dev.empty([4]))).toThrow(new RangeError('copy: 8 elements at dstOffset 0 do not fit the 4 of dst [4]'));
    expect(() => dev.copy(a, dev.empty([8]), { srcOffset: 6, count: 4 })).toThrow(/copy: 4 elements at srcOffset 6 do not fit the 8 of src \[8\]/);
    expect(() => dev.copy(a, a.reshape([2, 4]), { srcOffset: 0, dstOffset: 2, count: 4 })).toThrow(/copy: the ranges overlap in one tensor's memory/);
    expect(() => dev.copy(a, dev.empty([8]), { count: -1 })).toThrow(RangeError);
    expect(() => dev.copy(a, dev.empty([8]), { count: '2' as never })).toThrow(TypeError);
    // rows: count is required, rows written must not overlap, the last row must fit, the spans of one memory must not meet
    expect(() => dev.copy(a, dev.empty([8]), { rows: 2 })).toThrow(new TypeError('copy: count (elements per row) is required with rows'));
    expect(() => dev.copy(a, dev.empty([8]), { rows: 2, count: 4, dstStride: 2 })).toThrow(/copy: dstStride 2 is under count 4: the rows written would overlap each other/);
    expect(() => dev.copy(a, dev.empty([8]), { rows: 3, count: 2, srcStride: 4 })).toThrow(
      new RangeError('copy: 3 rows of 2 elements at srcOffset 0 (srcStride 4) do not fit the 8 of src [8]'),
    );
    expect(() => dev.copy(a, a, { rows: 2, count: 1, srcStride: 4, dstOffset: 2, dstStride: 4 })).toThrow(/the ranges overlap in one tensor's memory \(src 0\.\.4, dst 2\.\.6\)/);
    expect(() => dev.copy(a, dev.empty([8]), { Rows: 2 } as never)).toThrow(new TypeError("copy: unknown option 'Rows'; did you mean 'rows'?"));
    const other = await open(backend);
    try {
      expect(() => dev.copy(a, other.empty([8]))).toThrow(/copy: dst belongs to another device/);
    } finally {
      other.dispose();
    }
  });

  it('a read started before its device is disposed still gives the values', async () => {
    const d = await open(backend);
    const x = d.tensor(new Float32Array(96 * 96).fill(1), [96, 96]);
    const pending = d.matmul(x, x).read();
    d.dispose();
    const got = (await pending) as Float32Array;
    expect(got.length).toBe(96 * 96);
    expect(got.every((y) => y === 96)).toBe(true);
    await expect(x.read()).rejects.toThrow(/has been disposed/); // one started after it is refused, as before
  });

  const bytes = async (t: { read(): Promise<Float32Array | Uint16Array> }) => Buffer.from((await t.read()).buffer);

  it('out: a matmul and an attention write into the given tensor (a view too) and return it, with the bits of a new output', async () => {
    const rng = new Rng(11);
    const up = (shape: number[], dtype: 'f32' | 'bf16' = 'f32') => {
      const t = randomTensor(rng, shape, dtype);
      return dev.tensor(t.data, t.shape, t.dtype);
    };
    const [a, b, bias] = [up([3, 37, 29]), up([29, 45]), up([45])];
    const options = { bias, activation: 'gelu' as const, outDtype: 'bf16' as const };
    const arena = dev.empty([3 * 37 * 45], 'bf16');
    const out = arena.reshape([3, 37, 45]);
    expect(dev.matmul(a, b, { ...options, out })).toBe(out);
    expect((await bytes(arena)).equals(await bytes(dev.matmul(a, b, options)))).toBe(true);
    // The same buffer again, for another product: ordered like any output
    const a2 = up([3, 37, 29]);
    dev.matmul(a2, b, { ...options, out });
    expect((await bytes(out)).equals(await bytes(dev.matmul(a2, b, options)))).toBe(true);

    const [q, k, v] = [up([1, 4, 19, 16], 'bf16'), up([1, 2, 23, 16], 'bf16'), up([1, 2, 23, 16], 'bf16')];
    const o = dev.empty([1, 4, 19, 16], 'bf16');
    const r = dev.attention(q, k, v, { causal: true, returnLse: true, out: o });
    expect(r.out).toBe(o);
    const fresh = dev.attention(q, k, v, { causal: true, returnLse: true });
    expect((await bytes(o)).equals(await bytes(fresh.out))).toBe(true);
    expect((await bytes(r.lse)).equals(await bytes(fresh.lse))).toBe(true);
  });

  it("out: refuses another shape or dtype, an input's memory, a disposed tensor and another device's, saying why", async () => {
    const a = dev.tensor(new Float32Array(12).fill(1), [3, 4]);
    const b = dev.tensor(new Float32Array(20).fill(2), [4, 5]);
    expect(() => dev.matmul(a, b, { out: dev.empty([5, 3]) })).toThrow(new RangeError("matmul: out must have the output's shape [3, 5], got [5, 3]; reshape() it to match"));
    expect(() => dev.matmul(a, b, { out: dev.empty([3, 5], 'bf16') })).toThrow(new TypeError("matmul: out must be f32 (the output's dtype), got bf16"));
    const sq = dev.tensor(new Float32Array(16), [4, 4]);
    expect(() => dev.matmul(sq, sq.reshape([4, 4]), { out: sq })).toThrow(/matmul: out shares its memory with a \(the same tensor or a reshape of it\)/);
    const r = dev.tensor(new Float32Array(15), [15]);
    expect(() => dev.matmul(a, b, { residual: r.reshape([3, 5]), out: r.reshape([3, 5]) })).toThrow(/out shares its memory with residual/);
    const q = dev.tensor(new Float32Array(2 * 3 * 8), [1, 2, 3, 8]);
    expect(() => dev.attention(q, q, q, { out: q })).toThrow(/attention: out shares its memory with q/);
    expect(() => dev.matmul(a, b, { out: {} as never })).toThrow(/matmul: out must be a kernelport Tensor, got/);
    const gone = dev.empty([3, 5]);
    gone.dispose();
    expect(() => dev.matmul(a, b, { out: gone })).toThrow(/matmul: out \(shape \[3, 5\], f32\) has been disposed/);
    const other = await open(backend);
    try {
      expect(() => dev.matmul(a, b, { out: other.empty([3, 5]) })).toThrow(new RegExp(`matmul: out belongs to another device \\(${backend}:0\\), not this ${backend}:0`));
    } finally {
      other.dispose();
    }
    // Nothing was lost: the refused calls left a and b as they were, and an out given null is no out
    expect(Array.from((await dev.matmul(a, b, { out: null as never }).read()) as Float32Array)).toEqual(new Array(15).fill(8));
  });
});

describe('reshape on cpu: native memory', () => {
  it('goes when the tensor and every view are disposed, not before', async () => {
    const dev = await open('cpu');
    const live = () => requireNative().memoryStats().liveBuffers;
    const before = live();
    const t = dev.tensor(new Float32Array(1 << 16), [256, 256]);
    const views = [t.reshape([65536]), t.reshape([16, -1]), t.reshape([256, 256])];
    expect(live() - before).toBe(1);
    t.dispose();
    views[0]!.dispose();
    views[1]!.dispose();
    expect(live() - before).toBe(1);
    views[2]!.dispose();
    views[2]!.dispose(); // idempotent: no second release
    await dev.sync();
    expect(live() - before).toBe(0);
    dev.dispose();
  });

  it('V8 is told of the native bytes, so tensors dropped without dispose() are collected under memory pressure', async () => {
    // 600 products of 4 MiB each, never disposed, in a process of its own: without the accounting
    // nothing asks V8 to collect (its heap stays small), and all 2.4 GB stay alive
    const script = `
      import('${join(packageRoot(), 'dist', 'index.js')}').then(async ({ open }) => {
        const { requireNative } = await import('${join(packageRoot(), 'dist', 'native.js')}');
        const dev = await open('cpu');
        const a = dev.tensor(new Float32Array(1024 * 16).fill(1), [1024, 16]);
        let most = 0;
        for (let i = 1; i <= 600; i++) {
          dev.matmul(a, a, { transB: true });
          if (i % 50 === 0) { await dev.sync(); most = Math.max(most, requireNative().memoryStats().liveBuffers); }
        }
        process.stdout.write(String(most));
        dev.dispose();
      });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(Number(r.stdout)).toBeLessThan(300);
  }, 150_000);
});

describe.skipIf(!webgpu)('write on webgpu: whole 4-byte words', () => {
  it('a 16-bit write at an odd offset or of an odd count is refused with the reason', async () => {
    const dev = await open('webgpu');
    const h = dev.tensor(new Uint16Array(8), [8], 'f16');
    expect(() => h.write(new Uint16Array(2), 1)).toThrow(/webgpu writes whole 4-byte words: a 16-bit write needs an even element offset and count, got offset 1 and 2 elements/);
    expect(() => h.write(new Uint16Array(3), 2)).toThrow(RangeError);
    h.write(new Uint16Array([1, 2]), 2);
    expect(Array.from((await h.read()) as Uint16Array)).toEqual([0, 0, 1, 2, 0, 0, 0, 0]);
    dev.dispose();
  });
});
