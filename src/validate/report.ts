/** Rendering a ValidationReport: terminal summary, JSON and Markdown. */
import { fmtNum, table } from '../cli/table.js';
import type { ErrorEntry, ErrorReport } from '../numerics/compare.js';
import type { CaseResult, ValidationReport } from './types.js';

const verdict = (ok: boolean) => (ok ? 'pass' : 'FAIL');
const num = (x: number) => (Number.isFinite(x) ? fmtNum(x) : String(x));
const ratio = (x: number) => (Number.isFinite(x) ? x.toPrecision(3) : String(x));
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function entry(e: ErrorEntry): string {
  return `[${e.index.join(',')}] got=${e.got} expected=${e.expected} bound=${e.bound.toExponential(3)} ratio=${ratio(e.ratio)}`;
}

function headline(r: ValidationReport): string {
  return (
    `kernelport validate --${r.size}, seed ${r.seed}: ${r.cases} cases (${r.ops.join(', ')}; ${r.dtypes.join(', ')})` +
    (r.filter ? `, filter ${JSON.stringify(r.filter)}` : '')
  );
}

function reproduce(r: ValidationReport, c: string, backend: string): string {
  const isBackend = r.backends.some((b) => b.name === backend && b.kind === 'backend');
  return `kernelport validate --${r.size} --seed ${r.seed} --case ${quote(c)}${isBackend ? ` --backends ${backend}` : ''}`;
}

function describeReport(what: string, e: ErrorReport): string {
  return `${what}: ${e.failures}/${e.elements} elements over their bound, worst ${ratio(e.worstRatio)}x (NMSE ${num(e.nmse)}, max ulp ${num(e.maxUlp)})`;
}

function failureLines(r: ValidationReport, f: CaseResult): string[] {
  const lines = [`${f.case} on ${f.backend}: ${f.status === 'error' ? 'ERROR' : 'FAIL'}`];
  if (f.error) lines.push(`  ${f.error}`);
  for (const [what, e] of [['out', f.out], ['lse', f.lse]] as const) {
    if (!e || e.pass) continue;
    lines.push(`  ${describeReport(what, e)}`);
    for (const w of e.worst.filter((x) => x.ratio > 1)) lines.push(`    ${entry(w)}`);
  }
  lines.push(`  reproduce: ${reproduce(r, f.case, f.backend)}`);
  return lines;
}

/** The terminal summary: pass/fail per backend × op × dtype with the worst bound multiple, then details of failures. */
export function formatTerminal(r: ValidationReport, maxFailures = 20): string {
  const out: string[] = [headline(r), ''];
  out.push(
    table(
      ['backend', 'kind', 'status'],
      r.backends.map((b) => [b.name, b.kind, b.available ? b.detail : `UNAVAILABLE: ${b.detail}`]),
    ),
    '',
  );
  out.push(
    table(
      ['backend', 'op', 'dtype', 'cases', 'passed', 'failed', 'skipped', 'worst err/bound', '(f32 out)', 'max ulp', 'worst NMSE', 'seconds', 'check'],
      r.summary.map((s) => [s.backend, s.op, s.dtype, s.cases, s.passed, s.failed, s.skipped, ratio(s.worstRatio), (s.worstRatioF32Out === null ? '-' : ratio(s.worstRatioF32Out)), num(s.maxUlp), num(s.worstNmse), s.ms / 1000, verdict(s.failed === 0)]),
    ),
  );
  if (r.cross.length > 0)
    out.push(
      '',
      'cross-backend agreement (each pair on identical inputs, against the combined bound):',
      table(
        ['a', 'b', 'op', 'dtype', 'compared', 'disagree', 'worst diff/bound', 'check'],
        r.cross.map((c) => [c.a, c.b, c.op, c.dtype, c.compared, c.disagreements, ratio(c.worstRatio), verdict(c.disagreements === 0)]),
      ),
    );
  if (r.determinism.length > 0)
    out.push(
      '',
      'determinism (bitwise equal to the first run):',
      table(
        ['backend', 'compared with', 'checks', 'mismatches', 'check'],
        r.determinism.map((d) => [d.backend, d.variants.join(', '), d.checks, d.mismatches, verdict(d.pass)]),
      ),
    );

  const failed = r.failures;
  if (failed.length > 0) {
    out.push('', `failures (${failed.length}${failed.length > maxFailures ? `, first ${maxFailures} shown; --json or --md for all` : ''}):`);
    for (const f of failed.slice(0, maxFailures)) out.push(...failureLines(r, f));
  }
  if (r.crossFailures.length > 0) {
    out.push('', `cross-backend disagreements (${r.crossFailures.length}${r.crossFailures.length > maxFailures ? `, first ${maxFailures} shown` : ''}; got = a, expected = b):`);
    for (const f of r.crossFailures.slice(0, maxFailures)) {
      out.push(`${f.case}: ${f.a} vs ${f.b}, ${describeReport(f.tensor, f.report)}`);
      for (const w of f.report.worst.filter((x) => x.ratio > 1)) out.push(`    ${entry(w)}`);
    }
  }
  if (r.determinismFailures.length > 0) {
    out.push('', `determinism mismatches (${r.determinismFailures.length}${r.determinismFailures.length > maxFailures ? `, first ${maxFailures} shown` : ''}):`);
    for (const f of r.determinismFailures.slice(0, maxFailures))
      out.push(
        f.index < 0
          ? `${f.case} on ${f.backend} (${f.variant}): the run failed or returned nothing`
          : `${f.case} on ${f.backend} (${f.variant}): ${f.tensor} differs in ${f.differing} elements; first at flat index ${f.index}: ${f.first} vs ${f.other}`,
      );
  }
  out.push(
    '',
    'err/bound: the worst element error against the float64 reference as a multiple of its bound (<= 1 passes; DESIGN.md "Numerics");',
    '(f32 out): the same over f32 outputs only (16-bit outputs are dominated by their final rounding, near 1 even when exact).',
    'max ulp: |got - expected| in ulps of the output dtype at the expected value: huge where an output cancels to about 0 (its ulp is tiny), which err/bound judges.',
    `${verdict(r.pass).toUpperCase()} in ${(r.ms / 1000).toFixed(1)} s`,
  );
  return out.join('\n');
}

/** JSON with non-finite numbers as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers). */
export function formatJson(r: ValidationReport): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
}

const mdTable = (header: string[], rows: (string | number)[][]): string =>
  [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map((c) => (typeof c === 'number' ? num(c) : c.replace(/\|/g, '\\|'))).join(' | ')} |`),
  ].join('\n');

export function formatMarkdown(r: ValidationReport): string {
  const out: string[] = [`# kernelport numerics validation: ${verdict(r.pass).toUpperCase()}`, '', `${headline(r)}; ${(r.ms / 1000).toFixed(1)} s.`, ''];
  out.push(mdTable(['backend', 'kind', 'status'], r.backends.map((b) => [b.name, b.kind, b.available ? b.detail : `unavailable: ${b.detail}`])), '');
  out.push(
    '## Against the float64 reference',
    '',
    'Each element error as a multiple of its bound (DESIGN.md "Numerics"; <= 1 passes).',
    '',
    mdTable(
      ['backend', 'op', 'dtype', 'cases', 'passed', 'failed', 'skipped', 'worst err/bound', 'worst case', 'worst, f32 out', 'max ulp', 'worst NMSE', 'check'],
      r.summary.map((s) => [s.backend, s.op, s.dtype, s.cases, s.passed, s.failed, s.skipped, ratio(s.worstRatio), `\`${s.worstCase}\``, (s.worstRatioF32Out === null ? '-' : ratio(s.worstRatioF32Out)), num(s.maxUlp), num(s.worstNmse), verdict(s.failed === 0)]),
    ),
    '',
  );
  if (r.cross.length > 0)
    out.push(
      '## Cross-backend agreement',
      '',
      'Each pair on identical inputs, against the combined bound (bound_a + bound_b).',
      '',
      mdTable(
        ['a', 'b', 'op', 'dtype', 'compared', 'disagree', 'worst diff/bound', 'worst case', 'check'],
        r.cross.map((c) => [c.a, c.b, c.op, c.dtype, c.compared, c.disagreements, ratio(c.worstRatio), `\`${c.worstCase}\``, verdict(c.disagreements === 0)]),
      ),
      '',
    );
  if (r.determinism.length > 0)
    out.push(
      '## Determinism',
      '',
      mdTable(['backend', 'compared with', 'checks', 'mismatches', 'check'], r.determinism.map((d) => [d.backend, d.variants.join(', '), d.checks, d.mismatches, verdict(d.pass)])),
      '',
    );
  if (r.failures.length > 0) {
    out.push('## Failures', '');
    for (const f of r.failures) {
      out.push(`### \`${f.case}\` on ${f.backend}`, '');
      if (f.error) out.push(`Error: \`${f.error}\``, '');
      for (const [what, e] of [['out', f.out], ['lse', f.lse]] as const) {
        if (!e || e.pass) continue;
        out.push(describeReport(what, e), '');
        out.push(mdTable(['index', 'got', 'expected', 'bound', 'err/bound'], e.worst.map((w) => [`[${w.index.join(',')}]`, String(w.got), String(w.expected), w.bound.toExponential(3), ratio(w.ratio)])), '');
      }
      out.push(`Reproduce: \`${reproduce(r, f.case, f.backend)}\``, '');
    }
  }
  if (r.crossFailures.length > 0) {
    out.push('## Cross-backend disagreements', '');
    for (const f of r.crossFailures) {
      out.push(`- \`${f.case}\`: ${f.a} vs ${f.b}, ${describeReport(f.tensor, f.report)}`);
      for (const w of f.report.worst.filter((x) => x.ratio > 1)) out.push(`  - ${entry(w)}`);
    }
    out.push('');
  }
  if (r.determinismFailures.length > 0) {
    out.push('## Determinism mismatches', '');
    for (const f of r.determinismFailures)
      out.push(`- \`${f.case}\` on ${f.backend} (${f.variant}): ${f.index < 0 ? 'the run failed or returned nothing' : `${f.tensor} differs in ${f.differing} elements; first at ${f.index}: ${f.first} vs ${f.other}`}`);
    out.push('');
  }
  return out.join('\n');
}
