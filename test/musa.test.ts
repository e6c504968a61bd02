/**
 * The musa backend without Moore Threads hardware or the MUSA SDK:
 * - the emulated build (the MUSA sources through native/vendors/musa.h, compiled by nvcc with the
 *   test-only mapping in native/test/musa_on_cuda/) exists wherever nvcc does, exports the plugin entry
 *   with this core's ABI and needs no CUDA library at load time; its kernel planning (128-thread warps,
 *   mp_21 shared memory) is checked by kp_musa_plan_test;
 * - probe() and open('musa') give the exact reason musa is unavailable here, naming every attempt;
 * - the lazy-loading path is exercised against a stand-in libmusa.so (native/test/fake_cuda_driver.c
 *   built with the mu prefix: an MTT S4000 with 128-thread warps) and, for the emulated route, against
 *   the stand-in libcuda.so.1, in child processes (the driver probe happens once per process).
 *
 * The numerics on a device (validate --full --backends musa, warp 128 forced too) run where a GPU is:
 * `npm run gpu:check` runs them against the emulated build on an NVIDIA GPU.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { open, probe } from '../src/index.js';
import { cudaDeviceInfo } from '../src/backends/cuda/index.js';
import { MUSA_PARTS, estimateMusaPart, matchMusaPart, musaDeviceInfo, musaPartFigures } from '../src/backends/musa/index.js';
import { explain } from '../src/select/explain.js';
import { rankDevices } from '../src/select/rank.js';
import { packageRoot, type NativeGpuProbe } from '../src/native.js';
import { main } from '../src/cli/main.js';

const root = packageRoot();
const release = join(root, 'build', 'Release');
const emulatedLib = join(release, 'libkernelport_musa_emulated.so');
const realLib = join(release, 'libkernelport_musa.so');
const fakeMusa = join(release, 'libkp_fake_musa_driver.so');
const fakeCuda = join(release, 'libkp_fake_cuda_driver.so');
const fakePlugin = join(release, 'libkp_fake_gpu_plugin.so');
const planTest = join(release, 'kp_musa_plan_test');
const haveNvcc = existsSync('/usr/local/cuda/bin/nvcc') || spawnSync('nvcc', ['--version']).status === 0;
const haveReadelf = spawnSync('readelf', ['--version']).status === 0;
const sdk = [process.env.MUSA_PATH, '/usr/local/musa', '/opt/musa'].find((d) => d && existsSync(join(d, 'include', 'musa_runtime.h')));

const probed = await probe();
const musa = probed.find((d) => d.backend === 'musa')!;
const realCuda = probed.some((d) => d.backend === 'cuda' && d.available);
if (!musa.available) console.log(`test/musa.test.ts: musa is unavailable here (expected without Moore Threads hardware): ${musa.reason}`);

function needed(file: string): string[] {
  const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  return [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
}

/** The addon in a fresh process with `env`: gpuProbe('musa') and opening each name in `names`. */
function child(env: Record<string, string>, names: string[] = []): { probe: NativeGpuProbe; open: { message?: string; code?: string }[] } {
  const script = `
    const a = require(${JSON.stringify(join(release, 'kernelport.node'))});
    const probe = a.gpuProbe('musa');
    const open = [];
    for (const name of ${JSON.stringify(names)}) {
      try { const d = new a.Device(name, 0); d.close(); open.push({}); }
      catch (e) { open.push({ message: e.message, code: e.code }); }
    }
    process.stdout.write(JSON.stringify({ probe, open }));`;
  // The parent's own overrides must not leak into a case that does not set them.
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (/^KERNELPORT_(MUSA|CUDA)_|^KP_FAKE_/.test(k)) delete base[k];
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...base, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('musa build', () => {
  it.skipIf(!haveNvcc)('builds the emulated musa library with nvcc: the plugin entry exported, no CUDA or MUSA library needed at load time', () => {
    expect(existsSync(emulatedLib), `${emulatedLib} missing: CMake found nvcc but did not build the emulated musa library`).toBe(true);
    if (!haveReadelf) return;
    const deps = needed(emulatedLib);
    expect(deps.filter((d) => /cuda|musa/.test(d)), `NEEDED: ${deps.join(', ')}`).toEqual([]);
    const syms = execFileSync('readelf', ['--dyn-syms', '-W', emulatedLib], { encoding: 'utf8' });
    expect(syms).toMatch(/\bkp_backend_register\b/);
  });

  it.skipIf(!existsSync(planTest))('the MUSA build plans every kernel for 128-thread warps and mp_21 shared memory (host code, no GPU)', () => {
    // native/test/gpu_plan_test.cpp compiled against the MUSA build's objects (KP_GPU_VENDOR_MUSA).
    const r = spawnSync(planTest, { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/musa build\): all passed/);
  });

  it.skipIf(!!sdk)('without the MUSA SDK the real musa library is not built', () => {
    // CMake prints "MUSA SDK not found (looked in ...): the musa backend library is not built".
    expect(existsSync(realLib)).toBe(false);
  });

  it.skipIf(!haveNvcc || !existsSync(fakeMusa))('the SDK build path: configure says why without an SDK, and with one compiles each kernel with mcc -x musa for mp_21/mp_22/mp_31 into a loadable musa plugin', () => {
    // scripts/test-musa-sdk.sh: a stand-in SDK whose mcc logs its arguments and hands the compile to nvcc.
    const r = spawnSync('bash', [join(root, 'scripts', 'test-musa-sdk.sh'), fakeMusa], { encoding: 'utf8', timeout: 600_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/MUSA SDK not found \(looked in .*no-such-sdk, \/usr\/local\/musa, \/opt\/musa\): the musa backend library is not built/);
    expect(r.stdout).toMatch(/building the musa backend library \(.*\/sdk\/bin\/mcc, archs mp_21;mp_22;mp_31\)/);
    const calls = r.stdout.split('\n').filter((l) => l.startsWith('mcc '));
    const kernels = readdirSync(join(root, 'kernels', 'gpu')).filter((f) => f.endsWith('.cu')).map((f) => f.slice(0, -3));
    expect(kernels.length).toBeGreaterThanOrEqual(3);
    expect(calls.map((l) => /\/kernels\/gpu\/(\w+)\.cu/.exec(l)?.[1]).sort()).toEqual(kernels.sort()); // every kernel source, once
    for (const c of calls) {
      expect(c).toMatch(/^mcc -x musa --cuda-gpu-arch=mp_21 --cuda-gpu-arch=mp_22 --cuda-gpu-arch=mp_31 /);
      expect(c).toContain('-DKP_GPU_VENDOR_MUSA');
    }
    const lib = r.stdout.trim().split('\n').pop()!;
    expect(lib).toMatch(/libkernelport_musa\.so$/);
    // The library the SDK path built is a musa plugin with this core's ABI: it loads behind the stand-in libmusa.so.
    const c = child({ KERNELPORT_MUSA_DRIVER: fakeMusa, KERNELPORT_MUSA_LIBRARY: lib }, ['musa']);
    expect(c.probe.library).toMatchObject({ loaded: true, reason: '' });
    expect(c.probe.library.variants).toBe('gemm-simt-128x128,gemm-simt-64x64,gemv-m4,flash-attention-simt,flash-decoding-split-kv,flash-decoding-split-kv-vec');
    // Its statically linked CUDA runtime (the stand-in SDK is nvcc) finds no GPU here; on a GPU machine it opens.
    if (realCuda) expect(c.open[0]).toEqual({});
    else expect(c.open[0]!.message).toMatch(/^cannot open musa: MUSA set device failed: /);
  });

  it.skipIf(!haveReadelf)('the core and the addon never link a MUSA library', () => {
    for (const f of ['kernelport.node', 'libkernelport.so']) {
      const deps = needed(join(release, f));
      expect(deps.filter((d) => /musa/.test(d)), `${f} NEEDED: ${deps.join(', ')}`).toEqual([]);
    }
  });
});

describe.skipIf(musa.available)('musa without a driver (this machine)', () => {
  it('probe() lists musa as unavailable with the exact reason, every attempt named', () => {
    expect(musa.available).toBe(false);
    // The dlopen message first; then what the emulated route found.
    expect(musa.reason).toMatch(/^libmusa\.so: cannot open shared object file|^muInit failed: |^no MUSA device/);
    if (existsSync(emulatedLib)) expect(musa.reason).toContain(`; emulated build present (${emulatedLib}) but `);
  });

  it("open('musa') rejects with that reason; cpu is unaffected", async () => {
    await expect(open('musa')).rejects.toThrow(`the musa backend is unavailable: ${musa.reason}`);
    const dev = await open('cpu');
    const y = dev.matmul(dev.tensor([1, 2, 3, 4], [2, 2]), dev.tensor([1, 0, 0, 1], [2, 2]));
    expect(Array.from(await y.read())).toEqual([1, 2, 3, 4]);
    dev.dispose();
  });

  it('the commands an S4000 owner runs say why here: validate --backends musa, bench --backends musa --json', async () => {
    const run = async (argv: string[]) => {
      const lines: string[] = [];
      const code = await main(argv, (l) => lines.push(l));
      return { code, out: lines.join('\n') };
    };
    const v = await run(['validate', '--backends', 'musa', '--case', 'primes']);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/musa.*UNAVAILABLE/);
    // bench raises the open() error (the CLI prints it and exits 1).
    await expect(run(['bench', '--backends', 'musa', '--json'])).rejects.toThrow(`the musa backend is unavailable: ${musa.reason}`);
    expect((await run(['bench', '--backends', 'musa', '--backend', 'cpu'])).code).toBe(2); // a usage error
  });

  it('the native device says why, with a status code; emulation off leaves the dlopen message alone', () => {
    const r = child({}, ['musa', 'musa:x']);
    expect(r.probe.available).toBe(false);
    expect(r.open[0]!.message).toContain(r.probe.reason);
    expect(r.open[0]!.code).toBe('KP_ERR_UNAVAILABLE');
    expect(r.open[1]!.message).toMatch(/expected musa or musa:<index>/);
    const off = child({ KERNELPORT_MUSA_EMULATED: '0' });
    expect(off.probe.reason).toMatch(/^libmusa\.so: cannot open shared object file: No such file or directory$/);
  });
});

describe.skipIf(!existsSync(fakeMusa))('lazy loading against a stand-in libmusa.so (an MTT S4000)', () => {
  const drv = { KERNELPORT_MUSA_DRIVER: fakeMusa };

  it('probes the device through the MUSA driver API: mp_22, the 128-thread warp read from the device, the parts table', () => {
    const r = child(drv, ['musa']);
    expect(r.probe.available).toBe(true);
    expect(r.probe.devices).toHaveLength(1);
    const d = r.probe.devices[0]!;
    expect(d).toMatchObject({ index: 0, name: 'MTT S4000', arch: 'mp_22', ccMajor: 2, ccMinor: 2, warpSize: 128, multiprocessors: 48,
      clockKhz: 1750000, memoryClockKhz: 8000000, busWidthBits: 384, sharedPerBlockOptin: 72 << 10, driverVersion: 40100, emulated: false });
    expect(d.memoryBytes).toBe(48 * 2 ** 30);
    // No SDK here, so no real backend library: the reason says so, and open() gives it.
    if (!sdk) {
      expect(r.probe.library.loaded).toBe(false);
      expect(r.probe.library.reason).toMatch(/^the musa backend library does not load \(.*libkernelport_musa\.so: cannot open shared object file/);
      expect(r.open[0]!.message).toContain(r.probe.library.reason);
      expect(r.open[0]!.code).toBe('KP_ERR_UNAVAILABLE');
    }

    const info = musaDeviceInfo(d, r.probe.library);
    expect(info).toMatchObject({ backend: 'musa', name: 'MTT S4000', vendor: 'Moore Threads', architecture: 'mp_22', computeUnits: 48 });
    expect(info.peak.source).toBe('table');
    expect(info.peak.flops.f32).toBe(25e12);
    expect(info.peak.bandwidth).toBe(768e9);
    expect(info.features.tensorCores).toBe(false);
    expect(info.features.warpSize).toBe(128);
    expect(info.gpu).toMatchObject({ part: 'MTT S4000', estimate: false, computeCapability: '2.2', warpSize: 128, tensor16Flops: 100e12, int8Ops: 200e12, emulated: false });
    expect(info.gpu!.tpp).toBeCloseTo(1600, 6);
    // An unknown part is estimated from multiprocessors x clock and marked so.
    const est = musaDeviceInfo({ ...d, name: 'MTT X300' }, r.probe.library);
    expect(est.peak.source).toBe('estimate');
    expect(est.gpu!.estimate).toBe(true);
    expect(est.peak.flops.f32).toBeCloseTo(48 * 1.75e9 * 256, -6);
    // explain() names the warp the kernels are planned for.
    const x = explain({ ...info, available: true }, 'attention', { hq: 32, sq: 1, skv: 4096, d: 128 });
    expect(x.variant).toBe('flash-decoding-split-kv-vec');
    expect(x.tileConfig).toEqual({ warpSize: 128 });
    expect(x.why).toMatch(/planned for 128-thread warps/);
  });

  it('reads the warp size and architecture from the device (an mp_31 part with 32-thread warps)', () => {
    const r = child({ ...drv, KP_FAKE_MUSA_WARP: '32', KP_FAKE_MUSA_CC: '31', KP_FAKE_MUSA_NAME: 'MTT S5000' });
    expect(r.probe.devices[0]).toMatchObject({ arch: 'mp_31', warpSize: 32, name: 'MTT S5000' });
    const info = musaDeviceInfo(r.probe.devices[0]!, r.probe.library);
    expect(info.gpu).toMatchObject({ part: 'MTT S5000', warpSize: 32 });
  });

  it('reports a driver with no device, a failing muInit, a library of another ABI, and one that is not a musa backend', () => {
    const off = { ...drv, KERNELPORT_MUSA_EMULATED: '0' };
    expect(child({ ...off, KP_FAKE_MUSA_DEVICES: '0' }).probe.reason).toBe('no MUSA device (muDeviceGetCount reports 0)');
    expect(child({ ...off, KP_FAKE_MUSA_INIT_ERROR: '100' }).probe.reason).toBe('muInit failed: MUSA_ERROR_NO_DEVICE (100): no MUSA-capable device is detected');
    if (existsSync(emulatedLib)) {
      // With the emulated build present, the reason goes on to say what the emulated route found; on a GPU
      // machine the route finds the NVIDIA devices and the emulated musa devices are offered instead.
      const none = child({ ...drv, KP_FAKE_MUSA_DEVICES: '0' }).probe;
      if (realCuda) {
        expect(none.devices.length).toBeGreaterThan(0);
        expect(none.devices.every((d) => d.emulated)).toBe(true);
      }
      else expect(none.reason).toMatch(/^no MUSA device \(muDeviceGetCount reports 0\); emulated build present \(.*\) but libcuda\.so\.1: cannot open shared object file/);
    }
    if (existsSync(fakePlugin)) {
      const abi = child({ ...drv, KERNELPORT_MUSA_LIBRARY: fakePlugin }, ['musa']);
      // the stand-in library (native/test/fake_gpu_plugin.c) registers plugin ABI 97 above the core's
      const [, theirs, ours] = /was built for another kernelport ABI \(plugin ABI (\d+), core ABI 1; this core has plugin ABI (\d+), core ABI 1\)/.exec(abi.probe.library.reason ?? '') ?? [];
      expect(Number(theirs) - Number(ours), abi.probe.library.reason).toBe(97);
      expect(abi.open[0]!.code).toBe('KP_ERR_UNAVAILABLE');
    }
    const cudaLib = join(release, 'libkernelport_cuda.so');
    if (existsSync(cudaLib)) {
      // The cuda library has the right ABI but is not a musa backend: refused, never driven as one.
      const wrong = child({ ...drv, KERNELPORT_MUSA_LIBRARY: cudaLib }, ['musa']);
      expect(wrong.probe.library.reason).toBe(`${cudaLib} registers as backend 'cuda', not 'musa'`);
      expect(wrong.open[0]!.code).toBe('KP_ERR_UNAVAILABLE');
    }
  });

  it.skipIf(!existsSync(emulatedLib))('the emulated library as the musa backend library: it registers as musa with this ABI, and device creation names the runtime error', () => {
    const r = child({ ...drv, KERNELPORT_MUSA_LIBRARY: emulatedLib }, ['musa', 'musa:1']);
    expect(r.probe.library).toMatchObject({ loaded: true, reason: '' });
    expect(r.probe.library.variants.split(',')).toEqual(['gemm-simt-128x128', 'gemm-simt-64x64', 'gemv-m4', 'flash-attention-simt', 'flash-decoding-split-kv', 'flash-decoding-split-kv-vec']);
    // Its statically linked (CUDA) runtime finds no GPU here: creation fails with the error named, no crash.
    // On a GPU machine it finds the real one and the device opens.
    if (realCuda) expect(r.open[0]).toEqual({});
    else {
      expect(r.open[0]!.message).toMatch(/^cannot open musa: MUSA set device failed: cuda\w+ \(\d+\): /);
      expect(r.open[0]!.code).toBe('KP_ERR_UNAVAILABLE');
    }
    expect(r.open[1]!.message).toMatch(/device 'musa:1' does not exist: the driver reports 1 MUSA device$/);
  });
});

describe.skipIf(!existsSync(fakeCuda) || !existsSync(emulatedLib))('emulated musa over a stand-in libcuda.so.1', () => {
  const cudaDrv = { KERNELPORT_CUDA_DRIVER: fakeCuda };

  it('musa devices are the CUDA driver devices, marked emulated; the emulated library loads as musa', () => {
    const r = child(cudaDrv, ['musa', 'musa:0']);
    expect(r.probe.available).toBe(true);
    const d = r.probe.devices[0]!;
    expect(d).toMatchObject({ name: 'NVIDIA H20', arch: 'sm_90', warpSize: 32, emulated: true });
    expect(r.probe.library).toMatchObject({ loaded: true, reason: '' });
    expect(r.probe.library.variants).not.toMatch(/mma/);
    // The statically linked CUDA runtime finds no real libcuda.so.1 here (on a GPU machine it does, and the device opens).
    if (!realCuda)
      for (const o of r.open) {
        expect(o.message).toMatch(/^cannot open musa(:0)?: MUSA set device failed: cuda\w+ \(\d+\): /);
        expect(o.code).toBe('KP_ERR_UNAVAILABLE');
      }
    const info = musaDeviceInfo(d, r.probe.library);
    expect(info).toMatchObject({ backend: 'musa', vendor: 'NVIDIA', architecture: 'sm_90', available: true });
    expect(info.name).toMatch(/^NVIDIA H20 \(emulated MUSA/);
    expect(info.features).toMatchObject({ emulated: true, tensorCores: false });
    expect(info.gpu).toMatchObject({ emulated: true, part: 'H20' });
    expect(info.peak.flops.bf16).toBe(44e12); // SIMT tiles only: the f32 rate, not the tensor rate

    // policy 'auto' never prefers it over the cuda device it runs on; asking for it does.
    const cuda = cudaDeviceInfo({ ...d, emulated: false }, { loaded: true, reason: '', variants: 'gemm-simt-64x64,flash-attention-simt' });
    for (const policy of ['auto', 'prefer-gpu'] as const) {
      const rk = rankDevices([info, cuda], { policy });
      expect(rk.ranked.map((c) => c.selector)).toEqual(['cuda:0']);
      expect(rk.excluded.find((x) => x.selector === 'musa:0')!.reason).toMatch(/emulated musa device .* never chosen automatically/);
    }
    expect(rankDevices([info, cuda], { prefer: ['musa'] }).ranked[0]!.selector).toBe('musa:0');
  });

  it('KERNELPORT_MUSA_WARP_SIZE=128 plans the emulated device as a 128-lane part; a bad value is refused with the reason', () => {
    const r = child({ ...cudaDrv, KERNELPORT_MUSA_WARP_SIZE: '128' });
    expect(r.probe.devices[0]).toMatchObject({ warpSize: 128, emulated: true });
    const info = musaDeviceInfo(r.probe.devices[0]!, r.probe.library);
    expect(explain(info, 'matmul', { m: 512, n: 512, k: 512, dtype: 'bf16' })).toMatchObject({ variant: 'gemm-simt', tileConfig: { warpSize: 128 } });
    const bad = child({ ...cudaDrv, KERNELPORT_MUSA_WARP_SIZE: '48' });
    expect(bad.probe.available).toBe(false);
    expect(bad.probe.reason).toMatch(/KERNELPORT_MUSA_WARP_SIZE='48' is not 32, 64 or 128/);
  });

  it('KERNELPORT_MUSA_EMULATED=0 turns emulation off', () => {
    const r = child({ ...cudaDrv, KERNELPORT_MUSA_EMULATED: '0' });
    expect(r.probe.available).toBe(false);
    expect(r.probe.reason).toMatch(/^libmusa\.so: cannot open shared object file/);
  });
});

describe('musa parts table', () => {
  it('covers S80, S3000 (mp_21), S4000 (mp_22), S5000 (mp_31) with consistent figures', () => {
    const want: [string, string][] = [['MTT S80', 'mp_21'], ['MTT S3000', 'mp_21'], ['MTT S4000', 'mp_22'], ['MTT S5000', 'mp_31']];
    for (const [name, arch] of want) expect(MUSA_PARTS.find((p) => p.name === name)?.arch, name).toBe(arch);
    for (const p of MUSA_PARTS) {
      expect(p.memoryBytes, p.name).toBeGreaterThanOrEqual(16 * 2 ** 30);
      expect(p.bandwidth, p.name).toBeGreaterThan(4e11);
      expect(p.flops.f32, p.name).toBeGreaterThan(1e13);
      expect(p.flops.bf16, p.name).toBeGreaterThanOrEqual(p.flops.f32);
      expect(p.cores / p.multiprocessors, p.name).toBe(128);
    }
  });

  it('matches driver names and estimates unknown parts from multiprocessors x clock, marked as estimates', () => {
    expect(matchMusaPart('MTT S4000')?.name).toBe('MTT S4000');
    expect(matchMusaPart('Moore Threads MTT S80')?.name).toBe('MTT S80');
    expect(matchMusaPart('MTT S3000')?.name).toBe('MTT S3000');
    expect(matchMusaPart('MTT S5000')?.name).toBe('MTT S5000');
    expect(matchMusaPart('MTT S800')).toBeUndefined();
    // An S80 as its driver would report it (32 x 1.8 GHz) lands near the table's 14.4 TFLOP/s.
    const s80 = { name: 'MTT S80-like', ccMajor: 2, ccMinor: 1, multiprocessors: 32, clockKhz: 1800000, memoryClockKhz: 7000000, busWidthBits: 256 };
    const e = estimateMusaPart(s80);
    expect(e.estimate).toBe(true);
    expect(Math.abs(e.flops.f32 / 14.4e12 - 1)).toBeLessThan(0.05);
    expect(e.bandwidth).toBe(448e9);
    expect(e.flops.int8).toBeUndefined();
    expect(musaPartFigures({ ...s80, name: 'MTT S80' }).estimate).toBe(false);
    // An S4000 (64 x 1.53 GHz): 16-bit at 1024 FLOP/clock/multiprocessor lands near the table's 100 T.
    const s4000 = estimateMusaPart({ ...s80, ccMinor: 2, multiprocessors: 64, clockKhz: 1530000 });
    expect(Math.abs(s4000.flops.bf16 / 100e12 - 1)).toBeLessThan(0.05);
  });
});
