/**
 * Fault injection for the robustness tests, switched on by the ATENCAO_FAULTS environment variable
 * (never set in normal use): a comma-separated list of
 *   fail-write-after:N   the atomic writes after the first N fail as if the disk were full (ENOSPC)
 *   slow-checkpoint:MS   a checkpoint pauses MS milliseconds between its files (a window to kill it in)
 */
const spec = new Map(
  (process.env.ATENCAO_FAULTS ?? '')
    .split(',')
    .filter((s) => s.includes(':'))
    .map((s) => [s.slice(0, s.indexOf(':')).trim(), Number(s.slice(s.indexOf(':') + 1))] as const),
);

let writes = 0;

/** Throws a simulated ENOSPC once the allowed number of writes is used up. */
export function injectWriteFault(path: string): void {
  const allowed = spec.get('fail-write-after');
  if (allowed === undefined) return;
  if (writes++ >= allowed) {
    throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
  }
}

/** Blocks for the configured time in the middle of a checkpoint. */
export function injectCheckpointPause(): void {
  const ms = spec.get('slow-checkpoint');
  if (ms !== undefined && ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
