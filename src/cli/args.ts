/** Argument parsing for the CLI: each command declares its flags; anything else is a usage error. */
import type { ShapeSpec } from '../bench/suites.js';

export class UsageError extends Error {}

export interface FlagSpec {
  /** 'bool' takes no value; 'string' takes one (`--x v` or `--x=v`). */
  type: 'bool' | 'string';
  help: string;
}

export interface Command {
  name: string;
  summary: string;
  flags: Record<string, FlagSpec>;
  /** Positional arguments allowed after the command name. */
  positionals?: number;
  /** Returns the process exit code. */
  run(args: Parsed, log: (line: string) => void): Promise<number>;
}

export interface Parsed {
  command: string;
  flags: Map<string, string | true>;
  positionals: string[];
}

export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  help: { type: 'bool', help: 'this text' },
  version: { type: 'bool', help: 'the package version' },
};

export function parseArgs(argv: string[], commands: Command[], fallback: string): Parsed {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  let name: string | undefined;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '-h') rest.push('--help');
    else if (a === '-v') rest.push('--version');
    else rest.push(a);
  }
  if (rest[0] !== undefined && !rest[0].startsWith('-')) name = rest.shift();
  const command = commands.find((c) => c.name === (name ?? fallback));
  if (!command) throw new UsageError(`unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`);
  const specs = { ...GLOBAL_FLAGS, ...command.flags };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[flag];
    if (!spec) {
      const elsewhere = commands.find((c) => c.flags[flag]);
      throw new UsageError(
        elsewhere ? `option --${flag} does not apply to '${command.name}' (it is an option of '${elsewhere.name}')` : `unknown option '--${flag}'`,
      );
    }
    if (spec.type === 'bool') {
      if (eq >= 0) throw new UsageError(`--${flag} takes no value`);
      flags.set(flag, true);
    } else {
      const value = eq >= 0 ? arg.slice(eq + 1) : rest[++i];
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) throw new UsageError(`--${flag} needs a value`);
      flags.set(flag, value);
    }
  }
  if (positionals.length > (command.positionals ?? 0)) throw new UsageError(`unexpected argument '${positionals[command.positionals ?? 0]}'`);
  return { command: command.name, flags, positionals };
}

export function usage(commands: Command[]): string {
  const lines = ['usage: kernelport [command] [options]', '', 'commands:'];
  for (const c of commands) lines.push(...commandLines(c));
  lines.push('', 'options for every command:', '  -h, --help          this text', '  -v, --version       the package version');
  return lines.join('\n');
}

function commandLines(c: Command): string[] {
  return [`  ${c.name.padEnd(12)}${c.summary}`, ...Object.entries(c.flags).map(([f, s]) => `      --${(f + (s.type === 'string' ? ' V' : '')).padEnd(18)}${s.help}`)];
}

/** What a usage error prints under its message: the options of the command it concerns, not all of them. */
export function shortUsage(commands: Command[], argv: readonly string[], fallback: string): string {
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-') && !commands.some((x) => x.name === first)) return 'kernelport --help lists every command and its options.';
  const c = commands.find((x) => x.name === first) ?? commands.find((x) => x.name === fallback);
  return c ? [`usage: kernelport ${c.name} [options]`, ...commandLines(c), '', 'kernelport --help lists every command.'].join('\n') : usage(commands);
}

/** A comma-separated list of positive integers (`--m 1,512`). */
export function intList(flag: string, value: string | true | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  if (value === true) throw new UsageError(`--${flag} needs a value`);
  const out = value.split(',').map((s) => Number(s.trim()));
  if (out.some((x) => !Number.isInteger(x) || x < 1)) throw new UsageError(`--${flag} must be a comma-separated list of positive integers, got '${value}'`);
  return out;
}

/** String-valued flag readers over one parsed command line (a bare flag reads as absent). */
export function flagReaders(flags: Parsed['flags']) {
  const str = (name: string): string | undefined => {
    const v = flags.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const list = (name: string) => str(name)?.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  return { str, list };
}

/** The shape flags bench and tune share: --op with its sizes, or none of them. */
export function shapeFlags(flags: Parsed['flags'], op: string | undefined, epilogue: boolean): ShapeSpec | undefined {
  const { str } = flagReaders(flags);
  const names = ['m', 'k', 'n', ...(epilogue ? ['activation', 'bias'] : []), 'batch', 'heads', 'kv-heads', 'sq', 'skv', 'd', 'causal'];
  if (!op) {
    const stray = names.find((x) => flags.has(x));
    if (stray) throw new UsageError(`--${stray} describes a shape: give --op matmul or --op attention with it`);
    return undefined;
  }
  const ints = (name: string) => intList(name, flags.get(name));
  return {
    op,
    m: ints('m'),
    k: ints('k'),
    n: ints('n'),
    ...(epilogue ? { bias: flags.has('bias') || undefined, activation: str('activation') } : {}),
    batch: ints('batch'),
    heads: ints('heads'),
    kvHeads: ints('kv-heads'),
    sq: ints('sq'),
    skv: ints('skv'),
    d: ints('d'),
    causal: flags.has('causal') || undefined,
  };
}
