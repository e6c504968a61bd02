/** The bench harness: `bench(options)` and what it is built from. */
export { bench, measure, REFERENCE_MAX_FLOPS, type BenchOptions, type BenchProgress } from './runner.js';
export { BenchInputError } from './errors.js';
export { SUITES, DEFAULT_SUITES, shapeLabel, type ShapeSpec } from './suites.js';
export { summarize, percentile, planIterations, NOISE_SPREAD } from './stats.js';
export { work, roofline } from './metrics.js';
export { compareReports, comparisonTable, type Comparison, type CompareOptions } from './compare.js';
export { reportTable } from './output/table.js';
export { toJson, parseReport } from './output/json.js';
export { toCsv } from './output/csv.js';
export { toSvg } from './output/svg.js';
export type { Peer, PeerRun, CaseInputs } from './peers/index.js';
export * from './types.js';
