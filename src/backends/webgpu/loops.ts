/**
 * The loop budget: how many loop iterations one kernel invocation may run in one dispatch. Mesa's
 * llvmpipe (the WebGPU adapter of Dawn's GL backend without a GPU) ends any shader invocation
 * silently after 65535 loop iterations in all (gallivm's loop limiter), which truncated long-K
 * matmuls and long-Skv attention to a wrong result; GPU watchdogs likewise kill long dispatches.
 * So ops that loop over K or over keys cut that loop into dispatches of at most this much work,
 * carrying their running state between them (bitwise the same result as one pass).
 *
 * Default: half of llvmpipe's limit, for margin over the cost models. KERNELPORT_WEBGPU_LOOP_BUDGET
 * lowers it (tests run the chunked paths on small shapes with it). The cost models below (loop
 * iterations per unit of work, checked against llvmpipe's cut-off points) are shared by the encoders
 * and by explain() (src/select/explain.ts).
 */
export const DEFAULT_LOOP_BUDGET = 32768;
const MIN_LOOP_BUDGET = 64;

export function loopBudget(env: string | undefined): number {
  if (env === undefined || env.trim() === '') return DEFAULT_LOOP_BUDGET;
  const v = Number(env);
  if (!Number.isInteger(v) || v < MIN_LOOP_BUDGET || v > DEFAULT_LOOP_BUDGET)
    throw new RangeError(`KERNELPORT_WEBGPU_LOOP_BUDGET must be an integer in [${MIN_LOOP_BUDGET}, ${DEFAULT_LOOP_BUDGET}], got '${env}'`);
  return v;
}

/**
 * Whether the GEMV kernel may run this K in one dispatch: an invocation loops ceil(K / 64) times
 * (counted twice, for margin) within the loop budget (loops.ts). Past that the tiled kernel, which
 * cuts K into chunks, takes M <= 4 too.
 */
export function gemvFits(m: number, k: number, budget: number): boolean {
  return m <= 4 && 2 * Math.ceil(k / 64) <= budget; // 4: matmul.ts GEMV_MAX_M
}

/** K per dispatch of the tiled kernel: a K tile costs about BK + its staging loops + 4 iterations. */
export function kPerDispatch(budget: number, t: { TM: number; TN: number; WGX: number; WGY: number; BK: number }): number {
  const threads = t.WGX * t.WGY;
  const perTile = t.BK + Math.ceil((t.BK * t.WGY * t.TM) / threads) + Math.ceil((t.BK * t.WGX * t.TN) / threads) + 4;
  return Math.max(1, Math.floor(budget / perTile)) * t.BK;
}

/**
 * Keys one dispatch may cover per query row: the loop work of an invocation (about D + DV + the
 * staging share per key) must stay within the loop budget (loops.ts). A multiple of BK, at least BK.
 */
export function keysPerDispatch(budget: number, d: number, dv: number, bk: number, bq: number): number {
  const perKey = d + dv + Math.ceil((d + dv) / bq) + 4;
  return Math.max(bk, Math.floor(budget / perKey / bk) * bk);
}
