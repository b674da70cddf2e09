import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { generateText } from '../infer/generate.js';
import { loadModelDir } from '../infer/load.js';
import { backendOption, nonNegativeInt, numberIn, positiveInt, startBackend } from './options.js';

interface GenerateArgs {
  model: string;
  text?: string[];
  prompt?: string;
  'max-tokens'?: number;
  temperature: number;
  'top-k'?: number;
  'top-p'?: number;
  seed?: number;
  samples: number;
  json: boolean;
  backend: string;
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate [text..]',
  describe: 'Continue a prompt with a decoder (GPT-style) model',
  builder: (y) =>
    y
      .positional('text', { type: 'string', array: true, describe: 'The prompt (or use --prompt)' })
      .option('model', { type: 'string', demandOption: true, describe: 'Decoder model folder made by atencao train --arch decoder' })
      .option('prompt', { type: 'string', describe: 'The text to continue ("" starts from nothing)' })
      .option('max-tokens', { type: 'number', describe: "Most tokens to write [default: as many as the model's maxLen leaves room for]" })
      .option('temperature', { type: 'number', default: 0, describe: '0: always the most probable token (greedy); above 0: sample, sharper below 1, flatter above' })
      .option('top-k', { type: 'number', describe: 'Sample from the k most probable tokens only (0: all)' })
      .option('top-p', { type: 'number', describe: 'Sample from the fewest most probable tokens holding this probability (nucleus, 0–1]' })
      .option('seed', { type: 'number', describe: 'Seed of the draws: the same seed gives the same text [default: random, shown]' })
      .option('samples', { type: 'number', default: 1, describe: 'Continuations to write (seeds seed, seed + 1, …)' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per continuation: tokens, ids, their probabilities, why it stopped' })
      .option('backend', backendOption)
      .example('$0 generate --model models/gpt-pt "Ela derramou"', 'greedy continuation of a Portuguese prompt')
      .example('$0 generate --model models/gpt-pt --prompt "Ela derramou" --temperature 0.8 --top-k 10 --samples 3 --seed 7', 'three sampled continuations, reproducible')
      .example('$0 generate --model models/gpt-copy "hcadbefgij"', 'a model trained with --task copy: writes what follows "hcadbefgij<sep>"')
      .example('$0 generate --model models/gpt-pt "O menino" --json', 'tokens and their probabilities as JSON'),
  handler: async (args) => {
    const given = (args.text ?? []).map(String);
    if (given.length > 0 && args.prompt !== undefined) throw new UsageError('give the prompt once: as text or with --prompt, not both');
    if (given.length === 0 && args.prompt === undefined) throw new UsageError('nothing to continue: give a prompt (e.g. atencao generate --model DIR "Ela derramou")');
    const prompt = args.prompt ?? given.join(' ');
    const maxTokens = positiveInt('max-tokens', args['max-tokens']);
    const temperature = numberIn('temperature', args.temperature, 0, 100)!;
    const topK = nonNegativeInt('top-k', args['top-k']);
    const topP = numberIn('top-p', args['top-p'], 0, 1);
    if (topP === 0) throw new UsageError('--top-p (0) must be in (0, 1]');
    const seed = nonNegativeInt('seed', args.seed) ?? Math.floor(Math.random() * 2 ** 31);
    const samples = positiveInt('samples', args.samples)!;
    if (temperature === 0 && (topK !== undefined || topP !== undefined || samples > 1)) {
      throw new UsageError('--top-k, --top-p and --samples sample tokens: give a --temperature above 0 too');
    }
    await startBackend(args.backend);
    const loaded = await loadModelDir(args.model);
    try {
      for (let i = 0; i < samples; i++) {
        const r = await generateText(loaded, prompt, { maxTokens, temperature, topK, topP, seed: seed + i });
        if (i === 0) warn(r.unknown, r.truncated, loaded.model.config.maxLen);
        process.stdout.write(args.json ? `${JSON.stringify(r)}\n` : `${r.full}\n`);
      }
      if (!args.json && temperature > 0 && args.seed === undefined) process.stderr.write(`seed ${seed} (--seed ${seed} writes the same text again)\n`);
    } finally {
      loaded.model.dispose();
    }
  },
};

function warn(unknown: readonly string[], truncated: boolean, maxLen: number): void {
  if (truncated) process.stderr.write(`warning: the prompt is longer than the ${maxLen - 2} tokens the model's maxLen (${maxLen}) leaves room for; only its last ${maxLen - 2} were read\n`);
  if (unknown.length > 0) process.stderr.write(`warning: words the model never saw in training, read as <unk>: ${[...new Set(unknown)].slice(0, 20).join(', ')}\n`);
}
