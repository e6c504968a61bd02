// Autotuning: candidates per backend, the tune cache (write, read by a second open, corrupted / wrong
// schema / stale entries ignored with one warning and rewritten), the winner reaching the kernel, the
// per-op thread cap (bitwise identical for every cap), and `kernelport tune`. No timing is asserted:
// which candidate wins is the machine's business; what is checked is that a winner is one of the
// candidates, that it is stored and found again, and that ops then run with it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CpuDevice } from '../src/backends/cpu/index.js';
import { descriptorSlots } from '../src/backends/cpu/descriptors.js';
import { main } from '../src/cli/main.js';
import { Device } from '../src/device.js';
import { open, probe, type Tensor } from '../src/index.js';
import { requireNative } from '../src/native.js';
import { attachTuner, tuneIdentity } from '../src/open.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import { tuneClass, variantOf } from '../src/select/explain.js';
import type { OpDesc } from '../src/select/rank.js';
import { deviceKey, TUNE_SCHEMA } from '../src/tune/cache.js';
import { classBounds, configLabel, sameConfig, tuneCandidates } from '../src/tune/candidates.js';
import type { TuneEntry } from '../src/tune/tuner.js';
import type { DeviceInfo } from '../src/types.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/probe/this-machine.json', import.meta.url), 'utf8')) as DeviceInfo[];
const llvmpipe = fixture.find((d) => d.backend === 'webgpu')!;
const devices = await probe();
const cpuInfo = devices.find((d) => d.backend === 'cpu')!;
const webgpu = devices.find((d) => d.backend === 'webgpu')!;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kp-tune-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.KERNELPORT_AUTOTUNE;
  delete process.env.KERNELPORT_TUNE_CACHE;
});

let fileNo = 0;
const tempFile = () => join(dir, `tune-${++fileNo}.json`);
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

/** process.emitWarning calls with a kernelport tune code. */
function warnings() {
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  return () =>
    spy.mock.calls
      .map((c) => ({ message: String(c[0]), code: (c[1] as { code?: string } | undefined)?.code ?? '' }))
      .filter((w) => w.code.startsWith('KERNELPORT_TUNE'));
}

/** A cpu Device over a CpuDevice whose native calls are recorded (the descriptors the C ABI gets). */
function spiedCpu(threads: number, tune: { autotune: true | 'cache'; tuneCache: string }) {
  const be = new CpuDevice(requireNative(), cpuInfo, threads);
  const native = (be as unknown as { native: Record<'matmul' | 'attention', (...a: unknown[]) => unknown> }).native;
  // The packed descriptor is one reused array, so each call's maxThreads is read as the call is made.
  const seen: number[] = [];
  for (const [op, layout] of [['matmul', requireNative().descriptorFields.matmul], ['attention', requireNative().descriptorFields.attention]] as const) {
    const slot = descriptorSlots(layout).find((s) => s.name === 'maxThreads')!.offset;
    const real = native[op].bind(native);
    vi.spyOn(native, op).mockImplementation((...args: unknown[]) => {
      seen.push((args[0] as Float64Array)[slot]!);
      return real(...args);
    });
  }
  const dev = attachTuner(new Device(be), tune);
  return { dev, maxThreads: () => [...seen] };
}

function entry(config: Record<string, number>, shape: OpDesc): TuneEntry {
  return { config, candidates: [{ config, medianMs: 1 }], defaultMs: 2, ms: 1, measuredAt: '2026-01-01T00:00:00.000Z', shape: { ...shape } };
}

const mm64: OpDesc = { op: 'matmul', m: 40, n: 30, k: 50, dtype: 'f32' };

function upMatmul(dev: Device, m: number, k: number, n: number): [Tensor, Tensor] {
  const rng = new Rng(5);
  const a = randomTensor(rng, [m, k]);
  const b = randomTensor(rng, [k, n]);
  return [dev.tensor(a.data, a.shape), dev.tensor(b.data, b.shape)];
}

describe('candidates', () => {
  it('cpu: the device thread count first (the built-in), then powers of two down to 1', () => {
    const c = tuneCandidates({ ...cpuInfo, backend: 'cpu' }, 6, mm64)!;
    expect(c.default).toEqual({ threads: 6 });
    expect(c.all).toEqual([{ threads: 6 }, { threads: 4 }, { threads: 2 }, { threads: 1 }]);
    expect(c.quick[0]).toEqual({ threads: 6 });
    for (const q of c.quick) expect(c.all.some((x) => sameConfig(x, q))).toBe(true);
    expect(tuneCandidates(cpuInfo, 1, mm64)!.all).toEqual([{ threads: 1 }]);
  });

  it('reference: nothing to tune', () => {
    expect(tuneCandidates({ ...cpuInfo, backend: 'reference' }, 1, mm64)).toBeUndefined();
  });

  it("cuda and musa: the library's own kernel first, then each forced path; one candidate per kernel the library would run", () => {
    for (const backend of ['cuda', 'musa'] as const) {
      const info = { ...cpuInfo, backend };
      const mm = tuneCandidates(info, 1, mm64)!;
      // A field left out is the library's own choice: no 0 is stored (older builds read only positive values)
      expect(mm.default).toEqual({});
      expect(mm.all.map(configLabel)).toEqual([
        'auto',
        'kernel=wgmma',
        'kernel=wgmma-cluster',
        'kernel=wgmma-cluster2x2',
        'kernel=mma',
        'kernel=simt',
        'kernel=wgmma splitK=2',
        'kernel=wgmma splitK=3',
        'kernel=wgmma splitK=4',
        'kernel=wgmma-cluster splitK=2',
        'splitK=1',
      ]);
      for (const c of mm.all) for (const v of Object.values(c)) expect(v).toBeGreaterThan(0);
      const att = tuneCandidates(info, 1, { op: 'attention', hq: 2, sq: 70, skv: 300, d: 128, dtype: 'bf16', allowP16: true })!;
      expect(att.all.map(configLabel)).toEqual(['auto', 'keys=64', 'kernel=wgmma', 'kernel=mma', 'kernel=simt', 'kernel=wgmma keys=64']);
    }
    // Given the library's answers: choices that fall back to a kernel already listed go; split-K counts
    // stay apart by the splits the kernel makes (K = 64 * 3: at most 3 splits, so 3 and 4 are one kernel)
    const names: Record<number, string> = { 0: 'gemm-mma-bf16', 2: 'gemm-mma-bf16', 1: 'gemm-simt-64x64' };
    const kernelOf = (c: Record<string, number>) => ((c.splitK ?? 0) > 1 ? 'gemm-wgmma-splitk-bf16' : (names[c.kernel ?? 0] ?? 'gemm-wgmma-bf16'));
    const desc: OpDesc = { op: 'matmul', m: 1000, n: 1000, k: 192, dtype: 'bf16' };
    const seen = tuneCandidates({ ...cpuInfo, backend: 'cuda' }, 1, desc, kernelOf)!;
    expect(seen.all.map(configLabel)).toEqual(['auto', 'kernel=wgmma', 'kernel=simt', 'kernel=wgmma splitK=2', 'kernel=wgmma splitK=3']);
    expect(seen.default).toEqual({});
    expect(seen.quick).toEqual(seen.all.slice(0, 3));
  });

  it('allowP16, allowTf32 and masked ops are shape classes of their own (other kernels may run)', () => {
    const key = (d: OpDesc) => tuneClass(variantOf(cpuInfo, d).variant, d);
    const dec: OpDesc = { op: 'attention', hq: 32, hkv: 8, sq: 1, skv: 4096, d: 128, dtype: 'bf16' };
    expect(key({ ...dec, allowP16: true })).toBe(`${key(dec)} allowP16`);
    expect(key({ ...dec, allowP16: true, mask: true })).toBe(`${key(dec)} allowP16 mask`);
    expect(key({ ...dec, dtype: 'f32', allowP16: true })).toBe(key({ ...dec, dtype: 'f32' })); // no P16 for f32
    expect(key({ ...mm64, allowTf32: true })).toBe(`${key(mm64)} allowTf32`);
  });

  it('webgpu: every candidate fits the adapter limits; the built-in one is among them', () => {
    for (const limits of [llvmpipe.features.limits as Record<string, number>, { maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupStorageSize: 16384 }]) {
      const info = { ...llvmpipe, features: { ...llvmpipe.features, limits } } as DeviceInfo;
      const mm = tuneCandidates(info, 1, { op: 'matmul', m: 130, n: 70, k: 257 })!;
      expect(mm.all[0]).toEqual(mm.default);
      expect(mm.all.length).toBeGreaterThan(4);
      for (const c of mm.all) {
        expect(c.WGX! * c.WGY!).toBeLessThanOrEqual(limits.maxComputeInvocationsPerWorkgroup!);
        expect(c.BK! * (c.WGY! * c.TM! + c.WGX! * c.TN!) * 4).toBeLessThanOrEqual(limits.maxComputeWorkgroupStorageSize!);
      }
      const gemv = tuneCandidates(info, 1, { op: 'matmul', m: 3, n: 70, k: 257 })!;
      expect(gemv.default).toEqual({ WG: 64 });
      for (const c of gemv.all) expect(Math.log2(c.WG!) % 1).toBe(0);
      // compatibility mode: workgroup_size x up to 128 unless the device asked for more
      for (const c of gemv.all) expect(c.WG!).toBeLessThanOrEqual(128);
      const att = tuneCandidates(info, 1, classBounds({ op: 'attention', hq: 2, sq: 70, skv: 300, d: 96, dv: 96 }))!;
      expect(att.default).toMatchObject({ BQ: 32 });
      for (const c of att.all) expect(c.BK! * (128 + 128) * 4).toBeLessThanOrEqual(limits.maxComputeWorkgroupStorageSize!);
      const dec = tuneCandidates(info, 1, { op: 'attention', hq: 2, sq: 1, skv: 1024, d: 64 })!;
      expect(dec.default).toMatchObject({ BQ: 8 });
    }
  });

  it('shape classes bucket sizes to powers of two and keep op, dtype and variant apart', () => {
    const key = (d: OpDesc) => tuneClass(variantOf(cpuInfo, d).variant, d);
    expect(key({ op: 'matmul', m: 40, n: 30, k: 50 })).toBe(key({ op: 'matmul', m: 64, n: 17, k: 33 }));
    expect(key({ op: 'matmul', m: 40, n: 30, k: 50 })).not.toBe(key({ op: 'matmul', m: 40, n: 30, k: 50, dtype: 'bf16' }));
    expect(key({ op: 'matmul', m: 3, n: 30, k: 50 })).toMatch(/gemv/);
    expect(key({ op: 'attention', hq: 2, sq: 9, skv: 9, d: 8, causal: true })).toMatch(/ causal$/);
  });
});

describe('the per-op thread cap', () => {
  it('gives bitwise-identical outputs for every cap from 1 to the device threads (matmul, bf16 matmul, attention, decode)', async () => {
    const dev = await open({ backend: 'cpu', threads: 3 });
    const rng = new Rng(17);
    const up = (shape: number[], dtype: 'f32' | 'bf16' = 'f32') => {
      const t = randomTensor(rng, shape, dtype);
      return dev.tensor(t.data, t.shape, t.dtype);
    };
    const a = up([2, 131, 97]);
    const b = up([97, 75]);
    const a16 = up([37, 300], 'bf16');
    const b16 = up([45, 300], 'bf16');
    const q = up([2, 4, 41, 32]);
    const k = up([2, 2, 150, 32]);
    const v = up([2, 2, 150, 24]);
    const kd = up([1, 2, 700, 32]);
    const qd = up([1, 4, 1, 32]);
    const runAll = async () => {
      const att = dev.attention(q, k, v, { causal: true, returnLse: true });
      const outs = [dev.matmul(a, b, { activation: 'gelu' }), dev.matmul(a16, b16, { transB: true }), att.out, att.lse, dev.attention(qd, kd, kd)];
      const bytes = await Promise.all(outs.map(async (t) => Buffer.from((await t.read()).buffer)));
      for (const t of outs) t.dispose();
      return bytes;
    };
    const ref = await runAll();
    for (let cap = 1; cap <= 4; cap++) {
      const got = await dev.withKernelConfig({ threads: cap }, runAll);
      got.forEach((g, i) => expect(g.equals(ref[i]!), `output ${i} with threads=${cap}`).toBe(true));
    }
    dev.dispose();
  });

  it('reaches the C ABI descriptor as maxThreads', async () => {
    const { dev, maxThreads } = spiedCpu(2, { autotune: 'cache', tuneCache: tempFile() });
    const [a, b] = upMatmul(dev, 9, 9, 9);
    dev.withKernelConfig({ threads: 1 }, () => dev.matmul(a, b)).dispose();
    dev.matmul(a, b).dispose();
    await dev.sync();
    expect(maxThreads()).toEqual([1, 0]);
    dev.dispose();
  });
});

describe('the tune cache', () => {
  it('autotune: true tunes a class in the background, saves it; a second open reads it and its ops run with the winner', async () => {
    const file = tempFile();
    const w = warnings();
    const dev = await open({ backend: 'cpu', autotune: true, tuneCache: file });
    const [a, b] = upMatmul(dev, 40, 50, 30);
    dev.matmul(a, b).dispose(); // first op of the class: built-in config, tuning starts
    expect(dev.tuneStatus()!.pending).toBe(1);
    await dev.tuned();
    const st = dev.tuneStatus()!;
    expect(st).toMatchObject({ mode: 'on', file, pending: 0 });
    expect(st.classes).toHaveLength(1);
    expect(st.classes[0]!.source).toBe('measured');
    dev.matmul(a, b).dispose();
    expect(dev.tuneStatus()!.classes[0]!.uses).toBe(1);
    const threads = dev.threads;
    dev.dispose();

    const j = readJson(file);
    expect(j.schema).toBe(TUNE_SCHEMA);
    const id = tuneIdentity(cpuInfo, threads);
    const slot = j.devices[deviceKey(id)];
    expect(slot.device).toMatchObject({ backend: 'cpu', kernelport: id.kernelport, threads });
    const [cls, e] = Object.entries(slot.classes)[0] as [string, TuneEntry];
    expect(cls).toBe(tuneClass(variantOf(cpuInfo, mm64).variant, mm64));
    const cands = tuneCandidates(cpuInfo, threads, classBounds(mm64))!.all;
    expect(e.candidates.map((c) => c.config)).toEqual(cands);
    for (const c of e.candidates) expect(c.medianMs).toBeGreaterThan(0);
    expect(cands.some((c) => sameConfig(c, e.config))).toBe(true);
    expect(e.candidates.find((c) => sameConfig(c.config, e.config))!.medianMs).toBe(e.ms);
    expect(e.ms).toBeLessThanOrEqual(e.defaultMs);
    expect(Date.parse(e.measuredAt)).not.toBeNaN();

    // a second process-like open, cache only: no measuring, the winner reaches the kernel
    const spied = spiedCpu(threads, { autotune: 'cache', tuneCache: file });
    const d2 = spied.dev;
    const x = d2.explain('matmul', { m: 33, n: 20, k: 60 });
    expect(x.tuned).toMatchObject({ source: 'cache', file, config: e.config, shapeClass: cls });
    expect(x.tileConfig).toMatchObject(e.config);
    expect(x.why).toMatch(/tuned: threads=\d+ \(from the tune cache/);
    const [a2, b2] = upMatmul(d2, 33, 60, 20);
    d2.matmul(a2, b2).dispose();
    const [a3, b3] = upMatmul(d2, 200, 60, 20); // another class: no winner, no tuning in 'cache' mode
    d2.matmul(a3, b3).dispose();
    await d2.sync();
    expect(spied.maxThreads()).toEqual([e.config.threads, 0]);
    expect(d2.tuneStatus()).toMatchObject({ mode: 'cache', pending: 0 });
    expect(d2.tuneStatus()!.classes.find((c) => c.shapeClass === cls)).toMatchObject({ source: 'cache', uses: 1 });
    d2.dispose();
    expect(w()).toEqual([]);
  });

  it('a hand-written winner is used: explain says so, the op runs with it; without autotune the cache is not read', async () => {
    const file = tempFile();
    const threads = 2;
    const id = tuneIdentity(cpuInfo, threads);
    const cls = tuneClass(variantOf(cpuInfo, mm64).variant, mm64);
    writeFileSync(file, JSON.stringify({ schema: TUNE_SCHEMA, devices: { [deviceKey(id)]: { device: id, classes: { [cls]: entry({ threads: 1 }, mm64) } } } }));
    const { dev, maxThreads } = spiedCpu(threads, { autotune: 'cache', tuneCache: file });
    expect(dev.explain('matmul', mm64 as unknown as Record<string, unknown>).tuned?.config).toEqual({ threads: 1 });
    const [a, b] = upMatmul(dev, 40, 50, 30);
    dev.matmul(a, b).dispose();
    dev.matmul(a, b, { activation: 'relu' }).dispose();
    await dev.sync();
    expect(maxThreads()).toEqual([1, 1]);
    expect(dev.tuneStatus()!.classes[0]).toMatchObject({ shapeClass: cls, uses: 2, source: 'cache' });
    dev.dispose();

    const off = await open({ backend: 'cpu', threads, tuneCache: file });
    expect(off.tuneStatus()).toBeUndefined();
    expect(off.explain('matmul', mm64 as unknown as Record<string, unknown>).tuned).toBeUndefined();
    off.dispose();

    process.env.KERNELPORT_AUTOTUNE = 'cache';
    process.env.KERNELPORT_TUNE_CACHE = file;
    const env = await open({ backend: 'cpu', threads });
    expect(env.explain('matmul', mm64 as unknown as Record<string, unknown>).tuned?.config).toEqual({ threads: 1 });
    env.dispose();
    process.env.KERNELPORT_AUTOTUNE = 'sometimes';
    await expect(open({ backend: 'cpu' })).rejects.toThrow(/KERNELPORT_AUTOTUNE must be 1, cache or 0/);
    await expect(open({ backend: 'cpu', autotune: 'yes' as never })).rejects.toThrow(/autotune must be true, false or 'cache'/);
  });

  it.each([
    ['corrupted JSON', '{"schema": "kernelport-tune/1", "devices": {', /not valid JSON/],
    ['a wrong schema', JSON.stringify({ schema: 'kernelport-tune/0', devices: {} }), /schema is "kernelport-tune\/0", expected "kernelport-tune\/1"/],
    ['a bad entry', JSON.stringify({ schema: TUNE_SCHEMA, devices: { x: { device: { backend: 'cpu', name: 'n', kernelport: '0' }, classes: { c: { config: { threads: 'two' } } } } } }), /config is not an object of positive integers/],
  ])('%s: ignored with one warning naming the file, then rewritten', async (_what, text, why) => {
    const file = tempFile();
    writeFileSync(file, text);
    const w = warnings();
    const dev = await open({ backend: 'cpu', threads: 2, autotune: true, tuneCache: file });
    const [a, b] = upMatmul(dev, 40, 50, 30);
    dev.matmul(a, b).dispose();
    await dev.tuned();
    dev.dispose();
    const got = w();
    expect(got).toHaveLength(1);
    expect(got[0]!.code).toBe('KERNELPORT_TUNE_CACHE_CORRUPT');
    expect(got[0]!.message).toContain(file);
    expect(got[0]!.message).toMatch(why);
    const j = readJson(file);
    expect(j.schema).toBe(TUNE_SCHEMA);
    expect(Object.keys(j.devices)).toEqual([deviceKey(tuneIdentity(cpuInfo, 2))]);
    // read back cleanly: no warning the second time
    const again = await open({ backend: 'cpu', threads: 2, autotune: 'cache', tuneCache: file });
    expect(again.explain('matmul', mm64 as unknown as Record<string, unknown>).tuned?.source).toBe('cache');
    again.dispose();
    expect(w()).toHaveLength(1);
  });

  it('a stale entry (another kernelport version) is ignored with one warning and replaced on the next save', async () => {
    const file = tempFile();
    const id = tuneIdentity(cpuInfo, 2);
    const old = { ...id, kernelport: '0.0.1' };
    const cls = tuneClass(variantOf(cpuInfo, mm64).variant, mm64);
    const other = { backend: 'cpu', name: 'another cpu', architecture: 'avx2', threads: 64, kernelport: '0.0.1' };
    writeFileSync(
      file,
      JSON.stringify({
        schema: TUNE_SCHEMA,
        devices: {
          [deviceKey(old)]: { device: old, classes: { [cls]: entry({ threads: 1 }, mm64) } },
          [deviceKey(other)]: { device: other, classes: { [cls]: entry({ threads: 8 }, mm64) } },
        },
      }),
    );
    const w = warnings();
    const dev = await open({ backend: 'cpu', threads: 2, autotune: true, tuneCache: file });
    expect(dev.explain('matmul', mm64 as unknown as Record<string, unknown>).tuned).toBeUndefined();
    const got = w();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ code: 'KERNELPORT_TUNE_CACHE_STALE' });
    expect(got[0]!.message).toContain(file);
    expect(got[0]!.message).toMatch(/kernelport 0\.0\.1 \(this is \d+\.\d+\.\d+/);
    await dev.tune('matmul', mm64 as unknown as Record<string, unknown>, { quick: true });
    dev.dispose();
    const j = readJson(file);
    expect(Object.keys(j.devices).sort()).toEqual([deviceKey(id), deviceKey(other)].sort()); // the other machine's entry stays
    expect(w()).toHaveLength(1);
  });

  it('a cached config that is not a candidate of this build is ignored with a warning', async () => {
    const file = tempFile();
    const id = tuneIdentity(cpuInfo, 2);
    const cls = tuneClass(variantOf(cpuInfo, mm64).variant, mm64);
    writeFileSync(file, JSON.stringify({ schema: TUNE_SCHEMA, devices: { [deviceKey(id)]: { device: id, classes: { [cls]: entry({ threads: 999 }, mm64) } } } }));
    const w = warnings();
    const { dev, maxThreads } = spiedCpu(2, { autotune: 'cache', tuneCache: file });
    const [a, b] = upMatmul(dev, 40, 50, 30);
    dev.matmul(a, b).dispose();
    await dev.sync();
    expect(maxThreads()).toEqual([0]);
    expect(w()).toMatchObject([{ code: 'KERNELPORT_TUNE_CACHE_STALE', message: expect.stringMatching(/threads=999 is not a candidate/) }]);
    dev.dispose();
  });

  it('KERNELPORT_VERBOSE logs the tuning of a class once, and the use of a cached winner once', async () => {
    const file = tempFile();
    process.env.KERNELPORT_VERBOSE = '1';
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const dev = await open({ backend: 'cpu', threads: 2, autotune: true, tuneCache: file });
      const [a, b] = upMatmul(dev, 40, 50, 30);
      for (let i = 0; i < 3; i++) dev.matmul(a, b).dispose();
      await dev.tuned();
      for (let i = 0; i < 3; i++) dev.matmul(a, b).dispose();
      await dev.sync();
      dev.dispose();
      const lines = () => err.mock.calls.map((c) => String(c[0]));
      expect(lines().filter((l) => l.startsWith('kernelport: tuned cpu:0 matmul f32'))).toHaveLength(1);
      expect(lines().find((l) => l.startsWith('kernelport: tuned cpu:0'))).toContain(file);
      const d2 = await open({ backend: 'cpu', threads: 2, autotune: 'cache', tuneCache: file });
      for (let i = 0; i < 3; i++) d2.matmul(...upMatmul(d2, 40, 50, 30)).dispose();
      await d2.sync();
      d2.dispose();
      expect(lines().filter((l) => /^kernelport: cpu:0 matmul f32 \S+ 64x32x64: tuned threads=\d \(from /.test(l))).toHaveLength(1);
    } finally {
      delete process.env.KERNELPORT_VERBOSE;
    }
  });

  it('dev.tune() needs autotune; the reference backend has nothing to tune', async () => {
    const dev = await open('cpu');
    await expect(dev.tune('matmul', { m: 4, n: 4, k: 4 })).rejects.toThrow(/autotuning is off/);
    dev.dispose();
    const ref = await open({ backend: 'reference', autotune: true, tuneCache: tempFile() });
    expect(await ref.tune('matmul', { m: 4, n: 4, k: 4 })).toBeUndefined();
    ref.dispose();
  });
});

async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    const code = await main(argv, (s) => lines.push(s));
    return { code, out: lines.join('\n') };
  } finally {
    err.mockRestore();
  }
}

describe('kernelport tune', () => {
  it('cpu, tiny shapes: a table per device, exit 0, winners in the cache', async () => {
    const file = tempFile();
    const { code, out } = await cli(['tune', '--op', 'matmul', '--m', '3,40', '--k', '50', '--n', '30', '--quick', '--threads', '2', '--cache', file]);
    expect(code).toBe(0);
    expect(out).toMatch(/^cpu:0 /m);
    expect(out).toMatch(/matmul\/3x50x30 +matmul f32 gemv-\w+ /);
    expect(out).toMatch(/threads=2 .*built-in/);
    expect(out).toMatch(/-> threads=\d/);
    expect(out).toContain(file);
    expect(Object.keys(readJson(file).devices[deviceKey(tuneIdentity(cpuInfo, 2))].classes)).toHaveLength(2);
  });

  it('--json: the report schema; attention too', async () => {
    const file = tempFile();
    const { code, out } = await cli(['tune', '--op', 'attention', '--heads', '4', '--kv-heads', '2', '--sq', '9', '--skv', '33', '--d', '16', '--causal', '--quick', '--json', '--cache', file]);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    expect(r).toMatchObject({ schema: 'kernelport-tune-report/1', cacheFile: file, quick: true });
    expect(r.devices).toHaveLength(1);
    const d = r.devices[0];
    expect(d).toMatchObject({ device: 'cpu:0', backend: 'cpu', identity: { backend: 'cpu' } });
    expect(d.results).toHaveLength(1);
    const res = d.results[0];
    expect(res.shapeClass).toMatch(/^attention f32 flash-attention-\w+ 16x64x16x16 bh4 causal$/);
    expect(res.candidates.length).toBeGreaterThanOrEqual(1);
    for (const c of res.candidates) expect(c).toMatchObject({ config: { threads: expect.any(Number) }, medianMs: expect.any(Number), label: expect.stringMatching(/^threads=/) });
    expect(res.candidates.some((c: { config: Record<string, number> }) => sameConfig(c.config, res.winner))).toBe(true);
    expect(res.speedup).toBeCloseTo(res.defaultMs / res.winnerMs, 6);
  });

  it('usage errors exit 2', async () => {
    expect((await cli(['tune', '--backends', 'reference'])).code).toBe(2);
    expect((await cli(['tune', '--backends', 'nope'])).code).toBe(2);
    expect((await cli(['tune', '--m', '3'])).code).toBe(2);
    expect((await cli(['tune', '--suite', 'nope'])).code).toBe(2);
    expect((await cli(['--help'])).out).toMatch(/tune +autotune/);
  });

  it.skipIf(!webgpu.available)('webgpu, tiny shapes: exit 0, JSON with WGSL tile candidates', async () => {
    const file = tempFile();
    const { code, out } = await cli(['tune', '--backends', 'webgpu', '--op', 'matmul', '--m', '37', '--k', '61', '--n', '29', '--quick', '--json', '--cache', file]);
    expect(code).toBe(0);
    const d = JSON.parse(out).devices[0];
    expect(d.backend).toBe('webgpu');
    const res = d.results[0];
    expect(res.shapeClass).toMatch(/^matmul f32 wgsl-matmul-tiled-4x4 64x32x64$/);
    expect(res.candidates.length).toBeGreaterThanOrEqual(3);
    for (const c of res.candidates) expect(Object.keys(c.config).sort()).toEqual(['BK', 'TM', 'TN', 'WGX', 'WGY']);
    expect(d.identity.driver).toBeTruthy();
    expect(Object.keys(readJson(file).devices)).toHaveLength(1);
  }, 300_000);
});

it('the cache file is not created by a device without autotune', async () => {
  const file = tempFile();
  const dev = await open({ backend: 'cpu', tuneCache: file });
  const [a, b] = upMatmul(dev, 40, 50, 30);
  dev.matmul(a, b).dispose();
  await dev.sync();
  dev.dispose();
  expect(existsSync(file)).toBe(false);
});
