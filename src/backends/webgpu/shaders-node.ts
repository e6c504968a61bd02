/**
 * The Node ShaderSource: the .wgsl files read from the package's kernels/wgsl (or another directory,
 * e.g. in tests), each once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../native.js';
import type { ShaderSource } from './specialise.js';

let sourceDir: string | undefined;
const sources = new Map<string, string>();

/** Where the .wgsl files are read from (the package's kernels/wgsl unless overridden, e.g. in tests). */
export function setShaderDir(dir: string | undefined): void {
  sourceDir = dir;
  sources.clear();
}

export const nodeShaderSource: ShaderSource = (file) => {
  let s = sources.get(file);
  if (s === undefined) {
    const dir = sourceDir ?? join(packageRoot(), 'kernels', 'wgsl');
    s = readFileSync(join(dir, file), 'utf8');
    sources.set(file, s);
  }
  return s;
};
