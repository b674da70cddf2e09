import { availableParallelism } from 'node:os';
import type { CommandModule } from 'yargs';
import { pct } from './progress.js';
import { describeBackend, isDeviceBackend, setBackend, type ConcreteBackend } from '../backend.js';
import { measureDecodeSpeed, measureTranslateSpeed } from '../bench/decode-speed.js';
import { measureTimeToTarget, TARGET_TASKS, type TargetTask } from '../bench/time-to-target.js';
import { BENCH_ARCHS, BENCH_CONFIGS, measureMatMulPeak, measureTrainSpeed, trainingFlops, type BenchArch, type TrainSpeed } from '../bench/train-speed.js';
import { runPeer } from '../bench/peer.js';
import { MemoryPeaks, type MemoryPeak } from '../bench/memory.js';
import { profileTable, profileTrainStep } from '../bench/profile.js';
import { useRelaxedSimd } from './options.js';
import { BackendError, UsageError } from '../errors.js';

const PARTS = ['train', 'decode', 'targets'] as const;

interface BenchArgs {
  parts: string[];
  workers: number[];
  config: string[];
  arch: string[];
  targets: string[];
  backend: string[];
  steps?: number;
  warmup?: number;
  json: boolean;
  peer?: string;
  profile: boolean;
}

/** Steps per backend when not given: the pure-JS backend is ~15× slower, so it gets fewer. */
const DEFAULT_STEPS: Record<string, [steps: number, warmup: number]> = { cpu: [3, 1], wasm: [20, 3], tensorflow: [20, 3], 'tensorflow-gpu': [20, 3], webgpu: [10, 3] };
const DECODE_LENGTHS = [16, 32, 64, 128];

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'Measure training speed, decoding latency and time to target per backend',
  builder: (y) =>
    y
      .option('parts', { type: 'string', array: true, default: [...PARTS], choices: [...PARTS], describe: 'train: ms/step and tokens/s; decode: per-token latency with and without the cache; targets: time to reach the target on copy and pt-en' })
      .option('config', { type: 'string', array: true, default: Object.keys(BENCH_CONFIGS), choices: Object.keys(BENCH_CONFIGS), describe: 'Model/batch configurations for training speed' })
      .option('arch', { type: 'string', array: true, default: [...BENCH_ARCHS], choices: [...BENCH_ARCHS], describe: 'Families to train: the encoder-decoder, and the decoder-only model of the same shape (2 × layers causal blocks over source and target as one sequence, length 2T)' })
      .option('targets', { type: 'string', array: true, default: [...TARGET_TASKS], choices: [...TARGET_TASKS], describe: 'Tasks to time to target (default settings)' })
      .option('backend', { type: 'string', array: true, default: ['tensorflow', 'wasm', 'cpu'], choices: ['tensorflow', 'tensorflow-gpu', 'webgpu', 'wasm', 'cpu'], describe: 'Backends to try (those not installed are skipped); decode and targets use the first that starts. webgpu runs on whatever adapter it finds (named in the output)' })
      .option('workers', { type: 'number', array: true, default: [...new Set([1, availableParallelism()])], describe: 'Threads per training step to measure (data-parallel; default: 1 and one per core)' })
      .option('steps', { type: 'number', describe: 'Timed training steps per run (default: 20, or 3 on cpu)' })
      .option('warmup', { type: 'number', describe: 'Untimed steps first (default: 3, or 1 on cpu)' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per line instead of tables' })
      .option('profile', { type: 'boolean', default: false, describe: 'Before training speed: the time and calls of every kernel in one training step (1 thread) of each config and family, on the first backend' })
      .option('relaxed-simd', { type: 'boolean', default: false, describe: 'Matrix products on wasm with fused multiply-add (relaxed SIMD): faster, results differ from the default in the last bits (rows say relaxedSimd: true)' })
      .option('peer', {
        type: 'string',
        describe: 'A reference trainer to run on the same configs and families in the same run, as a command that takes --config small|big --arch encoder-decoder|decoder and prints JSON with ms_per_step (e.g. a PyTorch script); the table then gives the ratio',
      })
      .check((a) => {
        for (const k of ['steps', 'warmup'] as const) {
          const v = a[k];
          if (v !== undefined && (!Number.isInteger(v) || v < (k === 'steps' ? 1 : 0))) throw new UsageError(`--${k} (${v}) must be a ${k === 'steps' ? 'positive' : 'non-negative'} integer`);
        }
        for (const w of a.workers) if (!Number.isInteger(w) || w < 1) throw new UsageError(`--workers (${w}) must be a positive integer`);
        return true;
      })
      .example('$0 bench', 'everything on every installed backend (a few minutes)')
      .example('$0 bench --parts train --backend wasm --config small --json', 'one line of JSON')
      .example('$0 bench --parts train --peer "python3 torch_ref.py --threads 1"', 'against PyTorch on this machine')
      .example('$0 bench --parts train --backend wasm --arch decoder --config small', 'the decoder-only model only')
      .example('$0 bench --parts train --backend wasm --relaxed-simd', 'the same with fused multiply-add products')
      .example('$0 bench --parts train --backend wasm --profile', 'where a training step spends its time, kernel by kernel')
      .example('$0 bench --parts train --backend webgpu wasm', 'a GPU (through WebGPU) against wasm, in the same run'),
  handler: async (args) => {
    const relaxedSimd = args['relaxed-simd'];
    if (relaxedSimd) useRelaxedSimd();
    const out = (row: object, text: string) => process.stdout.write(args.json ? `${JSON.stringify(relaxedSimd && 'kind' in row ? { ...row, relaxedSimd } : row)}\n` : text);
    const started: ConcreteBackend[] = [];
    for (const backend of args.backend as ConcreteBackend[]) {
      try {
        const info = await setBackend(backend);
        started.push(backend);
        if (info.adapter !== undefined) out({ kind: 'backend', backend, adapter: info.adapter }, `${describeBackend(info)}\n`);
      } catch (error) {
        if (!(error instanceof BackendError)) throw error;
        if (!args.json) process.stdout.write(`${backend}: skipped (${error.message})\n`);
      }
    }
    if (started.length === 0) return;
    if (relaxedSimd && !args.json) process.stdout.write('matrix products on wasm: relaxed SIMD (fused multiply-add)\n');
    // Peak memory: each JSON row carries the peaks of its own measurement (`memory`); tables end
    // each part with the part's peaks.
    const memoryOf = async (part: string, run: (peaks: MemoryPeaks) => Promise<void>) => {
      const peaks = new MemoryPeaks();
      await run(peaks);
      const m = peaks.stop(part);
      if (!args.json) process.stdout.write(`peak memory (${part}): rss ${m.rssMB} MB, JavaScript heap ${m.heapUsedMB} MB, external ${m.externalMB} MB\n`);
    };
    const measured = async <R extends object>(partPeaks: MemoryPeaks | undefined, measure: (sample: () => void) => Promise<R>): Promise<R & { memory: Omit<MemoryPeak, 'kind' | 'part'> }> => {
      const peaks = new MemoryPeaks();
      const r = await measure(() => {
        peaks.sample();
        partPeaks?.sample();
      });
      const { rssMB, heapUsedMB, externalMB } = peaks.stop('');
      return { ...r, memory: { rssMB, heapUsedMB, externalMB } };
    };
    if (args.profile) {
      await setBackend(started[0]!);
      for (const name of args.config) {
        for (const arch of args.arch as BenchArch[]) {
          const p = await profileTrainStep(name, BENCH_CONFIGS[name]!, arch);
          out(p, `\n${profileTable(p)}`);
        }
      }
    }
    if (args.parts.includes('train')) await memoryOf('train', async (memory) => {
      const archs = args.arch as BenchArch[];
      const peaks = new Map<ConcreteBackend, number>();
      for (const backend of started) {
        await setBackend(backend);
        const peak = await measureMatMulPeak();
        peaks.set(backend, peak);
        out({ kind: 'peak', backend, gflops: peak }, `peak on ${backend}: a plain 512×512 matMul at ${peak} GFLOP/s per thread\n`);
      }
      if (!args.json) {
        const peer = args.peer === undefined ? '' : `reference trainer, run right after each model: ${args.peer}\n`;
        process.stdout.write(`\ntraining speed (median after warm-up)\n${peer}${cols(['config', 8], ['arch', 17], ['backend', 18], ['workers', -8], ['ms/step', -10], ['tokens/s', -10], ['GFLOP/s', -9], ['of peak', -9], ['steps', -7], ['params', -10], ['kernels', -9])}`);
      }
      // Model by model, every backend and then the reference: each comparison is measured close in time.
      for (const name of args.config) {
        const shape = BENCH_CONFIGS[name]!;
        for (const arch of archs) {
          let best: TrainSpeed | undefined;
          for (const backend of started) {
            await setBackend(backend);
            const [defSteps, defWarmup] = DEFAULT_STEPS[backend] ?? [20, 3];
            // The slow pure-JS backend is measured on one thread only.
            for (const workers of backend === 'cpu' || isDeviceBackend(backend) ? [1] : args.workers) {
              const r = { ...(await measured(memory, (sample) => measureTrainSpeed(name, shape, args.steps ?? defSteps, args.warmup ?? defWarmup, workers, arch, sample))), backend };
              const ofPeak = r.gflops / (peaks.get(backend)! * workers);
              out({ kind: 'train', ...r, ofPeak: Math.round(ofPeak * 1000) / 1000 }, cols([r.config, 8], [r.arch, 17], [r.backend, 18], [String(r.workers), -8], [r.msPerStep.toFixed(1), -10], [String(r.tokensPerSecond), -10], [r.gflops.toFixed(1), -9], [pct(ofPeak), -9], [String(r.steps), -7], [String(r.params), -10], [String(r.kernelCalls), -9]));
              if (best === undefined || r.msPerStep < best.msPerStep) best = r;
            }
          }
          if (args.peer === undefined || best === undefined) continue;
          const peer = runPeer(args.peer, name, arch);
          if ('error' in peer) {
            out({ kind: 'peer', config: name, arch, command: args.peer, error: peer.error }, `${name} ${arch}: the reference trainer failed: ${peer.error}\n`);
            continue;
          }
          const ratio = peer.msPerStep / best.msPerStep;
          const gflops = Math.round(trainingFlops(shape, arch) / (peer.msPerStep / 1000) / 1e8) / 10;
          out(
            { kind: 'peer', config: name, arch, command: args.peer, name: peer.name, msPerStep: peer.msPerStep, tokensPerSecond: peer.tokensPerSecond, gflops, best: { backend: best.backend, workers: best.workers, msPerStep: best.msPerStep }, throughputRatio: Math.round(ratio * 100) / 100 },
            cols([name, 8], [arch, 17], [peer.name, 18], ['', -8], [peer.msPerStep.toFixed(1), -10], [String(Math.round(peer.tokensPerSecond)), -10], [gflops.toFixed(1), -9]) +
              `${' '.repeat(8)}→ best here ${best.msPerStep.toFixed(1)} ms/step (${best.backend}, ${best.workers} thread${best.workers > 1 ? 's' : ''}): ${ratio.toFixed(2)}× the reference's throughput\n`,
          );
        }
      }
    });
    const main = started[0]!;
    await setBackend(main);
    if (args.parts.includes('decode')) await memoryOf('decode', async (memory) => {
      if (!args.json) process.stdout.write(`\ndecoding, "small" model (${main})\n${cols(['batch', 7], ['length', -7], ['cached ms/token', -17], ['engine ms/token', -17], ['full ms/token', -15], ['speed-up', -10])}`);
      for (const batch of [1, 32]) {
        for (const length of DECODE_LENGTHS) {
          const r = await measured(memory, () => measureDecodeSpeed(BENCH_CONFIGS.small!, length, batch));
          out(r, cols([String(batch), 7], [String(length), -7], [r.cachedMsPerToken.toFixed(2), -17], [r.engineMsPerToken.toFixed(2), -17], [r.fullMsPerToken.toFixed(2), -15], [`${r.speedup.toFixed(1)}×`, -10]));
        }
      }
      for (const batch of [1, 32, 128]) {
        const r = await measured(memory, () => measureTranslateSpeed(BENCH_CONFIGS.small!, batch));
        out(r, `greedy translation, batch ${batch}: ${r.sentencesPerSecond.toFixed(1)} sentences/s, engine steps ${r.engineSentencesPerSecond.toFixed(1)} (16 → 16 tokens)\n`);
      }
    });
    if (args.parts.includes('targets')) await memoryOf('targets', async (memory) => {
      if (!args.json) process.stdout.write(`\ntime to target, default settings (${main})\n${cols(['task', 8], ['workers', -8], ['seconds', -10], ['steps', -8], ['test exact', -12], ['referent', -10])}`);
      for (const task of args.targets as TargetTask[]) {
        for (const workers of main === 'cpu' || isDeviceBackend(main) ? [1] : args.workers) {
          const t = await measured(memory, () => measureTimeToTarget(task, main, workers));
          const referent = t.referentAccuracy === undefined ? '' : pct(t.referentAccuracy);
          out({ kind: 'time-to-target', ...t }, cols([t.task, 8], [String(t.workers), -8], [t.seconds.toFixed(1), -10], [String(t.steps), -8], [pct(t.testExactMatch), -12], [referent, -10]));
        }
      }
    });
  },
};

/** A table row: positive widths pad right (text), negative pad left (numbers). */
function cols(...cells: [string, number][]): string {
  return `${cells.map(([text, w]) => (w >= 0 ? text.padEnd(w) : text.padStart(-w))).join('')}\n`;
}

