import type { CommandModule } from 'yargs';
import { generatePtEn, toTsv } from '../data/pt-en.js';
import { SYNTHETIC_TASKS, SyntheticTask, type SyntheticTaskName } from '../data/tasks.js';
import { writeFileCreatingDir } from '../io/atomic.js';
import { Random } from '../util/random.js';
import { nonNegativeInt, positiveInt } from './options.js';

interface DataArgs {
  task: string;
  out?: string;
  split: string;
  count?: number;
  seed: number;
}

export const dataCommand: CommandModule<object, DataArgs> = {
  command: 'data',
  describe: "Write a built-in task's pairs as 'source<TAB>target' lines",
  builder: (y) =>
    y
      .option('task', { type: 'string', choices: [...SYNTHETIC_TASKS, 'pt-en'], demandOption: true, describe: 'Which data' })
      .option('out', { type: 'string', describe: 'File to write (default: standard output)' })
      .option('split', { type: 'string', choices: ['train', 'valid', 'test'], default: 'train', describe: 'Which split' })
      .option('count', { type: 'number', describe: 'Synthetic tasks, train split: how many pairs [default: 1000]' })
      .option('seed', { type: 'number', default: 1, describe: 'Seed of the data' })
      .example('$0 data --task pt-en --out data/pt-en.tsv', 'the toy translation corpus'),
  handler: (args) => {
    positiveInt('count', args.count);
    nonNegativeInt('seed', args.seed);
    let text: string;
    if (args.task === 'pt-en') {
      const corpus = generatePtEn({ seed: args.seed });
      text = toTsv(corpus[args.split as 'train' | 'valid' | 'test']);
    } else {
      const task = new SyntheticTask(args.task as SyntheticTaskName, { seed: args.seed });
      const pairs = args.split === 'valid' ? task.valid : args.split === 'test' ? task.test : Array.from({ length: args.count ?? 1000 }, ((r) => () => task.sample(r))(new Random(args.seed)));
      text = toTsv(pairs);
    }
    if (args.out === undefined) {
      process.stdout.write(text);
      return;
    }
    writeFileCreatingDir(args.out, text);
    process.stderr.write(`wrote ${text.split('\n').length - 1} pairs to ${args.out}\n`);
  },
};
