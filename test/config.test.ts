import { expect, it } from 'vitest';
import { ConfigError, createTransformer, DEFAULT_CONFIG, MultiHeadAttention, resolveConfig } from '../src/index.js';

const base = { srcVocabSize: 10, tgtVocabSize: 12 };

it('fills defaults from one place', () => {
  expect(resolveConfig(base)).toEqual({ ...DEFAULT_CONFIG, ...base });
});

const cases: [Record<string, unknown>, string][] = [
  [{ dModel: 100, numHeads: 3 }, 'dModel (100) must be divisible by numHeads (3)'],
  [{ dModel: 0 }, 'dModel (0) must be a positive integer'],
  [{ dModel: 2.5 }, 'dModel (2.5) must be a positive integer'],
  [{ numHeads: -1 }, 'numHeads (-1) must be a positive integer'],
  [{ srcVocabSize: 'ten' }, "srcVocabSize ('ten') must be a positive integer"],
  [{ numEncoderLayers: 0 }, 'numEncoderLayers (0) must be a positive integer'],
  [{ numDecoderLayers: 1.5 }, 'numDecoderLayers (1.5) must be a positive integer'],
  [{ padId: -1 }, 'padId (-1) must be a non-negative integer'],
  [{ dropout: 1 }, 'dropout (1) must be in [0, 1)'],
  [{ dropout: -0.1 }, 'dropout (-0.1) must be in [0, 1)'],
  [{ activation: 'tanh' }, "activation ('tanh') must be one of relu, gelu"],
  [{ normPlacement: 'middle' }, "normPlacement ('middle') must be one of pre, post"],
  [{ positionalEncoding: 'rotary' }, "positionalEncoding ('rotary') must be one of sinusoidal, learned"],
  [{ tieEmbeddings: 'yes' }, "tieEmbeddings ('yes') must be true or false"],
  [{ padId: 12 }, 'padId (12) must be smaller than both vocabulary sizes (10, 12)'],
  [{ dModel: 6, numHeads: 2, positionalEncoding: 'sinusoidal', dFF: 4 }, ''],
  [{ dModel: 5, numHeads: 1 }, 'dModel (5) must be even for sinusoidal positions'],
  [{ dmodel: 64 }, "unknown config field 'dmodel' (known: dModel, numHeads, numEncoderLayers, numDecoderLayers, dFF, dropout, maxLen, activation, normPlacement, positionalEncoding, tieEmbeddings, padId, srcVocabSize, tgtVocabSize)"],
];

for (const [overrides, message] of cases) {
  it(message === '' ? `accepts ${JSON.stringify(overrides)}` : `rejects ${JSON.stringify(overrides)}`, () => {
    const run = () => resolveConfig({ ...base, ...overrides } as never);
    if (message === '') {
      expect(run().dModel).toBe(overrides.dModel);
      return;
    }
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(message);
    try {
      run();
    } catch (error) {
      expect((error as Error).message).toBe(message);
      expect((error as Error).name).toBe('ConfigError');
    }
  });
}

it('createTransformer validates before building anything', () => {
  expect(() => createTransformer({ ...base, dModel: 100, numHeads: 3 })).toThrow('dModel (100) must be divisible by numHeads (3)');
});

it('layer arguments are validated with the same kind of message', () => {
  expect(() => new MultiHeadAttention({ numHeads: 0, keyDim: 4 })).toThrow(new ConfigError('numHeads (0) must be a positive integer'));
  expect(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 2 })).toThrow(new ConfigError('dropout (2) must be in [0, 1)'));
});

it('countParameters matches the weights a model really creates', async () => {
  const { countParameters, createTransformer } = await import('../src/index.js');
  for (const extra of [{}, { tieEmbeddings: true, normPlacement: 'post' as const, positionalEncoding: 'learned' as const, numEncoderLayers: 3 }]) {
    const model = createTransformer({ ...base, dModel: 16, numHeads: 2, dFF: 24, maxLen: 9, ...extra });
    expect(countParameters(model.config)).toBe(model.countTrainableParams());
    model.dispose();
  }
  // The two benchmark configurations match PyTorch's nn.Transformer parameter counts (239,904 and 938,528).
  expect(countParameters(resolveConfig({ srcVocabSize: 32, tgtVocabSize: 32 }))).toBe(239904);
  expect(countParameters(resolveConfig({ srcVocabSize: 32, tgtVocabSize: 32, dModel: 128, numHeads: 8, dFF: 512 }))).toBe(938528);
});
