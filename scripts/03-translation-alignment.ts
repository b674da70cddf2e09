/**
 * 3. Train the toy Portuguese → English translation and look at the cross-attention alignment.
 *
 * For every English word the decoder writes, which Portuguese word does it attend to most? A
 * trained model lines them up: "poured" ↔ "derramou", "jug" ↔ "jarra", "from the" ↔ "da" (the
 * contraction of de + a). The default mode trains a fresh model (about a minute and a half);
 * --model DIR uses an existing one, --fast trains only a few steps (numbers then mean little).
 *
 *   npx tsx scripts/03-translation-alignment.ts [--fast] [--model DIR] [--out DIR]
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { attentionPanels, loadModel, RECIPES, renderHeatmap, renderHtml, renderSvg, startRun, type HtmlExample } from '../src/index.js';
import { section, startScript } from './common.js';

const ctx = await startScript('03-translation-alignment', 'Toy translation: the cross-attention alignment between Portuguese and English');
const args = process.argv.slice(2);
let dir = args.includes('--model') ? args[args.indexOf('--model') + 1]! : join(ctx.out, 'model');
if (!args.includes('--model')) {
  rmSync(dir, { recursive: true, force: true });
  const recipe = RECIPES['pt-en'];
  const training = ctx.fast ? { ...recipe.training, steps: 20, validEvery: 20, untilExact: undefined } : recipe.training;
  section(`Training pt-en (${training.steps} steps at most; stops when every validation sentence is right)`);
  const summary = await startRun({ out: dir, data: { kind: 'pt-en' }, model: recipe.model, training, backend: 'auto' }, { info: () => undefined, warn: () => undefined });
  console.log(`stopped at step ${summary.result.state.step} after ${summary.result.state.elapsedSeconds.toFixed(0)} s; test exact match ${(100 * (summary.test.exactMatch ?? 0)).toFixed(1)}%, BLEU ${(100 * (summary.test.bleu ?? 0)).toFixed(1)}`);
}

const sentences = [
  'Ela derramou água da jarra para o copo até que ficasse cheio.',
  'O menino lavou a garrafa.',
  'A mulher encheu o balde de leite.',
];
const translator = await loadModel(dir);
const examples: HtmlExample[] = [];
for (const source of sentences) {
  const maps = await translator.attention(source);
  const translation = maps.output;
  examples.push({ source, translation, maps });
  section(`${source}\n→ ${translation}`);
  const layer = maps.cross.length;
  const panels = attentionPanels(maps, { kinds: ['cross'], layer });
  const mean = panels[0]!.weights.map((row, i) => row.map((_, j) => panels.reduce((s, p) => s + p.weights[i]![j]!, 0) / panels.length));
  console.log('English word → Portuguese word it attends to most (last decoder layer, mean of heads):');
  mean.forEach((row, i) => {
    const j = row.indexOf(Math.max(...row));
    console.log(`  ${maps.outputTokens[i]!.padEnd(8)} → ${maps.sourceTokens[j]!.padEnd(10)} ${row[j]!.toFixed(2)}`);
  });
  console.log(`\n${renderHeatmap(mean, maps.outputTokens, maps.sourceTokens, { title: 'the whole map:' })}`);
}
console.log(`wrote ${ctx.save('alignment.svg', renderSvg(attentionPanels(examples[0]!.maps, { kinds: ['cross'] }), `${examples[0]!.source} → ${examples[0]!.translation}`))}`);
console.log(`wrote ${ctx.save('alignment.html', renderHtml({ title: 'pt-en: cross-attention alignment', examples }))}`);
translator.dispose();
