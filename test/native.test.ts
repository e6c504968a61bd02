// The C ABI as a C framework uses it: a C program links libkernelport.so, runs ops and checks them.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot, requireNative, ABI_VERSION } from '../src/native.js';
import { attentionDesc, descriptorPacker, matmulDesc } from '../src/backends/cpu/descriptors.js';
import { planAttention } from '../src/ops/attention.js';
import { planMatmul } from '../src/ops/matmul.js';

describe('native core', () => {
  it('the C ABI test program passes', () => {
    const out = execFileSync(join(packageRoot(), 'build', 'Release', 'kp_abi_test'), { encoding: 'utf8' });
    expect(out).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('the randomised stress test passes (odd shapes, every option, garbage descriptors, 8 threads)', () => {
    const out = execFileSync(join(packageRoot(), 'build', 'Release', 'kp_stress_test'), ['60'], { encoding: 'utf8' });
    expect(out).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('the native tests are clean under AddressSanitizer + UndefinedBehaviorSanitizer', async () => {
    const { stdout: out } = await promisify(execFile)('bash', [join(packageRoot(), 'scripts', 'test-asan.sh'), '30'], { encoding: 'utf8', timeout: 900_000 });
    expect(out).toMatch(/kp_abi_test \(asan\+ubsan\)\n\d+ passed, 0 failed/);
    expect(out).toMatch(/kp_stress_test \(asan\+ubsan\)\n\d+ passed, 0 failed/);
    // The GPU kernels on the CPU emulator, sanitized, exact-size buffers (test/gpu-emulator.test.ts runs them unsanitized).
    expect(out).toMatch(/gpu kernels on the CPU emulator, auto paths \(asan\+ubsan\)\nPASS in /);
    expect(out).toMatch(/gpu kernels on the CPU emulator, mma paths \(asan\+ubsan\)\nPASS in /);
  }, 900_000);

  it('installs as a C library that pkg-config and find_package(kernelport) builds link and run', () => {
    const root = packageRoot();
    const dir = mkdtempSync(join(tmpdir(), 'kp-install-'));
    const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
      execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const prefix = join(dir, 'prefix');
      sh('cmake', ['--install', join(root, 'build'), '--prefix', prefix]);
      const lib = join(prefix, 'lib');
      // The soname carries the C ABI version: a framework built against ABI 1 never loads an ABI 2 library.
      expect(readlinkSync(join(lib, 'libkernelport.so'))).toBe(`libkernelport.so.${ABI_VERSION}`);
      expect(sh('readelf', ['-d', join(lib, 'libkernelport.so')])).toContain(`Library soname: [libkernelport.so.${ABI_VERSION}]`);
      // GPU backend libraries sit beside it, where the core looks for them.
      for (const plugin of ['libkernelport_cuda.so', 'libkernelport_musa.so'])
        expect(existsSync(join(lib, plugin)), plugin).toBe(existsSync(join(root, 'build', 'Release', plugin)));
      const abiTest = join(root, 'native', 'test', 'abi_test.c');
      const run = (exe: string) => sh(exe, [], { LD_LIBRARY_PATH: lib });

      const flags = sh('pkg-config', ['--cflags', '--libs', 'kernelport'], { PKG_CONFIG_PATH: join(lib, 'pkgconfig') }).trim().split(/\s+/);
      expect(flags).toContain(`-I${prefix}/lib/pkgconfig/../../include`);
      const viaPc = join(dir, 'abi-pkgconfig');
      sh('cc', [abiTest, ...flags, '-lm', '-o', viaPc]);
      expect(run(viaPc)).toMatch(/^\d+ passed, 0 failed$/m);

      const build = join(dir, 'consumer');
      sh('cmake', ['-S', join(root, 'test', 'fixtures', 'cmake-consumer'), '-B', build, `-DCMAKE_PREFIX_PATH=${prefix}`, `-DABI_TEST_SOURCE=${abiTest}`]);
      sh('cmake', ['--build', build]);
      expect(run(join(build, 'consumer'))).toMatch(/^\d+ passed, 0 failed$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('op descriptors: the JS builders fill exactly the fields the addon reads, and bad packed values are refused', () => {
    const addon = requireNative();
    const names = (layout: string[]) => layout.map((f) => f.replace(/\[\d+\]$/, '')).sort();
    const t = (shape: number[]) => ({ shape, dtype: 'bf16' as const });
    const mm = matmulDesc(planMatmul(t([3, 5, 7]), t([7, 2]), { bias: t([2]), residual: t([3, 5, 2]) }), { threads: 1 });
    const at = attentionDesc(planAttention(t([1, 4, 5, 8]), t([1, 2, 6, 8]), t([1, 2, 6, 8]), { mask: { shape: [5, 6], dtype: 'f32' as const }, returnLse: true }));
    expect(Object.keys(mm).sort()).toEqual(names(addon.descriptorFields.matmul));
    expect(Object.keys(at).sort()).toEqual(names(addon.descriptorFields.attention));

    // The packed array round-trips through the addon: the cpu's explain parses it ('' = no native planner).
    const dev = new addon.Device('cpu', 1);
    try {
      const pack = descriptorPacker(addon);
      expect(dev.explain('matmul', pack.matmul(mm))).toBe('');
      expect(dev.explain('attention', pack.attention(at))).toBe('');
      expect(() => dev.explain('matmul', pack.matmul({ ...mm, m: 2.5 }))).toThrow(/descriptor field 'm' must be an integer in range, got 2.5/);
      expect(() => dev.explain('matmul', pack.matmul({ ...mm, dtype: Number.NaN }))).toThrow(/descriptor field 'dtype' must be an integer/);
      expect(() => dev.explain('matmul', pack.matmul({ ...mm, batchShape: new Array(9).fill(1) }))).toThrow(/'batchShape' has 9 values, at most 8/);
      expect(() => dev.explain('matmul', new Float64Array(3))).toThrow(/an op descriptor must have \d+ values, got 3/);
      expect(() => dev.explain('attention', {} as Float64Array)).toThrow(/an op descriptor must be a Float64Array/);
    } finally {
      dev.close();
    }
  });

  it('native buffers: only the addon\'s own live handles are taken as buffers, a released one is refused, releasing twice is harmless', () => {
    const addon = requireNative();
    const dev = new addon.Device('cpu', 1);
    try {
      const live = addon.memoryStats().liveBuffers;
      const b = dev.createBuffer(64);
      expect(addon.bufferSize(b)).toBe(64);
      expect(addon.memoryStats().liveBuffers).toBe(live + 1);
      const out = new Float32Array(16);
      // a plain object, or another kind of value, in a buffer's place
      // (ids are internal handles: a number of a live slot would name it; these never can)
      for (const fake of [{}, { __nativeBuffer: 1 }, new Float32Array(16), 'b', -1, 0.5, 2 ** 60, Number.NaN, ((b as unknown as number) % 2 ** 24) + 2 ** 23])
        expect(() => dev.write(fake as unknown as typeof b, out)).toThrow(/buffer must be a NativeBuffer/);
      expect(() => addon.releaseBuffer({} as typeof b)).toThrow(/releaseBuffer: buffer must be a NativeBuffer/);
      addon.releaseBuffer(b);
      addon.releaseBuffer(b);
      expect(addon.bufferSize(b)).toBe(0);
      expect(addon.memoryStats().liveBuffers).toBe(live);
      expect(() => dev.write(b, out)).toThrow(/buffer has been disposed/);
      // its slot taken by a new buffer: the old handle still names a released buffer, not the new one
      const c = dev.createBuffer(64);
      expect(() => dev.write(b, out)).toThrow(/buffer has been disposed/);
      dev.write(c, out);
      addon.releaseBuffer(c);
    } finally {
      dev.close();
    }
  });

  it('the addon reports the ABI and package version it was built from', () => {
    const addon = requireNative();
    expect(addon.abiVersion).toBe(ABI_VERSION);
    expect(addon.addonVersion).toBe(addon.version);
  });
});
