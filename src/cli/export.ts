import type { CommandModule } from 'yargs';
import { EXPORT_FORMATS, exportModel, type ExportFormat } from '../interchange/export.js';
import { loadModelDir } from '../infer/load.js';
import { backendOption, startBackend } from './options.js';

interface ExportArgs {
  model: string;
  format: string;
  out: string;
  backend: string;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'Write a model as safetensors (PyTorch) or ONNX (ONNX Runtime)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Model folder (trained or imported)' })
      .option('format', { type: 'string', choices: EXPORT_FORMATS, demandOption: true, describe: 'safetensors: the weights, named by their atencao paths; onnx: runnable graphs (opset 17)' })
      .option('out', { type: 'string', demandOption: true, describe: 'File to write; ONNX of a generating model adds OUT.encoder.onnx / OUT.decoder-step.onnx beside it' })
      .option('backend', backendOption)
      .example('$0 export --model models/pt-en --format onnx --out pt-en.onnx', 'pt-en.onnx (forward), pt-en.encoder.onnx, pt-en.decoder-step.onnx (key/value cache)')
      .example('$0 export --model models/pt-en --format safetensors --out pt-en.safetensors', 'the weights for PyTorch (names: decoder.layer_0.self_attention.projection.wq, …)'),
  handler: async (args) => {
    await startBackend(args.backend, true);
    const loaded = await loadModelDir(args.model);
    try {
      const started = performance.now();
      const files = await exportModel(loaded.model, args.format as ExportFormat, args.out);
      const seconds = (performance.now() - started) / 1000;
      for (const f of files) {
        const io = f.inputs ? `: ${f.inputs.join(', ')} → ${f.outputs!.join(', ')}` : '';
        process.stdout.write(`${f.path} (${(f.bytes / 1024).toFixed(0)} KB) ${f.role}${io}\n`);
      }
      process.stdout.write(`exported in ${seconds.toFixed(1)} s\n`);
    } finally {
      loaded.model.dispose();
    }
  },
};
