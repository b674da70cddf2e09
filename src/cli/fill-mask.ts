import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';

// Placeholder until the command is written.
export const fillMaskCommand: CommandModule = {
  command: 'fill-mask',
  describe: 'Fill the [MASK] in a sentence with an encoder model',
  handler: () => {
    throw new UsageError('fill-mask is not available yet');
  },
};
