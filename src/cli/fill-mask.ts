import type { CommandModule } from 'yargs';
import { fillMask } from '../infer/classify.js';
import { loadModelDir } from '../infer/load.js';
import { inputLines, warnAboutInput } from './classify.js';
import { backendOption, positiveInt, startBackend } from './options.js';
import { pct } from './progress.js';

interface FillMaskArgs {
  model: string;
  text?: string[];
  file?: string;
  'top-k': number;
  json: boolean;
  backend: string;
}

export const fillMaskCommand: CommandModule<object, FillMaskArgs> = {
  command: 'fill-mask [text..]',
  describe: 'Guess the words behind [MASK] with an encoder model (its masked-LM head)',
  builder: (y) =>
    y
      .positional('text', { type: 'string', array: true, describe: 'Sentences with one or more [MASK] (default: lines of --file or standard input)' })
      .option('model', { type: 'string', demandOption: true, describe: 'Encoder model folder (e.g. trained with --arch encoder --task pt)' })
      .option('file', { type: 'string', describe: 'Fill every line of this file' })
      .option('top-k', { type: 'number', default: 5, describe: 'Candidates shown per [MASK]' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per sentence: text, tokens, masks (position, candidates with probabilities), filled' })
      .option('backend', backendOption)
      .example('$0 fill-mask --model models/pt-mlm "Ela derramou água da [MASK] para o copo."', 'which container fits after "da"? (a feminine one)')
      .example('$0 fill-mask --model models/pt-mlm --top-k 3 "O menino lavou o [MASK] [MASK]."', 'two masks, predicted together')
      .example('$0 fill-mask --model models/pt-mlm --json "A menina bebeu [MASK] da caneca."', 'candidates and probabilities as JSON'),
  handler: async (args) => {
    const topK = positiveInt('top-k', args['top-k'])!;
    const lines = inputLines(args.text, args.file, 'fill');
    await startBackend(args.backend, true);
    const loaded = await loadModelDir(args.model);
    try {
      const results = [];
      for (const line of lines) results.push(await fillMask(loaded, line, { topK }));
      for (const r of results) {
        if (args.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          continue;
        }
        const masks = r.masks.map((m, i) => `  [MASK] ${i + 1}: ${m.candidates.map((c) => `${c.token} ${pct(c.probability)}`).join(', ')}`);
        process.stdout.write(`${r.filled}\n${masks.join('\n')}\n`);
      }
      if (!args.json) warnAboutInput(results, loaded.model.config.maxLen, loaded.source);
    } finally {
      loaded.model.dispose();
    }
  },
};
