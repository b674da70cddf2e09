import type { CommandModule } from 'yargs';
import { pct } from './progress.js';
import { SYNTHETIC_TASKS, type SyntheticTaskName } from '../data/tasks.js';
import { evaluateModelDir } from '../train/eval-dir.js';
import { backendOption, startBackend } from './options.js';

interface EvalArgs {
  model: string;
  task?: string;
  data?: string;
  json: boolean;
  backend: string;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Measure a saved model of any family: loss, token accuracy, exact match (or accuracy), BLEU, chrF',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Model folder made by atencao train' })
      .option('task', { type: 'string', choices: [...SYNTHETIC_TASKS, 'pt-en', 'pt', 'referent'], describe: "A built-in task's test set (default: the data the model was trained on)" })
      .option('data', { type: 'string', describe: "A corpus file: 'source<TAB>target' per line (encoder-decoder), plain text lines (decoder, encoder)" })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object' })
      .option('backend', backendOption)
      .conflicts('task', 'data')
      .example('$0 eval --model models/copy', 'on the test set of its own task')
      .example('$0 eval --model models/mine --data test.tsv --json', 'on your test pairs'),
  handler: async (args) => {
    await startBackend(args.backend, args.json);
    const log = { info: (m: string) => process.stderr.write(`${m}\n`), warn: (m: string) => process.stderr.write(`warning: ${m}\n`) };
    const r = await evaluateModelDir(args.model, { task: args.task as SyntheticTaskName | 'pt-en' | 'pt' | 'referent' | undefined, data: args.data }, log);
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ exactMatch: r.exactMatch, tokenAccuracy: r.tokenAccuracy, bleu: r.bleu ?? null, chrf: r.chrf ?? null, n: r.n, loss: r.loss, referentAccuracy: r.referentAccuracy ?? null, on: r.on })}\n`);
      return;
    }
    const rows: [string, string][] = [
      ['evaluated on', r.on],
      ['examples (n)', String(r.n)],
      ['exact match', pct(r.exactMatch)],
      ['token accuracy', pct(r.tokenAccuracy)],
      ['loss', r.loss.toFixed(4)],
    ];
    if (r.bleu !== undefined) rows.push(['BLEU', (100 * r.bleu).toFixed(1)]);
    if (r.chrf !== undefined) rows.push(['chrF', (100 * r.chrf).toFixed(1)]);
    if (r.referentAccuracy !== undefined) rows.push(['right referent (held-out pairs)', pct(r.referentAccuracy)]);
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
  },
};

