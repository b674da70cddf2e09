import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { DataError, UsageError } from '../errors.js';
import { MAX_LEN_EXTRA, MAX_LEN_RATIO } from '../infer/guard.js';
import { loadModel } from '../infer/load.js';
import { visibleText } from '../viz/panels.js';
import { backendOption, numberIn, positiveInt, positiveNumber, startBackend } from './options.js';

interface TranslateArgs {
  model: string;
  text?: string[];
  file?: string;
  beam: number;
  'length-penalty': number;
  'max-len'?: number;
  'batch-size': number;
  'no-repeat-ngram'?: number;
  'max-len-ratio': number;
  json: boolean;
  backend: string;
}

/** Sentences translated per batch when reading many lines (bounded memory for long inputs). */
const CHUNK = 256;

export const translateCommand: CommandModule<object, TranslateArgs> = {
  command: 'translate [text..]',
  describe: 'Translate sentences with a trained model',
  builder: (y) =>
    y
      // `--no-repeat-ngram N` is a number, not the negation of a flag `--repeat-ngram`.
      .parserConfiguration({ 'boolean-negation': false })
      .positional('text', { type: 'string', array: true, describe: 'Sentences to translate (default: lines of --file or standard input)' })
      .option('model', { type: 'string', demandOption: true, describe: 'Model folder made by atencao train' })
      .option('file', { type: 'string', describe: 'Translate every line of this file' })
      .option('beam', { type: 'number', default: 1, describe: 'Beam width (1: greedy decoding)' })
      .option('length-penalty', { type: 'number', default: 0.6, describe: 'Beam search: α in ((5 + length) / 6)^α' })
      .option('max-len', { type: 'number', describe: "Longest output in tokens (default: the model's maxLen − 1)" })
      .option('batch-size', { type: 'number', default: 32, describe: 'Sentences decoded together (beam search: each with --beam rows)' })
      .option('no-repeat-ngram', { type: 'number', describe: 'No N consecutive output tokens may appear twice in an output (stops loops)' })
      .option('max-len-ratio', { type: 'number', default: MAX_LEN_RATIO, describe: `Outputs stop after ratio × source tokens + ${MAX_LEN_EXTRA}` })
      .option('json', { type: 'boolean', default: false, describe: 'One JSON object per sentence: source, output, tokens, token scores' })
      .option('backend', backendOption)
      .example('$0 translate --model models/pt-en "Ela derramou água da jarra para o copo até que ficasse vazia."', 'one sentence')
      .example('$0 translate --model models/pt-en --file sentences.txt --beam 4', 'a file, with beam search')
      .example('cat sentences.txt | $0 translate --model models/pt-en --json', 'standard input, as JSON lines')
      .example('$0 translate --model models/pt-en --file sentences.txt --no-repeat-ngram 3 --max-len-ratio 1.5', 'guard against outputs that loop'),
  handler: async (args) => {
    const beam = positiveInt('beam', args.beam)!;
    const batchSize = positiveInt('batch-size', args['batch-size'])!;
    const maxLen = positiveInt('max-len', args['max-len']);
    const lengthPenalty = numberIn('length-penalty', args['length-penalty'], 0, 10)!;
    const noRepeatNgram = positiveInt('no-repeat-ngram', args['no-repeat-ngram']);
    const maxLenRatio = positiveNumber('max-len-ratio', args['max-len-ratio'])!;
    const given = (args.text ?? []).map(String);
    if (given.length > 0 && args.file !== undefined) throw new UsageError('give sentences or --file, not both');
    const blank = given.findIndex((t) => t.trim() === '');
    if (blank >= 0) throw new UsageError(`nothing to translate: ${given.length === 1 ? 'the sentence' : `sentence ${blank + 1}`} is empty`);
    const lines = given.length > 0 ? given : readLines(args.file);
    if (lines.length === 0) throw new UsageError('nothing to translate: give sentences, --file FILE, or lines on standard input');
    await startBackend(args.backend, true);
    const translator = await loadModel(args.model);
    try {
      const tty = process.stdout.isTTY === true;
      const unknown = new Set<string>();
      let truncated = 0;
      for (let start = 0; start < lines.length; start += CHUNK) {
        const results = await translator.translate(lines.slice(start, start + CHUNK), { beam, maxLen, lengthPenalty, batchSize, noRepeatNgram, maxLenRatio });
        for (const r of results) {
          r.unknown.forEach((t) => unknown.add(t));
          if (r.truncated) truncated++;
          // A terminal gets control characters shown, not obeyed (tokens come from files); a pipe gets the text as it is.
          process.stdout.write(args.json ? `${JSON.stringify(r)}\n` : `${tty ? visibleText(r.output) : r.output}\n`);
        }
      }
      if (truncated > 0) {
        process.stderr.write(`warning: ${truncated} sentence${truncated > 1 ? 's were' : ' was'} longer than the model's ${translator.config.maxLen} tokens and cut\n`);
      }
      const unseen = translator.source.unseenWarning(unknown);
      if (unseen !== undefined && !args.json) process.stderr.write(`warning: ${visibleText(unseen)}\n`);
    } finally {
      translator.dispose();
    }
  },
};

/** Non-empty lines of a file, or of standard input when no file is given. */
function readLines(file: string | undefined): string[] {
  let text: string;
  try {
    text = readFileSync(file ?? 0, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (file !== undefined && code === 'ENOENT') throw new DataError(`file '${file}' not found`);
    if (file !== undefined && code === 'EISDIR') throw new DataError(`'${file}' is a directory`);
    if (file === undefined) return [];
    throw new DataError(`cannot read '${file}' (${code ?? (error as Error).message})`);
  }
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
