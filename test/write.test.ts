/**
 * Tensor.write: host values into an existing tensor, ordered with the device's ops (after those already
 * enqueued, before later ones). What a decode loop needs for a KV cache that lives on the device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, probe, type Device } from '../src/index.js';
import { decode, encode } from '../src/dtype.js';
import { randomTensor, Rng } from '../src/numerics/random.js';

const webgpu = (await probe()).some((d) => d.backend === 'webgpu' && d.available);
const BACKENDS = ['cpu', 'reference', ...(webgpu ? ['webgpu' as const] : [])] as const;

describe.each(BACKENDS)('write on %s', (backend) => {
  let dev: Device;
  beforeAll(async () => {
    dev = await open(backend);
  });
  afterAll(() => dev?.dispose());

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
    expect(() => t.write(new Float32Array(1), -1)).toThrow(RangeError);
    t.dispose();
    expect(() => t.write(new Float32Array(1))).toThrow(/write: the tensor \(shape \[4\], f32\) has been disposed/);
  });
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
