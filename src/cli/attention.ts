import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { loadModel } from '../infer/load.js';
import { writeFileCreatingDir } from '../io/atomic.js';
import { renderHtml } from '../viz/html.js';
import { ATTENTION_KINDS, attentionPanels, KIND_TITLES, type AttentionKind } from '../viz/panels.js';
import { renderSvg } from '../viz/svg.js';
import { renderHeatmap } from '../viz/terminal.js';
import { backendOption, positiveInt, startBackend } from './options.js';

interface AttentionArgs {
  model: string;
  text: string;
  kind: string;
  layer?: number;
  head?: number;
  format: string;
  out?: string;
  numbers: boolean;
  color?: boolean;
  backend: string;
}

export const attentionCommand: CommandModule<object, AttentionArgs> = {
  command: 'attention',
  describe: 'Show the attention a trained model pays while translating a sentence',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Model folder made by atencao train' })
      .option('text', { type: 'string', demandOption: true, describe: 'The source sentence' })
      .option('kind', { type: 'string', choices: [...ATTENTION_KINDS, 'all'], default: 'all', describe: 'encoder self-, decoder self- or cross-attention' })
      .option('layer', { type: 'number', describe: 'Only this layer (1-based)' })
      .option('head', { type: 'number', describe: 'Only this head (1-based)' })
      .option('format', { type: 'string', choices: ['terminal', 'svg', 'html', 'json'], default: 'terminal', describe: 'terminal heatmaps, an SVG file, a self-contained HTML page, or raw JSON' })
      .option('out', { type: 'string', describe: 'Write to this file (default: standard output)' })
      .option('numbers', { type: 'boolean', default: false, describe: 'terminal: print the weights in the cells' })
      .option('color', { type: 'boolean', describe: 'terminal: ANSI colours (default: when standard output is a terminal)' })
      .option('backend', backendOption)
      .example('$0 attention --model models/pt-en --text "Ela derramou água da jarra para o copo até que ficasse cheio." --kind cross --layer 2', 'heatmaps in the terminal')
      .example('$0 attention --model models/pt-en --text "…" --format html --out attention.html', 'an interactive page'),
  handler: async (args) => {
    positiveInt('layer', args.layer);
    positiveInt('head', args.head);
    await startBackend(args.backend, true);
    const translator = await loadModel(args.model);
    try {
      const c = translator.config;
      const kinds: AttentionKind[] = args.kind === 'all' ? [...ATTENTION_KINDS] : [args.kind as AttentionKind];
      const layers = Math.max(...kinds.map((k) => (k === 'encoder' ? c.numEncoderLayers : c.numDecoderLayers)));
      if (args.layer !== undefined && args.layer > layers) throw new UsageError(`--layer (${args.layer}) must be between 1 and ${layers}`);
      if (args.head !== undefined && args.head > c.numHeads) throw new UsageError(`--head (${args.head}) must be between 1 and ${c.numHeads}`);
      const maps = translator.attention(args.text); // decodes the translation once, for the maps and the text
      const translation = maps.output;
      const panels = attentionPanels(maps, { kinds, layer: args.layer, head: args.head });
      const title = `Attention of ${args.model}`;
      let text: string;
      if (args.format === 'json') {
        text = `${JSON.stringify({ source: args.text, translation, sourceTokens: maps.sourceTokens, targetTokens: maps.targetTokens, outputTokens: maps.outputTokens, panels })}\n`;
      } else if (args.format === 'svg') {
        text = renderSvg(panels, `${args.text} → ${translation}`);
      } else if (args.format === 'html') {
        text = renderHtml({ title, examples: [{ source: args.text, translation, maps }] });
      } else {
        const color = args.color ?? (args.out === undefined && process.stdout.isTTY === true);
        text = `${args.text}\n→ ${translation}\n\n` + panels.map((p) => renderHeatmap(p.weights, p.rows, p.cols, { color, numbers: args.numbers, title: `${KIND_TITLES[p.kind]}, layer ${p.layer}, head ${p.head}` })).join('\n');
      }
      if (args.out === undefined) {
        process.stdout.write(text);
      } else {
        writeFileCreatingDir(args.out, text);
        process.stderr.write(`wrote ${args.out}\n`);
      }
    } finally {
      translator.dispose();
    }
  },
};
