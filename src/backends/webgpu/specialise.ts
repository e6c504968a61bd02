/**
 * The WGSL specialisation step. Kernel sources are real .wgsl files in kernels/wgsl/ with two kinds
 * of holes: `{{NAME}}` (an integer constant: tile sizes, dtype codes, head dims) and line-level
 * `#if NAME` / `#else` / `#endif` blocks (boolean features: bias, residual, mask, split-KV...). A
 * specialisation is a typed record per kernel; the same record is the pipeline cache key.
 * Every hole must be filled and every value used, so a typo fails loudly instead of compiling a
 * different kernel.
 *
 * Where the .wgsl text comes from is a ShaderSource: in Node, read from the package's kernels/wgsl
 * (shaders-node.ts); in a browser, the same files inlined into a module at build time
 * (shaders-browser.ts). Nothing in this file touches the file system.
 */

/** dtype codes used in the shaders (the C ABI's: f32 0, f16 1, bf16 2). */
export type DtCode = 0 | 1 | 2;

export interface MatmulSpec {
  /** matmul.wgsl (portable) or matmul_vec4.wgsl (wide tiles of hardware adapters: configs.ts). */
  kernel: 'matmul' | 'matmul_vec4';
  A_DT: DtCode;
  BIAS_DT: DtCode;
  RES_DT: DtCode;
  ACT: 0 | 1 | 2 | 3 | 4;
  HAS_BIAS: boolean;
  HAS_RES: boolean;
  TM: number;
  TN: number;
  WGX: number;
  WGY: number;
  BK: number;
}

export interface GemvSpec extends Omit<MatmulSpec, 'kernel' | 'TM' | 'TN' | 'WGX' | 'WGY' | 'BK'> {
  kernel: 'gemv';
  MR: number;
  WG: number;
  /** Reduce the WG partial sums with subgroupAdd (the adapter's `subgroups` feature). */
  SUBGROUPS: boolean;
}

export interface PackSpec {
  kernel: 'pack16';
  OUT_DT: 1 | 2;
}

export interface AttentionSpec {
  kernel: 'attention';
  DT: DtCode;
  D: number;
  DV: number;
  /** max(D, 1) and max(DV, 1): WGSL arrays cannot be empty. */
  DA: number;
  DVA: number;
  BQ: number;
  BK: number;
  HAS_MASK: boolean;
  HAS_LSE: boolean;
  SPLIT: boolean;
  /** Non-split attention over more than one key chunk: (m, l, acc) carried between dispatches. */
  CARRY: boolean;
  STAGE: boolean;
}

/** attention_tiled.wgsl: BQ query rows x NT invocations per row, K/V tiles of BK keys (configs.ts). */
export interface TiledAttentionSpec {
  kernel: 'attention_tiled';
  DT: DtCode;
  D: number;
  DV: number;
  /** Vec4 per row of Q/K (max(D, 1) rounded up to 4, over 4) and of V. */
  D4: number;
  DV4: number;
  BQ: number;
  BK: number;
  NT: number;
  HAS_MASK: boolean;
  HAS_LSE: boolean;
  CARRY: boolean;
}

export interface CombineSpec {
  kernel: 'attention_combine';
  DV: number;
  DVA: number;
  HAS_LSE: boolean;
}

export type Spec = MatmulSpec | GemvSpec | PackSpec | AttentionSpec | TiledAttentionSpec | CombineSpec;

/** Which files make up each kernel, in order (common.wgsl always first). */
const FILES: Record<Spec['kernel'], string[]> = {
  matmul: ['common.wgsl', 'matmul_common.wgsl', 'matmul.wgsl'],
  matmul_vec4: ['common.wgsl', 'matmul_common.wgsl', 'matmul_vec4.wgsl'],
  gemv: ['common.wgsl', 'matmul_common.wgsl', 'gemv.wgsl'],
  pack16: ['common.wgsl', 'pack16.wgsl'],
  attention: ['common.wgsl', 'attention_common.wgsl', 'attention_io.wgsl', 'attention.wgsl'],
  attention_tiled: ['common.wgsl', 'attention_common.wgsl', 'attention_io.wgsl', 'attention_tiled.wgsl'],
  attention_combine: ['common.wgsl', 'attention_common.wgsl', 'attention_combine.wgsl'],
};

/** The text of one file of kernels/wgsl (e.g. 'common.wgsl'); throws when there is no such file. */
export type ShaderSource = (file: string) => string;

/** Every .wgsl file a kernel is made of. */
export const WGSL_FILES: readonly string[] = [...new Set(Object.values(FILES).flat())];

/** A stable string for a specialisation: the pipeline cache key. */
export function specKey(spec: Spec): string {
  return Object.keys(spec)
    .sort()
    .map((k) => `${k}=${String((spec as unknown as Record<string, unknown>)[k])}`)
    .join(',');
}

/** The WGSL text of a kernel with every hole filled from `spec`, its files read through `source`. */
export function specialise(spec: Spec, source: ShaderSource): string {
  const { kernel, ...defs } = spec as Spec & Record<string, number | boolean>;
  const files = FILES[kernel];
  if (!files) throw new TypeError(`webgpu: unknown kernel '${String(kernel)}'`);
  // Enable directives must precede every declaration, so they go first, ahead of common.wgsl.
  const enable = defs.SUBGROUPS === true ? 'enable subgroups;\n' : '';
  return enable + fill(kernel, files.map((f) => `// ---- ${f} ----\n${source(f)}`).join('\n'), defs);
}

/** The preprocessor proper (exported for tests): `#if/#else/#endif` lines, then `{{NAME}}` holes. */
export function fill(what: string, text: string, defs: Record<string, number | boolean>): string {
  const used = new Set<string>();
  const out: string[] = [];
  const stack: { on: boolean; parentOn: boolean; seenElse: boolean }[] = [];
  const on = () => stack.every((s) => s.on);
  text.split('\n').forEach((line, n) => {
    const d = /^\s*#(if|else|endif)\b\s*(\w*)\s*$/.exec(line);
    if (!d) {
      if (on()) out.push(line);
      else for (const h of line.matchAll(/\{\{(\w+)\}\}/g)) used.add(h[1]!); // a value only a disabled block needs still counts
      return;
    }
    const [, dir, name] = d as unknown as [string, string, string];
    if (dir === 'if') {
      const v = defs[name];
      if (typeof v !== 'boolean') throw new TypeError(`webgpu ${what}: line ${n + 1}: #if ${name} needs a boolean specialisation value, got ${String(v)}`);
      used.add(name);
      stack.push({ on: v, parentOn: on(), seenElse: false });
    } else if (dir === 'else') {
      const top = stack.at(-1);
      if (!top || top.seenElse) throw new SyntaxError(`webgpu ${what}: line ${n + 1}: #else without #if`);
      top.on = !top.on;
      top.seenElse = true;
    } else {
      if (!stack.pop()) throw new SyntaxError(`webgpu ${what}: line ${n + 1}: #endif without #if`);
    }
  });
  if (stack.length) throw new SyntaxError(`webgpu ${what}: unterminated #if`);
  const filled = out.join('\n').replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
    const v = defs[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new TypeError(`webgpu ${what}: {{${name}}} needs a non-negative integer, got ${String(v)}`);
    used.add(name);
    return String(v);
  });
  for (const k of Object.keys(defs)) if (!used.has(k)) throw new TypeError(`webgpu ${what}: specialisation value ${k} is not used by the source`);
  return filled;
}
