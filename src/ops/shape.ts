/** Shape helpers shared by the op specs: validation, broadcasting, byte counts, error messages. */
import { bytesPerElement, isDType } from '../dtype.js';
import type { DType, Shape, TensorLike } from '../types.js';

/** Largest element count we accept: byte offsets must stay exact in a double and in int64. */
export const MAX_ELEMENTS = 2 ** 48;
/** The largest dimension the C ABI takes (kernelport.h), also of a tensor with no element. */
export const MAX_DIMENSION = 2 ** 40;

export const fmt = (s: Shape): string => `[${s.join(', ')}]`;

/** A checked copy of `shape` (the caller's array is never kept). */
export function checkShape(where: string, shape: unknown): number[] {
  validateShape(where, shape);
  return (shape as number[]).slice();
}

/**
 * Throws unless `shape` is an array of non-negative integer dimensions within the supported sizes.
 * Messages start "`where`: " (or "`where`: `name`: "); built only when thrown, as every op checks its operands.
 */
export function validateShape(where: string, shape: unknown, name?: string): void {
  if (!Array.isArray(shape)) throw new TypeError(`${prefix(where, name)}: shape must be an array of dimensions, got ${typeof shape}`);
  let n = 1;
  // A plain loop: every op validates its operands' shapes, and a closure per call showed in profiles
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new (typeof d === 'number' ? RangeError : TypeError)(
        `${prefix(where, name)}: dimension ${i} must be a non-negative integer, got ${describe(d)} in shape ${fmtAny(shape)}`,
      );
    // Also for tensors with no element: the same answer on every backend (the C ABI takes up to 2^40)
    if (d > MAX_DIMENSION) throw new RangeError(`${prefix(where, name)}: dimension ${i} is ${d}, more than the supported 2^40, in shape ${fmtAny(shape)}`);
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new RangeError(`${prefix(where, name)}: shape ${fmtAny(shape)} has ${n} elements, more than the supported 2^48`);
}

// A message's "where: name" start, built only when one is thrown.
const prefix = (where: string, name: string | undefined): string => (name === undefined ? where : `${where}: ${name}`);

const fmtAny = (s: unknown[]): string => `[${s.map((d) => (typeof d === 'number' ? String(d) : describe(d))).join(', ')}]`;

/**
 * An option whose name differs from a known one only in case (transb, returnlse) is a typo that would
 * otherwise be ignored silently: refused, naming the option meant. Other names are left alone.
 */
export function checkOptionNames(where: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const meant = known.find((k) => k.toLowerCase() === name.toLowerCase());
    if (meant) throw new TypeError(`${where}: unknown option '${name}'; did you mean '${meant}'?`);
  }
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteSize(shape: Shape, dtype: DType): number {
  return numel(shape) * bytesPerElement(dtype);
}

/** Row-major element strides. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** NumPy broadcasting of batch shapes; throws naming both arguments when they do not broadcast. */
export function broadcastShapes(where: string, names: string[], shapes: Shape[]): number[] {
  let rank = 0;
  for (const s of shapes) rank = Math.max(rank, s.length);
  const out = new Array<number>(rank).fill(1);
  for (let i = 0; i < rank; i++) {
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (out[i] !== 1 && out[i] !== d)
        throw new RangeError(
          `${where}: batch dimensions of ${names.join(' and ')} do not broadcast: ${shapes.map(fmt).join(' vs ')}`,
        );
      out[i] = d;
    }
  }
  return out;
}

/**
 * Element strides of `shape` (contiguous, right-aligned against `target`) when read as `target`:
 * 0 where the operand is broadcast.
 */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const strides = contiguousStrides(shape);
  return target.map((d, i) => {
    const j = shape.length - target.length + i;
    if (j < 0 || shape[j] === 1) return 0;
    return strides[j]!;
  });
}

export function requireTensor(where: string, name: string, x: unknown): TensorLike {
  const t = x as TensorLike | null | undefined;
  if (t === null || typeof t !== 'object' || !Array.isArray(t.shape) || !isDType(t.dtype))
    throw new TypeError(`${where}: ${name} must be a kernelport Tensor, got ${describe(x)}`);
  validateShape(where, t.shape, name); // a Tensor's shape is checked at creation; a plain TensorLike may not be
  return t;
}

export function requireDType(where: string, name: string, x: unknown): DType {
  if (!isDType(x)) throw new TypeError(`${where}: ${name} must be 'f32', 'f16' or 'bf16', got ${describe(x)}`);
  return x;
}

export function requireFinite(where: string, name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new TypeError(`${where}: ${name} must be a finite number, got ${describe(x)}`);
  return x;
}

export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'an object';
  if (typeof x === 'string') return `'${x}'`;
  if (typeof x === 'bigint') return `${x}n (a BigInt)`;
  return String(x);
}
