/**
 * The part of Node's Buffer the library uses, for the browser bundles (esbuild injects it where
 * library code names `Buffer`): byte arrays made, joined, sliced and read as text.
 */
class Bytes extends Uint8Array {
  override toString(encoding = 'utf8'): string {
    if (encoding === 'base64') {
      let binary = '';
      for (let i = 0; i < this.length; i += 0x8000) binary += String.fromCharCode(...this.subarray(i, i + 0x8000));
      return btoa(binary);
    }
    if (encoding === 'hex') return Array.from(this, (b) => b.toString(16).padStart(2, '0')).join('');
    return new TextDecoder(encoding === 'ascii' ? 'latin1' : 'utf-8').decode(this);
  }

  override subarray(start?: number, end?: number): Bytes {
    const s = super.subarray(start, end);
    return new Bytes(s.buffer as ArrayBuffer, s.byteOffset, s.byteLength);
  }
}

export type Buffer = Bytes;

/** A Buffer over the same memory as `bytes`. */
function view(bytes: Uint8Array): Bytes {
  return new Bytes(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
}

export const Buffer = {
  allocUnsafe: (size: number): Bytes => new Bytes(size),
  alloc: (size: number): Bytes => new Bytes(size),
  from(value: string | ArrayLike<number> | ArrayBuffer, encoding?: string): Bytes {
    if (typeof value === 'string') {
      if (encoding === 'base64') return view(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
      if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'utf-8' && encoding !== 'ascii') throw new Error(`Buffer.from: encoding ${encoding} is not supported here`);
      return view(new TextEncoder().encode(value));
    }
    if (value instanceof ArrayBuffer) return new Bytes(value);
    const out = new Bytes(value.length);
    out.set(value);
    return out;
  },
  concat(list: readonly Uint8Array[], total?: number): Bytes {
    const out = new Bytes(total ?? list.reduce((n, b) => n + b.length, 0));
    let offset = 0;
    for (const b of list) {
      if (offset >= out.length) break;
      out.set(b.subarray(0, Math.min(b.length, out.length - offset)), offset);
      offset += b.length;
    }
    return out;
  },
  isBuffer: (value: unknown): value is Bytes => value instanceof Bytes,
  view,
};
