// probe() and open(): what the machine has, and how a backend is chosen.
import { afterEach, describe, expect, it } from 'vitest';
import { open, probe } from '../src/index.js';

describe('probe', () => {
  it('reports cpu with ISA features checked against OS support, and the cores this process may use', async () => {
    const devices = await probe();
    const cpu = devices.find((d) => d.backend === 'cpu')!;
    expect(cpu.available).toBe(true);
    expect(cpu.cpu!.usableCores).toBeGreaterThanOrEqual(1);
    expect(cpu.cpu!.usableCores).toBeLessThanOrEqual(cpu.cpu!.logicalCores);
    expect(cpu.memoryBytes).toBeGreaterThan(0);
    expect(['avx512', 'avx2', 'neon', 'generic']).toContain(cpu.cpu!.isa);
    if (cpu.cpu!.isa === 'avx512') expect(cpu.cpu!.features).toContain('avx512f');
    if (cpu.cpu!.isa === 'avx2') expect(cpu.cpu!.features).toEqual(expect.arrayContaining(['avx2', 'fma']));
    expect(cpu.peak.source).toBe('estimate');
  });

  it('lists reference as available and the GPU backends with a reason', async () => {
    const devices = await probe();
    expect(devices.find((d) => d.backend === 'reference')!.available).toBe(true);
    // musa is probed for real too: libmusa.so, then the emulated build over the CUDA driver (test/musa.test.ts)
    const musa = devices.find((x) => x.backend === 'musa')!;
    if (!musa.available) expect(musa.reason).toMatch(/libmusa\.so|muInit|MUSA device|backend library/);
    // cuda is probed for real: the driver's devices, or the exact reason there are none (test/cuda.test.ts)
    const cuda = devices.find((x) => x.backend === 'cuda')!;
    if (!cuda.available) expect(cuda.reason).toMatch(/libcuda\.so\.1|cuInit|CUDA device|backend library/);
    // webgpu is probed for real: an adapter, or the reason there is none (test/webgpu.test.ts checks the rest)
    const w = devices.find((x) => x.backend === 'webgpu')!;
    if (!w.available) expect(w.reason).toMatch(/webgpu|adapter/i);
  });
});

describe('open', () => {
  afterEach(() => {
    delete process.env.KERNELPORT_BACKEND;
  });

  it('picks cpu by default, never reference', async () => {
    const dev = await open();
    expect(dev.info.backend).toBe('cpu');
    dev.dispose();
  });

  it('honours explicit choices and KERNELPORT_BACKEND', async () => {
    const r = await open('reference');
    expect(r.info.backend).toBe('reference');
    r.dispose();
    process.env.KERNELPORT_BACKEND = 'reference';
    const e = await open();
    expect(e.info.backend).toBe('reference');
    e.dispose();
    const explicit = await open({ backend: 'cpu' });
    expect(explicit.info.backend).toBe('cpu');
    explicit.dispose();
  });

  it('names what is available when a backend is unknown or unavailable', async () => {
    await expect(open('tpu' as never)).rejects.toThrow(TypeError);
    await expect(open('tpu' as never)).rejects.toThrow(/unknown backend 'tpu'.*available here: cpu, reference/);
    await expect(open('cuda')).rejects.toThrow(/cuda backend is unavailable: .*Available here: cpu, reference/);
    process.env.KERNELPORT_BACKEND = 'musa';
    await expect(open()).rejects.toThrow(/KERNELPORT_BACKEND: the musa backend is unavailable/);
  });

  it('forcing a CPU ISA the machine lacks is a clear error; forcing generic works', async () => {
    process.env.KERNELPORT_CPU_ISA = 'neon';
    try {
      await expect(open('cpu')).rejects.toThrow(/neon/);
    } finally {
      delete process.env.KERNELPORT_CPU_ISA;
    }
  });
});
