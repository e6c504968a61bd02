/**
 * Comparing a run with a baseline report: per matching row (case id, dtype, runner, backend), the
 * speedup and a verdict against a threshold that widens with the noise of both measurements.
 */
import { table } from '../cli/table.js';
import type { BenchReport, BenchRow } from './types.js';

export interface CompareOptions {
  /** Smallest relative change that counts (default 0.05 = 5%). */
  threshold?: number;
  /** The threshold grows to noiseFactor × the larger p10-p90 spread of the two rows (default 1). */
  noiseFactor?: number;
}

export type Verdict = 'faster' | 'slower' | 'same' | 'regression';

export interface CompareRow {
  key: string;
  baseline: number;
  current: number;
  /** baseline median ÷ current median: > 1 is faster now. */
  speedup: number;
  threshold: number;
  verdict: Verdict;
}

export interface Comparison {
  rows: CompareRow[];
  /** Rows only in one of the two reports. */
  missing: string[];
  added: string[];
  regressions: number;
}

export const rowKey = (r: BenchRow): string => `${r.case.id} ${r.case.dtype} ${r.runner}:${r.backend}`;

export function compareReports(current: BenchReport, baseline: BenchReport, o: CompareOptions = {}): Comparison {
  const minT = o.threshold ?? 0.05;
  const k = o.noiseFactor ?? 1;
  const base = new Map(baseline.rows.filter((r) => r.stats).map((r) => [rowKey(r), r]));
  const cur = new Map(current.rows.filter((r) => r.stats).map((r) => [rowKey(r), r]));
  const rows: CompareRow[] = [];
  for (const [key, c] of cur) {
    const b = base.get(key);
    if (!b) continue;
    const cs = c.stats!;
    const bs = b.stats!;
    const threshold = Math.max(minT, k * Math.max(cs.spread, bs.spread));
    const speedup = bs.median / cs.median;
    let verdict: Verdict = 'same';
    if (cs.median > bs.median * (1 + threshold)) verdict = 'regression';
    else if (cs.median > bs.median) verdict = 'slower';
    if (cs.median * (1 + threshold) < bs.median) verdict = 'faster';
    rows.push({ key, baseline: bs.median, current: cs.median, speedup, threshold, verdict });
  }
  return {
    rows,
    missing: [...base.keys()].filter((x) => !cur.has(x)),
    added: [...cur.keys()].filter((x) => !base.has(x)),
    regressions: rows.filter((r) => r.verdict === 'regression').length,
  };
}

export function comparisonTable(c: Comparison): string {
  const lines = [
    table(
      ['case', 'baseline ms', 'now ms', 'speedup', 'threshold', 'verdict'],
      c.rows.map((r) => [r.key, (r.baseline * 1e3).toFixed(3), (r.current * 1e3).toFixed(3), `${r.speedup.toFixed(3)}x`, `±${(r.threshold * 100).toFixed(1)}%`, r.verdict === 'regression' ? 'REGRESSION' : r.verdict]),
    ),
  ];
  if (c.missing.length) lines.push(`in the baseline only: ${c.missing.join(', ')}`);
  if (c.added.length) lines.push(`new (no baseline): ${c.added.join(', ')}`);
  lines.push(c.regressions ? `${c.regressions} regression${c.regressions > 1 ? 's' : ''} past the threshold` : 'no regressions past the threshold');
  return lines.join('\n');
}
