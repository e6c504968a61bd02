// Ops enqueue on the device's native queue and return at once; the JavaScript thread never runs a
// kernel, so timers keep firing while a large matmul computes.
import { afterAll, describe, expect, it } from 'vitest';
import { open, type Device } from '../src/index.js';

describe('cpu ops are asynchronous', () => {
  let dev: Device;
  afterAll(() => dev?.dispose());

  it('returns before the kernel finishes and the event loop keeps ticking', async () => {
    dev = await open('cpu');
    const n = 1536;
    const a = dev.tensor(new Float32Array(n * n).fill(1), [n, n]);
    const b = dev.tensor(new Float32Array(n * n).fill(0.5), [n, n]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    // Several large matmuls queued back to back: seconds of work on two cores.
    const outs = Array.from({ length: 4 }, () => dev.matmul(a, b));
    const queuedRightAway = dev.pending();
    const ticksAtEnqueue = ticks;
    const host = await outs[3]!.read();
    clearInterval(timer);
    expect(queuedRightAway).toBeGreaterThan(0); // still queued when matmul() returned
    expect(ticksAtEnqueue).toBe(0); // matmul() did not yield: it only enqueued
    expect(ticks).toBeGreaterThan(3); // timers ran while the kernels computed
    expect(host[0]).toBe(n * 0.5);
    expect(host[n * n - 1]).toBe(n * 0.5);
    for (const t of [a, b, ...outs]) t.dispose();
  });

  it('sync() waits for every queued op', async () => {
    const a = dev.tensor(new Float32Array(512 * 512).fill(1), [512, 512]);
    const outs = Array.from({ length: 3 }, () => dev.matmul(a, a));
    await dev.sync();
    expect(dev.pending()).toBe(0);
    for (const t of [a, ...outs]) t.dispose();
  });

  it('disposing an input while its op is queued still completes the op', async () => {
    const n = 768;
    const a = dev.tensor(new Float32Array(n * n).fill(2), [n, n]);
    const b = dev.tensor(new Float32Array(n * n).fill(3), [n, n]);
    const y = dev.matmul(a, b);
    a.dispose();
    b.dispose();
    const host = await y.read();
    expect(host[12345]).toBe(6 * n);
    y.dispose();
  });

  it('reads keep the process alive and resolve in order', async () => {
    const a = dev.tensor([1, 2, 3, 4], [2, 2]);
    const ys = [dev.matmul(a, a), dev.matmul(a, a, { alpha: 2 })];
    const [r0, r1] = await Promise.all(ys.map((y) => y.read()));
    expect(Array.from(r0!)).toEqual([7, 10, 15, 22]);
    expect(Array.from(r1!)).toEqual([14, 20, 30, 44]);
  });
});
