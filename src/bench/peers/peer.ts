/**
 * The peer hook: another library that runs the same cases in the same bench run, so kernelport is
 * compared on the same machine, shapes, threads and clock. onnxruntime.ts is the built-in one; a
 * module passed to `kernelport bench --peer-module ./my-peer.js` (or `bench({ peers: [peer] })`)
 * adds others, e.g. a PyTorch script driven over a pipe on a GPU machine. See bench/README.md.
 */
import type { BenchCase, PeerInfo } from '../types.js';

/** Host inputs of a case, f32, shared by kernelport and every peer (same values everywhere). */
export type CaseInputs =
  | { op: 'matmul'; a: Float32Array; b: Float32Array; bias?: Float32Array }
  | { op: 'attention'; q: Float32Array; k: Float32Array; v: Float32Array };

/** One prepared case: inputs uploaded, model built, ready to time. */
export interface PeerRun {
  /** Runs the op `iters` times back to back, waits for completion, returns elapsed seconds. */
  time(iters: number): Promise<number>;
  dispose(): Promise<void> | void;
  /** Optional: the last run's output (f32), for checking that the peer computes the same thing. */
  output?(): Promise<Float32Array>;
}

export interface Peer {
  /** Shown in tables and JSON (e.g. 'onnxruntime-node'). */
  readonly name: string;
  /** Which clock `time()` reads, e.g. 'host: performance.now() around session.run'. */
  readonly clock: string;
  /** Execution provider / device the peer runs on ('cpu', 'cuda', ...). */
  readonly backend: string;
  /** Loads the peer. Unavailable: `available: false` and a reason that says how to add it. Never throws. */
  init(options: { threads: number }): Promise<PeerInfo>;
  /** undefined when the peer can run the case, else why not (the row says so). */
  supports(c: BenchCase): string | undefined;
  prepare(c: BenchCase, inputs: CaseInputs): Promise<PeerRun>;
  close?(): Promise<void> | void;
}

export function isPeer(x: unknown): x is Peer {
  const p = x as Peer;
  return !!p && typeof p === 'object' && typeof p.name === 'string' && typeof p.init === 'function' && typeof p.supports === 'function' && typeof p.prepare === 'function';
}
