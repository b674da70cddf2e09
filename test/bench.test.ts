import { expect, it } from 'vitest';
import { BENCH_CONFIGS, trainingFlops } from '../src/bench/train-speed.js';

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
