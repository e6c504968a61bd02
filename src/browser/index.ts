/**
 * kernelport in a browser (the package's `browser` export condition): the same API as the Node entry
 * with the webgpu (navigator.gpu) and reference backends. No native addon and no Node APIs anywhere in
 * this module graph; the WGSL sources are inlined at build time (dist/browser/assets.js).
 */
export { probe } from './probe.js';
export { open } from './open.js';
export { validate } from './validate.js';
export { bench, type BrowserBenchOptions as BenchOptions } from './bench.js';
export { Device } from '../device.js';
export { Tensor } from '../tensor.js';
export { planMatmul, type MatmulPlan } from '../ops/matmul.js';
export { planAttention, type AttentionPlan } from '../ops/attention.js';
export { encode, decode, f32ToF16, f16ToF32, f32ToBf16, bf16ToF32, unitRoundoff } from '../dtype.js';
export type * from '../types.js';
export { formatTerminal, formatJson, formatMarkdown } from '../validate/report.js';
export type { ValidateOptions, ValidationReport, Candidate, CandidateFn, CandidateCall, CandidateResult } from '../validate/types.js';
export { reportTable } from '../bench/output/table.js';
export { toJson } from '../bench/output/json.js';
export type { BenchReport, BenchRow } from '../bench/types.js';
