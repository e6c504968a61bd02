// The bench harness: statistics, FLOP/byte counts, the JSON schema, compare, SVG output, bad input.
// No timing thresholds: measured numbers are only checked for being positive and consistent.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cachedCalibration, calibrateCpu, devicePeaks } from '../src/bench/calibrate.js';
import { compareReports, comparisonTable } from '../src/bench/compare.js';
import { BenchInputError } from '../src/bench/errors.js';
import { roofline, work } from '../src/bench/metrics.js';
import { toCsv } from '../src/bench/output/csv.js';
import { parseReport, toJson } from '../src/bench/output/json.js';
import { toSvg } from '../src/bench/output/svg.js';
import { reportTable } from '../src/bench/output/table.js';
import { encodeModel } from '../src/bench/peers/onnx-proto.js';
import { bench } from '../src/bench/runner.js';
import { NOISE_SPREAD, percentile, planIterations, summarize, DEFAULT_TIMING } from '../src/bench/stats.js';
import { shapeCases, suiteCases } from '../src/bench/suites.js';
import { SCHEMA, type AttentionCase, type BenchReport, type BenchRow, type MatmulCase } from '../src/bench/types.js';
import { main } from '../src/cli/main.js';
import { probe } from '../src/probe.js';

const tmp = mkdtempSync(join(tmpdir(), 'kp-bench-'));
let savedCache: string | undefined;
beforeAll(() => {
  savedCache = process.env.KERNELPORT_CACHE_DIR;
  process.env.KERNELPORT_CACHE_DIR = join(tmp, 'cache');
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.KERNELPORT_CACHE_DIR;
  else process.env.KERNELPORT_CACHE_DIR = savedCache;
});

const mm = (m: number, k: number, n: number, extra: Partial<MatmulCase> = {}): MatmulCase => ({
  op: 'matmul', id: `t/${m}x${k}x${n}`, m, k, n, bias: false, activation: 'none', dtype: 'f32', ...extra,
});
const att = (sq: number, skv: number, causal: boolean, extra: Partial<AttentionCase> = {}): AttentionCase => ({
  op: 'attention', id: `t/att${sq}x${skv}${causal ? 'c' : ''}`, batch: 1, hq: 2, hkv: 1, sq, skv, d: 8, causal, dtype: 'f32', ...extra,
});

describe('statistics', () => {
  it('median, min, percentiles on synthetic timings', () => {
    const t = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    const s = summarize(t);
    expect(s.samples).toBe(10);
    expect(s.median).toBeCloseTo(5.5, 12);
    expect(s.min).toBe(1);
    expect(s.max).toBe(10);
    expect(s.mean).toBeCloseTo(5.5, 12);
    expect(s.p10).toBeCloseTo(1.9, 12); // position 0.9 between 1 and 2
    expect(s.p90).toBeCloseTo(9.1, 12);
    expect(s.spread).toBeCloseTo((9.1 - 1.9) / 5.5, 12);
    expect(percentile([4], 90)).toBe(4);
    expect(percentile([1, 3], 50)).toBe(2);
    expect(summarize([2, 1, 3]).median).toBe(2);
  });

  it('flags a noisy machine from the spread, not from a single outlier', () => {
    const quiet = summarize([1.0, 1.01, 0.99, 1.02, 1.0, 0.98, 1.01, 1.0, 0.99, 1.0, 5.0]);
    expect(quiet.spread).toBeLessThan(NOISE_SPREAD);
    expect(quiet.noisy).toBe(false);
    const noisy = summarize([1, 1.5, 0.8, 1.3, 2.0, 0.9, 1.7, 1.1, 1.4, 1.2]);
    expect(noisy.noisy).toBe(true);
    expect(() => summarize([])).toThrow(RangeError);
  });

  it('chooses iterations to reach the minimum measured time', () => {
    const o = { ...DEFAULT_TIMING, minTime: 1, minSamples: 5, maxSamples: 100, minSampleTime: 0.002 };
    expect(planIterations(0.1, o)).toEqual({ itersPerSample: 1, samples: 10 });
    expect(planIterations(0.0005, o)).toEqual({ itersPerSample: 4, samples: 100 }); // 2 ms samples, capped
    expect(planIterations(0.5, o)).toEqual({ itersPerSample: 1, samples: 3 }); // slow ops: 3 samples
    expect(planIterations(0.3, o).samples).toBe(5); // 4 would reach minTime, but never under minSamples
  });
});

describe('FLOP and byte counts (from the op spec) against hand counts', () => {
  it('matmul with bias and GELU', () => {
    const w = work(mm(2, 3, 4, { bias: true, activation: 'gelu' }));
    expect(w.flops).toBe(2 * 2 * 3 * 4 + 2 * 4 * 2); // 2MNK + (bias + activation) per output
    expect(w.bytes).toBe((2 * 3 + 3 * 4 + 4 + 2 * 4) * 4);
    expect(w.intensity).toBeCloseTo(64 / 120, 12);
    expect(work(mm(2, 3, 4)).flops).toBe(48);
    expect(work(mm(1, 4096, 4096, { dtype: 'bf16' })).bytes).toBe((4096 + 4096 * 4096 + 4096) * 2);
  });

  it('attention: causal counts only the unmasked pairs, and says so', () => {
    // B1, Hq 2, Hkv 1, S 4, D 8: causal sees 1+2+3+4 = 10 keys per head; each pair is 2D (QK) + 2D (PV) FLOPs.
    const c = work(att(4, 4, true));
    expect(c.flops).toBe(2 * 10 * (2 * 8 + 2 * 8));
    expect(c.note).toMatch(/causal/);
    const full = work(att(4, 4, false));
    expect(full.flops).toBe(2 * 16 * 32);
    expect(full.note).toBeUndefined();
    // q [1,2,4,8] + k,v [1,1,4,8] read, out [1,2,4,8] written, f32.
    expect(c.bytes).toBe((64 + 32 + 32 + 64) * 4);
    // Decoding (Sq = 1, bottom-right): every cached key is visible.
    expect(work(att(1, 5, true)).flops).toBe(2 * 5 * 32);
  });

  it('roofline percentages and the bound', () => {
    const peaks = { backend: 'cpu', flops: 100e9, bandwidth: 10e9, source: { flops: 'measured' as const, bandwidth: 'measured' as const } };
    const low = roofline(5e9, 1, peaks)!; // intensity 1 < ridge 10: memory bound
    expect(low.bound).toBe('memory');
    expect(low.pctCompute).toBeCloseTo(5, 12);
    expect(low.pctBandwidth).toBeCloseTo(50, 12);
    expect(low.pctRoofline).toBeCloseTo(50, 12);
    const high = roofline(50e9, 100, peaks)!;
    expect(high.bound).toBe('compute');
    expect(high.pctRoofline).toBeCloseTo(50, 12);
    const noBw = roofline(50e9, 100, { ...peaks, bandwidth: 0, source: { flops: 'estimate', bandwidth: 'none' } })!;
    expect(noBw.pctBandwidth).toBeNull();
    expect(noBw.pctCompute).toBeCloseTo(50, 12);
  });
});

describe('suites and shapes', () => {
  it('named suites cover the issue', () => {
    const sq = suiteCases(['square'], ['f32']).map((c) => (c as MatmulCase).m);
    expect(sq).toEqual([256, 512, 1024, 2048, 4096]);
    const pre = suiteCases(['llm-prefill'], ['f32']);
    const a = pre.filter((c): c is AttentionCase => c.op === 'attention');
    expect(a.map((c) => [c.hq, c.hkv, c.sq, c.d, c.causal])).toEqual([[32, 8, 1024, 128, true], [32, 8, 2048, 128, true]]);
    const dec = suiteCases(['llm-decode'], ['f32']);
    expect(dec.filter((c) => c.op === 'matmul').every((c) => (c as MatmulCase).m === 1)).toBe(true);
    expect(dec.filter((c): c is AttentionCase => c.op === 'attention').map((c) => c.skv)).toEqual([1024, 2048, 4096, 8192]);
  });

  it('shapes from flags multiply out; bad ones are clear errors', () => {
    const cs = shapeCases({ op: 'matmul', m: [1, 512], k: [4096], n: [4096], activation: 'gelu' }, ['f32', 'bf16']);
    expect(cs).toHaveLength(4);
    expect(() => shapeCases({ op: 'conv' }, ['f32'])).toThrow(/unknown op 'conv'/);
    expect(() => shapeCases({ op: 'matmul', m: [1], k: [2] }, ['f32'])).toThrow(/--n is required/);
    expect(() => shapeCases({ op: 'matmul', m: [1], k: [2], n: [3], activation: 'tanh' }, ['f32'])).toThrow(/--activation/);
    expect(() => shapeCases({ op: 'attention', sq: [4], heads: [6], kvHeads: [4] }, ['f32'])).toThrow(/multiple of --kv-heads/);
    expect(() => suiteCases(['nope'], ['f32'])).toThrow(BenchInputError);
  });
});

function fakeRow(id: string, runner: string, median: number, spread = 0.02): BenchRow {
  const c = mm(64, 64, 64, { id });
  const w = work(c);
  return {
    case: c, runner, backend: 'cpu', clock: 'test', flops: w.flops, bytes: w.bytes, intensity: w.intensity,
    stats: { ...summarize([median]), median, p10: median * (1 - spread / 2), p90: median * (1 + spread / 2), spread, noisy: spread > NOISE_SPREAD },
    flopsPerSec: w.flops / median, bytesPerSec: w.bytes / median,
  };
}

function fakeReport(rows: BenchRow[]): BenchReport {
  return {
    schema: SCHEMA, createdAt: '2026-01-01T00:00:00.000Z', kernelport: { version: '0.1.0', abiVersion: 1, nativeVersion: '0.1.0' },
    machine: { hostname: 'h', platform: 'linux', release: 'r', arch: 'x64', cpuModel: 'Test CPU', logicalCpus: 2, memoryBytes: 1, node: 'v20' },
    devices: [], peaks: [{ backend: 'cpu', flops: 200e9, bandwidth: 20e9, source: { flops: 'measured', bandwidth: 'measured' } }],
    peers: [], settings: { ops: ['matmul'], suites: [], backends: ['cpu'], peers: [], dtypes: ['f32'], threads: 2, minTime: 1, warmup: 0.2, minSamples: 5, maxSamples: 200, seed: 1 },
    rows, warnings: [],
  };
}

describe('compare', () => {
  it('speedup, slowdown within the threshold, regression past it, widened by noise', () => {
    const base = fakeReport([fakeRow('a', 'kernelport', 1.0), fakeRow('b', 'kernelport', 1.0), fakeRow('c', 'kernelport', 1.0), fakeRow('d', 'kernelport', 1.0, 0.4), fakeRow('gone', 'kernelport', 1)]);
    const cur = fakeReport([fakeRow('a', 'kernelport', 0.5), fakeRow('b', 'kernelport', 1.03), fakeRow('c', 'kernelport', 1.2), fakeRow('d', 'kernelport', 1.2), fakeRow('new', 'kernelport', 1)]);
    const c = compareReports(cur, base, { threshold: 0.05 });
    const v = Object.fromEntries(c.rows.map((r) => [r.key.split(' ')[0], r]));
    expect(v['a']!.verdict).toBe('faster');
    expect(v['a']!.speedup).toBeCloseTo(2, 12);
    expect(v['b']!.verdict).toBe('slower');
    expect(v['c']!.verdict).toBe('regression');
    expect(v['d']!.threshold).toBeCloseTo(0.4, 12); // a noisy row gets a wider threshold
    expect(v['d']!.verdict).toBe('slower');
    expect(c.regressions).toBe(1);
    expect(c.missing).toEqual(['gone f32 kernelport:cpu']);
    expect(c.added).toEqual(['new f32 kernelport:cpu']);
    expect(comparisonTable(c)).toMatch(/REGRESSION/);
  });
});

describe('outputs', () => {
  const report = fakeReport([fakeRow('a', 'kernelport', 0.001), fakeRow('a', 'onnxruntime-node', 0.002), fakeRow('b', 'kernelport', 0.004)]);

  it('JSON round-trips and a wrong schema is a clear error', () => {
    expect(parseReport(toJson(report))).toEqual(report);
    expect(() => parseReport('{')).toThrow(/not JSON/);
    expect(() => parseReport(JSON.stringify({ ...report, schema: 'other/1' }))).toThrow(/schema is "other\/1"/);
    expect(() => parseReport(JSON.stringify({ ...report, rows: [{ runner: 'x' }] }))).toThrow(/rows\[0\]\.case/);
    const badStats = { ...report, rows: [{ ...report.rows[0], stats: { median: 'fast' } }] };
    expect(() => parseReport(JSON.stringify(badStats))).toThrow(/stats\.median/);
  });

  it('CSV has a header and one line per row', () => {
    const lines = toCsv(report).trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^case,op,dtype,shape,runner/);
    expect(lines[1]).toMatch(/^a,matmul,f32,64x64 @ 64x64,kernelport,cpu,ok,1\.00000,/);
  });

  it('the table lists each runner and the roofs with their source', () => {
    const t = reportTable(report);
    expect(t).toMatch(/kernelport:cpu/);
    expect(t).toMatch(/onnxruntime-node:cpu/);
    expect(t).toMatch(/200\.0 GFLOP\/s f32 \[measured\]/);
  });

  it('SVG is well-formed and renders (rsvg-convert from librsvg2-bin)', () => {
    const svg = toSvg(report);
    expect(svg.startsWith('<?xml')).toBe(true);
    expectWellFormed(svg);
    expect(svg).toMatch(/Roofline/);
    expect(svg).toMatch(/Scaling/);
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expectWellFormed(toSvg(fakeReport([]))); // nothing measured still draws

    const probeRsvg = spawnSync('rsvg-convert', ['--version']);
    if (probeRsvg.error)
      throw new Error('rsvg-convert is missing: install the Debian package librsvg2-bin (apt-get install librsvg2-bin) to render the bench SVG');
    const file = join(tmp, 'chart.svg');
    writeFileSync(file, svg);
    execFileSync('rsvg-convert', ['-o', join(tmp, 'chart.png'), file]);
    const png = readFileSync(join(tmp, 'chart.png'));
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1240); // IHDR width
    expect(png.readUInt32BE(20)).toBe(560);
  });
});

/** A small XML check: every tag closes in order, attributes are quoted, entities are known. */
function expectWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|apos|#\d+);)/g;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    if (m[0] === '<') throw new Error(`malformed tag at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    if (m[0].startsWith('&')) throw new Error(`bare & at ${m.index}`);
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(body.trim().startsWith('<svg')).toBe(true);
}

describe('ONNX encoder', () => {
  it('encodes a ModelProto by hand (varints, nested messages)', () => {
    const bytes = encodeModel({
      irVersion: 9, opsets: [{ domain: '', version: 20 }], graphName: 'g',
      nodes: [{ opType: 'Relu', inputs: ['X'], outputs: ['Y'] }],
      inputs: [{ name: 'X', elemType: 1, shape: [300] }], outputs: [{ name: 'Y', elemType: 1, shape: [300] }],
    });
    expect([...bytes.subarray(0, 2)]).toEqual([0x08, 9]); // field 1 (ir_version), varint 9
    expect(Buffer.from(bytes).includes(Buffer.from([0x08, 0xac, 0x02]))).toBe(true); // dim_value 300 as a 2-byte varint
    expect(Buffer.from(bytes).toString('latin1')).toMatch(/Relu/);
  });
});

describe('bench() end to end (tiny shapes)', () => {
  it('runs kernelport cpu and reference, with stats, metrics and a report that round-trips', async () => {
    const r = await bench({
      cases: [mm(16, 32, 8, { bias: true, activation: 'gelu' }), att(8, 8, true)],
      backends: ['cpu', 'reference'], peers: [], minTime: 0.01, warmup: 0, minSamples: 3, calibrate: 'never',
    });
    expect(r.rows).toHaveLength(4);
    for (const row of r.rows) {
      expect(row.error).toBeUndefined();
      expect(row.stats!.median).toBeGreaterThan(0);
      expect(row.stats!.samples).toBeGreaterThanOrEqual(3);
      expect(row.flopsPerSec).toBeCloseTo(row.flops / row.stats!.median, 6);
      expect(row.clock).toMatch(/host/);
    }
    expect(r.rows.find((x) => x.case.op === 'attention')!.flopsNote).toMatch(/unmasked/);
    expect(r.peaks.find((p) => p.backend === 'cpu')!.source.flops).not.toBe('measured');
    expect(r.warnings.join('\n')).toMatch(/--calibrate/);
    expect(parseReport(toJson(r))).toEqual(JSON.parse(toJson(r)));
  });

  it('skips the reference backend at realistic sizes, saying why', async () => {
    const r = await bench({ cases: [mm(1024, 1024, 1024)], backends: ['reference'], peers: [], calibrate: 'never', minTime: 0.01 });
    expect(r.rows[0]!.skipped).toMatch(/too slow/);
  });

  it('calibration measures positive peaks and caches them by key', async () => {
    const [cpu] = await probe();
    const cal = await calibrateCpu('test-key', 1, 0.02);
    expect(cal.flopsF32).toBeGreaterThan(0);
    expect(cal.readBandwidth).toBeGreaterThan(0);
    expect(cal.isas.map((i) => i.isa)).toContain('generic');
    expect(cachedCalibration('test-key')).toEqual(cal);
    const p = devicePeaks(cpu!, cal);
    expect(p.source).toEqual({ flops: 'measured', bandwidth: 'measured' });
  });
});

describe('kernelport bench: bad input exits 2 with a clear message', () => {
  const run = async (argv: string[]) => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const code = await main(['bench', ...argv], () => {});
      return { code, message: err.mock.calls.map((c) => String(c[0])).join('\n') };
    } finally {
      err.mockRestore();
    }
  };
  it.each([
    [['--op', 'conv', '--m', '1'], /unknown op 'conv'/],
    [['--suite', 'nope'], /unknown suite 'nope'/],
    [['--op', 'matmul', '--m', '1,x', '--k', '2', '--n', '3'], /--m must be a comma-separated list of positive integers/],
    [['--op', 'matmul', '--m', '4', '--k', '4', '--n', '4', '--backend', 'tpu'], /unknown backend 'tpu'/],
    [['--m', '4'], /--m describes a shape: give --op/],
    [['--dtype', 'f8', '--suite', 'square'], /unknown dtype 'f8'/],
    [['--peer', 'torch', '--suite', 'square'], /unknown peer 'torch'/],
  ])('%j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(message);
  });

  it('a baseline of the wrong schema', async () => {
    const f = join(tmp, 'bad.json');
    writeFileSync(f, JSON.stringify({ schema: 'something-else', rows: [] }));
    const r = await run(['--op', 'matmul', '--m', '4', '--k', '4', '--n', '4', '--compare', f]);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(/not a kernelport bench report/);
    expect((await run(['--suite', 'square', '--compare', join(tmp, 'missing.json')])).message).toMatch(/no such file/);
  });
});
