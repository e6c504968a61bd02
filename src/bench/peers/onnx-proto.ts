/**
 * A minimal ONNX protobuf encoder: just the ModelProto subset the bench builds (graph inputs,
 * outputs, nodes with int/float/string attributes, opset imports). Field numbers from onnx.proto3.
 */

class Writer {
  private chunks: number[] = [];
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`onnx-proto: varint needs a non-negative safe integer, got ${v}`);
    while (v >= 0x80) {
      this.chunks.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.chunks.push(v);
    return this;
  }
  tag(field: number, wire: 0 | 1 | 2 | 5): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.tag(field, 5);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** TensorProto.DataType */
export const ElemType = { FLOAT: 1, FLOAT16: 10, BFLOAT16: 16 } as const;

export type AttrValue = number | string | { float: number };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  name?: string;
  /** Integers as INT, { float } as FLOAT, strings as STRING. */
  attributes?: Record<string, AttrValue>;
}

export interface ValueSpec {
  name: string;
  elemType: number;
  /** A number for a fixed dim, a string for a symbolic one. */
  shape: (number | string)[];
}

export interface ModelSpec {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  graphName: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  producer?: string;
}

function valueInfo(v: ValueSpec): Writer {
  const shape = new Writer();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensor = new Writer().int(1, v.elemType).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensor));
}

function attribute(name: string, v: AttrValue): Writer {
  const w = new Writer().string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`onnx-proto: attribute ${name}: use { float } for non-integers`);
    if (v < 0) throw new RangeError(`onnx-proto: attribute ${name}: negative ints are not supported by this encoder`);
    return w.int(3, v).int(20, 2);
  }
  if (typeof v === 'string') return w.bytes(4, new TextEncoder().encode(v)).int(20, 3);
  return w.float(2, v.float).int(20, 1);
}

function node(n: NodeSpec): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/** Serialized ModelProto bytes. */
export function encodeModel(m: ModelSpec): Uint8Array {
  const graph = new Writer();
  for (const n of m.nodes) graph.message(1, node(n));
  graph.string(2, m.graphName);
  for (const i of m.inputs) graph.message(11, valueInfo(i));
  for (const o of m.outputs) graph.message(12, valueInfo(o));
  const model = new Writer().int(1, m.irVersion);
  model.string(2, m.producer ?? 'kernelport-bench');
  model.message(7, graph);
  for (const o of m.opsets) model.message(8, new Writer().string(1, o.domain).int(2, o.version));
  return model.finish();
}
