import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';

// Placeholder until the command is written.
export const classifyCommand: CommandModule = {
  command: 'classify',
  describe: 'Label a sentence with an encoder classifier',
  handler: () => {
    throw new UsageError('classify is not available yet');
  },
};
