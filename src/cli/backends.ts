import type { CommandModule } from 'yargs';
import { listBackends } from '../backend.js';

interface BackendsArgs {
  json: boolean;
}

export const backendsCommand: CommandModule<object, BackendsArgs> = {
  command: 'backends',
  describe: 'List the TensorFlow.js backends this machine can run, and why the others cannot',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'Print the list as JSON' })
      .example('$0 backends', 'which backends work here, and which one --backend auto picks')
      .example('VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json $0 backends', 'with a software Vulkan driver for WebGPU'),
  handler: async (args) => {
    const { backends, auto } = await listBackends();
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ backends, auto })}\n`);
      return;
    }
    const width = Math.max(...backends.map((b) => b.name.length));
    for (const b of backends) process.stdout.write(`${b.available ? '✓' : '✗'} ${b.name.padEnd(width)}  ${b.detail}\n`);
    process.stdout.write(`--backend auto picks: ${auto ?? 'nothing (no backend starts)'}${backends.some((b) => b.adapter?.software === true) ? ' (a software WebGPU adapter runs only when asked for: --backend webgpu)' : ''}\n`);
  },
};
