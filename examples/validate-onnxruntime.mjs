#!/usr/bin/env node
// Validates onnxruntime-node's MatMul with kernelport's numerics suite: the same cases, the same float64
// reference and error bounds, plus a cross-check against kernelport's cpu backend and a determinism check.
//
//   ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node
//   npm run build && node examples/validate-onnxruntime.mjs [--full] [--seed N]
//
// onnxruntime-node is not a dependency of kernelport: it is imported dynamically, only here. Where npm
// will not install it with --no-save (npm 11 treats a declared optional peer dependency as satisfied),
// install it elsewhere and point ONNXRUNTIME_NODE_PATH at it:
//   npm install --prefix /tmp/ort onnxruntime-node
//   ONNXRUNTIME_NODE_PATH=/tmp/ort/node_modules/onnxruntime-node node examples/validate-onnxruntime.mjs
// The ONNX model (one MatMul node) is built in code with a ~30-line protobuf encoder.
import { createRequire } from 'node:module';
import { formatTerminal, validate } from 'kernelport';

let ort;
try {
  const path = process.env.ONNXRUNTIME_NODE_PATH;
  ort = path ? createRequire(import.meta.url)(path) : await import('onnxruntime-node');
} catch (e) {
  console.error(
    `onnxruntime-node could not be loaded (${e instanceof Error ? e.message.split('\n')[0] : e}).\n` +
      'Install it for this example (it is not a kernelport dependency):\n' +
      '  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node\n' +
      'or, where npm does not install it that way: npm install --prefix /tmp/ort onnxruntime-node\n' +
      '  and run with ONNXRUNTIME_NODE_PATH=/tmp/ort/node_modules/onnxruntime-node',
  );
  process.exit(2);
}

// --- a minimal protobuf writer: varints and length-delimited fields are all an ONNX model needs ---------

const varint = (n) => {
  const out = [];
  let x = BigInt(n);
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) byte |= 0x80;
    out.push(byte);
  } while (x > 0n);
  return out;
};
const utf8 = (s) => [...new TextEncoder().encode(s)];
/** Field `field` as a varint (wire type 0). */
const int = (field, n) => [...varint((field << 3) | 0), ...varint(n)];
/** Field `field` as bytes / a string / an embedded message (wire type 2). */
const bytes = (field, b) => [...varint((field << 3) | 2), ...varint(b.length), ...b];
const str = (field, s) => bytes(field, utf8(s));

// onnx.proto field numbers: ModelProto{ir_version 1, producer_name 2, graph 7, opset_import 8},
// OperatorSetIdProto{domain 1, version 2}, GraphProto{node 1, name 2, input 11, output 12},
// NodeProto{input 1, output 2, name 3, op_type 4}, ValueInfoProto{name 1, type 2},
// TypeProto{tensor_type 1}, TypeProto.Tensor{elem_type 1, shape 2 (omitted: any rank)}.
const ELEM_TYPE = { f32: 1, f16: 10, bf16: 16 };

function matmulModel(elemType) {
  const value = (name) => [...str(1, name), ...bytes(2, bytes(1, int(1, elemType)))];
  const node = [...str(1, 'A'), ...str(1, 'B'), ...str(2, 'Y'), ...str(3, 'matmul'), ...str(4, 'MatMul')];
  const graph = [...bytes(1, node), ...str(2, 'kernelport-validate'), ...bytes(11, value('A')), ...bytes(11, value('B')), ...bytes(12, value('Y'))];
  const opset = [...str(1, ''), ...int(2, 13)];
  return Uint8Array.from([...int(1, 8), ...str(2, 'kernelport'), ...bytes(7, graph), ...bytes(8, opset)]);
}

// --- the candidate -------------------------------------------------------------------------------------

const ORT_TYPE = { f32: 'float32', f16: 'float16' };
const sessions = new Map();
async function session(dtype) {
  if (!sessions.has(dtype)) sessions.set(dtype, ort.InferenceSession.create(matmulModel(ELEM_TYPE[dtype])));
  return sessions.get(dtype);
}

/** onnxruntime's MatMul computes plain (batched, broadcast) A·B: every case with more than that is skipped. */
async function onnxMatmul({ op, plan, inputs }) {
  if (op !== 'matmul' || !(plan.dtype in ORT_TYPE) || plan.outDtype !== plan.dtype) return null;
  if (plan.transA || plan.transB || plan.bias || plan.residual || plan.activation !== 'none' || plan.alpha !== 1) return null;
  const s = await session(plan.dtype);
  const t = (x) => new ort.Tensor(ORT_TYPE[x.dtype], x.data, x.shape);
  const { Y } = await s.run({ A: t(inputs.a), B: t(inputs.b) });
  return Y.data; // Float32Array, or the f16 bits as a Uint16Array
}

// --- run -----------------------------------------------------------------------------------------------

const args = process.argv.slice(2);
const seedAt = args.indexOf('--seed');
const report = await validate({
  backends: ['cpu'],
  ops: ['matmul'],
  dtypes: ['f32', 'f16'],
  size: args.includes('--full') ? 'full' : 'quick',
  ...(seedAt >= 0 ? { seed: Number(args[seedAt + 1]) } : {}),
  candidate: { name: 'onnxruntime', run: onnxMatmul },
});
console.log(`onnxruntime-node ${ort.env?.versions?.common ?? ''} MatMul vs kernelport's float64 reference and cpu backend\n`);
console.log(formatTerminal(report));
process.exitCode = report.pass ? 0 : 1;
