import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { attentionLayers, attentionMaps, checkKinds, decoderPrompt, type ModelAttention } from '../infer/attention-maps.js';
import { encoderIds } from '../infer/classify.js';
import { loadModelDir, type LoadedModel } from '../infer/load.js';
import { readFilm } from '../train/film.js';
import { renderFilmHtml } from '../viz/film.js';
import { renderHtml } from '../viz/html.js';
import { ATTENTION_KINDS, attentionPanels, describeText, visibleText, type Panel } from '../viz/panels.js';
import { renderSvg } from '../viz/svg.js';
import { renderHeatmap } from '../viz/terminal.js';
import { backendOption, positiveInt, startBackend, writeOutput } from './options.js';

interface AttentionArgs {
  model: string;
  text?: string;
  film: boolean;
  kind: string;
  layer?: number;
  head?: number;
  format: string;
  out?: string;
  numbers: boolean;
  color?: boolean;
  continue: boolean;
  backend: string;
}

export const attentionCommand: CommandModule<object, AttentionArgs> = {
  command: 'attention',
  describe: 'Show the attention a trained model pays to a sentence (any family)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'Model folder made by atencao train' })
      .option('text', { type: 'string', describe: 'The source sentence (encoder–decoder), the prompt (decoder) or the sentence, [MASK] allowed (encoder)' })
      .option('film', { type: 'boolean', default: false, describe: 'Play the film recorded while the model trained (train --film): --format html only' })
      .option('kind', {
        type: 'string',
        choices: [...ATTENTION_KINDS, 'all'],
        default: 'all',
        describe: 'encoder: self-attention of an encoder (encoder–decoder, encoder); decoder: causal self-attention (encoder–decoder, decoder); cross: cross-attention (encoder–decoder)',
      })
      .option('layer', { type: 'number', describe: 'Only this layer (1-based)' })
      .option('head', { type: 'number', describe: 'Only this head (1-based)' })
      .option('format', { type: 'string', choices: ['terminal', 'svg', 'html', 'json'], default: 'terminal', describe: 'terminal heatmaps, an SVG file, a self-contained HTML page, or raw JSON' })
      .option('out', { type: 'string', describe: 'Write to this file (default: standard output)' })
      .option('numbers', { type: 'boolean', default: false, describe: 'terminal: print the weights in the cells' })
      .option('color', { type: 'boolean', describe: 'terminal: ANSI colours (default: when standard output is a terminal)' })
      .option('continue', { type: 'boolean', default: true, describe: 'decoder: also write a greedy continuation and show its attention (--no-continue: the prompt only)' })
      .option('backend', backendOption)
      .example('$0 attention --model models/pt-en --text "Ela derramou água da jarra para o copo até que ficasse cheio." --kind cross --layer 2', 'heatmaps in the terminal')
      .example('$0 attention --model models/pt-en --text "…" --format html --out attention.html', 'an interactive page')
      .example('$0 attention --model models/copy --film --format html --out film.html', 'a page that plays the attention as the model learned (recorded by train --film)')
      .example('$0 attention --model models/gpt-pt --text "O menino derramou leite" --numbers', 'a decoder: causal self-attention over the prompt and what it writes')
      .example('$0 attention --model models/bert-pt --text "O menino bebeu [MASK] ." --format svg --out bert.svg', 'an encoder: bidirectional self-attention'),
  handler: async (args) => {
    if (args.film) return playFilm(args);
    if (args.text === undefined) throw new UsageError('--text is required (or --film, to play the film recorded in training)');
    positiveInt('layer', args.layer);
    positiveInt('head', args.head);
    if (String(args.text).trim() === '') throw new UsageError('--text is empty: there is nothing to show the attention of');
    await startBackend(args.backend, true);
    const loaded = await loadModelDir(args.model);
    try {
      const c = loaded.model.config;
      const kinds = checkKinds(loaded, [args.kind]);
      const layers = Math.max(...kinds.map((k) => attentionLayers(c, k)));
      if (args.layer !== undefined && args.layer > layers) throw new UsageError(`--layer (${args.layer}) must be between 1 and ${layers}`);
      if (args.head !== undefined && args.head > c.numHeads) throw new UsageError(`--head (${args.head}) must be between 1 and ${c.numHeads}`);
      const cut = inputLength(loaded, args.text);
      if (cut > c.maxLen) process.stderr.write(`warning: the text needs ${cut} tokens, more than the model's maxLen (${c.maxLen}): it is cut, and the maps show its first ${c.maxLen}\n`);
      const maps = await attentionMaps(loaded, args.text, { continuation: args.continue }); // an encoder–decoder translates once, for the maps and the text
      const panels = attentionPanels(maps, { kinds, layer: args.layer, head: args.head });
      let text: string;
      if (args.format === 'json') {
        text = `${JSON.stringify(jsonReport(maps, args.text, panels))}\n`;
      } else if (args.format === 'svg') {
        text = renderSvg(panels, describeText(maps));
      } else if (args.format === 'html') {
        text = renderHtml({ title: `Attention of ${args.model}`, examples: [{ maps }] });
      } else {
        const color = args.color ?? (args.out === undefined && process.stdout.isTTY === true);
        const [input, output] = [visibleText(maps.input), maps.output === undefined ? undefined : visibleText(maps.output)];
        const heading = output === undefined ? `${input}\n\n` : `${input}\n→ ${output === '' ? '(nothing written)' : output}\n\n`;
        text = heading + panels.map((p) => renderHeatmap(p.weights, p.rows, p.cols, { color, numbers: args.numbers, title: `${p.title}, layer ${p.layer}, head ${p.head}` })).join('\n');
      }
      writeOutput(text, args.out);
    } finally {
      loaded.model.dispose();
    }
  },
};

/** `--film`: the model folder's film.jsonl as a self-contained page. */
function playFilm(args: AttentionArgs): void {
  if (args.text !== undefined) throw new UsageError('--film plays the recorded probe: leave out --text');
  if (args.format !== 'html') throw new UsageError(`--film needs --format html (got ${args.format})`);
  const frames = readFilm(args.model);
  const last = frames.at(-1)!;
  writeOutput(renderFilmHtml({ title: `Attention of ${args.model} while it trained (${frames.length} frames, steps ${frames[0]!.step}–${last.step})`, frames }), args.out);
}

/** Tokens the model reads for `text` (special ones included), before any cut to maxLen. */
function inputLength(loaded: LoadedModel, text: string): number {
  const { source } = loaded;
  if (loaded.model.arch === 'encoder-decoder') return source.encode(text, { eos: true }).length;
  if (loaded.model.arch === 'decoder') return decoderPrompt(source, text, Number.MAX_SAFE_INTEGER).length;
  return encoderIds(source, text, Number.MAX_SAFE_INTEGER).ids.length;
}

/**
 * The JSON report: the family, the text, what the model wrote, the tokens on each axis of every
 * kind, and the selected panels. An encoder–decoder's report keeps the fields it always had
 * (source, translation, sourceTokens, targetTokens, outputTokens).
 */
function jsonReport(maps: ModelAttention, text: string, panels: Panel[]): object {
  const axes = Object.fromEntries(maps.maps.map((m) => [m.kind, { title: m.title, rows: m.rows, cols: m.cols }]));
  const report = { arch: maps.arch, text, ...(maps.output === undefined ? {} : { output: maps.output }), axes, panels };
  if (maps.arch !== 'encoder-decoder') return report;
  const byKind = Object.fromEntries(maps.maps.map((m) => [m.kind, m]));
  return { source: text, translation: maps.output, sourceTokens: byKind.encoder!.rows, targetTokens: byKind.decoder!.cols, outputTokens: byKind.decoder!.rows, ...report };
}
