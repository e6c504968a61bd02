/**
 * validate(): numerics validation across backends (DESIGN.md "Numerics").
 *
 * Every case (random shapes, edge cases, value distributions, NaN/Inf) runs on every selected backend and
 * on an optional candidate, and each output element is judged against the float64 reference computed on
 * the same rounded inputs, as a multiple of its error bound; backends are compared with each other on
 * identical inputs (combined bounds) and for bitwise repeatability (cpu: across thread counts too).
 *
 * @example
 * const report = await validate({ size: 'quick' });
 * if (!report.pass) console.log(formatTerminal(report));
 *
 * @example Bring your own kernel: a candidate receives host tensors and returns the output.
 * const report = await validate({
 *   backends: ['cpu'],
 *   ops: ['matmul'],
 *   candidate: {
 *     name: 'mine',
 *     run: ({ op, plan, inputs, options }) => (op === 'matmul' && plan.dtype === 'f32' && !plan.bias ? myMatmul(inputs, options) : null),
 *   },
 * });
 */
import { open } from '../open.js';
import { probe } from '../probe.js';
import { runValidation } from './run.js';
import type { ValidateOptions, ValidationReport } from './types.js';

/**
 * Runs the validation suite and returns its report (`report.pass` is false on any failure, disagreement,
 * nondeterminism or unavailable requested backend). Throws only for invalid options.
 */
export async function validate(options: ValidateOptions = {}): Promise<ValidationReport> {
  return runValidation(options, { probe, open });
}

export { formatJson, formatMarkdown, formatTerminal } from './report.js';
export { generateCases, materialize, caseSeed, DISTRIBUTIONS, OPS } from './cases.js';
export { crossCompare } from './cross.js';
export type * from './types.js';
export type { CaseSpec, MatmulSpec, AttentionSpec, ValidationCase } from './cases.js';
