import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import type { Tokenizer } from '../data/tokenizer.js';
import { DataError, UsageError } from '../errors.js';
import { classifyTexts } from '../infer/classify.js';
import { loadModelDir } from '../infer/load.js';
import { backendOption, positiveInt, startBackend } from './options.js';
import { pct } from './progress.js';

interface ClassifyArgs {
  model: string;
  text?: string[];
  file?: string;
  json: boolean;
  'batch-size': number;
  backend: string;
}

export const classifyCommand: CommandModule<object, ClassifyArgs> = {
  command: 'classify [text..]',
  describe: 'Label sentences with an encoder classifier (BERT-style, e.g. trained with --task referent)',
  builder: (y) =>
    y
      .positional('text', { type: 'string', array: true, describe: 'Sentences to label (default: lines of --file or standard input)' })
      .option('model', { type: 'string', demandOption: true, describe: 'Encoder model folder trained with classes' })
      .option('file', { type: 'string', describe: 'Label every line of this file' })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per sentence: text, label, probabilities, noun (referent models), unknown, truncated' })
      .option('batch-size', { type: 'number', default: 64, describe: 'Sentences read together' })
      .option('backend', backendOption)
      .example('$0 classify --model models/bert-referent "Ela derramou água da jarra para o copo até que ficasse cheio."', 'which container is full? → into (copo)')
      .example('$0 classify --model models/bert-referent --json "O menino despejou leite do balde para a caneca até que ficasse vazio."', 'label and probabilities as JSON')
      .example('$0 classify --model models/bert-referent --file sentences.txt', 'one line of output per line of the file'),
  handler: async (args) => {
    const batchSize = positiveInt('batch-size', args['batch-size'])!;
    const lines = inputLines(args.text, args.file, 'label');
    await startBackend(args.backend, true);
    const loaded = await loadModelDir(args.model);
    try {
      const results = await classifyTexts(loaded, lines, { batchSize });
      for (const r of results) {
        if (args.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          continue;
        }
        const scores = Object.entries(r.probabilities).map(([label, p]) => `${label} ${pct(p)}`);
        process.stdout.write(`${r.label}${r.noun === undefined ? '' : ` (${r.noun})`}\t${scores.join('  ')}\n`);
      }
      if (!args.json) warnAboutInput(results, loaded.model.config.maxLen, loaded.source);
    } finally {
      loaded.model.dispose();
    }
  },
};

/** The sentences given as arguments, or the non-empty lines of --file or standard input. */
export function inputLines(given: readonly unknown[] | undefined, file: string | undefined, verb: string): string[] {
  const texts = (given ?? []).map(String);
  if (texts.length > 0 && file !== undefined) throw new UsageError('give sentences or --file, not both');
  if (texts.length > 0) return texts;
  if (file === undefined && process.stdin.isTTY) throw new UsageError(`nothing to ${verb}: give a sentence, --file FILE, or lines on standard input`);
  let text: string;
  try {
    text = readFileSync(file ?? 0, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (file === undefined) throw new UsageError(`nothing to ${verb}: give a sentence, --file FILE, or lines on standard input`);
    if (code === 'ENOENT') throw new DataError(`file '${file}' not found`);
    if (code === 'EISDIR') throw new DataError(`'${file}' is a directory`);
    throw new DataError(`cannot read '${file}' (${code ?? (error as Error).message})`);
  }
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0) throw new UsageError(`nothing to ${verb}: give a sentence, --file FILE, or lines on standard input`);
  return lines;
}

/** Warn (on stderr) about sentences that were cut and words the model reads as unknown. */
export function warnAboutInput(results: readonly { unknown: string[]; truncated: boolean }[], maxLen: number, tokenizer: Tokenizer): void {
  const truncated = results.filter((r) => r.truncated).length;
  if (truncated > 0) process.stderr.write(`warning: ${truncated} sentence${truncated > 1 ? 's were' : ' was'} longer than the model's ${maxLen} tokens and cut\n`);
  const unseen = tokenizer.unseenWarning(results.flatMap((r) => r.unknown));
  if (unseen !== undefined) process.stderr.write(`warning: ${unseen}\n`);
}
