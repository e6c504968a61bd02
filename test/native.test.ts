// The C ABI as a C framework uses it: a C program links libkernelport.so, runs ops and checks them.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot, requireNative, ABI_VERSION } from '../src/native.js';

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

  it('the addon reports the ABI and package version it was built from', () => {
    const addon = requireNative();
    expect(addon.abiVersion).toBe(ABI_VERSION);
    expect(addon.addonVersion).toBe(addon.version);
  });
});
