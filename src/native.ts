/**
 * Loads the native addon from its one fixed place, build/Release/kernelport.node under the package
 * root, and refuses a missing or stale build with the command that fixes it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The C ABI version this TypeScript expects (KP_ABI_VERSION in native/include/kernelport.h). */
export const ABI_VERSION = 1;
const BUILD_COMMAND = 'npm run build:native';

/** A native buffer handle (a number naming it in the addon's table): given back by NativeAddon.releaseBuffer. */
export interface NativeBuffer {
  readonly __nativeBuffer: unique symbol;
}

export interface NativeDevice {
  createBuffer(bytes: number): NativeBuffer;
  /** Ordered after the queued ops that use `buf` (the call waits for them). */
  write(buf: NativeBuffer, src: ArrayBufferView, byteOffset?: number): void;
  /** kp_buffer_copy: enqueued like an op. */
  copy(dst: NativeBuffer, dstByteOffset: number, dstStride: number, src: NativeBuffer, srcByteOffset: number, srcStride: number, rowBytes: number, rows: number): void;
  read<T extends ArrayBufferView>(buf: NativeBuffer, dst: T): Promise<T>;
  sync(): Promise<void>;
  matmul(desc: Float64Array, a: NativeBuffer, b: NativeBuffer, bias: NativeBuffer | null, residual: NativeBuffer | null, out: NativeBuffer): void;
  attention(
    desc: Float64Array,
    q: NativeBuffer,
    k: NativeBuffer,
    v: NativeBuffer,
    kvLengths: NativeBuffer | null,
    mask: NativeBuffer | null,
    out: NativeBuffer,
    lse: NativeBuffer | null,
  ): void;
  pending(): number;
  /** The backend's own kernel choice for a descriptor ('' when it has no native planner: cpu). */
  explain(op: 'matmul' | 'attention', desc: Float64Array): string;
  threads(): number;
  close(): void;
}

export interface NativeCpuInfo {
  vendor: string;
  model: string;
  arch: string;
  features: number;
  logicalCores: number;
  usableCores: number;
  l1d: number;
  l2: number;
  l3: number;
  memoryBytes: number;
  isa: string;
}

/** One GPU as the vendor driver reports it (kp_gpu_probe). */
export interface NativeGpuDevice {
  index: number;
  name: string;
  arch: string;
  ccMajor: number;
  ccMinor: number;
  multiprocessors: number;
  warpSize: number;
  memoryBytes: number;
  clockKhz: number;
  memoryClockKhz: number;
  busWidthBits: number;
  pciBus: number;
  l2Bytes: number;
  sharedPerBlockOptin: number;
  driverVersion: number;
  /** musa only: an NVIDIA GPU running the MUSA build through the test-only CUDA mapping. */
  emulated: boolean;
}

export interface NativeGpuProbe {
  /** The driver loaded and reported at least one device. */
  available: boolean;
  /** Why not (the dlopen message, the driver's error, or "no CUDA device"; musa: every attempt, emulation included). */
  reason: string;
  devices: NativeGpuDevice[];
  /** The backend library (loaded only when the driver reports a device). */
  library: { loaded: boolean; reason: string; variants: string };
}

export interface NativeAddon {
  abiVersion: number;
  version: string;
  addonVersion: string;
  /** The op descriptors' packed field order (native/addon/descriptors.cpp); "name[cap]": a count, then cap values. */
  descriptorFields: { matmul: string[]; attention: string[] };
  Device: new (backend: string, threads: number) => NativeDevice;
  /** Gives a buffer's reference back now (queued ops keep their own); a second call does nothing. */
  releaseBuffer(buf: NativeBuffer): void;
  /** A buffer's bytes (0 once released). */
  bufferSize(buf: NativeBuffer): number;
  cpuProbe(): NativeCpuInfo;
  /** GPU backend probe: the driver (dlopen + driver API), then the backend library. Never throws for a missing driver. */
  gpuProbe(backend: 'cuda' | 'musa'): NativeGpuProbe;
  /** Native buffers alive in this process (every device) and their bytes. */
  /** cachedBytes: freed cpu blocks held for reuse (not live, not a leak). */
  memoryStats(): { liveBuffers: number; liveBytes: number; cachedBytes: number };
  /** Measured peaks (kp_cpu_calibrate), off the JS thread. threads <= 0: usable cores; seconds per measurement. */
  cpuCalibrate(threads: number, seconds: number): Promise<NativeCpuPeaks>;
}

export interface NativeCpuPeaks {
  threads: number;
  /** FMA-throughput FLOP/s of each ISA path this CPU and build support, best first. */
  isas: { isa: string; flopsF32: number }[];
  activeIsa: string;
  flopsF32: number;
  readBandwidth: number;
  bufferBytes: number;
  seconds: number;
}

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'kernelport') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('kernelport: cannot find the package root (no package.json named kernelport above this file)');
    dir = up;
  }
}

let cached: NativeAddon | Error | undefined;

/** The addon, or an Error saying why it cannot be used (never throws for a missing build). */
export function loadNative(): NativeAddon | Error {
  if (cached === undefined) {
    try {
      cached = load();
    } catch (e) {
      cached = e instanceof Error ? e : new Error(String(e));
    }
  }
  return cached;
}

export function requireNative(): NativeAddon {
  const addon = loadNative();
  if (addon instanceof Error) throw addon;
  return addon;
}

function load(): NativeAddon {
  const root = packageRoot();
  const path = join(root, 'build', 'Release', 'kernelport.node');
  if (!existsSync(path)) throw new Error(`kernelport: the native addon is not built (expected ${path}). Run \`${BUILD_COMMAND}\` in ${root}.`);
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  const newer = newestSource(root);
  // build:native touches build/built-at after every successful build, including one that had nothing to redo.
  const stamp = join(root, 'build', 'built-at');
  const builtAt = Math.max(statSync(path).mtimeMs, existsSync(stamp) ? statSync(stamp).mtimeMs : 0);
  if (newer && newer.mtimeMs > builtAt)
    throw new Error(`kernelport: the native addon at ${path} is older than ${newer.file}. Run \`${BUILD_COMMAND}\` to rebuild it.`);
  const addon = createRequire(import.meta.url)(path) as NativeAddon;
  if (addon.abiVersion !== ABI_VERSION || addon.addonVersion !== version)
    throw new Error(
      `kernelport: stale native addon (ABI ${addon.abiVersion}, version ${addon.addonVersion}; this package expects ABI ${ABI_VERSION}, version ${version}). Run \`${BUILD_COMMAND}\`.`,
    );
  return addon;
}

/** Newest C/C++ source under native/ and kernels/ (absent in a package that ships only the build). */
function newestSource(root: string): { file: string; mtimeMs: number } | undefined {
  let best: { file: string; mtimeMs: number } | undefined;
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(c|cc|cpp|h|hpp|cu|cuh)$/.test(e.name)) {
        const m = statSync(p).mtimeMs;
        if (!best || m > best.mtimeMs) best = { file: p, mtimeMs: m };
      }
    }
  };
  walk(join(root, 'native'));
  walk(join(root, 'kernels'));
  const cm = join(root, 'CMakeLists.txt');
  if (existsSync(cm) && (!best || statSync(cm).mtimeMs > best.mtimeMs)) best = { file: cm, mtimeMs: statSync(cm).mtimeMs };
  return best;
}
