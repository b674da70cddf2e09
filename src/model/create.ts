import { resolveConfig, type Arch, type DecoderConfigInput, type EncoderConfigInput, type EncoderDecoderConfigInput, type ModelConfig, type ModelConfigInput } from '../config.js';
import { withInitSeed } from '../layers/base.js';
import { DecoderOnly } from './decoder-only.js';
import { EncoderOnly } from './encoder-only.js';
import type { Model } from './model.js';
import { Transformer, type CreateOptions } from './transformer.js';

/** The class that builds each family, and its serialized class name in model.json. */
export const FAMILIES = {
  'encoder-decoder': Transformer,
  decoder: DecoderOnly,
  encoder: EncoderOnly,
} as const satisfies Record<Arch, unknown>;

/** Build a model of any family from a (partial) config: defaults filled in, validated, weights created. */
export function createModel(config: EncoderDecoderConfigInput, options?: CreateOptions): Transformer;
export function createModel(config: DecoderConfigInput, options?: CreateOptions): DecoderOnly;
export function createModel(config: EncoderConfigInput, options?: CreateOptions): EncoderOnly;
export function createModel(config: ModelConfigInput, options?: CreateOptions): Model & (Transformer | DecoderOnly | EncoderOnly);
export function createModel(config: ModelConfigInput, options: CreateOptions = {}): Model & (Transformer | DecoderOnly | EncoderOnly) {
  const resolved: ModelConfig = resolveConfig(config);
  const build = () => {
    const { arch: _a, ...rest } = resolved as unknown as Record<string, unknown>;
    const Family = FAMILIES[resolved.arch] as unknown as new (args: Record<string, unknown>) => Transformer | DecoderOnly | EncoderOnly;
    const model = new Family(Object.assign({}, rest, { name: options.name }));
    model.build();
    return model;
  };
  return options.seed === undefined ? build() : withInitSeed(options.seed, build);
}

