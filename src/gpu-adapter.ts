/** What a WebGPU adapter says of itself (browser-safe: no Node imports). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (SwiftShader, llvmpipe/lavapipe, WARP) rather than a GPU. */
  software: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render|warp/i;

/** An adapter's info (as `GPUAdapter.info` gives it), marked software or hardware by its names. */
export function withSoftware(info: Partial<Omit<GpuAdapter, 'software'>>): GpuAdapter {
  const clean = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  return { ...clean, software: SOFTWARE.test(Object.values(clean).join(' ')) };
}

/** "nvidia ampere (hardware)", "google swiftshader, SwiftShader driver 5.0.0 (software: runs on the CPU)". */
export function describeAdapter(a: GpuAdapter): string {
  const name = [a.vendor, a.architecture].filter((x) => x !== '').join(' ') || 'unnamed adapter';
  const about = a.description !== '' && a.description !== name ? `, ${a.description}` : '';
  return `${name}${about} (${a.software ? 'software: runs on the CPU' : 'hardware'})`;
}
