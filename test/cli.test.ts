// The command line: argument parsing, probe output, and the tour end to end on the cpu backend.
import { describe, expect, it } from 'vitest';
import { parseArgs as parse, shortUsage } from '../src/cli/args.js';
import { COMMANDS, DEFAULT_COMMAND } from '../src/cli/commands.js';
import { main } from '../src/cli/main.js';

const parseArgs = (argv: string[]) => parse(argv, COMMANDS, DEFAULT_COMMAND);

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, (s) => lines.push(s));
  return { code, out: lines.join('\n') };
}

describe('cli', () => {
  it('parses commands and flags', () => {
    expect(parseArgs([]).command).toBe('tour');
    expect(parseArgs(['probe', '--json']).flags.get('json')).toBe(true);
    expect(parseArgs(['--backend=reference']).flags.get('backend')).toBe('reference');
    expect(parseArgs(['tour', '--backend', 'cpu']).flags.get('backend')).toBe('cpu');
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['--nope'], /unknown option '--nope'/],
    [['probe', '--json=1'], /--json takes no value/],
    [['--backend'], /--backend needs a value/],
    [['probe', '--backend', 'cpu'], /--backend does not apply to 'probe' \(it is an option of 'tour'\)/],
    [['probe', 'extra'], /unexpected argument 'extra'/],
  ])('rejects %j with a usage error', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });

  it('exits 2 with usage on bad arguments, 0 on --help', async () => {
    expect((await capture(['frobnicate'])).code).toBe(2);
    expect((await capture(['validate', '--backends', 'reference', '--webgpu-disable', 'warp'])).code).toBe(2); // unknown feature name
    const help = await capture(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/usage: kernelport/);
    expect(help.out).toMatch(/probe/);
  });

  it("a usage error shows the options of the command it concerns, not every command's", () => {
    expect(shortUsage(COMMANDS, ['probe', '--bogus'], DEFAULT_COMMAND)).toBe(
      'usage: kernelport probe [options]\n  probe       every backend and device, available or not, with the reason\n      --json              machine-readable output\n\nkernelport --help lists every command.',
    );
    expect(shortUsage(COMMANDS, ['--bogus'], DEFAULT_COMMAND)).toMatch(/^usage: kernelport tour \[options\]/);
    expect(shortUsage(COMMANDS, ['frobnicate'], DEFAULT_COMMAND)).toBe('kernelport --help lists every command and its options.');
  });

  it('probe --json lists every backend with availability and reasons', async () => {
    const { code, out } = await capture(['probe', '--json']);
    expect(code).toBe(0);
    const devices = JSON.parse(out) as { backend: string; available: boolean; reason?: string; cpu?: { usableCores: number } }[];
    expect([...new Set(devices.map((d) => d.backend))].sort()).toEqual(['cpu', 'cuda', 'musa', 'reference', 'webgpu']); // webgpu: one per Dawn backend
    const cpu = devices.find((d) => d.backend === 'cpu')!;
    expect(cpu.available).toBe(true);
    expect(cpu.cpu!.usableCores).toBeGreaterThan(0);
    for (const d of devices.filter((x) => !x.available)) expect(d.reason).toBeTruthy();
  });

  it('probe --json carries the measured cpu roofs the table shows', async () => {
    const table = (await capture(['probe'])).out;
    const devices = JSON.parse((await capture(['probe', '--json'])).out) as { backend: string; measured?: { flops: number; bandwidth: number } }[];
    const measured = devices.find((d) => d.backend === 'cpu')!.measured;
    const row = table.split('\n').find((l) => l.startsWith('cpu:0'))!;
    // Whether this machine has a calibration cached or not, table and JSON say the same.
    expect(row.includes('(measured)')).toBe(measured !== undefined);
    if (measured) expect(row).toContain(`${(measured.flops / 1e9).toFixed(0)} (measured)`);
  });

  it('the tour runs a fused matmul and a causal GQA attention and checks them', async () => {
    const { code, out } = await capture([]);
    expect(code).toBe(0);
    expect(out).toMatch(/opened cpu:0/);
    const rows = out.split('\n').filter((l) => /^cpu:0\s+(matmul|attention)/.test(l));
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r).toMatch(/\bpass$/);
  });
});
