import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECIPES } from '../train/defaults.js';
import { startRun } from '../train/run.js';

export const TARGET_TASKS = ['copy', 'pt-en'] as const;
export type TargetTask = (typeof TARGET_TASKS)[number];

export interface TimeToTarget {
  task: TargetTask;
  backend: string;
  /** Threads per training step. */
  workers: number;
  /** Wall time of `atencao train --task <task>` with its defaults, until it stopped. */
  seconds: number;
  steps: number;
  /** Exact match on the held-out test set afterwards. */
  testExactMatch: number;
  /** pt-en: right referent on held-out container pairs. */
  referentAccuracy?: number;
}

/** Train a task with its default recipe in a temporary folder and time it (the folder is removed). */
export async function measureTimeToTarget(task: TargetTask, backend: string, workers: number): Promise<TimeToTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'atencao-bench-'));
  const quiet = { info: () => undefined, warn: () => undefined };
  try {
    const recipe = RECIPES[task];
    const data = task === 'pt-en' ? ({ kind: 'pt-en' } as const) : ({ kind: 'task', task } as const);
    const started = performance.now();
    const summary = await startRun({ out: join(dir, 'model'), data, model: recipe.model, training: recipe.training, backend, workers }, quiet);
    return {
      task,
      backend,
      workers,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      steps: summary.result.state.step,
      testExactMatch: summary.test.exactMatch ?? 0,
      referentAccuracy: summary.referentAccuracy,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
