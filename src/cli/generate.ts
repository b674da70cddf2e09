import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';

// Placeholder until the command is written.
export const generateCommand: CommandModule = {
  command: 'generate',
  describe: 'Continue a prompt with a decoder model',
  handler: () => {
    throw new UsageError('generate is not available yet');
  },
};
