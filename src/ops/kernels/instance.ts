/**
 * The hand-written kernels run inside the wasm backend's own memory: each module imports it as
 * `env.memory` and works on the tensors' heap offsets. One instance per memory (a re-created backend
 * gets its own); null where the runtime lacks what the module needs (wasm SIMD).
 */
export interface WasmMemoryOwner {
  wasm: { asm?: { memory?: WebAssembly.Memory } };
}

export function wasmExport<F>(bytes: BufferSource, name: string): (backend: WasmMemoryOwner) => F | null {
  const instances = new WeakMap<WebAssembly.Memory, F | null>();
  return (backend) => {
    const memory = backend.wasm.asm?.memory;
    if (memory === undefined) return null;
    let fn = instances.get(memory);
    if (fn === undefined) {
      try {
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        fn = instance.exports[name] as F;
      } catch {
        fn = null;
      }
      instances.set(memory, fn);
    }
    return fn;
  };
}
