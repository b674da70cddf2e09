import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  countParameters,
  createModel,
  createTransformer,
  DEFAULT_CONFIG,
  describeConfig,
  MultiHeadAttention,
  resolveConfig,
  type Model,
  type ModelConfigInput,
} from '../src/index.js';

const base = { srcVocabSize: 10, tgtVocabSize: 12 };

/** The defaults every family shares, written out (not read from the code under test). */
const BLOCK = {
  dModel: 64,
  numHeads: 4,
  dFF: 256,
  dropout: 0.1,
  maxLen: 64,
  activation: 'relu',
  normPlacement: 'pre',
  positionalEncoding: 'sinusoidal',
  tieEmbeddings: false,
  padId: 0,
};

describe('defaults', () => {
  it('an encoder–decoder config gets the block defaults and 2 + 2 layers', () => {
    expect(resolveConfig({ ...base, arch: 'encoder-decoder' })).toEqual({ arch: 'encoder-decoder', ...BLOCK, numEncoderLayers: 2, numDecoderLayers: 2, ...base });
    // The encoder–decoder defaults keep their old name.
    expect({ ...DEFAULT_CONFIG }).toEqual({ ...BLOCK, numEncoderLayers: 2, numDecoderLayers: 2 });
  });

  it('a config without arch (saved before there were three families) is an encoder–decoder', () => {
    const old = resolveConfig(base);
    expect(old.arch).toBe('encoder-decoder');
    expect(old).toEqual(resolveConfig({ ...base, arch: 'encoder-decoder' }));
    // A field left undefined takes its default instead of erasing it.
    expect(resolveConfig({ ...base, dModel: undefined }).dModel).toBe(64);
  });

  it('a decoder config gets the block defaults and 2 layers', () => {
    expect(resolveConfig({ arch: 'decoder', vocabSize: 14 })).toEqual({ arch: 'decoder', ...BLOCK, numLayers: 2, vocabSize: 14 });
  });

  it('an encoder config gets the block defaults, 2 layers and no classifier', () => {
    expect(resolveConfig({ arch: 'encoder', vocabSize: 14 })).toEqual({ arch: 'encoder', ...BLOCK, numLayers: 2, numClasses: 0, vocabSize: 14 });
    expect(resolveConfig({ arch: 'encoder', vocabSize: 14, numClasses: 3, numLayers: 1 })).toMatchObject({ numClasses: 3, numLayers: 1 });
  });

  it('describeConfig names the family and its shape on one line', () => {
    expect(describeConfig(resolveConfig(base))).toBe('encoder-decoder: d 64, 4 heads, 2+2 layers, ff 256, maxLen 64, vocab 10/12');
    expect(describeConfig(resolveConfig({ arch: 'decoder', vocabSize: 14, maxLen: 24 }))).toBe('decoder: d 64, 4 heads, 2 layers, ff 256, maxLen 24, vocab 14');
    expect(describeConfig(resolveConfig({ arch: 'encoder', vocabSize: 30, numClasses: 2, numLayers: 3 }))).toBe('encoder: d 64, 4 heads, 3 layers, ff 256, maxLen 64, vocab 30, 2 classes');
    expect(describeConfig(resolveConfig({ arch: 'encoder', vocabSize: 30 }))).toBe('encoder: d 64, 4 heads, 2 layers, ff 256, maxLen 64, vocab 30');
    expect(describeConfig(resolveConfig({ arch: 'decoder', vocabSize: 9, numLayers: 1 }))).toBe('decoder: d 64, 4 heads, 1 layer, ff 256, maxLen 64, vocab 9');
  });
});

/** [config, the exact message it is refused with; '' = accepted]. */
const cases: [Record<string, unknown>, string][] = [
  [{ ...base, dModel: 100, numHeads: 3 }, 'dModel (100) must be divisible by numHeads (3)'],
  [{ ...base, dModel: 0 }, 'dModel (0) must be a positive integer'],
  [{ ...base, dModel: 2.5 }, 'dModel (2.5) must be a positive integer'],
  [{ ...base, numHeads: -1 }, 'numHeads (-1) must be a positive integer'],
  [{ ...base, srcVocabSize: 'ten' }, "srcVocabSize ('ten') must be a positive integer"],
  [{ ...base, numEncoderLayers: 0 }, 'numEncoderLayers (0) must be a positive integer'],
  [{ ...base, numDecoderLayers: 1.5 }, 'numDecoderLayers (1.5) must be a positive integer'],
  [{ ...base, padId: -1 }, 'padId (-1) must be a non-negative integer'],
  [{ ...base, dropout: 1 }, 'dropout (1) must be in [0, 1)'],
  [{ ...base, dropout: -0.1 }, 'dropout (-0.1) must be in [0, 1)'],
  [{ ...base, activation: 'tanh' }, "activation ('tanh') must be one of relu, gelu"],
  [{ ...base, normPlacement: 'middle' }, "normPlacement ('middle') must be one of pre, post"],
  [{ ...base, positionalEncoding: 'rotary' }, "positionalEncoding ('rotary') must be one of sinusoidal, learned"],
  [{ ...base, tieEmbeddings: 'yes' }, "tieEmbeddings ('yes') must be true or false"],
  [{ ...base, padId: 12 }, 'padId (12) must be smaller than both vocabulary sizes (10, 12)'],
  [{ ...base, dModel: 6, numHeads: 2, positionalEncoding: 'sinusoidal', dFF: 4 }, ''],
  [{ ...base, dModel: 5, numHeads: 1 }, 'dModel (5) must be even for sinusoidal positions'],
  [{ ...base, dModel: 5, numHeads: 1, positionalEncoding: 'learned' }, ''],
  [
    { ...base, dmodel: 64 },
    "unknown encoder-decoder config field 'dmodel' (known: arch, dModel, numHeads, dFF, dropout, maxLen, activation, normPlacement, positionalEncoding, tieEmbeddings, padId, numEncoderLayers, numDecoderLayers, srcVocabSize, tgtVocabSize)",
  ],
  [{ ...base, arch: 'gpt' }, "arch ('gpt') must be one of encoder-decoder, decoder, encoder"],
  // Decoder-only.
  [{ arch: 'decoder', vocabSize: 14, dModel: 32, numHeads: 4, numLayers: 1 }, ''],
  [{ arch: 'decoder' }, 'vocabSize (undefined) must be a positive integer'],
  [{ arch: 'decoder', vocabSize: 0 }, 'vocabSize (0) must be a positive integer'],
  [{ arch: 'decoder', vocabSize: 14, numLayers: 0 }, 'numLayers (0) must be a positive integer'],
  [{ arch: 'decoder', vocabSize: 14, padId: 14 }, 'padId (14) must be smaller than vocabSize (14)'],
  [
    { arch: 'decoder', vocabSize: 14, numEncoderLayers: 2 },
    "unknown decoder config field 'numEncoderLayers' (known: arch, dModel, numHeads, dFF, dropout, maxLen, activation, normPlacement, positionalEncoding, tieEmbeddings, padId, numLayers, vocabSize)",
  ],
  [
    { arch: 'decoder', vocabSize: 14, numClasses: 2 },
    "unknown decoder config field 'numClasses' (known: arch, dModel, numHeads, dFF, dropout, maxLen, activation, normPlacement, positionalEncoding, tieEmbeddings, padId, numLayers, vocabSize)",
  ],
  // Encoder-only.
  [{ arch: 'encoder', vocabSize: 14, numClasses: 0 }, ''],
  [{ arch: 'encoder', vocabSize: 14, numClasses: -1 }, 'numClasses (-1) must be a non-negative integer'],
  [{ arch: 'encoder', vocabSize: 14, numClasses: 1.5 }, 'numClasses (1.5) must be a non-negative integer'],
  [{ arch: 'encoder', vocabSize: 'x' }, "vocabSize ('x') must be a positive integer"],
  [{ arch: 'encoder', vocabSize: 14, numLayers: -2 }, 'numLayers (-2) must be a positive integer'],
  [{ arch: 'encoder', vocabSize: 4, padId: 4 }, 'padId (4) must be smaller than vocabSize (4)'],
  [
    { arch: 'encoder', vocabSize: 14, srcVocabSize: 14 },
    "unknown encoder config field 'srcVocabSize' (known: arch, dModel, numHeads, dFF, dropout, maxLen, activation, normPlacement, positionalEncoding, tieEmbeddings, padId, numLayers, numClasses, vocabSize)",
  ],
];

describe('validation', () => {
  for (const [config, message] of cases) {
    it(message === '' ? `accepts ${JSON.stringify(config)}` : `rejects ${JSON.stringify(config)}`, () => {
      const run = () => resolveConfig(config as never);
      if (message === '') {
        expect(run().dModel).toBe(config.dModel ?? 64);
        return;
      }
      expect(run).toThrow(ConfigError);
      try {
        run();
      } catch (error) {
        expect((error as Error).message).toBe(message);
        expect((error as Error).name).toBe('ConfigError');
      }
    });
  }

  it('refuses what is not an object', () => {
    expect(() => resolveConfig(null as never)).toThrow(new ConfigError('config must be an object (got null)'));
    expect(() => resolveConfig('big' as never)).toThrow(new ConfigError("config must be an object (got 'big')"));
  });

  it('createModel and createTransformer validate before building anything', () => {
    expect(() => createTransformer({ ...base, dModel: 100, numHeads: 3 })).toThrow('dModel (100) must be divisible by numHeads (3)');
    expect(() => createModel({ arch: 'decoder', vocabSize: 0 })).toThrow(new ConfigError('vocabSize (0) must be a positive integer'));
    expect(() => createModel({ arch: 'encoder', vocabSize: 9, numClasses: -1 })).toThrow(new ConfigError('numClasses (-1) must be a non-negative integer'));
  });

  it('layer arguments are validated with the same kind of message', () => {
    expect(() => new MultiHeadAttention({ numHeads: 0, keyDim: 4 })).toThrow(new ConfigError('numHeads (0) must be a positive integer'));
    expect(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 2 })).toThrow(new ConfigError('dropout (2) must be in [0, 1)'));
  });
});

describe('countParameters', () => {
  /** The weights a model really holds: the sizes of its named weights, added up. */
  const realCount = (model: Model) => model.namedWeights().reduce((n, [, v]) => n + (v.shape as number[]).reduce((a, b) => a * b, 1), 0);

  const small = { dModel: 16, numHeads: 2, dFF: 24, maxLen: 9 };
  const variants = [
    {},
    { tieEmbeddings: true },
    { positionalEncoding: 'learned' as const },
    { normPlacement: 'post' as const },
    { tieEmbeddings: true, normPlacement: 'post' as const, positionalEncoding: 'learned' as const },
  ];
  const families: [string, ModelConfigInput][] = [
    ['encoder-decoder', { ...base, numEncoderLayers: 3, numDecoderLayers: 1 }],
    ['decoder', { arch: 'decoder', vocabSize: 11, numLayers: 2 }],
    ['encoder', { arch: 'encoder', vocabSize: 11, numLayers: 2 }],
    ['encoder with a classifier', { arch: 'encoder', vocabSize: 11, numLayers: 1, numClasses: 3 }],
  ];

  for (const [family, config] of families) {
    it(`equals the weights a model really creates: ${family}, untied/tied, sinusoidal/learned, pre/post`, () => {
      for (const variant of variants) {
        const model = createModel({ ...config, ...small, ...variant } as ModelConfigInput);
        const real = realCount(model);
        expect(countParameters(model.config), JSON.stringify(variant)).toBe(real);
        expect(model.countTrainableParams()).toBe(real);
        model.dispose();
      }
    });
  }

  it('matches counts worked out by hand', () => {
    // Decoder: d 8, ff 12, vocab 10, 1 layer, pre-norm, sinusoidal, untied.
    // embedding 10·8 = 80; attention 4·8·8 + 4·8 = 288; feed-forward 2·8·12 + 12 + 8 = 212;
    // two norms 2·16 = 32; final norm 16; output 8·10 + 10 = 90 → 718.
    const decoder = { arch: 'decoder' as const, vocabSize: 10, dModel: 8, numHeads: 2, dFF: 12, numLayers: 1 };
    expect(countParameters(resolveConfig(decoder))).toBe(718);
    // Tied: no output kernel (−80). Learned positions, maxLen 6: +48. Post-norm: no final norm (−16).
    expect(countParameters(resolveConfig({ ...decoder, tieEmbeddings: true }))).toBe(638);
    expect(countParameters(resolveConfig({ ...decoder, positionalEncoding: 'learned', maxLen: 6 }))).toBe(766);
    expect(countParameters(resolveConfig({ ...decoder, normPlacement: 'post' }))).toBe(702);
    // Encoder with 3 classes: the decoder's 718 plus the classifier 8·3 + 3 = 27.
    expect(countParameters(resolveConfig({ ...decoder, arch: 'encoder', numClasses: 3 }))).toBe(745);
    expect(countParameters(resolveConfig({ ...decoder, arch: 'encoder' }))).toBe(718);
    // The two benchmark encoder–decoders match PyTorch's nn.Transformer parameter counts (239,904 and 938,528).
    expect(countParameters(resolveConfig({ srcVocabSize: 32, tgtVocabSize: 32 }))).toBe(239904);
    expect(countParameters(resolveConfig({ srcVocabSize: 32, tgtVocabSize: 32, dModel: 128, numHeads: 8, dFF: 512 }))).toBe(938528);
  });
});
