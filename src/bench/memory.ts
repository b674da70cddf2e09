/**
 * Peak memory of a part of the bench: `process.memoryUsage()` sampled on a timer and whenever
 * `sample()` is called (a training step holds the thread, so the timer alone would miss its peaks).
 * rss is the whole process; heapUsed the JavaScript heap; external the memory outside it, which
 * holds the wasm backend's heap and the optimizer's shared vectors.
 */
export interface MemoryPeak {
  kind: 'memory';
  part: string;
  /** Peaks in MB. */
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
}

export class MemoryPeaks {
  private rss = 0;
  private heapUsed = 0;
  private external = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(intervalMs = 50) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref?.();
  }

  sample(): void {
    const m = process.memoryUsage();
    this.rss = Math.max(this.rss, m.rss);
    this.heapUsed = Math.max(this.heapUsed, m.heapUsed);
    this.external = Math.max(this.external, m.external);
  }

  /** Stop sampling and return the peaks. */
  stop(part: string): MemoryPeak {
    clearInterval(this.timer);
    this.sample();
    const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
    return { kind: 'memory', part, rssMB: mb(this.rss), heapUsedMB: mb(this.heapUsed), externalMB: mb(this.external) };
  }
}
