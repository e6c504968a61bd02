// The NVIDIA parts table and the estimator for unknown parts (src/backends/cuda/parts.ts).
import { describe, expect, it } from 'vitest';
import {
  ARCH_RATES,
  PARTS,
  estimatePart,
  exportClass,
  matchPart,
  partFigures,
  performanceDensity,
  tpp,
  type GpuProbe,
} from '../src/backends/cuda/parts.js';

const REQUIRED = ['H20', 'H800', 'H100 SXM', 'H200', 'L20', 'L2', 'L40', 'L40S', 'RTX 4090', 'RTX 4090 D', 'A800 SXM4 80GB',
  'A100 SXM4 80GB', 'RTX 5090', 'RTX 5090 D', 'RTX Pro 6000 Blackwell', 'RTX Pro 6000D'];

describe('cuda parts table', () => {
  it('covers the required parts with complete, consistent figures', () => {
    for (const name of REQUIRED) expect(PARTS.map((p) => p.name), name).toContain(name);
    for (const p of PARTS) {
      expect(p.sms, p.name).toBeGreaterThan(0);
      expect(p.memoryBytes, p.name).toBeGreaterThan(0);
      expect(p.bandwidth, p.name).toBeGreaterThan(1e11);
      expect(p.dieAreaMm2, p.name).toBeGreaterThan(100);
      for (const dt of ['f32', 'tf32', 'f16', 'bf16'] as const) expect(p.flops[dt], `${p.name} ${dt}`).toBeGreaterThan(1e12);
      // The export-control basis is the highest 16-bit rate: never below the f32-accumulate one.
      expect(p.tensor16, p.name).toBeGreaterThanOrEqual(p.flops.f16);
      expect(p.flops.f16, p.name).toBeGreaterThanOrEqual(p.flops.f32);
    }
  });

  it('TPP = 2 x MacTOPS x 16 from the dense 16-bit rate; PD = TPP / die area', () => {
    const get = (n: string) => PARTS.find((p) => p.name === n)!;
    expect(tpp(get('H20'))).toBeCloseTo(2368, 0);
    expect(performanceDensity(get('H20'))).toBeCloseTo(2368 / 814, 6);
    expect(tpp(get('H100 SXM'))).toBeCloseTo(15830.4, 0);
    expect(tpp(get('H800'))).toBeCloseTo(tpp(get('H100 SXM')), 6); // H800 cut the interconnect, not the tensor rate
    expect(tpp(get('A800 SXM4 80GB'))).toBeCloseTo(4992, 0);
    expect(tpp(get('L20'))).toBeCloseTo(1912, 0);
    expect(tpp(get('RTX 4090'))).toBeCloseTo(5284.8, 0);
    // The China-market variants were cut to land under the 4800 TPP line.
    for (const n of ['H20', 'L20', 'L2', 'RTX 4090 D', 'RTX 5090 D', 'RTX Pro 6000D']) expect(tpp(get(n)), n).toBeLessThan(4800);
    for (const n of ['H100 SXM', 'H800', 'H200', 'A800 SXM4 80GB', 'RTX 4090', 'RTX 5090', 'L40S']) expect(tpp(get(n)), n).toBeGreaterThanOrEqual(4800);
    expect(exportClass(get('H100 SXM'))).toBe('3A090.a');
    expect(exportClass(get('H20'))).toBe('below 3A090');
    expect(exportClass(get('L20'))).toBe('below 3A090');
  });

  it('matches driver device names, the more specific part first', () => {
    const cases: [string, string, number?][] = [
      ['NVIDIA H20', 'H20'],
      ['NVIDIA H100 80GB HBM3', 'H100 SXM'],
      ['NVIDIA H100 PCIe', 'H100 PCIe'],
      ['NVIDIA H100 NVL', 'H100 NVL'],
      ['NVIDIA H800', 'H800'],
      ['NVIDIA H200', 'H200'],
      ['NVIDIA H200 NVL', 'H200 NVL'],
      ['NVIDIA L20', 'L20'],
      ['NVIDIA L2', 'L2'],
      ['NVIDIA L40', 'L40'],
      ['NVIDIA L40S', 'L40S'],
      ['NVIDIA GeForce RTX 4090', 'RTX 4090'],
      ['NVIDIA GeForce RTX 4090 D', 'RTX 4090 D'],
      ['NVIDIA A800-SXM4-80GB', 'A800 SXM4 80GB'],
      ['NVIDIA A800 80GB PCIe', 'A800 PCIe 80GB'],
      ['NVIDIA A100-SXM4-80GB', 'A100 SXM4 80GB'],
      ['NVIDIA A100-SXM4-40GB', 'A100 40GB'],
      ['NVIDIA A100-PCIE-40GB', 'A100 40GB'],
      ['NVIDIA A100 80GB PCIe', 'A100 PCIe 80GB'],
      ['NVIDIA A100', 'A100 40GB', 40 * 2 ** 30],
      ['NVIDIA GeForce RTX 5090', 'RTX 5090'],
      ['NVIDIA GeForce RTX 5090 D', 'RTX 5090 D'],
      ['NVIDIA RTX PRO 6000 Blackwell Workstation Edition', 'RTX Pro 6000 Blackwell'],
      ['NVIDIA RTX PRO 6000D', 'RTX Pro 6000D'],
    ];
    for (const [name, want, mem] of cases) expect(matchPart(name, mem)?.name, name).toBe(want);
    expect(matchPart('NVIDIA GeForce RTX 3090')).toBeUndefined();
    expect(matchPart('NVIDIA L4')).toBeUndefined();
  });

  it('estimates unknown parts from SMs x clock x per-SM rates, marked as estimates', () => {
    // An H100 SXM as the driver reports it: the estimate lands near the table's figures.
    const h100: GpuProbe = { name: 'NVIDIA H100-like', ccMajor: 9, ccMinor: 0, multiprocessors: 132, clockKhz: 1980000,
      memoryClockKhz: 2619000, busWidthBits: 5120, memoryBytes: 80 * 2 ** 30 };
    const e = estimatePart(h100);
    const table = PARTS.find((p) => p.name === 'H100 SXM')!;
    expect(e.estimate).toBe(true);
    // Within 10%: the driver reports the boost clock, tensor cores sustain a lower one (1.83 GHz).
    expect(Math.abs(e.flops.bf16 / table.flops.bf16 - 1)).toBeLessThan(0.1);
    expect(Math.abs(e.flops.f32 / table.flops.f32 - 1)).toBeLessThan(0.01);
    expect(Math.abs(e.bandwidth / table.bandwidth - 1)).toBeLessThan(0.01);
    expect(e.tpp).toBeCloseTo(tpp({ tensor16: e.tensor16 }), 6);
    expect(e.performanceDensity).toBeUndefined(); // die area unknown
    // RTX 3090 (sm_86): 82 SMs at 1.695 GHz -> 35.6 TFLOP/s f32; 19.5 GHz GDDR6X on 384 bits -> 936 GB/s.
    const ga102 = estimatePart({ name: 'NVIDIA GeForce RTX 3090', ccMajor: 8, ccMinor: 6, multiprocessors: 82, clockKhz: 1695000,
      memoryClockKhz: 9751000, busWidthBits: 384, memoryBytes: 24 * 2 ** 30 });
    expect(ga102.flops.f32 / 35.58e12).toBeCloseTo(1, 2);
    expect(ga102.bandwidth / 936e9).toBeCloseTo(1, 2);
    expect(partFigures({ ...ga102Probe(), name: 'NVIDIA GeForce RTX 3090' }).estimate).toBe(true);
    const known = partFigures({ ...h100, name: 'NVIDIA H20' });
    expect(known.estimate).toBe(false);
    expect(known.part?.name).toBe('H20');
    expect(known.tpp).toBeCloseTo(2368, 0);
    for (const r of Object.values(ARCH_RATES)) expect(r.tensor16).toBeGreaterThanOrEqual(r.f16);
  });
});

function ga102Probe(): GpuProbe {
  return { name: '', ccMajor: 8, ccMinor: 6, multiprocessors: 82, clockKhz: 1695000, memoryClockKhz: 9751000, busWidthBits: 384, memoryBytes: 24 * 2 ** 30 };
}
