import type { CommandModule } from 'yargs';
import { describeConfig } from '../config.js';
import { importCheckpoint } from '../interchange/import.js';
import { backendOption, startBackend } from './options.js';

interface ImportArgs {
  from: string;
  out: string;
  backend: string;
}

export const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import',
  describe: 'Read a Hugging Face GPT-2 or BERT checkpoint into an atencao model folder',
  builder: (y) =>
    y
      .option('from', { type: 'string', demandOption: true, describe: 'Checkpoint folder with config.json, model.safetensors and tokenizer.json' })
      .option('out', { type: 'string', demandOption: true, describe: 'New model folder to write (must not exist, or be empty)' })
      .option('backend', backendOption)
      .example('$0 import --from ~/checkpoints/gpt2 --out models/gpt2', 'GPT-2 becomes a decoder: generate, attention, inspect')
      .example('$0 import --from ~/checkpoints/bert-base-uncased --out models/bert', 'BERT becomes an encoder: fill-mask, attention, inspect')
      .example('$0 import --from test/fixtures/hf/gpt2 --out /tmp/tiny-gpt2', 'the tiny random GPT-2 the tests use'),
  handler: async (args) => {
    await startBackend(args.backend, true);
    const started = performance.now();
    const r = await importCheckpoint(args.from, args.out);
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`imported ${r.hf.family} as ${describeConfig(r.hf.config)}\n`);
    process.stdout.write(`${r.parameters.toLocaleString('en')} weights written to ${args.out} in ${seconds.toFixed(1)} s\n`);
    if (r.unused.length > 0) process.stdout.write(`not used: ${r.unused.length} tensor${r.unused.length === 1 ? '' : 's'} (${r.unused.slice(0, 3).join(', ')}${r.unused.length > 3 ? ', …' : ''})\n`);
  },
};
