// The native core cross-compiled for aarch64 and run under qemu: the C ABI test passes on the NEON
// and generic kernel paths. Needs g++-aarch64-linux-gnu and qemu-user; CI installs them (.ci/run),
// so there a missing tool fails the suite, elsewhere it is skipped with the reason printed.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/native.js';

const have = (tool: string) => spawnSync('which', [tool]).status === 0;
const missing = ['aarch64-linux-gnu-g++', 'qemu-aarch64'].filter((t) => !have(t));
const inCI = !!process.env.CI;
if (missing.length && !inCI) console.warn(`aarch64 suite skipped: missing ${missing.join(', ')} (apt-get install g++-aarch64-linux-gnu qemu-user)`);

describe.skipIf(missing.length > 0 && !inCI)('aarch64 (cross-compiled, qemu)', () => {
  it('the C ABI and stress tests pass with the neon and generic kernels', async () => {
    expect(missing, 'CI must have the aarch64 toolchain and qemu').toEqual([]);
    // Asynchronous: a cross build of every kernel takes a while, and the test worker must keep
    // answering the runner meanwhile.
    const { stdout: out } = await promisify(execFile)('bash', [join(packageRoot(), 'scripts', 'test-aarch64.sh')], { encoding: 'utf8', timeout: 900_000 });
    for (const isa of ['neon', 'generic'])
      expect(out, isa).toMatch(new RegExp(`KERNELPORT_CPU_ISA=${isa}\\n\\d+ passed, 0 failed\\n\\d+ passed, 0 failed`));
  }, 900_000);
});
