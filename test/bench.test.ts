import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectRateOf } from './helpers.js';
import { runPeer } from '../src/bench/peer.js';
import { BENCH_CONFIGS, measureTrainSpeed, trainingFlops, type BenchShape } from '../src/bench/train-speed.js';
import { MemoryPeaks } from '../src/bench/memory.js';
import { instrumentKernels } from '../src/bench/instrument.js';
import { MultiHeadAttention } from '../src/layers/multi-head-attention.js';
import { profileTable, profileTrainStep } from '../src/bench/profile.js';

it('the FLOP count of a training step matches a count by hand for both standard configs', () => {
  // small: B 64, T 16, d 64, ff 256, 2 + 2 layers, vocab 32; N = B·T = 1024 tokens per side.
  //   encoder layer: Q, K, V, O 4·2·1024·64·64 = 33,554,432; scores and sum 2·2·64·16·16·64 = 4,194,304;
  //                  feed-forward 2·2·1024·64·256 = 67,108,864 → 104,857,600
  //   decoder layer: two attentions 2·(33,554,432 + 4,194,304) + 67,108,864 = 142,606,336
  //   output layer:  2·1024·64·32 = 4,194,304
  //   forward 2·104,857,600 + 2·142,606,336 + 4,194,304 = 499,122,176; training ×3
  expect(trainingFlops(BENCH_CONFIGS.small!)).toBe(3 * 499_122_176);
  // big: B 32, T 32, d 128, ff 512: encoder layer 134,217,728 + 16,777,216 + 268,435,456 = 419,430,400;
  //   decoder layer 2·150,994,944 + 268,435,456 = 570,425,344; output 8,388,608 → forward 1,988,100,096
  expect(trainingFlops(BENCH_CONFIGS.big!)).toBe(3 * 1_988_100_096);
});

it('the decoder-only FLOP count (4 blocks over length 2T) matches a count by hand', () => {
  // small: B 64, length 32, N = 2048 tokens. Per block: Q, K, V, O 8·2048·64·64 = 67,108,864;
  //   scores and sum 4·64·32·32·64 = 16,777,216; feed-forward 4·2048·64·256 = 134,217,728
  //   → 218,103,808; 4 blocks 872,415,232; output 2·2048·64·32 = 8,388,608 → forward 880,803,840
  expect(trainingFlops(BENCH_CONFIGS.small!, 'decoder')).toBe(3 * 880_803_840);
  // big: B 32, length 64, N = 2048, d 128, ff 512. Per block 268,435,456 + 67,108,864 + 536,870,912
  //   = 872,415,232; 4 blocks 3,489,660,928; output 16,777,216 → forward 3,506,438,144
  expect(trainingFlops(BENCH_CONFIGS.big!, 'decoder')).toBe(3 * 3_506_438_144);
});

describe('training speed of a tiny shape, through the training stepper', () => {
  const tiny: BenchShape = { dModel: 16, numHeads: 2, layers: 1, dFF: 32, vocab: 12, length: 4, batch: 3 };
  // Weights by hand (d 16, ff 32, V 12). A block: Q/K/V 3·(16·16 + 16) = 816, Wo 272,
  // feed-forward 16·32 + 32 + 32·16 + 16 = 1,072, two LayerNorms 64 → 2,224. Output 16·12 + 12 = 204.
  //   decoder-only: embedding 192, 2 blocks 4,448, final norm 32, output 204 → 4,876
  //   encoder–decoder: 2 embeddings 384, encoder block 2,224 + norm 32, decoder block
  //   (two attentions 2,176, feed-forward 1,072, three norms 96) 3,344 + norm 32, output 204 → 6,220
  for (const [arch, params, tokens] of [['decoder', 4_876, 3 * 8], ['encoder-decoder', 6_220, 3 * 4]] as const) {
    it(`${arch}: the step runs, counts its weights and predicted tokens, and leaves no tensors`, async () => {
      const before = tf.memory().numTensors;
      const r = await measureTrainSpeed('tiny', tiny, 2, 1, 1, arch);
      expect(tf.memory().numTensors).toBe(before);
      expect(r).toMatchObject({ config: 'tiny', arch, backend: tf.getBackend(), workers: 1, steps: 2, params });
      expect(r.msPerStep).toBeGreaterThan(0);
      expect(r.kernelCalls).toBeGreaterThan(50);
      // tokens/s is the predicted tokens of a batch over the time of a step (a tiny step: a few ms).
      expectRateOf(r.tokensPerSecond, tokens, r.msPerStep, 0.5);
    });
  }
});

describe('the reference trainer', () => {
  const script = (code: string) => `${JSON.stringify(process.execPath)} -e ${JSON.stringify(code)} --`;

  it('gets --config and --arch and its last JSON line is read', () => {
    // A stand-in that echoes its arguments as its name.
    const peer = runPeer(script('console.log("warming up"); console.log(JSON.stringify({ peer: process.argv.slice(1).join(" "), ms_per_step: 12.5, tokens_per_s: 4096 }))'), 'big', 'decoder');
    expect(peer).toEqual({ name: '--config big --arch decoder', msPerStep: 12.5, tokensPerSecond: 4096 });
  });

  it('a failing or silent reference is an error, not a number', () => {
    expect(runPeer(script('console.error("no torch here"); process.exit(3)'), 'small', 'decoder')).toEqual({ error: 'exit 3: no torch here' });
    expect(runPeer(script('console.log("done")'), 'small', 'decoder')).toEqual({ error: 'its last line is not JSON: done' });
    expect(runPeer(script('console.log(JSON.stringify({ tokens_per_s: 1 }))'), 'small', 'decoder')).toEqual({ error: 'no ms_per_step in its output: {"tokens_per_s":1}' });
  });

  // The PyTorch reference (torch_ref.py beside the repository, or ATENCAO_TORCH_REF) with Debian's
  // python3-torch; fresh machines have neither, and the test says so.
  const torchRef = process.env.ATENCAO_TORCH_REF ?? fileURLToPath(new URL('../../shared/bench/torch_ref.py', import.meta.url));
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

  it('PyTorch builds the decoder-only and encoder–decoder models with as many weights as ours', (ctx) => {
    if (!existsSync(torchRef)) ctx.skip(`no PyTorch reference script at ${torchRef} (set ATENCAO_TORCH_REF)`);
    if (spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) ctx.skip(`PyTorch is not installed for ${python} (apt-get install python3-torch)`);
    const command = `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${python} ${torchRef} --threads 1 --steps 1`;
    // small (d 64, ff 256, V 32): a block 3·(64·64 + 64) + 4,160 + 64·256 + 256 + 256·64 + 64 + 4·64 = 49,984.
    //   decoder-only: embedding 2,048, 4 blocks 199,936, final norm 128, output 2,080 → 204,192
    //   encoder–decoder: embeddings 4,096, 2 encoder blocks 99,968 + 128, 2 decoder blocks
    //   (+ cross-attention 16,640 and a norm 128) 133,504 + 128, output 2,080 → 239,904
    for (const [arch, params] of [['decoder', 204_192], ['encoder-decoder', 239_904]] as const) {
      const run = spawnSync(`${command} --config small --arch ${arch}`, { shell: true, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const row = JSON.parse(run.stdout.trim().split('\n').pop()!) as { arch: string; params: number; ms_per_step: number };
      expect(row.arch).toBe(arch);
      expect(row.params).toBe(params);
      expect(row.ms_per_step).toBeGreaterThan(0);
    }
  });
});

describe('the kernel profile', () => {
  it('counts each kernel call once, forward and backward apart, and puts the kernels back', () => {
    const before = tf.memory().numTensors;
    const x = tf.tidy(() => tf.variable(tf.tensor2d([[1, 2], [3, 4]])));
    const kernel = tf.getKernel(tf.Multiply, tf.getBackend());
    const { tally, restore } = instrumentKernels(tf.getBackend());
    // Forward: one Multiply and one Sum; backward: the gradient of Sum and of Multiply (x·x).
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(x, x)), [x]);
    restore();
    expect(tf.getKernel(tf.Multiply, tf.getBackend())).toBe(kernel);
    expect(tally.get('Multiply')?.calls).toBe(1);
    expect(tally.get('Sum')?.calls).toBe(1);
    expect(tally.get('Multiply (backward)')?.calls).toBeGreaterThanOrEqual(2);
    expect(Array.from(grads[x.name]!.dataSync())).toEqual([2, 4, 6, 8]);
    tf.dispose([value, ...Object.values(grads), x]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a kernel that runs others inside it counts once, with their time in its own', () => {
    if (tf.getBackend() !== 'wasm') return; // the fused attention is a wasm kernel
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
    const x = tf.ones([1, 3, 8]);
    tf.dispose(mha.forward(x).output); // built outside the tally
    const { tally, restore } = instrumentKernels('wasm');
    const { output } = mha.forward(x);
    restore();
    // AtencaoAttention runs the backend's Softmax inside: not a call of the engine, not counted.
    expect(tally.get('AtencaoAttention')?.calls).toBe(1);
    expect(tally.has('Softmax')).toBe(false);
    tf.dispose([output, x]);
    mha.dispose();
  });

  it('a tiny model\'s step: calls and milliseconds per kernel add up to the totals, and nothing leaks', async () => {
    const tiny: BenchShape = { dModel: 16, numHeads: 2, layers: 1, dFF: 32, vocab: 12, length: 4, batch: 3 };
    const before = tf.memory().numTensors;
    const p = await profileTrainStep('tiny', tiny, 'decoder', 2, 1);
    expect(tf.memory().numTensors).toBe(before);
    expect(p.kernels.length).toBeGreaterThan(5);
    const calls = p.kernels.reduce((s, k) => s + k.calls, 0);
    expect(Math.abs(calls - p.kernelCalls)).toBeLessThan(0.5);
    expect(p.forwardCalls).toBeLessThan(p.kernelCalls);
    // The linear layers' gradients: one kernel on wasm, the products elsewhere.
    const linearGrad = tf.getBackend() === 'wasm' ? 'AtencaoLinearGrad (backward)' : 'BatchMatMul (backward)';
    expect(p.kernels.some((k) => k.kernel === linearGrad)).toBe(true);
    expect(profileTable(p, 3)).toMatch(/^tiny decoder on \w+: [\d.]+ ms\/step, [\d.]+ ms in [\d.]+ kernel calls/);
  });
});

it('memory peaks are at least the memory in use when they are read', () => {
  const peaks = new MemoryPeaks(1000);
  const big = new Float32Array(4_000_000); // 16 MB outside the JavaScript heap
  peaks.sample();
  const m = peaks.stop('test');
  const now = process.memoryUsage();
  expect(m.kind).toBe('memory');
  expect(m.part).toBe('test');
  expect(m.externalMB).toBeGreaterThanOrEqual(16);
  expect(m.rssMB * 1e6).toBeGreaterThanOrEqual(0.9 * Math.min(now.rss, m.rssMB * 1e6));
  expect(big.length).toBe(4_000_000);
});
