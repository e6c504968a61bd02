#!/usr/bin/env node
/** The kernelport command line: `kernelport` (the tour), `kernelport probe [--json]`. */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../native.js';
import { probeCommand } from './probe.js';
import { tour } from './tour.js';

const USAGE = `usage: kernelport [command] [options]

commands:
  (none), tour        probe, open the best device, run a fused matmul and a causal GQA attention,
                      check them against the float64 reference, print times and errors
  probe [--json]      every backend and device, available or not, with the reason

options:
  --backend NAME      tour on this backend (cpu | reference | ...); default: best available
                      (the KERNELPORT_BACKEND environment variable does the same)
  --json              machine-readable output (probe)
  -h, --help          this text
  -v, --version       the package version`;

export class UsageError extends Error {}

export interface Parsed {
  command: string;
  flags: Map<string, string | true>;
}

const KNOWN: Record<string, { flags: string[] }> = {
  tour: { flags: ['backend'] },
  probe: { flags: ['json'] },
};

export function parseArgs(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') flags.set('help', true);
    else if (arg === '-v' || arg === '--version') flags.set('version', true);
    else if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      if (name === 'json') flags.set(name, true);
      else if (name === 'backend') {
        const value = inline ?? argv[++i];
        if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      } else throw new UsageError(`unknown option '${arg}'`);
    } else if (command === undefined) command = arg;
    else throw new UsageError(`unexpected argument '${arg}'`);
  }
  command ??= 'tour';
  const known = KNOWN[command];
  if (!known && !flags.has('help') && !flags.has('version')) throw new UsageError(`unknown command '${command}'`);
  for (const f of flags.keys())
    if (known && !known.flags.includes(f) && f !== 'help' && f !== 'version') throw new UsageError(`option --${f} does not apply to '${command}'`);
  return { command, flags };
}

export async function main(argv: string[], log: (s: string) => void = (s) => console.log(s)): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`kernelport: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (parsed.flags.has('help')) return log(USAGE), 0;
  if (parsed.flags.has('version')) return log(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version), 0;
  if (parsed.command === 'probe') return log(await probeCommand(parsed.flags.has('json'))), 0;
  const backend = parsed.flags.get('backend');
  return (await tour(log, typeof backend === 'string' ? backend : undefined)) ? 0 : 1;
}

function invokedAsScript(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedAsScript()) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      console.error(`kernelport: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    },
  );
}
