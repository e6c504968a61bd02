/**
 * The cuda backend's kernels on the CPU emulator (native/emu, libkernelport_gpu_emu.so): the same
 * kernels/gpu/ sources and native/gpu/backend_gpu.cpp, compiled by g++, with GPU threads as fibers and
 * mma.sync / ldmatrix / cp.async / wgmma / TMA emulated. Loaded as "cuda" through the stand-in driver
 * (KERNELPORT_CUDA_DRIVER) and KERNELPORT_CUDA_LIBRARY, in child processes (the GPU probe happens once
 * per process). This is how the tensor-core kernels (and their forced paths, allowP16, the sm_90 wgmma
 * attention, and the 64/128-lane warp planning of MUSA parts) are run by CI, which has no GPU: their
 * logic against the float64 oracle, not their speed and not the tensor cores' own rounding (see
 * native/emu/runtime.h).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/native.js';

const root = packageRoot();
const release = join(root, 'build', 'Release');
const emuLib = join(release, 'libkernelport_gpu_emu.so');
const fakeDriver = join(release, 'libkp_fake_cuda_driver.so');
const cli = join(root, 'dist', 'cli', 'main.js');
const missing = [emuLib, fakeDriver].filter((f) => !existsSync(f));
if (missing.length) console.log(`test/gpu-emulator.test.ts: skipped, not built: ${missing.join(', ')} (KP_GPU_EMU=OFF, a sanitizer build or a cross-compile)`);

const emuEnv = { KERNELPORT_CUDA_DRIVER: fakeDriver, KERNELPORT_CUDA_LIBRARY: emuLib, KERNELPORT_EMU_STATS: '1' };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Warp-collective operations by kind, from KERNELPORT_EMU_STATS. */
  ops: Record<string, number>;
  /** Thread blocks run, from KERNELPORT_EMU_STATS. */
  blocks: number;
}

/** Runs node with `args` in the emulator's environment (asynchronously: vitest's worker keeps talking meanwhile). */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...emuEnv, ...env }, timeout: 300_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      const line = stderr.split('\n').find((l) => l.startsWith('kernelport-emu:')) ?? '';
      const ops: Record<string, number> = {};
      for (const m of line.matchAll(/, (\w+) (\d+)/g)) ops[m[1]!] = Number(m[2]);
      resolve({ status, stdout, stderr, ops, blocks: Number(/(\d+) blocks/.exec(line)?.[1] ?? 0) });
    });
  });
}

/** Runs `body` in a child with `dev` open on the emulated cuda; what it writes to stdout, parsed as JSON. */
async function onCuda(body: string): Promise<unknown> {
  const script = `import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
    const dev = await open('cuda');
    ${body}
    dev.dispose();
  });`;
  const r = await run(['--input-type=module', '-e', script]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** Runs a judging fixture (test/fixtures/attention-*.mjs: one JSON line per case) with `env`; its cases. */
async function fixtureCases(name: string, env: Record<string, string>, args: string[] = []): Promise<{ name: string; variant: string; pass: boolean; worst: number; bits?: string }[]> {
  const r = await run([join(root, 'test', 'fixtures', name), ...args], env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

/** Opens the cuda device in a child process with `env`; what it printed (the error's message where open() failed). */
const openError = (env: Record<string, string>) =>
  run(['--input-type=module', '-e', `import('${join(root, 'dist', 'index.js')}').then(({ open }) => open('cuda')).catch((e) => console.log(e.message))`], env);
/** Prints one JSON line per autotuning candidate (or, given a case and a config, that one run alone). */
const tuneFixture = join(root, 'test', 'fixtures', 'gpu-tune-candidates.mjs');
const validate = (size: string, env: Record<string, string> = {}, extra: string[] = []) =>
  run([cli, 'validate', size, '--backends', 'cuda', ...extra], env);

function expectPass(r: Run): void {
  expect(r.stdout, r.stderr).toMatch(/NVIDIA H20 \(sm_90/); // the emulated device, as the stand-in driver names it
  expect(r.status, r.stdout.slice(-3000)).toBe(0);
  expect(r.stdout).toMatch(/\nPASS in /);
}

describe.skipIf(missing.length > 0)('cuda kernels on the CPU emulator', () => {
  it('validate --quick passes on the default paths, the tensor-core attention among them', async () => {
    const r = await validate('--quick');
    expectPass(r);
    expect(r.ops.mma ?? 0).toBeGreaterThan(0);
    expect(r.ops.ldmatrix ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it('validate --quick passes with the tensor cores forced wherever they can run (GEMM, TF32 and attention)', async () => {
    const base = await validate('--quick');
    const r = await validate('--quick', { KERNELPORT_GPU_GEMM: 'mma', KERNELPORT_GPU_ATTENTION: 'mma' });
    expectPass(r);
    expect(r.ops.mma ?? 0).toBeGreaterThan(2 * (base.ops.mma ?? 0));
  }, 300_000);

  it('validate --quick matmul passes on the sm_90 wgmma GEMM (TMA loads, mbarrier pipeline, warpgroup MMA), alone and in 2-block and 2 × 2 clusters, and with K split', async () => {
    // Alone; in 2-block clusters (B tiles multicast to both blocks, stages released to both producers,
    // M tiles paired: one more block where their count is odd); in 2 x 2 clusters (A halves multicast
    // along the row too, stages released to the row's and the column's producers, N tiles paired as
    // well). Each pads more tiles than the one before: more warpgroup MMAs.
    let fewer = 0;
    let pairedBlocks = 0;
    for (const gemm of ['wgmma', 'wgmma-cluster', 'wgmma-cluster2x2']) {
      const r = await validate('--quick', { KERNELPORT_GPU_GEMM: gemm }, ['--ops', 'matmul']);
      expectPass(r);
      expect(r.ops.wgmma ?? 0, gemm).toBeGreaterThan(fewer);
      fewer = r.ops.wgmma ?? 0;
      if (gemm === 'wgmma-cluster') pairedBlocks = r.blocks;
    }
    // K split 3 ways wherever the batch is 1 (KERNELPORT_GPU_GEMM_SPLITK, opt-in): every split stores its
    // partial tile and counts itself in, the last to arrive adds them in split order, in 2-block clusters
    // here. More blocks run.
    const split = await validate('--quick', { KERNELPORT_GPU_GEMM: 'wgmma-cluster', KERNELPORT_GPU_GEMM_SPLITK: '3' }, ['--ops', 'matmul']);
    expectPass(split);
    expect(split.blocks).toBeGreaterThan(pairedBlocks);
  }, 300_000);

  it('split-K gives the same bits whichever split finishes a tile: blocks run first to last, then last to first', async () => {
    // The last split to arrive adds the partial tiles in split order, so the order blocks run in (which a
    // GPU does not promise) changes who finishes, not the sums.
    const script = `
      import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
        const { encode } = await import('${join(root, 'dist', 'dtype.js')}');
        const dev = await open('cuda');
        const [m, k, n] = [257, 520, 264];
        const host = (len, s) => encode(Float64Array.from({ length: len }, (_, i) => Math.sin(i * 0.61 + s) * (1 + (i % 5))), 'bf16');
        const a = dev.tensor(host(m * k, 1), [m, k], 'bf16'), b = dev.tensor(host(k * n, 2), [k, n], 'bf16');
        const out = await dev.matmul(a, b, { outDtype: 'f32' }).read();
        const v = dev.explain('matmul', { m, n, k, dtype: 'bf16' }).variant;
        process.stdout.write(JSON.stringify({ v, bits: Buffer.from(out.buffer).toString('base64') }));
        dev.dispose();
      });`;
    const env = { KERNELPORT_GPU_GEMM: 'wgmma', KERNELPORT_GPU_GEMM_SPLITK: '3' };
    const [fwd, rev] = [await run(['--input-type=module', '-e', script], env), await run(['--input-type=module', '-e', script], { ...env, KERNELPORT_EMU_ORDER: 'reverse' })];
    for (const r of [fwd, rev]) expect(r.status, r.stderr).toBe(0);
    const [x, y] = [JSON.parse(fwd.stdout), JSON.parse(rev.stdout)];
    expect(x.v).toBe('gemm-wgmma-splitk-bf16');
    expect(y.bits).toBe(x.bits);
  }, 120_000);

  it('validate --quick passes with the threads taking their turns, and the blocks running, in reverse order (KERNELPORT_EMU_ORDER=reverse)', async () => {
    // A kernel leaning on the order threads run between barriers fails in one of the two orders.
    for (const [gemm, attention] of [['wgmma-cluster2x2', 'mma'], ['mma', 'wgmma']]) {
      const r = await validate('--quick', { KERNELPORT_EMU_ORDER: 'reverse', KERNELPORT_GPU_GEMM: gemm!, KERNELPORT_GPU_ATTENTION: attention! });
      expectPass(r);
      expect(r.ops.wgmma ?? 0).toBeGreaterThan(0);
      expect(r.ops.mma ?? 0).toBeGreaterThan(0);
    }
  }, 300_000);

  it('validate --quick passes with the portable SIMT kernels forced: no tensor-core instruction runs', async () => {
    const r = await validate('--quick', { KERNELPORT_GPU_GEMM: 'simt', KERNELPORT_GPU_ATTENTION: 'simt' });
    expectPass(r);
    expect(r.ops.mma).toBeUndefined();
    expect(r.ops.ldmatrix).toBeUndefined();
    expect(r.ops.wgmma).toBeUndefined();
    expect(r.ops.shfl ?? 0).toBeGreaterThan(0);
  }, 300_000);

  // The tile plans of the parts never run on a GPU here: sm_80 (163 KiB of shared memory per block) and
  // sm_86/89/120 (99 KiB: the 128x256 mma.sync tile does not fit, attention at D = 128 just does).
  for (const sm of ['80', '86'])
    it(`validate --quick passes on an sm_${sm} part's shared memory with the tensor cores forced`, async () => {
      const r = await validate('--quick', { KERNELPORT_EMU_SM: sm, KERNELPORT_GPU_GEMM: 'mma', KERNELPORT_GPU_ATTENTION: 'mma' });
      expectPass(r);
      expect(r.ops.mma ?? 0).toBeGreaterThan(0);
    }, 300_000);

  for (const warp of ['64', '128'])
    it(`validate --quick passes on ${warp}-lane warps (Moore Threads mp_21/mp_22 report 128): the portable kernels, planned for them`, async () => {
      const r = await validate('--quick', { KERNELPORT_EMU_WARP_SIZE: warp });
      expectPass(r);
      expect(r.ops.mma).toBeUndefined();
    }, 300_000);

  // A 64 KiB L2 (KERNELPORT_EMU_L2_KB): the tensor-core kernels' launch order takes one K/V head's
  // query heads a group (attention_order.h), so every multi-head case with several row blocks runs in
  // another order than auto's on the default L2 (a short last group: the launch order test below).
  it('validate --full attention passes with the mma.sync kernel taking every shape it can, allowP16 cases included, launched in small head groups', async () => {
    const r = await validate('--full', { KERNELPORT_GPU_ATTENTION: 'mma', KERNELPORT_EMU_L2_KB: '64' }, ['--ops', 'attention']);
    expectPass(r);
    expect(r.ops.mma ?? 0).toBeGreaterThan(0);
    expect(r.ops.wgmma).toBeUndefined();
  }, 300_000);

  it('validate --full attention passes with the sm_90 wgmma kernel taking every shape it can (D 64 and 128; mma.sync D 80 and 96 and masked calls), launched in small head groups', async () => {
    const r = await validate('--full', { KERNELPORT_GPU_ATTENTION: 'wgmma', KERNELPORT_EMU_L2_KB: '64' }, ['--ops', 'attention']);
    expectPass(r);
    expect(r.ops.wgmma ?? 0).toBeGreaterThan(0);
    // the quick suite's tensor-core shapes are all D = 64: no mma.sync then
    const quick = await validate('--quick', { KERNELPORT_GPU_ATTENTION: 'wgmma' }, ['--ops', 'attention']);
    expectPass(quick);
    expect(quick.ops.wgmma ?? 0).toBeGreaterThan(0);
    expect(quick.ops.mma).toBeUndefined();
    expect(quick.ops.ldmatrix).toBeUndefined();
  }, 300_000);

  it('validate --full attention passes with the wgmma allowP16 kernel on 64-key tiles too (KERNELPORT_GPU_ATTENTION_KEYS=64, the tile A/B)', async () => {
    const r = await validate('--full', { KERNELPORT_GPU_ATTENTION: 'wgmma', KERNELPORT_GPU_ATTENTION_KEYS: '64' }, ['--ops', 'attention', '--dtypes', 'bf16']);
    expectPass(r);
    expect(r.ops.wgmma ?? 0).toBeGreaterThan(0);
    const shape = { batch: 1, hq: 2, sq: 130, skv: 300, d: 128, causal: true, allowP16: true };
    const script = `import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
      const dev = await open('cuda');
      console.log(JSON.stringify(['bf16', 'f16'].map((dtype) => dev.explain('attention', { ...${JSON.stringify(shape)}, dtype }).variant)));
      dev.dispose();
    })`;
    const named = JSON.parse((await run(['--input-type=module', '-e', script], { KERNELPORT_GPU_ATTENTION_KEYS: '64' })).stdout);
    expect(named).toEqual(['flash-attention-wgmma-m64n64k16-p16-keys64', 'flash-attention-wgmma-m64n64k16-p16']); // f16 D=128: 64 keys anyway
    const bad = await openError({ KERNELPORT_GPU_ATTENTION_KEYS: '32' });
    expect(bad.stdout).toMatch(/KERNELPORT_GPU_ATTENTION_KEYS must be auto or 64, got '32'/);
  }, 300_000);

  it('the tensor-core attention launch order (KERNELPORT_GPU_ATTENTION_GROUP: heads per group) changes no bit: a head a group, 3 (a short last group of 4 heads), every head', async () => {
    const bits = async (name: string, env: Record<string, string>) => {
      const one = await run([tuneFixture, name, '{}'], env);
      expect(one.status, one.stderr).toBe(0);
      const row = JSON.parse(one.stdout) as { pass: boolean; kernel: string; bits: string };
      expect(row.pass, `${name} ${JSON.stringify(env)}`).toBe(true);
      return `${row.kernel} ${row.bits}`;
    };
    for (const [name, kernel] of [
      ['attention bf16 causal allowP16 D=128 kvLengths', 'flash-attention-wgmma-m64n64k16-p16'],
      ['attention f16 GQA D=64', 'flash-attention-mma-m16n8k16'],
    ] as const) {
      const auto = await bits(name, {});
      expect(auto.split(' ')[0]).toBe(kernel);
      for (const group of ['1', '3', 'all']) expect(await bits(name, { KERNELPORT_GPU_ATTENTION_GROUP: group }), `${name} group ${group}`).toBe(auto);
    }
    const bad = await openError({ KERNELPORT_GPU_ATTENTION_GROUP: '0' });
    expect(bad.stdout).toMatch(/KERNELPORT_GPU_ATTENTION_GROUP must be auto, all or a head count from 1, got '0'/);
  }, 300_000);

  for (const [path, op, variant] of [
    ['mma', 'mma', 'flash-attention-mma-m16n8k16'],
    ['wgmma', 'wgmma', 'flash-attention-wgmma-m64n64k16'],
  ] as const)
  it(`allowP16 takes the rounded-P kernel (${path}): other bits than the exact split, fewer ${op}, both within their bounds`, async () => {
    const script = (allowP16: boolean) => `
      import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
        const { expectAttention, judgeAttention } = await import('${join(root, 'dist', 'numerics', 'check.js')}');
        const { encode } = await import('${join(root, 'dist', 'dtype.js')}');
        const dev = await open('cuda');
        const shape = [1, 2, 130, 64];
        const n = shape.reduce((x, y) => x * y);
        const host = (s) => ({ data: encode(Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s) * (1 + (i % 7))), 'bf16'), shape, dtype: 'bf16' });
        const x = { q: host(1), k: host(2), v: host(3) };
        const options = { causal: true, allowP16: ${allowP16} };
        const j = await judgeAttention(dev, x, options, expectAttention(x, options));
        const judged = { pass: j.out.failures === 0 && j.lse.failures === 0, worstRatio: Math.max(j.out.worstRatio, j.lse.worstRatio) };
        const q = dev.tensor(x.q.data, shape, 'bf16'), k = dev.tensor(x.k.data, shape, 'bf16'), v = dev.tensor(x.v.data, shape, 'bf16');
        const out = Array.from(await dev.attention(q, k, v, options).read());
        process.stdout.write(JSON.stringify({ pass: judged.pass, ratio: judged.worstRatio, variant: dev.explain('attention', { hq: 2, sq: 130, skv: 130, d: 64, causal: true, dtype: 'bf16', allowP16: ${allowP16} }).variant, out }));
        dev.dispose();
      });`;
    const env = { KERNELPORT_GPU_ATTENTION: path };
    const [exact, p16] = [await run(['--input-type=module', '-e', script(false)], env), await run(['--input-type=module', '-e', script(true)], env)];
    for (const r of [exact, p16]) expect(r.status, r.stderr).toBe(0);
    const [a, b] = [JSON.parse(exact.stdout), JSON.parse(p16.stdout)];
    expect(a.pass, `exact split: worst ${a.ratio}`).toBe(true);
    expect(b.pass, `allowP16: worst ${b.ratio}`).toBe(true);
    expect(a.variant).toBe(variant);
    expect(b.variant).toBe(`${variant}-p16`);
    expect(b.out).not.toEqual(a.out);
    expect(p16.ops[op]!).toBeLessThan(exact.ops[op]!);
  }, 300_000);

  it('the wgmma kernel, allowP16 (its overlap path) and not: Inf and NaN in V tiles, visible and hidden, follow the reference', async () => {
    // The overlap path issues P·V on every tile and reads a non-finite V tile as zeros before adding it
    // key by key; reading V itself there puts 0·Inf = NaN into rows that must stay finite. Each tile's
    // V is checked during the tile before it: checking the wrong one fails here.
    const cases = await fixtureCases('attention-nonfinite-v.mjs', { KERNELPORT_GPU_ATTENTION: 'wgmma' });
    expect(cases).toHaveLength(16);
    for (const c of cases) {
      expect(c.variant, c.name).toBe(`flash-attention-wgmma-m64n64k16${c.name.endsWith('allowP16=true') ? '-p16' : ''}`);
      expect(c.pass, `${c.name}: worst ${c.worst}`).toBe(true);
    }
  }, 300_000);

  it('an additive mask takes the masked mma.sync kernels (on sm_90 too) and follows the reference: every broadcast, -inf, finfo.min padding, +inf and NaN where a row looks and where it does not', async () => {
    // A row of only finfo(float32).min is a uniform average, not an empty row: scores scaled into log2
    // units before the max overflow to -inf there (attention_flash.cuh softmax_tile's NATURAL). A NaN
    // mask at a key the row does not see (causality, kvLengths) must not be read.
    const cases = (await fixtureCases('attention-mask.mjs', {})) as { name: string; variant: string; pass: boolean; worst: number; uniform?: boolean }[];
    expect(cases).toHaveLength(120);
    for (const c of cases) {
      expect(c.variant, c.name).toBe(`flash-attention-mma-m16n8k16${c.name.endsWith('allowP16=true') ? '-p16' : ''}-mask`);
      expect(c.pass, `${c.name}: worst ${c.worst}`).toBe(true);
      // the bound scales with |mask|: the rows of only finfo.min are checked as plain means apart
      expect(c.uniform, c.name).toBe(c.name.startsWith('padding') ? true : undefined);
    }
  }, 300_000);

  it("the GEMMs' epilogue activations on every bf16 value in [-16, 16], +-Inf, NaN, 1e30 and subnormals follow the reference within the K = 1 bound (SIMT, mma.sync and wgmma)", async () => {
    // GELU is its own tail formula (gelu_exact in common.cuh), not erfc: a 4e-4 change to its w^2
    // coefficient fails the f32 cases at 2.9 times the bound. The bound lets the activation be off by
    // ~15 u |x| (K = 1): the formula's own accuracy (<= 5.7 u |x|) is argued in common.cuh.
    for (const [gemm, bf16] of [['auto', 'gemm-simt-64x64'], ['mma', 'gemm-mma-m16n8k16-bf16'], ['wgmma', 'gemm-wgmma-bf16']]) {
      const cases = await fixtureCases('matmul-activation-sweep.mjs', { KERNELPORT_GPU_GEMM: gemm! });
      expect(cases).toHaveLength(16);
      for (const c of cases) {
        expect(c.variant, `${gemm} ${c.name}`).toBe(c.name.includes('bf16') ? bf16 : 'gemm-simt-64x64');
        expect(c.pass, `${gemm} ${c.name}: worst ${c.worst}`).toBe(true);
      }
    }
  }, 300_000);

  it('the mma.sync kernel at D = 192, Dv = 128 (DeepSeek MLA; Q from shared memory, K and V copied eight threads a row): Inf and NaN in V tiles follow the reference', async () => {
    // Each thread checks the V copies it made itself (the only ones cp.async.wait_group shows it): the
    // check walks copy_rows' mapping. Walking the D = Dv mapping instead read other threads' copies
    // before the barrier, which the emulator shows as stale data: tiles with Inf taken as finite.
    const cases = await fixtureCases('attention-nonfinite-v.mjs', {}, ['192x128']);
    expect(cases).toHaveLength(16);
    const variant = (name: string) => `flash-attention-mma-m16n8k16${name.endsWith('allowP16=true') ? '-p16' : ''}${name.includes(' mask') ? '-mask' : ''}`;
    for (const c of cases) {
      expect(c.variant, c.name).toBe(variant(c.name));
      expect(c.pass, `${c.name}: worst ${c.worst}`).toBe(true);
    }
    // An L20's 99 KiB (KERNELPORT_EMU_SM=89): the layout with one V buffer, loaded after the tile before's
    // P V and the P scratch in the K buffer just used (one_v_smem_bytes): the same bits, masked or not.
    // Also with the copies landing at issue (KERNELPORT_EMU_CP_ASYNC=early), threads in reverse: without the
    // barrier before the next V is loaded over the one just used, all 16 cases fail that way.
    const want = cases.map((c) => [c.name, variant(c.name), true, c.bits]);
    // And on the sm_90 part planning as a 99 KiB one (KERNELPORT_GPU_SMEM_LIMIT: how a GPU run reaches it).
    const layouts = [{ KERNELPORT_EMU_SM: '89' }, { KERNELPORT_EMU_SM: '89', KERNELPORT_EMU_CP_ASYNC: 'early', KERNELPORT_EMU_ORDER: 'reverse' }, { KERNELPORT_GPU_SMEM_LIMIT: '101376' }];
    for (const env of layouts) {
      const l20 = await fixtureCases('attention-nonfinite-v.mjs', env, ['192x128']);
      expect(l20.map((c) => [c.name, c.variant, c.pass, c.bits]), JSON.stringify(env)).toEqual(want);
    }
    const bad = await openError({ KERNELPORT_GPU_SMEM_LIMIT: '99KiB' });
    expect(bad.stdout).toMatch(/KERNELPORT_GPU_SMEM_LIMIT must be auto or a byte count from 1, got '99KiB'/);
  }, 300_000);

  it('validate --quick passes with every cp.async landing at issue (KERNELPORT_EMU_CP_ASYNC=early): no buffer is refilled while a warp still reads it', async () => {
    // The emulator otherwise lands copies at cp.async.wait_group, which hides a refill issued before the
    // other warps' last read of a buffer; a GPU may land them at once. Both thread orders, default and
    // forced tensor-core paths, an L20's sm_89.
    for (const env of [{}, { KERNELPORT_EMU_ORDER: 'reverse', KERNELPORT_GPU_GEMM: 'mma', KERNELPORT_GPU_ATTENTION: 'mma' }, { KERNELPORT_EMU_SM: '89' }])
      expectPass(await validate('--quick', { KERNELPORT_EMU_CP_ASYNC: 'early', ...env }));
  }, 300_000);

  for (const path of ['wgmma', 'mma'] as const)
    it(`the tensor-core attention (${path}) with raw scores of 10^8 and more: the row's largest p is exactly 1, nothing overflows`, async () => {
      // One fma(s, c, -m) for the exponent left the max key half an ulp of m: p = 2^4 at 10^8, f16's P
      // (x 2^15) Inf, the output Inf (attention_flash.cuh softmax_tile).
      const cases = await fixtureCases('attention-large-scores.mjs', { KERNELPORT_GPU_ATTENTION: path });
      expect(cases).toHaveLength(12);
      for (const c of cases) {
        expect(c.variant, c.name).toMatch(path === 'wgmma' ? /^flash-attention-wgmma/ : /^flash-attention-mma/);
        expect(c.pass, `${c.name}: worst ${c.worst}`).toBe(true);
      }
    }, 300_000);

  it('device buffers are not counted as V8 external memory (cpu buffers are): 256 MiB of GPU tensors set off no garbage collection', async () => {
    // V8 answers external-memory growth with full collections on the thread that enqueues ops: on an H100
    // that cost ~50 us per op of 4 MiB outputs. Host memory (cpu) stays counted, for tensors never disposed.
    const got = (await onCuda(`
      const { PerformanceObserver } = await import('node:perf_hooks');
      let gcs = 0;
      const obs = new PerformanceObserver((l) => { gcs += l.getEntries().length; });
      obs.observe({ entryTypes: ['gc'] });
      const settle = () => new Promise((r) => setTimeout(r, 50));  // gc entries arrive asynchronously
      const collections = async (d) => {
        await settle();
        const g0 = gcs;
        const held = Array.from({ length: 64 }, () => d.empty([1024, 1024]));  // 64 x 4 MiB
        await settle();
        held.forEach((t) => t.dispose());
        return gcs - g0;
      };
      const cpu = await open('cpu');
      process.stdout.write(JSON.stringify({ cpu: await collections(cpu), cuda: await collections(dev) }));
      cpu.dispose();
      obs.disconnect();`)) as { cpu: number; cuda: number };
    expect(got.cpu).toBeGreaterThan(0);
    expect(got.cuda).toBe(0);
  }, 120_000);

  it('the device cache holds up to a quarter of device memory: 1.25 GiB of outputs disposed and made again come from it', async () => {
    // Two rounds of 320 live 4 MiB tensors, disposed after each round. Under the cap the second round takes
    // the first round's blocks (no allocation); over it, disposing gives the cache back (a device sync and
    // a free per block) and the second round allocates again.
    const script = `
      import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
        const dev = await open('cuda');
        for (let round = 0; round < 2; round++) {
          const held = Array.from({ length: 320 }, () => dev.empty([1024, 1024]));
          await dev.sync();
          held.forEach((t) => t.dispose());
        }
        dev.dispose();
      });`;
    const big = await run(['--input-type=module', '-e', script], { KERNELPORT_EMU_MEMORY_MB: '8192' }); // cap 2 GiB
    const small = await run(['--input-type=module', '-e', script], { KERNELPORT_EMU_MEMORY_MB: '2048' }); // cap 512 MiB
    for (const r of [big, small]) expect(r.status, r.stderr).toBe(0);
    expect(big.ops.mallocs).toBe(320);
    expect(small.ops.mallocs).toBeGreaterThanOrEqual(2 * 320 - 128);
    expect(small.ops.frees).toBeGreaterThan(0);
  }, 120_000);

  it('copy on the device (a device-to-device copy on the GPU stream): ordered after the kernel that wrote its source and before later ones', async () => {
    const got = await onCuda(`
        const a = dev.tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => (i % 7) - 3), [64, 64]);
        const y = dev.matmul(a, a);
        const slot = dev.tensor(new Float32Array(3 * 64).fill(-1), [3, 64]);
        dev.copy(y, slot, { srcOffset: 5 * 64, dstOffset: 64, count: 64 });
        dev.matmul(a, a, { alpha: 2, out: y });
        const got = Array.from(await slot.read());
        const want = Array.from(await dev.matmul(a, a).read()).slice(5 * 64, 6 * 64);
        // rows: a 2-D copy (strides apart on both sides), and overlapping source rows (one copy per row)
        const m = dev.tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => i), [64, 64]);
        const cols = Array.from(await dev.copy(m, dev.empty([3, 8]), { rows: 3, count: 8, srcOffset: 4, srcStride: 128 }).read());
        const slide = Array.from(await dev.copy(m, dev.empty([3, 8]), { rows: 3, count: 8, srcStride: 2 }).read());
        const rowsOk = cols.every((v, i) => v === 4 + Math.floor(i / 8) * 128 + (i % 8)) && slide.every((v, i) => v === Math.floor(i / 8) * 2 + (i % 8));
        process.stdout.write(JSON.stringify({ ok: got.slice(64, 128).every((v, i) => v === want[i]) && got.slice(0, 64).every((v) => v === -1) && got.slice(128).every((v) => v === -1), rowsOk }));
    `);
    expect(got).toEqual({ ok: true, rowsOk: true });
  }, 300_000);

  it('a write waits for the kernels already launched that read or write the tensor (the emulated device runs them only when waited for)', async () => {
    // pending() == 0: the queue thread has launched the kernel and let go of its operands, which the
    // device has not run yet; a write that does not wait for it lands first.
    const got = await onCuda(`
        const launched = async () => { while (dev.pending() > 0) await new Promise((r) => setTimeout(r, 1)); };
        const data = Float32Array.from({ length: 32 * 32 }, (_, i) => (i % 5) - 2);
        const a = dev.tensor(data, [32, 32]);
        const want = Array.from(await dev.matmul(a, a).read());
        const y = dev.matmul(a, a);          // reads a
        const z = dev.matmul(a, a);          // writes z
        await launched();
        a.write(new Float32Array(32 * 32));  // after y's kernel: y is a times a, not zeros
        z.write(new Float32Array(32 * 32).fill(7));  // after z's kernel: z holds the 7s
        const gotY = Array.from(await y.read());
        const gotZ = Array.from(await z.read());
        process.stdout.write(JSON.stringify({ y: gotY.every((v, i) => v === want[i]), z: gotZ.every((v) => v === 7) }));
    `);
    expect(got).toEqual({ y: true, z: true });
  }, 120_000);

  it("explain() names the kernel the library will run (its own planner), not only the model's family", async () => {
    const script = (env: string) => `
      import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
        ${env}
        const dev = await open('cuda');
        const v = (op, d) => dev.explain(op, d);
        const out = {
          smallTf32: v('matmul', { m: 64, n: 64, k: 64, allowTf32: true }),
          bigTf32: v('matmul', { m: 4096, n: 4096, k: 4096, allowTf32: true }).variant,
          gemv: v('matmul', { m: 3, n: 512, k: 512 }).variant,
          bf16: v('matmul', { m: 2048, n: 2048, k: 2048, dtype: 'bf16' }).variant,
          bf16small: v('matmul', { m: 512, n: 512, k: 512, dtype: 'bf16' }).variant,
          bf16batched: v('matmul', { m: 256, n: 256, k: 64, batch: 8, dtype: 'f16' }).variant,
          decode: v('attention', { batch: 4, hq: 32, sq: 1, skv: 4096, d: 128, dtype: 'bf16' }).variant,
          prefill: v('attention', { hq: 32, sq: 2048, skv: 2048, d: 128, causal: true, dtype: 'bf16', allowP16: true }).variant,
        };
        process.stdout.write(JSON.stringify(out));
        dev.dispose();
      });`;
    const r = await run(['--input-type=module', '-e', script('')]);
    expect(r.status, r.stderr).toBe(0);
    const x = JSON.parse(r.stdout);
    // 64^3: under the TF32 kernel's size threshold, the library keeps the SIMT tile; the model alone says TF32
    expect(x.smallTf32.variant).toBe('gemm-simt-64x64');
    expect(x.smallTf32.why).toMatch(/gemm-simt-64x64: the cuda library's choice \(the estimate models gemm-mma-tf32\)/);
    expect(x.bigTf32).toMatch(/tf32/);
    expect(x.gemv).toMatch(/^gemv/);
    expect(x.bf16).toBe('gemm-wgmma-cluster2-bf16'); // the emulated part is an sm_90 H20: 128 tiles of 128x256 fill its 78 SMs
    // under a quarter of a 128x128 tile per multiprocessor the library keeps the finer SIMT tiles
    expect(x.bf16small).toBe('gemm-simt-64x64');
    // ... counting every batch entry's outputs, as the library does (8 x 256 x 256 is above it)
    expect(x.bf16batched).toBe('gemm-wgmma-f16');
    expect(x.decode).toBe('flash-decoding-split-kv-vec');
    expect(x.prefill).toBe('flash-attention-wgmma-m64n64k16-p16'); // sm_90, D = 128: the wgmma kernel
    // the forced paths as the library reads them
    const forced = await run(['--input-type=module', '-e', script('')], { KERNELPORT_GPU_ATTENTION: 'mma', KERNELPORT_GPU_GEMM: 'simt' });
    const y = JSON.parse(forced.stdout);
    expect(y.decode).toBe('flash-attention-mma-m16n8k16');
    expect(y.prefill).toBe('flash-attention-mma-m16n8k16-p16'); // mma: never wgmma
    expect(y.bf16).toMatch(/simt/);
    // wgmma: the sm_90 kernel, decoding shapes too; on another part (sm_80) as auto
    const hopper = JSON.parse((await run(['--input-type=module', '-e', script('')], { KERNELPORT_GPU_ATTENTION: 'wgmma' })).stdout);
    expect(hopper.decode).toBe('flash-attention-wgmma-m64n64k16');
    expect(hopper.prefill).toBe('flash-attention-wgmma-m64n64k16-p16');
    const ampere = JSON.parse((await run(['--input-type=module', '-e', script('')], { KERNELPORT_GPU_ATTENTION: 'wgmma', KERNELPORT_EMU_SM: '80' })).stdout);
    expect(ampere.decode).toBe('flash-decoding-split-kv-vec');
    expect(ampere.prefill).toBe('flash-attention-mma-m16n8k16-p16');
  }, 120_000);

  it('every kernel the autotuner times passes against the reference, and each choice reaches the launch', async () => {
    const r = await run([tuneFixture]);
    expect(r.status, r.stderr).toBe(0);
    type Row = { case: string; label: string; config: Record<string, number>; kernel: string; pass: boolean; worst: number; bits: string };
    const rows: Row[] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const byCase = new Map<string, Row[]>();
    for (const x of rows) byCase.set(x.case, [...(byCase.get(x.case) ?? []), x]);
    expect([...byCase.keys()]).toHaveLength(3);
    for (const [name, list] of byCase) {
      for (const x of list) expect(x.pass, `${name} ${x.label} (${x.kernel}): worst ${x.worst}`).toBe(true);
      // one candidate per kernel (split-K counts apart): no kernel timed twice
      const keys = list.map((x) => (/splitk/.test(x.kernel) ? x.label : x.kernel));
      expect(new Set(keys).size, name).toBe(list.length);
      expect(list[0]!.label, name).toBe('auto');
    }
    const m = byCase.get('matmul bf16 bias gelu')!;
    expect(m.map((x) => x.kernel)).toEqual(expect.arrayContaining(['gemm-simt-64x64', 'gemm-wgmma-bf16', 'gemm-mma-m16n8k16-bf16', 'gemm-wgmma-splitk-bf16']));
    const a = byCase.get('attention bf16 causal allowP16 D=128 kvLengths')!;
    expect(a.map((x) => x.kernel)).toEqual(['flash-attention-wgmma-m64n64k16-p16', 'flash-attention-wgmma-m64n64k16-p16-keys64', 'flash-attention-mma-m16n8k16-p16', 'flash-attention-simt']);

    // Each candidate alone: the instructions the emulator ran are the named kernel's (a launch that
    // planned with the device's choice instead of the op's would run auto's) ...
    const alone = async (x: Row, env: Record<string, string> = {}) => {
      const one = await run([tuneFixture, x.case, JSON.stringify(x.config)], env);
      expect(one.status, one.stderr).toBe(0);
      return { ...one, bits: JSON.parse(one.stdout).bits as string };
    };
    for (const x of rows) {
      const { ops, bits } = await alone(x);
      expect(bits, `${x.case} ${x.label}`).toBe(x.bits);
      const tc = /wgmma/.test(x.kernel) ? 'wgmma' : /mma-m16n8k/.test(x.kernel) ? 'mma' : 'none';
      expect([(ops.wgmma ?? 0) > 0, (ops.mma ?? 0) > 0], `${x.case} ${x.label} (${x.kernel}): ${JSON.stringify(ops)}`).toEqual([tc === 'wgmma', tc === 'mma']);
    }
    // ... and the choices the instruction mix does not show (split-K's count, 64-key tiles) give the
    // bits of the same choice made through the environment, which differ from the library's own
    const auto = (list: Row[]) => list[0]!.bits;
    const viaEnv = (x: Row, env: Record<string, string>) => alone({ ...x, config: {} }, env).then((o) => o.bits);
    for (const x of m.filter((r) => /splitk/.test(r.kernel))) {
      const env = { KERNELPORT_GPU_GEMM: x.label.includes('cluster') ? 'wgmma-cluster' : 'wgmma', KERNELPORT_GPU_GEMM_SPLITK: String(x.config.splitK) };
      expect(await viaEnv(x, env), x.label).toBe(x.bits);
      expect(x.bits).not.toBe(auto(m));
    }
    const keys64 = a.find((x) => x.config.keys === 64)!;
    expect(await viaEnv(keys64, { KERNELPORT_GPU_ATTENTION_KEYS: '64' })).toBe(keys64.bits);
    expect(keys64.bits).not.toBe(auto(a));
  }, 300_000);

  it('kernelport tune --backends cuda: one row per kernel, the winner cached, and a device opened with autotune runs and explains it', async () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'kp-cuda-tune-')), 'tune.json');
    const t = await run([cli, 'tune', '--backends', 'cuda', '--op', 'attention', '--heads', '2', '--sq', '150', '--d', '128', '--causal', '--dtype', 'bf16', '--allow-p16', '--quick', '--json', '--cache', cache]);
    expect(t.status, t.stderr).toBe(0);
    const report = JSON.parse(t.stdout);
    const res = report.devices[0].results[0];
    expect(res.shapeClass).toMatch(/^attention bf16 flash-attention-wgmma-m64n64k16-p16 .* causal allowP16$/);
    expect(res.candidates.map((c: { label: string }) => c.label)).toEqual([
      'auto (flash-attention-wgmma-m64n64k16-p16)',
      'keys=64 (flash-attention-wgmma-m64n64k16-p16-keys64)',
      'kernel=mma (flash-attention-mma-m16n8k16-p16)',
    ]);
    // A winner written by hand (the timings on the emulator mean nothing): the 64-key tiles
    const file = JSON.parse(readFileSync(cache, 'utf8'));
    const entry = Object.values(file.devices as Record<string, { classes: Record<string, { config: Record<string, number> }> }>)[0]!.classes[res.shapeClass]!;
    entry.config = { keys: 64 };
    writeFileSync(cache, JSON.stringify(file));
    const out = await onCuda(`
      const kp = await import('${join(root, 'dist', 'index.js')}');
      const { randomTensor, Rng } = await import('${join(root, 'dist', 'numerics', 'random.js')}');
      const d2 = await kp.open({ backend: 'cuda', autotune: 'cache', tuneCache: '${cache}' });
      const desc = { hq: 2, sq: 150, skv: 150, d: 128, causal: true, dtype: 'bf16', allowP16: true };
      const x = d2.explain('attention', desc);
      const plain = dev.explain('attention', desc);
      // The op itself: the tuned device's bits are those of the same choice through the environment
      process.env.KERNELPORT_GPU_ATTENTION_KEYS = '64';
      const d3 = await kp.open('cuda');
      delete process.env.KERNELPORT_GPU_ATTENTION_KEYS;
      const rng = new Rng(3);
      const [q, k, v] = [0, 1, 2].map(() => randomTensor(rng, [1, 2, 150, 128], 'bf16'));
      const bits = async (d) => {
        const up = (t) => d.tensor(t.data, t.shape, t.dtype);
        return Buffer.from((await d.attention(up(q), up(k), up(v), { causal: true, allowP16: true, outDtype: 'f32' }).read()).buffer).toString('base64');
      };
      const [tunedBits, plainBits, envBits] = [await bits(d2), await bits(dev), await bits(d3)];
      // autotune: true tunes the class of the first op in the background; later ops of it use the winner
      const d4 = await kp.open({ backend: 'cuda', autotune: true, tuneCache: '${cache}.2' });
      await bits(d4);
      await d4.tuned();
      const status = d4.tuneStatus();
      process.stdout.write(JSON.stringify({ tuned: x.variant, why: x.why, plain: plain.variant, exact: d2.explain('attention', { ...desc, allowP16: false }).variant,
        sameAsEnv: tunedBits === envBits, sameAsPlain: tunedBits === plainBits, measured: status.classes.map((c) => [c.shapeClass, c.source]) }));
      for (const d of [d2, d3, d4]) d.dispose();
    `);
    expect(out).toMatchObject({ tuned: 'flash-attention-wgmma-m64n64k16-p16-keys64', plain: 'flash-attention-wgmma-m64n64k16-p16', exact: 'flash-attention-wgmma-m64n64k16' });
    expect((out as { why: string }).why).toMatch(/64-key tiles, .*tuned: keys=64 \(from the tune cache/);
    expect(out).toMatchObject({ sameAsEnv: true, sameAsPlain: false, measured: [[res.shapeClass, 'measured']] });
    expect(existsSync(`${cache}.2`)).toBe(true);
  }, 300_000);

  it('a masked attention is a tuning class of its own: its candidates are the masked kernel and the portable one, never wgmma', async () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'kp-cuda-tune-mask-')), 'tune.json');
    const got = (await onCuda(`
      const kp = await import('${join(root, 'dist', 'index.js')}');
      const d2 = await kp.open({ backend: 'cuda', autotune: true, tuneCache: '${cache}' });
      const desc = { hq: 2, sq: 150, skv: 150, d: 128, causal: true, dtype: 'bf16', allowP16: true };
      const masked = await d2.tune('attention', { ...desc, mask: true });
      process.stdout.write(JSON.stringify({ cls: masked.shapeClass, labels: masked.candidates.map((c) => c.label), plain: d2.explain('attention', desc).variant }));
      d2.dispose();
    `)) as { cls: string; labels: string[]; plain: string };
    expect(got.cls).toMatch(/^attention bf16 flash-attention-mma-m16n8k16-p16-mask .* causal allowP16 mask$/);
    expect(got.labels).toEqual(['auto (flash-attention-mma-m16n8k16-p16-mask)', 'kernel=simt (flash-attention-simt)']);
    expect(got.plain).toBe('flash-attention-wgmma-m64n64k16-p16');
  }, 300_000);

  it('errors: an allocation over the device memory names the bytes; an injected kernel fault loses the device, not the cpu', async () => {
    const script = `
      import('${join(root, 'dist', 'index.js')}').then(async ({ open }) => {
        const out = [];
        const dev = await open('cuda');
        try { dev.empty([64, 1 << 20]); out.push('no error'); } catch (e) { out.push({ message: e.message, code: e.code }); }
        const a = dev.tensor([1, 2, 3, 4], [2, 2]);
        out.push(Array.from(await dev.matmul(a, a).read()));
        const y = dev.matmul(a, a);
        for (const step of [() => y.read(), () => dev.matmul(a, a).read(), () => dev.sync()]) {
          try { await step(); out.push('no error'); } catch (e) { out.push({ message: e.message, code: e.code }); }
        }
        const cpu = await open('cpu');
        out.push(Array.from(await cpu.matmul(cpu.tensor([1, 2, 3, 4], [2, 2]), cpu.tensor([1, 2, 3, 4], [2, 2])).read()));
        process.stdout.write(JSON.stringify(out));
      });`;
    const r = await run(['--input-type=module', '-e', script], { KERNELPORT_EMU_MEMORY_MB: '64', KERNELPORT_GPU_INJECT_FAULT: '2' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out[0].message).toMatch(/cannot allocate 268435456 bytes on .* \d+ bytes free of 67108864 .*out of memory/);
    expect(out[1]).toEqual([7, 10, 15, 22]);
    expect(out[2].message).toMatch(/device is lost \(.*emuErrorIllegalAddress \(700\).*\); reopen it/);
    expect(out[2].code).toBe('KP_ERR_UNAVAILABLE');
    for (const later of [out[3], out[4]]) expect(later.message).toMatch(/device is lost \(/);
    expect(out[5]).toEqual([7, 10, 15, 22]);
  }, 120_000);
});
