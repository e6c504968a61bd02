/** kernelport: fused matmul and attention kernels with interchangeable backends. */
export { probe } from './probe.js';
export { open } from './open.js';
export { Device } from './device.js';
export { Tensor } from './tensor.js';
export { planMatmul, type MatmulPlan } from './ops/matmul.js';
export { planAttention, type AttentionPlan } from './ops/attention.js';
export { encode, decode, f32ToF16, f16ToF32, f32ToBf16, bf16ToF32, unitRoundoff } from './dtype.js';
export type * from './types.js';
export { validate, formatTerminal, formatJson, formatMarkdown, type ValidateOptions, type ValidationReport, type Candidate, type CandidateFn, type CandidateCall, type CandidateResult } from './validate/index.js';
export { bench, type BenchOptions, type BenchReport, type BenchRow, type Peer } from './bench/index.js';
export { rankDevices, estimateOp, opCost, peaksFor, parseSelector, TYPICAL_OPS, type OpDesc, type MatmulDesc, type MatmulShape, type AttentionDesc, type Policy, type RankOptions, type Ranking, type Candidate as RankedCandidate, type Estimate } from './select/rank.js';
export { type Explanation, type SupportResult, type TunedNote } from './select/explain.js';
export type { TuneResult, TuneStatus, CandidateTiming } from './tune/tuner.js';
export type { KernelConfig } from './backends/backend.js';
