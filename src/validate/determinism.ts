/**
 * Determinism: the same case run again gives the same bits; on cpu, every thread count gives the bits of
 * the default device (DESIGN.md: threads split M and N, never K, so results do not depend on the count).
 */
import type { Device } from '../device.js';
import type { BackendName, OpenOptions } from '../types.js';
import { deviceExecutor, type Executor, type RawOutput, type RawResult } from './executor.js';

export interface Variant {
  label: string;
  executor: Executor;
}

/**
 * The executors a backend's first run is compared with: the same executor again ('repeat') and, for cpu,
 * fresh devices with each thread count (opened with `open`, the entry's own).
 */
export async function determinismVariants(
  executor: Executor,
  cpuThreads: readonly number[],
  open: (options: OpenOptions) => Promise<Device>,
): Promise<Variant[]> {
  const variants: Variant[] = [{ label: 'repeat', executor }];
  if (executor.kind === 'backend' && executor.name === 'cpu')
    for (const threads of cpuThreads) {
      const dev = await open({ backend: 'cpu' as BackendName, threads });
      variants.push({ label: `threads=${threads}`, executor: deviceExecutor(dev, `cpu(threads=${threads})`) });
    }
  return variants;
}

export interface BitDifference {
  tensor: 'out' | 'lse';
  /** First differing element. */
  index: number;
  first: number;
  other: number;
  /** Elements that differ. */
  differing: number;
}

function compareOutput(tensor: 'out' | 'lse', a: RawOutput | undefined, b: RawOutput | undefined): BitDifference | undefined {
  if (!a && !b) return undefined;
  if (!a || !b) return { tensor, index: -1, first: NaN, other: NaN, differing: Math.max(a?.values.length ?? 0, b?.values.length ?? 0) };
  if (a.width !== b.width || a.bytes.length !== b.bytes.length)
    return { tensor, index: -1, first: NaN, other: NaN, differing: Math.max(a.values.length, b.values.length) };
  let first = -1;
  let differing = 0;
  const w = a.width;
  for (let i = 0, n = a.values.length; i < n; i++) {
    for (let j = i * w; j < (i + 1) * w; j++)
      if (a.bytes[j] !== b.bytes[j]) {
        if (first < 0) first = i;
        differing++;
        break;
      }
  }
  return first < 0 ? undefined : { tensor, index: first, first: a.values[first]!, other: b.values[first]!, differing };
}

/** Bitwise comparison of two runs' outputs (and lse); the differences found, empty when identical. */
export function bitDifferences(a: RawResult, b: RawResult): BitDifference[] {
  return [compareOutput('out', a.out, b.out), compareOutput('lse', a.lse, b.lse)].filter((d): d is BitDifference => d !== undefined);
}
