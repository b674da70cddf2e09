/**
 * Globals of Node that the library's training loop uses, for the browser bundles: `setImmediate`
 * (a yield between steps) and `SharedArrayBuffer`, which a page that is not cross-origin isolated
 * lacks (the flat Adam then runs on plain memory, through its JavaScript path).
 */
export const setImmediate = (f: () => void): void => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    f();
  };
  channel.port2.postMessage(0);
};

export const SharedArrayBuffer: SharedArrayBufferConstructor = (globalThis.SharedArrayBuffer ?? ArrayBuffer) as SharedArrayBufferConstructor;
