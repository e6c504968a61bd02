/** The JSON report (schema documented in bench/README.md) and reading one back with checks. */
import { BenchInputError } from '../errors.js';
import { SCHEMA, type BenchReport } from '../types.js';

export function toJson(r: BenchReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

/** Parses and checks a report; anything else is a BenchInputError naming what is wrong. */
export function parseReport(text: string, source = 'report'): BenchReport {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new BenchInputError(`${source}: not JSON (${(e as Error).message})`);
  }
  const bad = (what: string): never => {
    throw new BenchInputError(`${source}: not a kernelport bench report (${SCHEMA}): ${what}`);
  };
  if (!j || typeof j !== 'object' || Array.isArray(j)) bad('expected an object');
  const o = j as Record<string, unknown>;
  if (o.schema !== SCHEMA) bad(`schema is ${JSON.stringify(o.schema)}, expected "${SCHEMA}"`);
  if (!Array.isArray(o.rows)) bad('"rows" is missing or not an array');
  for (const key of ['kernelport', 'machine', 'settings'] as const) if (!o[key] || typeof o[key] !== 'object') bad(`"${key}" is missing`);
  (o.rows as unknown[]).forEach((row, i) => {
    const r = row as Record<string, unknown>;
    if (!r || typeof r !== 'object') bad(`rows[${i}] is not an object`);
    const c = r.case as Record<string, unknown> | undefined;
    if (!c || typeof c.id !== 'string' || (c.op !== 'matmul' && c.op !== 'attention') || typeof c.dtype !== 'string') bad(`rows[${i}].case needs id, op and dtype`);
    if (typeof r.runner !== 'string' || typeof r.backend !== 'string') bad(`rows[${i}] needs runner and backend strings`);
    if (typeof r.flops !== 'number' || typeof r.bytes !== 'number') bad(`rows[${i}] needs numeric flops and bytes`);
    const s = r.stats as Record<string, unknown> | undefined;
    if (s !== undefined)
      for (const k of ['median', 'min', 'p10', 'p90', 'spread'])
        if (typeof s[k] !== 'number' || !Number.isFinite(s[k])) bad(`rows[${i}].stats.${k} must be a finite number`);
  });
  return j as BenchReport;
}
