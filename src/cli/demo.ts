import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { SEED_PAIRS } from '../data/pt-en.js';
import { ModelFormatError } from '../errors.js';
import type { AttentionMaps } from '../infer/translator.js';
import { loadModel } from '../infer/load.js';
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
  train: boolean;
  color?: boolean;
  backend: string;
}

/** The small pt-en model that ships with the package. */
export const SHIPPED_MODEL = fileURLToPath(new URL('../../models/pt-en', import.meta.url));

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Translate the cheio/vazia sentences and show where the model looks',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'Model folder (default: the small pt-en model in models/pt-en)' })
      .option('train', { type: 'boolean', default: false, describe: 'Train a new pt-en model first (about a minute) and use it' })
      .option('color', { type: 'boolean', describe: 'Colour heatmaps (default: when writing to a terminal)' })
      .option('report', { type: 'string', default: 'reports/demo.html', describe: 'Where to write the interactive HTML report' })
      .option('backend', backendOption)
      .conflicts('model', 'train'),
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
    const translator = await loadModel(dir);
    const color = args.color ?? process.stdout.isTTY === true;
    const write = (text: string) => process.stdout.write(text);
    try {
      write(`\nThe adjective decides the referent: masculine "cheio" can only describe "o copo", feminine "vazia" only "a jarra".\n`);
      const examples: HtmlExample[] = [];
      for (const pair of SEED_PAIRS) {
        const maps = translator.attention(pair.source);
        const ok = maps.output === pair.target ? 'as expected' : `expected: ${pair.target}`;
        write(`\n  ${pair.source}\n→ ${maps.output}   (${ok})\n\n`);
        examples.push({ source: pair.source, translation: maps.output, maps });
        write(explainReferent(maps, pair.adjective, pair.referentEn, color));
      }
      writeFileCreatingDir(args.report, renderHtml({ title: 'atencao: cheio / vazia', examples }));
      write(`\nModel: ${dir}\nEvery layer and head, interactively: open ${resolve(args.report)} in a browser.\n`);
    } finally {
      translator.dispose();
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
function explainReferent(maps: AttentionMaps, adjective: string, referentEn: string, color: boolean): string {
  const layer = maps.cross.length - 1;
  const cross = meanOverHeads(maps.cross[layer]!);
  // Row i of the decoder maps is the step that writes outputTokens[i].
  const at = maps.outputTokens.findIndex((t, i) => t === referentEn && maps.outputTokens[i - 1] === 'the' && maps.outputTokens[i - 2] === 'until');
  const rows = at < 0 ? [...cross.keys()] : [at - 2, at - 1, at, at + 1, at + 2].filter((i) => i >= 0 && i < cross.length);
  let text = renderHeatmap(
    rows.map((i) => cross[i]!),
    rows.map((i) => `writing "${maps.outputTokens[i]}"`),
    maps.sourceTokens,
    { color, numbers: true, title: `cross-attention, decoder layer ${layer + 1} (mean of ${maps.cross[layer]!.length} heads): rows = English word being written, columns = Portuguese words` },
  );
  if (at >= 0) {
    const row = cross[at]!;
    const top = row
      .map((w, k) => ({ w, token: maps.sourceTokens[k]! }))
      .sort((a, b) => b.w - a.w)
      .slice(0, 3)
      .map((x) => `${x.token} ${x.w.toFixed(2)}`)
      .join(', ');
    const adjWeight = row[maps.sourceTokens.indexOf(adjective)] ?? 0;
    text += `writing "${referentEn}", the decoder looks most at: ${top} (on "${adjective}": ${adjWeight.toFixed(2)})\n`;
  }
  return text;
}
