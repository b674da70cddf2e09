import type { CommandModule } from 'yargs';
import { setBackend, type ConcreteBackend } from '../backend.js';
import { measureTimeToTarget, TARGET_TASKS, type TargetTask } from '../bench/time-to-target.js';
import { BENCH_CONFIGS, measureTrainSpeed, type TrainSpeed } from '../bench/train-speed.js';
import { BackendError, UsageError } from '../errors.js';

interface BenchArgs {
  config: string[];
  targets: string[];
  backend: string[];
  steps?: number;
  warmup?: number;
  json: boolean;
}

/** Steps per backend when not given: the pure-JS backend is ~15× slower, so it gets fewer. */
const DEFAULT_STEPS: Record<string, [steps: number, warmup: number]> = { cpu: [3, 1], wasm: [20, 3], tensorflow: [20, 3], 'tensorflow-gpu': [20, 3] };

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'Measure training speed (ms/step, target tokens/s) per backend',
  builder: (y) =>
    y
      .option('config', { type: 'string', array: true, default: Object.keys(BENCH_CONFIGS), choices: Object.keys(BENCH_CONFIGS), describe: 'Model/batch configurations to run' })
      .option('backend', { type: 'string', array: true, default: ['tensorflow', 'wasm', 'cpu'], choices: ['tensorflow', 'tensorflow-gpu', 'wasm', 'cpu'], describe: 'Backends to try (those not installed are skipped)' })
      .option('steps', { type: 'number', describe: 'Timed steps per run (default: 20, or 3 on cpu)' })
      .option('warmup', { type: 'number', describe: 'Untimed steps first (default: 3, or 1 on cpu)' })
      .option('targets', { type: 'string', array: true, default: [...TARGET_TASKS], choices: [...TARGET_TASKS, 'none'], describe: 'Also time training to the target with default settings (none: skip)' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per line instead of a table' })
      .check((a) => {
        for (const k of ['steps', 'warmup'] as const) {
          const v = a[k];
          if (v !== undefined && (!Number.isInteger(v) || v < (k === 'steps' ? 1 : 0))) throw new UsageError(`--${k} (${v}) must be a ${k === 'steps' ? 'positive' : 'non-negative'} integer`);
        }
        return true;
      })
      .example('$0 bench', 'both configs on every installed backend')
      .example('$0 bench --backend wasm --config small --json', 'one line of JSON'),
  handler: async (args) => {
    if (!args.json) process.stdout.write(header());
    const started: ConcreteBackend[] = [];
    for (const backend of args.backend as ConcreteBackend[]) {
      try {
        await setBackend(backend);
      } catch (error) {
        if (!(error instanceof BackendError)) throw error;
        if (!args.json) process.stdout.write(`  ${backend}: skipped (${error.message})\n`);
        continue;
      }
      started.push(backend);
      const [defSteps, defWarmup] = DEFAULT_STEPS[backend] ?? [20, 3];
      for (const name of args.config) {
        const r = measureTrainSpeed(name, BENCH_CONFIGS[name]!, args.steps ?? defSteps, args.warmup ?? defWarmup);
        process.stdout.write(args.json ? `${JSON.stringify({ ...r, backend })}\n` : row({ ...r, backend }));
      }
    }
    // Time-to-target runs on the fastest backend that started (the first in the list).
    const targets = args.targets.filter((t): t is TargetTask => t !== 'none');
    if (targets.length === 0 || started.length === 0) return;
    await setBackend(started[0]!);
    if (!args.json) process.stdout.write(`\n${'task'.padEnd(8)}${'backend'.padEnd(12)}${'seconds'.padStart(10)}${'steps'.padStart(8)}${'test exact'.padStart(12)}${'referent'.padStart(10)}\n`);
    for (const task of targets) {
      const t = await measureTimeToTarget(task, started[0]!);
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ kind: 'time-to-target', ...t })}\n`);
      } else {
        const referent = t.referentAccuracy === undefined ? '' : `${(100 * t.referentAccuracy).toFixed(1)}%`;
        process.stdout.write(`${t.task.padEnd(8)}${t.backend.padEnd(12)}${t.seconds.toFixed(1).padStart(10)}${String(t.steps).padStart(8)}${`${(100 * t.testExactMatch).toFixed(1)}%`.padStart(12)}${referent.padStart(10)}\n`);
      }
    }
  },
};

function header(): string {
  return `${'config'.padEnd(8)}${'backend'.padEnd(12)}${'ms/step'.padStart(10)}${'tokens/s'.padStart(12)}${'steps'.padStart(7)}${'params'.padStart(10)}\n`;
}

function row(r: TrainSpeed): string {
  return `${r.config.padEnd(8)}${r.backend.padEnd(12)}${r.msPerStep.toFixed(1).padStart(10)}${String(r.tokensPerSecond).padStart(12)}${String(r.steps).padStart(7)}${String(r.params).padStart(10)}\n`;
}
