import { ModelFormatError } from '../errors.js';

/**
 * The safetensors format, read and written by hand: 8 bytes (little-endian u64) giving the length N
 * of a JSON header, the header, then the raw data. The header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }`, offsets relative to the start of the data; an
 * optional `__metadata__` maps strings to strings. Everything in the header is checked before a
 * byte of tensor data is touched, so a hostile file costs at most its header.
 */

/** Bytes per value of each dtype the format defines. */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

/** dtypes whose values can become float32 weights. */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** A header larger than this is refused before it is read (real ones are tens of KB). */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Number of values (the product of the shape). */
  size: number;
  /** Byte range in the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Where the data section starts in the file: 8 + N. */
  dataOffset: number;
}

export interface HeaderLimits {
  /** Most values all tensors together may hold (checked before anything is allocated). */
  maxValues: number;
}

/** The header length N from the first 8 bytes, checked against the file size and `MAX_HEADER_BYTES`. */
export function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.length < 8) throw new ModelFormatError(`${source} is not a safetensors file (shorter than its 8-byte header length)`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (n < 2 || n > MAX_HEADER_BYTES) throw new ModelFormatError(`${source}: safetensors header length ${n} is outside 2 … ${MAX_HEADER_BYTES} bytes`);
  if (8 + n > fileSize) throw new ModelFormatError(`${source} is truncated: its header needs ${n} bytes but the file has ${fileSize - 8} after the length`);
  return n;
}

/**
 * Parse and check a header: JSON object; every tensor a known dtype, a shape of non-negative
 * integers whose product times the dtype size is exactly its byte range; ranges inside the data
 * section, not overlapping, covering it without holes; all values together within `limits`.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, source: string, limits: HeaderLimits): SafetensorsHeader {
  const dataOffset = 8 + headerBytes.length;
  const dataBytes = fileSize - dataOffset;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw new ModelFormatError(`${source}: the safetensors header is not valid JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFormatError(`${source}: the safetensors header must be a JSON object`);
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  let values = 0;
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw new ModelFormatError(`${source}: __metadata__ must map strings to strings`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `${source}: tensor '${name}'`;
    if (typeof e !== 'object' || e === null) throw new ModelFormatError(`${where} must be an object`);
    const width = typeof e.dtype === 'string' ? DTYPE_SIZES[e.dtype] : undefined;
    if (width === undefined) throw new ModelFormatError(`${where} has unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ModelFormatError(`${where} needs a shape of at most 8 non-negative integers`);
    }
    const size = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(size) || size > limits.maxValues) {
      throw new ModelFormatError(`${where} claims ${size.toExponential(2)} values, more than the ${limits.maxValues} a model may have`);
    }
    values += size;
    if (values > limits.maxValues) throw new ModelFormatError(`${source} holds more than the ${limits.maxValues} values a model may have`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new ModelFormatError(`${where} needs data_offsets [begin, end] of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end - begin !== size * width) {
      throw new ModelFormatError(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${e.shape.join(', ')}] of ${e.dtype} needs ${size * width}`);
    }
    if (end > dataBytes) throw new ModelFormatError(`${source} is truncated: tensor '${name}' ends at byte ${end} of data but the file has ${dataBytes}`);
    entries.set(name, { name, dtype: e.dtype as string, shape: e.shape as number[], size, begin, end });
  }
  // The ranges must tile the data section exactly: no overlaps (one byte read as two tensors), no holes.
  const sorted = [...entries.values()].filter((x) => x.end > x.begin).sort((a, b) => a.begin - b.begin);
  let at = 0;
  for (const x of sorted) {
    if (x.begin !== at) throw new ModelFormatError(`${source}: tensor '${x.name}' starts at byte ${x.begin} of data, expected ${at} (overlap or hole)`);
    at = x.end;
  }
  if (at !== dataBytes) throw new ModelFormatError(`${source}: the tensors cover ${at} bytes of data but the file has ${dataBytes}`);
  return { entries, metadata, dataOffset };
}

/** Parse a whole safetensors file held in memory (header checked first). */
export function readSafetensors(bytes: Uint8Array, source: string, limits: HeaderLimits): SafetensorsFile {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, source);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length, source, limits);
  return new SafetensorsFile(header, bytes, source);
}

/** A checked safetensors file: tensors read out as float32 on demand. */
export class SafetensorsFile {
  constructor(
    readonly header: SafetensorsHeader,
    private readonly bytes: Uint8Array,
    readonly source: string,
  ) {}

  has(name: string): boolean {
    return this.header.entries.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const e = this.header.entries.get(name);
    if (e === undefined) throw new ModelFormatError(`${this.source} has no tensor '${name}'`);
    return e;
  }

  /** A tensor's values as float32 (F16, BF16 and F64 converted), checked to be finite, with its shape. */
  float32(name: string): { shape: number[]; values: Float32Array } {
    const e = this.entry(name);
    if (!FLOAT_DTYPES.has(e.dtype)) throw new ModelFormatError(`${this.source}: tensor '${name}' is ${e.dtype}, not a floating-point weight`);
    const start = this.header.dataOffset + e.begin;
    const raw = this.bytes.subarray(start, this.header.dataOffset + e.end);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(e.size);
    if (e.dtype === 'F32') {
      // Copy out (the data need not be 4-byte aligned in the file); little-endian like every machine we run on.
      new Uint8Array(out.buffer).set(raw);
    } else if (e.dtype === 'F64') {
      for (let i = 0; i < e.size; i++) out[i] = view.getFloat64(8 * i, true);
    } else if (e.dtype === 'BF16') {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < e.size; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    } else {
      for (let i = 0; i < e.size; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
    }
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i]!)) throw new ModelFormatError(`${this.source}: tensor '${name}' holds NaN or infinite values`);
    }
    return { shape: e.shape, values: out };
  }
}

/** IEEE 754 half precision → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  values: Float32Array;
}

/**
 * Encode float32 tensors as a safetensors file, in the order given; the header is padded with
 * spaces to a multiple of 8 bytes so every tensor starts aligned.
 */
export function encodeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.values.length) throw new ModelFormatError(`tensor '${t.name}' has ${t.values.length} values but shape [${t.shape.join(', ')}]`);
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
  }
  let json = JSON.stringify(header);
  const length = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - ((8 + length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.length, true);
  view.setUint32(4, 0, true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), at);
    at += t.values.byteLength;
  }
  return out;
}
