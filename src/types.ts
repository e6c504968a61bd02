/** Public types shared by the API, the op specs and the backends. */

export type DType = 'f32' | 'f16' | 'bf16';
export type Shape = readonly number[];
export type BackendName = 'cpu' | 'cuda' | 'musa' | 'webgpu' | 'reference';
export type Activation = 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'silu';
export type Causal = boolean | 'bottom-right' | 'top-left';
export type Layout = 'bhsd' | 'bshd';

/** Host data for a tensor: f32 as Float32Array, f16/bf16 as their raw bits in a Uint16Array. */
export type HostData = Float32Array | Uint16Array;

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added before the activation. */
  bias?: TensorLike;
  activation?: Activation;
  /** Broadcastable to [..., M, N], added after the activation, times beta. */
  residual?: TensorLike;
  alpha?: number;
  /** Defaults to 1 when a residual is given. */
  beta?: number;
  outDtype?: DType;
  /**
   * f32 inputs only: the backend may round A and B to TF32 (10-bit mantissa) on tensor cores, as
   * cuBLAS/PyTorch do when TF32 is allowed. Off by default; backends without such a path compute in
   * full f32 either way. Validation then judges the result by the TF32 bound.
   */
  allowTf32?: boolean;
  /**
   * Write the result into this tensor (of exactly the output's shape and dtype, on the same device,
   * sharing no memory with an input) and return it, instead of a new tensor: a framework's own
   * buffers, reused step after step. Ordered with the device's other ops like any output.
   */
  out?: TensorLike;
}

/** Options of `Device.copy`: element offsets and counts (rows of `count` elements, strides apart). */
export interface CopyOptions {
  srcOffset?: number;
  dstOffset?: number;
  /** Elements per row; defaults to the rest of src (required with `rows`). */
  count?: number;
  /** Runs of `count` elements to copy (default 1). */
  rows?: number;
  /** Elements between the starts of consecutive src rows (default count). */
  srcStride?: number;
  /** Elements between the starts of consecutive dst rows (default count; at least count). */
  dstStride?: number;
}

export interface AttentionOptions {
  layout?: Layout;
  /** Defaults to 1/sqrt(D). */
  scale?: number;
  /** true = bottom-right aligned (FlashAttention); 'top-left' = PyTorch SDPA is_causal. */
  causal?: Causal;
  /** One Int32 per batch row: keys at or beyond the length are masked. */
  kvLengths?: Int32Array | readonly number[];
  /** Additive f32 mask, broadcastable to [B, Hq, Sq, Skv]. */
  mask?: TensorLike;
  returnLse?: boolean;
  outDtype?: DType;
  /**
   * f16/bf16 inputs only: the backend may round the softmax probabilities P to the input dtype before
   * the P·V product, as FlashAttention and cuDNN do (cuda's tensor-core kernel then does half the P·V
   * work). Off by default: P keeps f32 accuracy. Softmax statistics and accumulation stay f32; the
   * normaliser is the sum of the unrounded P. Validation then judges by the bound with that rounding.
   */
  allowP16?: boolean;
  /** The output (not the lse) into this tensor, as MatmulOptions.out. */
  out?: TensorLike;
}

/** What an op spec needs to know about a tensor argument. */
export interface TensorLike {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface CpuDetails {
  vendor: string;
  model: string;
  arch: string;
  /** Instruction-set features the process may use (cpuid and OS support via XCR0). */
  features: string[];
  logicalCores: number;
  usableCores: number;
  caches: { l1d: number; l2: number; l3: number };
  /** The kernel path the cpu backend runs. */
  isa: string;
}

export interface DeviceInfo {
  backend: BackendName;
  /** Index among the backend's devices (cpu:0, cuda:1, ...). */
  index: number;
  name: string;
  vendor: string;
  /** sm_XX, mp_XX or the CPU ISA. */
  architecture: string;
  computeUnits: number;
  memoryBytes: number;
  features: { dtypes: DType[]; tensorCores: boolean; subgroups: boolean; shaderF16: boolean; [k: string]: unknown };
  /** Peak dense FLOP/s per dtype and memory bandwidth (bytes/s); `source` says where they come from. */
  peak: { flops: Partial<Record<DType, number>>; bandwidth: number; source: 'table' | 'estimate' | 'measured' | 'none' };
  /** Kernel variants compiled in. */
  variants: string[];
  available: boolean;
  /** Why the device is unavailable (or a note when it is). */
  reason?: string;
  cpu?: CpuDetails;
  /** GPU backends (cuda, musa): what the driver reports and the parts-table figures. */
  gpu?: GpuDetails;
  /** Set by open(): devices tried before this one that failed to initialise, with the reason. */
  fallback?: { device: string; reason: string }[];
  /** Set by open(): how this device was chosen. */
  selection?: { by: string; policy?: string; estimateMs?: number; why: string };
}

export interface GpuDetails {
  /** Compute capability, e.g. '9.0'. */
  computeCapability: string;
  /** Threads per warp, read from the device. */
  warpSize: number;
  clockMHz: number;
  memoryClockMHz: number;
  busWidthBits: number;
  l2Bytes: number;
  sharedPerBlockOptin: number;
  driverVersion: number;
  /** The parts-table entry matched, or undefined for an estimate. */
  part?: string;
  /** true: figures from SM count × clock × per-SM rates of the architecture, not from the table. */
  estimate: boolean;
  /** Dense TF32 tensor FLOP/s (used only when a caller opts in). */
  tf32Flops: number;
  /** Export-control figures: TPP = 2 × MacTOPS × bit length (dense 16-bit tensor rate × 16), PD = TPP / die mm². */
  tpp: number;
  performanceDensity?: number;
  exportClass?: string;
  /** musa: an NVIDIA GPU running the MUSA build through the test-only CUDA mapping (never chosen by 'auto'). */
  emulated?: boolean;
  /** musa: the part's dense 16-bit tensor rate from the table (the portable MUSA kernels do not reach it). */
  tensor16Flops?: number;
  /** musa: dense INT8 ops/s from the table, where published. */
  int8Ops?: number;
}

export interface OpenOptions {
  /** A backend, or a device selector such as 'cuda:1' or 'webgpu:0'. */
  backend?: BackendName | 'auto' | `${BackendName}:${number}`;
  /** A device selector ('cuda:1', 'webgpu:0', 'cpu'); same as `backend`, wins over it. */
  device?: string;
  /** How 'auto' ranks devices (default 'auto': estimated time for typical ops). */
  policy?: 'auto' | 'prefer-gpu' | 'prefer-cpu';
  /** Ordered selectors tried first ('cuda:1', 'webgpu', 'cpu'). */
  prefer?: string[];
  /** Devices lacking these are never chosen. */
  require?: { dtype?: DType | DType[]; ops?: ('matmul' | 'attention')[] };
  /** No fallback: an error if the chosen device fails to initialise. */
  strict?: boolean;
  /** cpu: worker threads (default: the cores this process may use, or KERNELPORT_NUM_THREADS). */
  threads?: number;
  /**
   * Autotuning (default off: built-in heuristics, or KERNELPORT_AUTOTUNE=1 | cache | 0).
   * true: use the tune cache's winners and tune a shape class without one in the background the first
   * time an op of it runs (ops after that use the winner), saving it; 'cache': only use the cache's
   * winners; false: built-in heuristics only, the cache is not read.
   */
  autotune?: boolean | 'cache';
  /** The tune cache file (default KERNELPORT_TUNE_CACHE, else tune.json in the kernelport cache directory). */
  tuneCache?: string;
  /**
   * webgpu: adapter features not to use even where the adapter has them, so the fallback paths can
   * run on any adapter (Node: also KERNELPORT_WEBGPU_DISABLE=subgroups,timestamp-query).
   */
  webgpuDisable?: WebGpuOptionalFeature[];
}

/** The optional WebGPU features kernelport uses where an adapter has them. */
export type WebGpuOptionalFeature = 'subgroups' | 'timestamp-query';
