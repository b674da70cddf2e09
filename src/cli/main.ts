#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { AtencaoError, UsageError } from '../errors.js';
import { attentionCommand } from './attention.js';
import { backendsCommand } from './backends.js';
import { benchCommand } from './bench.js';
import { classifyCommand } from './classify.js';
import { dataCommand } from './data.js';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { fillMaskCommand } from './fill-mask.js';
import { generateCommand } from './generate.js';
import { importCommand } from './import.js';
import { inspectCommand } from './inspect.js';
import { serveCommand } from './serve.js';
import { trainCommand } from './train.js';
import { translateCommand } from './translate.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Bad flags exit 2; library errors exit 1 with their one-line message; anything else is a bug. */
export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('atencao')
    .usage('$0 <command> [options]\n\nA small transformer for TensorFlow.js — encoder–decoder, GPT-style decoder, BERT-style encoder — built to show how attention works.')
    .command(demoCommand)
    .command(trainCommand)
    .command(evalCommand)
    .command(translateCommand)
    .command(generateCommand)
    .command(classifyCommand)
    .command(fillMaskCommand)
    .command(attentionCommand)
    .command(inspectCommand)
    .command(importCommand)
    .command(exportCommand)
    .command(serveCommand)
    .command(dataCommand)
    .command(benchCommand)
    .command(backendsCommand)
    .demandCommand(1, 'Choose a command (see the list above).')
    .strict()
    .version(pkg.version)
    .alias('h', 'help')
    .alias('v', 'version')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error && !(error instanceof UsageError)) throw error;
      process.stderr.write(`atencao: ${(error?.message ?? message).replace(/\s*\n\s*/g, ' ')} (see 'atencao --help')\n`);
      process.exit(2);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`atencao: ${error.message} (see 'atencao --help')\n`);
    process.exit(2);
  }
  if (error instanceof AtencaoError) {
    process.stderr.write(`atencao: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
});
