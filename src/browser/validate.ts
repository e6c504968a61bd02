/** validate() in a browser: the same cases, judging and report as in Node, on webgpu and reference. */
import { runValidation } from '../validate/run.js';
import type { ValidateOptions, ValidationReport } from '../validate/types.js';
import { open } from './open.js';
import { probe } from './probe.js';

/**
 * Runs the validation suite (default: every available backend, i.e. reference and, where the browser
 * has an adapter, webgpu) and returns its report. Throws only for invalid options.
 */
export async function validate(options: ValidateOptions = {}): Promise<ValidationReport> {
  return runValidation(options, { probe, open });
}
