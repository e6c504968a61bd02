#!/usr/bin/env node
/** The kernelport command line. Exit codes: 0 ok, 1 a check failed, 2 bad usage. */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../native.js';
import { parseArgs, shortUsage, usage, UsageError, type Parsed } from './args.js';
import { COMMANDS, DEFAULT_COMMAND } from './commands.js';

export async function main(argv: string[], log: (s: string) => void = (s) => console.log(s)): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv, COMMANDS, DEFAULT_COMMAND);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`kernelport: ${e.message}\n\n${shortUsage(COMMANDS, argv, DEFAULT_COMMAND)}`);
      return 2;
    }
    throw e;
  }
  if (parsed.flags.has('help')) return log(usage(COMMANDS)), 0;
  if (parsed.flags.has('version')) return log(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version), 0;
  try {
    return await COMMANDS.find((c) => c.name === parsed.command)!.run(parsed, log);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`kernelport ${parsed.command}: ${e.message}`);
      return 2;
    }
    throw e;
  }
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
