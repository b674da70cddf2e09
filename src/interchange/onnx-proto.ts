/**
 * Just enough of protocol buffers to write an ONNX model (onnx.proto3, IR version 8): a writer of
 * tagged fields and the messages ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto,
 * AttributeProto. Field numbers are those of onnx/onnx.proto.
 */

/** ONNX element types (TensorProto.DataType). */
export const FLOAT = 1;
export const INT64 = 7;
export type ElemType = typeof FLOAT | typeof INT64;

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  private varint(value: bigint): void {
    const out: number[] = [];
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export type AttributeValue = number | string | number[] | { ints: number[] } | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Numbers are INT attributes unless given as { float }; arrays are INTS. */
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  type: ElemType;
  /** float32 values, or int64 values as bigint. */
  data: Float32Array | BigInt64Array;
}

export interface OnnxValueInfo {
  name: string;
  type: ElemType;
  /** A number for a fixed size, a string for a named dynamic one ("batch"). */
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** Serialise a graph as an ONNX ModelProto of the default domain at `opset`. */
export function encodeModel(graph: OnnxGraph, opset: number, producer: { name: string; version: string }, docString = ''): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, producer.name);
  w.string(3, producer.version);
  if (docString !== '') w.string(6, docString);
  w.message(7, (g) => encodeGraph(g, graph));
  w.message(8, (o) => o.string(1, '').int(2, opset)); // opset_import
  return w.finish();
}

function encodeGraph(w: Writer, graph: OnnxGraph): void {
  for (const n of graph.nodes) w.message(1, (m) => encodeNode(m, n));
  w.string(2, graph.name);
  for (const t of graph.initializers) w.message(5, (m) => encodeTensor(m, t));
  for (const v of graph.inputs) w.message(11, (m) => encodeValueInfo(m, v));
  for (const v of graph.outputs) w.message(12, (m) => encodeValueInfo(m, v));
}

function encodeNode(w: Writer, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name !== undefined) w.string(3, n.name);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attributes ?? {})) {
    w.message(5, (a) => {
      a.string(1, name);
      if (typeof value === 'number') a.int(3, value).int(20, 2); // INT
      else if (typeof value === 'string') a.string(4, value).int(20, 3); // STRING
      else if (Array.isArray(value) || 'ints' in value) {
        for (const v of Array.isArray(value) ? value : value.ints) a.int(8, v);
        a.int(20, 7); // INTS
      } else a.float(2, value.float).int(20, 1); // FLOAT
    });
  }
}

function encodeTensor(w: Writer, t: OnnxInitializer): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.type);
  w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data, little-endian
}

function encodeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.type);
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}
