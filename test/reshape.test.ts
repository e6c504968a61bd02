/**
 * Tensor.reshape: a view of the same memory (no copy, no op), so that framework glue needs no host
 * round trip: an attention output in layout 'bshd' is the output projection's [B·S, H·D] operand as it
 * is. Views and their tensor are disposed independently; the memory goes with the last of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, probe, type Device } from '../src/index.js';
import { requireNative } from '../src/native.js';
import { randomTensor, Rng } from '../src/numerics/random.js';

const webgpu = (await probe()).some((d) => d.backend === 'webgpu' && d.available);
const BACKENDS = ['cpu', 'reference', ...(webgpu ? ['webgpu' as const] : [])] as const;

describe.each(BACKENDS)('reshape on %s', (backend) => {
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
});
