/**
 * The loop budget: how many loop iterations one kernel invocation may run in one dispatch. Mesa's
 * llvmpipe (the WebGPU adapter of Dawn's GL backend without a GPU) ends any shader invocation
 * silently after 65535 loop iterations in all (gallivm's loop limiter), which truncated long-K
 * matmuls and long-Skv attention to a wrong result; GPU watchdogs likewise kill long dispatches.
 * So ops that loop over K or over keys cut that loop into dispatches of at most this much work,
 * carrying their running state between them (bitwise the same result as one pass).
 *
 * Default on software adapters: half of llvmpipe's limit, for margin over the cost models. Hardware
 * adapters have no such limiter; a 32x larger budget there (HARDWARE_LOOP_BUDGET) only bounds an
 * invocation's work per dispatch for watchdogs (browsers' GPU process, Windows TDR), so practical
 * sizes run in one dispatch (every key chunk or K chunk re-reads and re-writes the running state):
 * about 50k keys per dispatch for the tiled attention at D=128, 300k of K for the wide matmul. KERNELPORT_WEBGPU_LOOP_BUDGET sets it either way (tests
 * run the chunked paths on small shapes with it). The cost models below (loop iterations per unit of
 * work, checked against llvmpipe's cut-off points) are shared by the encoders and by explain()
 * (src/select/explain.ts).
 */
export const DEFAULT_LOOP_BUDGET = 32768;
export const HARDWARE_LOOP_BUDGET = 2 ** 20;
const MIN_LOOP_BUDGET = 64;
const MAX_LOOP_BUDGET = 2 ** 24;

/** The loop budget of a device: `env` (KERNELPORT_WEBGPU_LOOP_BUDGET) when set, else by adapter kind. */
export function loopBudget(env: string | undefined, software = true): number {
  if (env === undefined || env.trim() === '') return software ? DEFAULT_LOOP_BUDGET : HARDWARE_LOOP_BUDGET;
  const v = Number(env);
  if (!Number.isInteger(v) || v < MIN_LOOP_BUDGET || v > MAX_LOOP_BUDGET)
    throw new RangeError(`KERNELPORT_WEBGPU_LOOP_BUDGET must be an integer in [${MIN_LOOP_BUDGET}, ${MAX_LOOP_BUDGET}], got '${env}'`);
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

/**
 * K per dispatch of the tiled kernel: a K tile costs about BK + its staging loops + 4 iterations
 * (matmul_vec4.wgsl, VEC: its staging loops twice, registers then workgroup memory).
 */
export function kPerDispatch(budget: number, t: { TM: number; TN: number; WGX: number; WGY: number; BK: number; VEC?: number }): number {
  const threads = t.WGX * t.WGY;
  const staging = Math.ceil((t.BK * t.WGY * t.TM) / threads) + Math.ceil((t.BK * t.WGX * t.TN) / threads);
  const perTile = t.BK + (t.VEC ? 2 : 1) * staging + 4;
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

/** The tiled attention kernel's shape (attention_tiled.wgsl): BQ rows x NT invocations each, BK keys a tile. */
export interface RowTiles {
  BQ: number;
  BK: number;
  NT: number;
}

/**
 * Keys per dispatch of the tiled attention kernel (attention_tiled.wgsl): per K/V tile an invocation
 * runs its staging share, ceil(BK / NT) dot products of D/4 vec4 steps, the row's max and p·V loops
 * over BK keys (its DV/4/NT vec4 columns each). A multiple of BK, at least BK.
 */
export function keysPerDispatchTiled(budget: number, d: number, dv: number, t: RowTiles): number {
  const threads = t.BQ * t.NT;
  const d4 = Math.ceil(Math.max(d, 1) / 4);
  const dv4 = Math.ceil(Math.max(dv, 1) / 4);
  const kpt = Math.ceil(t.BK / t.NT);
  const perTile = Math.ceil((t.BK * d4) / threads) + Math.ceil((t.BK * dv4) / threads) + kpt * (d4 + 2) + t.BK * (Math.ceil(dv4 / t.NT) + 3) + 8;
  return Math.max(t.BK, Math.floor((budget - Math.ceil(d4 / t.NT) - 16) / perTile) * t.BK);
}
