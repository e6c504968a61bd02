/**
 * Bad arguments: every one throws synchronously a TypeError or RangeError whose message names the
 * argument and shows what was expected and what was given; nothing partial is left behind, and the
 * device keeps working afterwards (DESIGN.md, "Public API").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bench, open, Tensor, validate, type Device } from '../src/index.js';
import { judgeMatmul, type MatmulInputs } from '../src/numerics/check.js';
import { randomTensor, Rng } from '../src/numerics/random.js';
import type { DType } from '../src/types.js';

const BACKENDS = ['cpu', 'reference'] as const;

type ErrorClass = typeof TypeError | typeof RangeError | typeof Error;

/** Calls fn and requires a synchronous throw of `cls` whose message matches `re`; nothing may be returned. */
function expectSyncThrow(fn: () => unknown, cls: ErrorClass, re: RegExp): Error {
  let returned: unknown = undefined;
  let thrown: unknown = undefined;
  let didThrow = false;
  try {
    returned = fn();
  } catch (e) {
    didThrow = true;
    thrown = e;
  }
  if (returned instanceof Promise) returned.catch(() => {}); // a rejection instead of a throw: fail below, no unhandled rejection
  expect(didThrow, `expected a synchronous ${cls.name}, got a return value: ${String(returned)}`).toBe(true);
  expect(returned).toBeUndefined();
  expect(thrown, `thrown: ${String(thrown)}`).toBeInstanceOf(cls);
  expect((thrown as Error).message).toMatch(re);
  return thrown as Error;
}

interface Fixture {
  dev: Device;
  other: Device;
  t: (shape: number[], dtype?: DType, seed?: number) => Tensor;
  /** Tensors created for a case; disposed after it. */
  made: Tensor[];
}

type Row = [name: string, run: (f: Fixture) => unknown, cls: ErrorClass, re: RegExp];

const M = 37;
const K = 61;
const N = 29;
// attention: B=2, Hq=4, Hkv=2, Sq=13, Skv=29, D=24, Dv=40
const Q = [2, 4, 13, 24];
const KS = [2, 2, 29, 24];
const VS = [2, 2, 29, 40];

function disposed(f: Fixture, shape: number[], dtype: DType = 'f32'): Tensor {
  const x = f.t(shape, dtype);
  x.dispose();
  return x;
}

function foreign(f: Fixture, shape: number[], dtype: DType = 'f32'): Tensor {
  const rng = new Rng(99);
  const h = randomTensor(rng, shape, dtype);
  const x = f.other.tensor(h.data, shape, dtype);
  f.made.push(x);
  return x;
}

const any = (x: unknown) => x as never;

const MATMUL_ROWS: Row[] = [
  ['a of rank 1', (f) => f.dev.matmul(f.t([K]), f.t([K, N])), RangeError, /\ba must have rank >= 2.*got shape \[61\]/],
  ['b of rank 1', (f) => f.dev.matmul(f.t([M, K]), f.t([K])), RangeError, /\bb must have rank >= 2.*got shape \[61\]/],
  ['a of rank 0', (f) => f.dev.matmul(f.t([]), f.t([K, N])), RangeError, /\ba must have rank >= 2.*got shape \[\]/],
  ['mismatched K', (f) => f.dev.matmul(f.t([M, K]), f.t([60, N])), RangeError, /inner dimensions.*\[37, 61\].*K=61.*\[60, 29\].*K=60/],
  ['mismatched K with transA', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { transA: true }), RangeError, /inner dimensions.*\[37, 61\] as \[\.\.\., K, M\] \(transA\) has K=37.*K=61/],
  ['mismatched K with transB', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { transB: true }), RangeError, /inner dimensions.*K=61.*\(transB\) has K=29/],
  ['a/b dtype mismatch', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N], 'f16')), TypeError, /\ba and b must share a dtype.*a f32.*b f16/],
  ['a/b dtype mismatch bf16/f16', (f) => f.dev.matmul(f.t([M, K], 'bf16'), f.t([K, N], 'f16')), TypeError, /share a dtype.*a bf16.*b f16/],
  ['batch dims that do not broadcast', (f) => f.dev.matmul(f.t([2, M, K]), f.t([3, K, N])), RangeError, /batch dimensions of a and b do not broadcast: \[2\] vs \[3\]/],
  ['bias of the wrong length', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { bias: f.t([30]) }), RangeError, /bias must have shape \[N\] = \[29\], got \[30\]/],
  ['bias of rank 2', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { bias: f.t([1, N]) }), RangeError, /bias must have shape \[N\] = \[29\], got \[1, 29\]/],
  ['bias of length M (confused with a column)', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { bias: f.t([M]) }), RangeError, /bias.*\[29\].*got \[37\]/],
  ['residual not broadcastable [M, N-1]', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: f.t([M, 28]) }), RangeError, /residual of shape \[37, 28\] does not broadcast to the output shape \[37, 29\]/],
  ['residual [N, M] (transposed)', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: f.t([N, M]) }), RangeError, /residual of shape \[29, 37\].*\[37, 29\]/],
  ['residual of higher rank than the output', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: f.t([2, M, N]) }), RangeError, /residual of shape \[2, 37, 29\].*output shape \[37, 29\]/],
  ['residual with a mismatched batch', (f) => f.dev.matmul(f.t([2, M, K]), f.t([K, N]), { residual: f.t([3, M, N]) }), RangeError, /residual of shape \[3, 37, 29\].*\[2, 37, 29\]/],
  ['bad activation string', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { activation: any('tanh') }), TypeError, /activation must be one of none, relu, gelu, gelu_tanh, silu, got 'tanh'/],
  ['activation of the wrong case', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { activation: any('ReLU') }), TypeError, /activation.*got 'ReLU'/],
  ['alpha NaN', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { alpha: NaN }), TypeError, /alpha must be a finite number, got NaN/],
  ['alpha Infinity', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { alpha: Infinity }), TypeError, /alpha must be a finite number, got Infinity/],
  ['alpha as a string', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { alpha: any('2') }), TypeError, /alpha must be a finite number, got '2'/],
  ['beta -Infinity with a residual', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: f.t([N]), beta: -Infinity }), TypeError, /beta must be a finite number, got -Infinity/],
  ['beta NaN without a residual', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { beta: NaN }), TypeError, /beta must be a finite number, got NaN/],
  ['transA not a boolean', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { transA: any(1) }), TypeError, /transA must be a boolean, got 1/],
  ['transB not a boolean', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { transB: any('yes') }), TypeError, /transB must be a boolean, got 'yes'/],
  ['unknown outDtype', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { outDtype: any('f64') }), TypeError, /outDtype must be 'f32', 'f16' or 'bf16', got 'f64'/],
  ['options null', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), any(null)), TypeError, /options must be an object, got null/],
  ['output element count overflow', (f) => f.dev.matmul(any({ shape: [2 ** 25, 1], dtype: 'f32' }), any({ shape: [1, 2 ** 25], dtype: 'f32' })), RangeError, /output.*\[33554432, 33554432\].*2\^48/],
  ['disposed a', (f) => f.dev.matmul(disposed(f, [M, K]), f.t([K, N])), TypeError, /\ba \(shape \[37, 61\], f32\) has been disposed/],
  ['disposed b', (f) => f.dev.matmul(f.t([M, K]), disposed(f, [K, N])), TypeError, /\bb \(shape \[61, 29\], f32\) has been disposed/],
  ['disposed bias', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { bias: disposed(f, [N]) }), TypeError, /bias \(shape \[29\], f32\) has been disposed/],
  ['disposed residual', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: disposed(f, [M, N]) }), TypeError, /residual \(shape \[37, 29\], f32\) has been disposed/],
  ['a from another device', (f) => f.dev.matmul(foreign(f, [M, K]), f.t([K, N])), TypeError, /\ba belongs to another device/],
  ['b from another device', (f) => f.dev.matmul(f.t([M, K]), foreign(f, [K, N])), TypeError, /\bb belongs to another device/],
  ['bias from another device', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { bias: foreign(f, [N]) }), TypeError, /bias belongs to another device/],
  ['residual from another device', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: foreign(f, [N]) }), TypeError, /residual belongs to another device/],
  ['a a plain object', (f) => f.dev.matmul(any({}), f.t([K, N])), TypeError, /\ba must be a kernelport Tensor, got Object/],
  ['a a tensor-like plain object', (f) => f.dev.matmul(any({ shape: [M, K], dtype: 'f32' }), f.t([K, N])), TypeError, /\ba must be a kernelport Tensor, got Object/],
  ['b null', (f) => f.dev.matmul(f.t([M, K]), any(null)), TypeError, /\bb must be a kernelport Tensor, got null/],
  ['b undefined', (f) => f.dev.matmul(f.t([M, K]), any(undefined)), TypeError, /\bb must be a kernelport Tensor, got undefined/],
  ['a a number', (f) => f.dev.matmul(any(5), f.t([K, N])), TypeError, /\ba must be a kernelport Tensor, got 5/],
  ['a a Float32Array', (f) => f.dev.matmul(any(new Float32Array(6)), f.t([K, N])), TypeError, /\ba must be a kernelport Tensor, got Float32Array/],
  ['bias a plain object', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { bias: any({}) }), TypeError, /bias must be a kernelport Tensor, got Object/],
  ['residual a number', (f) => f.dev.matmul(f.t([M, K]), f.t([K, N]), { residual: any(1) }), TypeError, /residual must be a kernelport Tensor, got 1/],
];

const ATTENTION_ROWS: Row[] = [
  ['q of rank 3', (f) => f.dev.attention(f.t([2, 13, 24]), f.t(KS), f.t(VS)), RangeError, /\bq must have rank 4 \[B, H, S, D\].*got shape \[2, 13, 24\]/],
  ['k of rank 3', (f) => f.dev.attention(f.t(Q), f.t([2, 29, 24]), f.t(VS)), RangeError, /\bk must have rank 4.*got shape \[2, 29, 24\]/],
  ['v of rank 5', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t([1, 2, 2, 29, 40])), RangeError, /\bv must have rank 4.*got shape \[1, 2, 2, 29, 40\]/],
  ["q of rank 3, layout 'bshd'", (f) => f.dev.attention(f.t([2, 13, 24]), f.t(KS), f.t(VS), { layout: 'bshd' }), RangeError, /\bq must have rank 4 \[B, S, H, D\]/],
  ['q/k dtype mismatch', (f) => f.dev.attention(f.t(Q), f.t(KS, 'f16'), f.t(VS)), TypeError, /q, k and v must share a dtype.*q f32, k f16, v f32/],
  ['v dtype mismatch', (f) => f.dev.attention(f.t(Q, 'bf16'), f.t(KS, 'bf16'), f.t(VS, 'f16')), TypeError, /share a dtype.*v f16/],
  ['Hq not a multiple of Hkv', (f) => f.dev.attention(f.t([2, 3, 13, 24]), f.t(KS), f.t(VS)), RangeError, /multiple.*Hq=3, Hkv=2/],
  ['Hkv larger than Hq', (f) => f.dev.attention(f.t([2, 2, 13, 24]), f.t([2, 4, 29, 24]), f.t([2, 4, 29, 40])), RangeError, /Hq=2, Hkv=4/],
  ['Hkv = 0', (f) => f.dev.attention(f.t([2, 4, 13, 24]), f.t([2, 0, 29, 24]), f.t([2, 0, 29, 40])), RangeError, /Hq=4, Hkv=0/],
  ['k head dim != q head dim', (f) => f.dev.attention(f.t(Q), f.t([2, 2, 29, 16]), f.t(VS)), RangeError, /head dim.*\[2, 4, 13, 24\] has D=24.*\[2, 2, 29, 16\] has D=16/],
  ['v length != k length', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t([2, 2, 28, 40])), RangeError, /v must match k.*Hkv=2, Skv=29.*\[2, 2, 28, 40\] has 2, 28/],
  ['v heads != k heads', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t([2, 1, 29, 40])), RangeError, /v must match k.*Hkv=2, Skv=29.*has 1, 29/],
  ['batch sizes differ', (f) => f.dev.attention(f.t(Q), f.t([3, 2, 29, 24]), f.t([3, 2, 29, 40])), RangeError, /batch sizes differ: q 2, k 3, v 3/],
  ['kvLengths too short', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: [29] }), RangeError, /kvLengths must have one entry per batch row \(B=2\), got 1/],
  ['kvLengths too long', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: Int32Array.from([1, 2, 3]) }), RangeError, /kvLengths.*\(B=2\), got 3/],
  ['kvLengths negative', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: [-1, 3] }), RangeError, /kvLengths\[0\] must be an integer in \[0, Skv=29\], got -1/],
  ['kvLengths negative (Int32Array)', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: Int32Array.from([3, -5]) }), RangeError, /kvLengths\[1\].*\[0, Skv=29\], got -5/],
  ['kvLengths > Skv', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: [3, 30] }), RangeError, /kvLengths\[1\] must be an integer in \[0, Skv=29\], got 30/],
  ['kvLengths non-integer', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: [1.5, 3] }), RangeError, /kvLengths\[0\].*\[0, Skv=29\], got 1\.5/],
  ['kvLengths NaN', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: [3, NaN] }), RangeError, /kvLengths\[1\].*got NaN/],
  ['kvLengths a string', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: any(['3', 4]) }), TypeError, /kvLengths\[0\] must be a number, got '3'/],
  ['kvLengths a Float32Array', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { kvLengths: any(new Float32Array([3, 4])) }), TypeError, /kvLengths must be an Int32Array or an array of integers, got Float32Array/],
  ['mask f16', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: f.t([13, 29], 'f16') }), TypeError, /mask must be f32.*got f16/],
  ['mask not broadcastable [Sq, Skv-1]', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: f.t([13, 28]) }), RangeError, /mask of shape \[13, 28\] does not broadcast to \[B, Hq, Sq, Skv\] = \[2, 4, 13, 29\]/],
  ['mask with Hkv heads instead of Hq', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: f.t([2, 2, 13, 29]) }), RangeError, /mask of shape \[2, 2, 13, 29\].*\[2, 4, 13, 29\]/],
  ['mask of rank 5', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: f.t([1, 2, 4, 13, 29]) }), RangeError, /mask of shape \[1, 2, 4, 13, 29\] does not broadcast/],
  ['bad layout', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { layout: any('sbhd') }), TypeError, /layout must be 'bhsd' or 'bshd', got 'sbhd'/],
  ['bad causal string', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { causal: any('yes') }), TypeError, /causal must be true, false, 'bottom-right' or 'top-left', got 'yes'/],
  ['causal 1', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { causal: any(1) }), TypeError, /causal must be.*got 1/],
  ['scale NaN', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { scale: NaN }), TypeError, /scale must be a finite number, got NaN/],
  ['scale -Infinity', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { scale: -Infinity }), TypeError, /scale must be a finite number, got -Infinity/],
  ['returnLse not a boolean', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { returnLse: any(1) }), TypeError, /returnLse must be a boolean, got 1/],
  ['unknown outDtype', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { outDtype: any('fp8') }), TypeError, /outDtype must be 'f32', 'f16' or 'bf16', got 'fp8'/],
  ['disposed q', (f) => f.dev.attention(disposed(f, Q), f.t(KS), f.t(VS)), TypeError, /\bq \(shape \[2, 4, 13, 24\], f32\) has been disposed/],
  ['disposed v', (f) => f.dev.attention(f.t(Q), f.t(KS), disposed(f, VS)), TypeError, /\bv \(shape \[2, 2, 29, 40\], f32\) has been disposed/],
  ['disposed mask', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: disposed(f, [13, 29]) }), TypeError, /mask \(shape \[13, 29\], f32\) has been disposed/],
  ['k from another device', (f) => f.dev.attention(f.t(Q), foreign(f, KS), f.t(VS)), TypeError, /\bk belongs to another device/],
  ['mask from another device', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: foreign(f, [13, 29]) }), TypeError, /mask belongs to another device/],
  ['q a plain object', (f) => f.dev.attention(any({}), f.t(KS), f.t(VS)), TypeError, /\bq must be a kernelport Tensor, got Object/],
  ['k null', (f) => f.dev.attention(f.t(Q), any(null), f.t(VS)), TypeError, /\bk must be a kernelport Tensor, got null/],
  ['v a number', (f) => f.dev.attention(f.t(Q), f.t(KS), any(3)), TypeError, /\bv must be a kernelport Tensor, got 3/],
  ['mask a plain object', (f) => f.dev.attention(f.t(Q), f.t(KS), f.t(VS), { mask: any({ shape: [13, 29] }) }), TypeError, /mask must be a kernelport Tensor, got Object/],
];

const TENSOR_ROWS: Row[] = [
  ['data length != shape size', (f) => f.dev.tensor([1, 2, 3, 4, 5], [2, 3]), RangeError, /data has 5 elements but shape \[2, 3\] needs 6/],
  ['Float32Array length != shape size', (f) => f.dev.tensor(new Float32Array(7), [2, 3]), RangeError, /data has 7 elements but shape \[2, 3\] needs 6/],
  ['Uint16Array length != shape size', (f) => f.dev.tensor(new Uint16Array(5), [2, 3], 'f16'), RangeError, /data has 5 elements but shape \[2, 3\] needs 6/],
  ['negative dim', (f) => f.dev.tensor([], [2, -1]), RangeError, /shape: dimension 1 must be a non-negative integer, got -1 in shape \[2, -1\]/],
  ['non-integer dim', (f) => f.dev.tensor([1, 2, 3], [1.5, 2]), RangeError, /dimension 0 must be a non-negative integer, got 1\.5/],
  ['NaN dim', (f) => f.dev.tensor([1], [NaN]), RangeError, /dimension 0 must be a non-negative integer, got NaN/],
  ['Infinity dim', (f) => f.dev.tensor([1], [Infinity]), RangeError, /dimension 0 must be a non-negative integer, got Infinity/],
  ['string dim', (f) => f.dev.tensor([1, 2], any(['2'])), TypeError, /dimension 0 must be a non-negative integer, got '2'/],
  ['shape a number', (f) => f.dev.tensor([1], any(1)), TypeError, /shape must be an array of dimensions, got number/],
  ['shape undefined', (f) => f.dev.tensor([1], any(undefined)), TypeError, /shape must be an array of dimensions, got undefined/],
  ['shape an Int32Array', (f) => f.dev.tensor([1, 2], any(Int32Array.from([2]))), TypeError, /shape must be an array of dimensions, got object/],
  ['Uint16Array without dtype', (f) => f.dev.tensor(new Uint16Array(6), [2, 3]), TypeError, /Uint16Array.*pass dtype 'f16' or 'bf16' \(got undefined\)/],
  ["Uint16Array with dtype 'f32'", (f) => f.dev.tensor(new Uint16Array(6), [2, 3], 'f32'), TypeError, /Uint16Array.*'f16' or 'bf16' \(got 'f32'\)/],
  ['unknown dtype string', (f) => f.dev.tensor([1, 2], [2], any('f64')), TypeError, /dtype must be 'f32', 'f16' or 'bf16', got 'f64'/],
  ['unknown dtype in an options object', (f) => f.dev.tensor([1, 2], [2], any({ dtype: 'int8' })), TypeError, /dtype must be 'f32', 'f16' or 'bf16', got 'int8'/],
  ['data a string', (f) => f.dev.tensor(any('abc'), [3]), TypeError, /data must be a Float32Array.*got 'abc'/],
  ['data a Float64Array', (f) => f.dev.tensor(any(new Float64Array(3)), [3]), TypeError, /data must be a Float32Array.*got Float64Array/],
  ['data null', (f) => f.dev.tensor(any(null), [3]), TypeError, /data must be.*got null/],
  ['data with a non-number', (f) => f.dev.tensor(any([1, 'x', 3]), [3]), TypeError, /data\[1\] must be a number, got 'x'/],
  ['element count overflow', (f) => f.dev.tensor([], [2 ** 30, 2 ** 30, 2 ** 30]), RangeError, /shape \[1073741824, 1073741824, 1073741824\] has .* elements, more than the supported 2\^48/],
  ['empty: element count overflow', (f) => f.dev.empty([2 ** 30, 2 ** 30, 2 ** 30]), RangeError, /empty: shape.*more than the supported 2\^48/],
  ['empty: negative dim', (f) => f.dev.empty([-3]), RangeError, /empty: shape: dimension 0 must be a non-negative integer, got -3/],
  ['empty: unknown dtype', (f) => f.dev.empty([3], any('i32')), TypeError, /empty: dtype must be 'f32', 'f16' or 'bf16', got 'i32'/],
  // 2^40 f32 elements are 4 TiB: more than any machine this runs on.
  ['empty: a byte size beyond the memory', (f) => f.dev.empty([2 ** 40]), RangeError, /4398046511104 bytes/],
  ['empty: 16-bit byte size beyond the memory', (f) => f.dev.empty([2 ** 20, 2 ** 20], 'bf16'), RangeError, /2199023255552 bytes/],
];

describe.each(BACKENDS)('bad input on %s', (backend) => {
  let dev: Device;
  let other: Device;
  const f = {} as Fixture;
  let seed = 1;

  beforeAll(async () => {
    dev = await open(backend);
    other = await open(backend);
    Object.assign(f, {
      dev,
      other,
      made: [] as Tensor[],
      t(shape: number[], dtype: DType = 'f32', s = seed++) {
        const h = randomTensor(new Rng(s), shape, dtype);
        const x = dev.tensor(h.data, shape, dtype);
        f.made.push(x);
        return x;
      },
    });
  });
  afterAll(() => {
    for (const x of f.made) x.dispose();
    other?.dispose();
    dev?.dispose();
  });

  describe.each([
    ['matmul', MATMUL_ROWS],
    ['attention', ATTENTION_ROWS],
    ['tensor/empty', TENSOR_ROWS],
  ] as const)('%s', (_group, rows) => {
    it.each(rows.map((r) => [r[0], r] as const))('%s', (_name, [, run, cls, re]) => {
      try {
        expectSyncThrow(() => run(f), cls, re);
      } finally {
        for (const x of f.made.splice(0)) x.dispose();
      }
    });
  });

  it('read() of a disposed tensor rejects with a TypeError naming it', async () => {
    const x = f.t([3, 4]);
    x.dispose();
    expect(x.disposed).toBe(true);
    x.dispose(); // idempotent
    await expect(x.read()).rejects.toThrow(TypeError);
    await expect(x.read()).rejects.toThrow(/read: the tensor \(shape \[3, 4\], f32\) has been disposed/);
  });

  it('a disposed device refuses every op with a TypeError', async () => {
    const d = await open(backend);
    const a = d.tensor(new Float32Array(6), [2, 3]);
    const b = d.tensor(new Float32Array(6), [3, 2]);
    const q = d.tensor(new Float32Array(8), [1, 1, 2, 4]);
    d.dispose();
    expect(d.disposed).toBe(true);
    expectSyncThrow(() => d.matmul(a, b), TypeError, /matmul: the \w+ device has been disposed/);
    expectSyncThrow(() => d.attention(q, q, q), TypeError, /attention: the \w+ device has been disposed/);
    expectSyncThrow(() => d.tensor([1, 2], [2]), TypeError, /tensor: the \w+ device has been disposed/);
    expectSyncThrow(() => d.empty([2]), TypeError, /empty: the \w+ device has been disposed/);
    expectSyncThrow(() => d.pending(), TypeError, /pending: the \w+ device has been disposed/);
    expectSyncThrow(() => d.threads, TypeError, /threads: the \w+ device has been disposed/);
    await expect(d.sync()).rejects.toThrow(/sync: the \w+ device has been disposed/);
    expect(() => d.dispose()).not.toThrow(); // idempotent
    // tensors made before keep their memory: reading them must not crash; dispose must not throw
    try {
      expect(Array.from(await a.read())).toEqual([0, 0, 0, 0, 0, 0]);
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
    }
    for (const x of [a, b, q]) expect(() => x.dispose()).not.toThrow();
  });

  it('a tensor of a disposed device used on a live one is refused as foreign', async () => {
    const d = await open(backend);
    const a = d.tensor(new Float32Array(6), [2, 3]);
    d.dispose();
    expectSyncThrow(() => dev.matmul(a, f.t([3, 2])), TypeError, /\ba belongs to another device/);
    a.dispose();
  });

  it('open() rejects an unknown backend with a TypeError listing the backends', async () => {
    await expect(open(any('nosuch'))).rejects.toThrow(TypeError);
    await expect(open(any('nosuch'))).rejects.toThrow(/unknown backend 'nosuch'; known: cpu, cuda, musa, webgpu, reference/);
    await expect(open({ backend: any('CPU') })).rejects.toThrow(/unknown backend 'CPU'; known: .*cpu.*reference/);
  });

  it.each([0, -1, 1.5, NaN, 1025, any('2')])('open({ threads: %s }) rejects with a RangeError', async (threads) => {
    await expect(open({ backend, threads })).rejects.toThrow(RangeError);
    await expect(open({ backend, threads })).rejects.toThrow(/threads must be an integer in \[1, 1024\], got/);
  });

  it('nothing partial: a failed op returns nothing and an earlier output stays readable', async () => {
    const rng = new Rng(77);
    const ha = randomTensor(rng, [5, 7]);
    const hb = randomTensor(rng, [7, 3]);
    const a = dev.tensor(ha.data, ha.shape);
    const b = dev.tensor(hb.data, hb.shape);
    const y = dev.matmul(a, b);
    const first = Array.from(await y.read());
    let z: Tensor | undefined;
    expect(() => {
      z = dev.matmul(a, b, { bias: f.t([4]) });
    }).toThrow(RangeError);
    expect(z).toBeUndefined();
    expect(() => {
      z = dev.matmul(a, b, { activation: any('nope') });
    }).toThrow(TypeError);
    expect(z).toBeUndefined();
    // an op that passes every check but cannot allocate its 4 TiB output
    const tall = dev.tensor(new Float32Array(2 ** 20), [2 ** 20, 1]);
    const wide = dev.tensor(new Float32Array(2 ** 20), [1, 2 ** 20]);
    expect(() => {
      z = dev.matmul(tall, wide);
    }).toThrow(RangeError);
    expect(z).toBeUndefined();
    // the earlier output and the inputs are intact, and the device has no error pending
    expect(Array.from(await y.read())).toEqual(first);
    await expect(dev.sync()).resolves.toBeUndefined();
    expect(dev.pending()).toBe(0);
    const y2 = dev.matmul(a, b);
    expect(Array.from(await y2.read())).toEqual(first);
    for (const x of [a, b, y, y2, tall, wide]) x.dispose();
    for (const x of f.made.splice(0)) x.dispose();
  });

  it('a matmul whose 4 TiB output cannot be allocated throws a RangeError naming the byte size', () => {
    const tall = dev.tensor(new Float32Array(2 ** 20), [2 ** 20, 1]);
    const wide = dev.tensor(new Float32Array(2 ** 20), [1, 2 ** 20]);
    try {
      // cpu: 'cannot allocate 4398046511104 bytes'; the reference computes in float64 first and names the element count
      expectSyncThrow(() => dev.matmul(tall, wide), RangeError, backend === 'cpu' ? /4398046511104 bytes/ : /4398046511104 bytes|1099511627776/);
    } finally {
      tall.dispose();
      wide.dispose();
    }
  });

  it('after the whole table the device still works: a small matmul matches the reference', async () => {
    const rng = new Rng(88);
    const x: MatmulInputs = { a: randomTensor(rng, [M, K]), b: randomTensor(rng, [K, N]), bias: randomTensor(rng, [N]), residual: randomTensor(rng, [M, 1]) };
    const r = await judgeMatmul(dev, x, { activation: 'gelu', alpha: 0.5 });
    expect(r.out.pass, JSON.stringify(r.out.worst)).toBe(true);
    const rng2 = new Rng(89);
    const q = dev.tensor(randomTensor(rng2, [1, 2, 3, 8]).data, [1, 2, 3, 8]);
    const out = dev.attention(q, q, q);
    expect((await out.read()).every(Number.isFinite)).toBe(true);
    for (const t of [q, out]) t.dispose();
    await expect(dev.sync()).resolves.toBeUndefined();
  });
});

describe('bad input outside the kernels: the message names the value as given', () => {
  it('shapes, kvLengths, BigInt scalars, open/validate/bench options', async () => {
    const dev = await open('cpu');
    expect(() => dev.tensor(new Float32Array(4), ['2', 2] as unknown as number[])).toThrow(/dimension 0 must be a non-negative integer, got '2' in shape \['2', 2\]/);
    expect(() => dev.tensor(new Float32Array(4), ['2', 2] as unknown as number[])).toThrow(TypeError);
    const q = dev.tensor(new Float32Array(2 * 3 * 4), [2, 1, 3, 4]);
    expect(() => dev.attention(q, q, q, { kvLengths: ['1', '2'] as unknown as number[] })).toThrow(/kvLengths\[0\] must be a number, got '1'/);
    const a = dev.tensor(new Float32Array(4), [2, 2]);
    expect(() => dev.matmul(a, a, { alpha: 2n as unknown as number })).toThrow(/alpha must be a finite number, got 2n \(a BigInt\)/);
    await expect(open({ prefer: 'cpu' as unknown as string[] })).rejects.toThrow(/prefer must be an array of device names/);
    await expect(validate({ filter: 5 as unknown as string })).rejects.toThrow(/filter must be a string or a RegExp, got number/);
    await expect(bench({ cases: [{} as never], peers: [] })).rejects.toThrow(/cases\[0\]\.op must be 'matmul' or 'attention', got undefined/);
    await expect(bench({ cases: [{ op: 'matmul', id: 'x', m: -1, k: 2, n: 2, bias: false, activation: 'none', dtype: 'f32' }], peers: [] })).rejects.toThrow(
      /cases\[0\]\.m must be a non-negative integer, got -1/,
    );
    dev.dispose();
  });

  it('an option named like a known one but for its case is a typo, refused rather than ignored', async () => {
    const dev = await open('cpu');
    const a = dev.tensor(new Float32Array(6), [2, 3]);
    const b = dev.tensor(new Float32Array(6), [2, 3]);
    expect(() => dev.matmul(a, b, { transb: true } as never)).toThrow(new TypeError("matmul: unknown option 'transb'; did you mean 'transB'?"));
    const q = dev.tensor(new Float32Array(8), [1, 1, 2, 4]);
    expect(() => dev.attention(q, q, q, { returnlse: true } as never)).toThrow(/attention: unknown option 'returnlse'; did you mean 'returnLse'\?/);
    expect(dev.matmul(a, b, { transB: true, note: 'kept by a framework' } as never).shape).toEqual([2, 2]); // other names are left alone
    dev.dispose();
  });
});

describe.each(BACKENDS)('a disposed device on %s', (backend) => {
  it("its tensors, inputs and finished outputs alike, are refused the same way; disposing them stays safe", async () => {
    const dev = await open(backend);
    const t = dev.tensor(new Float32Array(4).fill(3), [2, 2]);
    const y = dev.matmul(t, t);
    await dev.sync();
    dev.dispose();
    for (const x of [t, y]) await expect(x.read()).rejects.toThrow(new TypeError(`read: the tensor's ${backend} device has been disposed; read results before disposing their device`));
    expect(() => dev.matmul(t, t)).toThrow(/has been disposed/);
    t.dispose();
    y.dispose();
  });
});
