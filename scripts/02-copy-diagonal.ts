/**
 * 2. Train the copy task and watch cross-attention become a diagonal.
 *
 * To copy "hcadb…", the decoder writing output position i needs source position i. Early in
 * training its cross-attention is spread out; once it has learnt the task, each output position
 * looks at its source position: the weights concentrate on the diagonal. The script trains in
 * stages (resuming the same run) and measures the mean weight on the diagonal after each.
 *
 *   npx tsx scripts/02-copy-diagonal.ts [--fast] [--out DIR]
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { attentionPanels, loadModel, RECIPES, renderHeatmap, renderSvg, resumeRun, startRun, SyntheticTask } from '../src/index.js';
import { section, startScript } from './common.js';

const ctx = await startScript('02-copy-diagonal', 'Copy task: cross-attention becomes a diagonal');
const dir = join(ctx.out, 'model');
rmSync(dir, { recursive: true, force: true });
const quiet = { info: () => undefined, warn: (m: string) => console.log(`warning: ${m}`) };
const stages = ctx.fast ? [1, 10, 20] : [1, 50, 100, 150, 200, 300, 400, 600];
const recipe = RECIPES.copy;
const task = new SyntheticTask('copy', {});
const probes = task.test.slice(0, ctx.fast ? 10 : 100);

/** Mean cross-attention weight from output position i to source position i, per head of the last layer. */
async function diagonal() {
  const translator = await loadModel(dir);
  const layers = translator.config.numDecoderLayers;
  const heads = translator.config.numHeads;
  const sums = new Array<number>(heads).fill(0);
  let count = 0;
  let example;
  for (const p of probes) {
    const maps = await translator.attention(p.source, { output: p.target }); // teacher-forced: row i writes target[i]
    example ??= maps;
    const last = maps.cross[layers - 1]!;
    for (let i = 0; i < p.target.length; i++) {
      last.forEach((head, h) => (sums[h]! += head[i]![i]!));
      count++;
    }
  }
  const exact = (await translator.translate(probes.map((p) => p.source))).filter((t, i) => t.output === probes[i]!.target).length / probes.length;
  translator.dispose();
  const perHead = sums.map((s) => s / count);
  return { perHead, mean: perHead.reduce((a, b) => a + b, 0) / heads, exact, example: example!, layers };
}

section(`Training in stages; after each, the mean weight on the diagonal (last decoder layer, ${probes.length} test sequences)`);
console.log('chance level: 1/11 ≈ 0.09 (10 symbols + end-of-sentence to look at)\n');
console.log('  step   exact   diagonal (mean of heads)   best head');
let last;
for (const [i, steps] of stages.entries()) {
  const training = { ...recipe.training, steps, validEvery: Math.max(1, steps - (stages[i - 1] ?? 0)), untilExact: undefined };
  if (i === 0) await startRun({ out: dir, data: { kind: 'task', task: 'copy' }, model: recipe.model, training, backend: 'auto' }, quiet);
  else await resumeRun({ out: dir, overrides: { steps, validEvery: training.validEvery }, backend: 'auto' }, quiet);
  last = await diagonal();
  const best = last.perHead.indexOf(Math.max(...last.perHead));
  console.log(`${String(steps).padStart(6)}  ${(100 * last.exact).toFixed(0).padStart(5)}%   ${last.mean.toFixed(2).padStart(12)}               head ${best + 1}: ${last.perHead[best]!.toFixed(2)}`);
}

const example = last!.example;
const panels = attentionPanels(example, { kinds: ['cross'], layer: last!.layers });
const mean = panels[0]!.weights.map((row, i) => row.map((_, j) => panels.reduce((s, p) => s + p.weights[i]![j]!, 0) / panels.length));
console.log(`\n${renderHeatmap(mean, panels[0]!.rows, panels[0]!.cols, { title: `cross-attention, last layer, mean of heads, "${probes[0]!.source}"` })}`);
console.log(`wrote ${ctx.save('cross-attention.svg', renderSvg(panels, `copy: cross-attention of the last decoder layer for "${probes[0]!.source}"`))}`);
