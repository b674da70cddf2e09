import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { SEED_PAIRS } from '../data/pt-en.js';
import { ModelFormatError } from '../errors.js';
import type { ReferentCase } from '../data/pt-en.js';
import { attentionMaps, type ModelAttention } from '../infer/attention-maps.js';
import { loadModelDir } from '../infer/load.js';
import { RECIPES } from '../train/defaults.js';
import { startRun } from '../train/run.js';
import { renderHeatmap } from '../viz/terminal.js';
import { renderHtml, type HtmlExample } from '../viz/html.js';
import { writeFileCreatingDir } from '../io/atomic.js';
import { backendOption, startBackend } from './options.js';
import { ProgressReporter } from './progress.js';

interface DemoArgs {
  model?: string;
  report: string;
  train?: boolean;
  color?: boolean;
  backend: string;
}

/** The small pt-en model that ships with the package. */
export const SHIPPED_MODEL = fileURLToPath(new URL('../../models/pt-en', import.meta.url));

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Read the cheio/vazia sentences and show where the model looks (translating them with an encoder–decoder)',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'Model folder of any family (default: the small pt-en model in models/pt-en)' })
      .option('train', { type: 'boolean', describe: 'Train a new pt-en model first (about a minute) and use it' })
      .option('color', { type: 'boolean', describe: 'Colour heatmaps (default: when writing to a terminal)' })
      .option('report', { type: 'string', default: 'reports/demo.html', describe: 'Where to write the interactive HTML report' })
      .option('backend', backendOption)
      .conflicts('model', 'train')
      .example('$0 demo', 'the shipped pt-en model: translations and where the decoder looks')
      .example('$0 demo --model models/bert-referent --report bert.html', 'an encoder (or a decoder): where the adjective itself looks'),
  handler: async (args) => {
    await startBackend(args.backend);
    let dir = args.model ?? SHIPPED_MODEL;
    if (args.train) {
      dir = join(mkdtempSync(join(tmpdir(), 'atencao-demo-')), 'pt-en');
      const progress = new ProgressReporter();
      progress.info(`training a pt-en model in ${dir} …`);
      const recipe = RECIPES['pt-en'];
      await startRun({ out: dir, data: { kind: 'pt-en' }, model: recipe.model, training: recipe.training, backend: args.backend }, progress);
      progress.done();
    } else if (!existsSync(dir)) {
      throw new ModelFormatError(`model folder '${dir}' not found; run 'atencao demo --train' to train one`);
    }
    const loaded = await loadModelDir(dir);
    const color = args.color ?? process.stdout.isTTY === true;
    const write = (text: string) => process.stdout.write(text);
    const translates = loaded.model.arch === 'encoder-decoder';
    try {
      write(`\nThe adjective decides the referent: masculine "cheio" can only describe "o copo", feminine "vazia" only "a jarra".\n`);
      if (!translates) write(`This ${loaded.model.arch} model reads each whole sentence; the adjective comes after both nouns, so it can look back at them.\n`);
      const examples: HtmlExample[] = [];
      for (const pair of SEED_PAIRS) {
        // A decoder reads the sentence as it is (no continuation): its last word is the adjective.
        const maps = await attentionMaps(loaded, pair.source, { continuation: false });
        if (translates) {
          const ok = maps.output === pair.target ? 'as expected' : `expected: ${pair.target}`;
          write(`\n  ${pair.source}\n→ ${maps.output}   (${ok})\n\n`);
          write(explainReferent(maps, pair.adjective, pair.referentEn, color));
        } else {
          write(`\n  ${pair.source}\n\n`);
          write(explainAdjective(maps, pair, color));
        }
        examples.push({ maps });
      }
      writeFileCreatingDir(args.report, renderHtml({ title: 'atencao: cheio / vazia', examples }));
      write(`\nModel: ${dir}\nEvery layer and head, interactively: open ${resolve(args.report)} in a browser.\n`);
    } finally {
      loaded.model.dispose();
    }
  },
};

/** Mean over heads of one layer: [query][key]. */
export function meanOverHeads(layer: readonly (readonly (readonly number[])[])[]): number[][] {
  const heads = layer.length;
  return layer[0]!.map((row, q) => row.map((_, k) => layer.reduce((s, h) => s + h[q]![k]!, 0) / heads));
}

/**
 * Where the decoder looks when it writes the referent noun ("glass"/"jug"), as a heatmap of the last
 * decoder layer's cross-attention (mean over heads) for the words around it.
 */
function explainReferent(maps: ModelAttention, adjective: string, referentEn: string, color: boolean): string {
  const crossMap = maps.maps.find((m) => m.kind === 'cross')!;
  const outputTokens = crossMap.rows;
  const sourceTokens = crossMap.cols;
  const layer = crossMap.weights.length - 1;
  const cross = meanOverHeads(crossMap.weights[layer]!);
  // Row i of the decoder maps is the step that writes outputTokens[i].
  const at = outputTokens.findIndex((t, i) => t === referentEn && outputTokens[i - 1] === 'the' && outputTokens[i - 2] === 'until');
  const rows = at < 0 ? [...cross.keys()] : [at - 2, at - 1, at, at + 1, at + 2].filter((i) => i >= 0 && i < cross.length);
  let text = renderHeatmap(
    rows.map((i) => cross[i]!),
    rows.map((i) => `writing "${outputTokens[i]}"`),
    sourceTokens,
    { color, numbers: true, title: `cross-attention, decoder layer ${layer + 1} (mean of ${crossMap.weights[layer]!.length} heads): rows = English word being written, columns = Portuguese words` },
  );
  if (at >= 0) {
    const row = cross[at]!;
    const adjWeight = row[sourceTokens.indexOf(adjective)] ?? 0;
    text += `writing "${referentEn}", the decoder looks most at: ${topTokens(row, sourceTokens)} (on "${adjective}": ${adjWeight.toFixed(2)})\n`;
  }
  return text;
}

/**
 * Where the adjective looks in a model that reads the sentence itself (decoder, encoder): its
 * row of the last layer's self-attention (mean over heads), and its weight on each container.
 */
function explainAdjective(maps: ModelAttention, pair: ReferentCase, color: boolean): string {
  const self = maps.maps[0]!;
  const layer = self.weights.length - 1;
  const mean = meanOverHeads(self.weights[layer]!);
  const at = self.rows.lastIndexOf(pair.adjective);
  if (at < 0) return `"${pair.adjective}" is not in this model's vocabulary\n`;
  const row = mean[at]!;
  const [right, other] = pair.referent === 'into' ? [pair.into, pair.from] : [pair.from, pair.into];
  const weightOf = (token: string) => row[self.cols.indexOf(token)] ?? 0;
  let text = renderHeatmap([row], [`"${pair.adjective}"`], self.cols, {
    color,
    numbers: true,
    title: `${self.title}, layer ${layer + 1} (mean of ${self.weights[layer]!.length} heads): where "${pair.adjective}" looks`,
  });
  text += `"${pair.adjective}" looks most at: ${topTokens(row, self.cols)}; on "${right}" (its referent): ${weightOf(right).toFixed(2)}, on "${other}": ${weightOf(other).toFixed(2)}\n`;
  return text;
}

function topTokens(row: readonly number[], tokens: readonly string[]): string {
  return row
    .map((w, k) => ({ w, token: tokens[k]! }))
    .sort((a, b) => b.w - a.w)
    .slice(0, 3)
    .map((x) => `${x.token} ${x.w.toFixed(2)}`)
    .join(', ');
}
