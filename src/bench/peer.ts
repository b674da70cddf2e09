import { spawnSync } from 'node:child_process';

export interface PeerSpeed {
  /** What the reference calls itself (e.g. "pytorch-2.1.0"), else the command. */
  name: string;
  msPerStep: number;
  tokensPerSecond: number;
}

/**
 * Run a reference trainer on one standard configuration and family:
 * `<command> --config <name> --arch <arch>`, in a shell, reading the last JSON line it prints
 * (`ms_per_step` or `msPerStep`, and tokens per second).
 */
export function runPeer(command: string, config: string, arch: string, timeoutMs = 600_000): PeerSpeed | { error: string } {
  const run = spawnSync(`${command} --config ${config} --arch ${arch}`, { shell: true, encoding: 'utf8', timeout: timeoutMs });
  const lastLine = (text: string | null) => (text ?? '').trim().split('\n').pop() ?? '';
  if (run.error !== undefined) return { error: run.error.message };
  if (run.status !== 0) return { error: `exit ${run.status ?? run.signal}: ${lastLine(run.stderr) || lastLine(run.stdout)}` };
  try {
    const row = JSON.parse(lastLine(run.stdout)) as Record<string, unknown>;
    const ms = Number(row.ms_per_step ?? row.msPerStep);
    const tokens = Number(row.tokens_per_s ?? row.tokensPerSecond);
    if (!(ms > 0)) return { error: `no ms_per_step in its output: ${lastLine(run.stdout)}` };
    return { name: typeof row.peer === 'string' ? row.peer : command, msPerStep: ms, tokensPerSecond: tokens };
  } catch {
    return { error: `its last line is not JSON: ${lastLine(run.stdout)}` };
  }
}
