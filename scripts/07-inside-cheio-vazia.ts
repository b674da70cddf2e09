/**
 * 7. Inside cheio / vazia: which parts of the model make it write "glass" or "jug"?
 *
 * Script 04 showed where the attention looks. Here the model is taken apart while it writes the
 * noun after "until the" in "… da jarra para o copo até que ficasse cheio." (→ glass) and its
 * twin "… vazia." (→ jug). The decision measured is logit(right noun) − logit(wrong noun) there.
 *   - Head ablation: remove one head (its output set to zero, or to its mean), or all heads of a
 *     layer, and see how much of the decision is lost.
 *   - Activation patching: run the vazia sentence with one activation copied from the cheio run
 *     (a head's output, a head's attention pattern, the residual stream at one position after one
 *     block) and measure the share of the cheio decision it restores.
 *   - Logit lens: read the decision after each decoder layer, through the final norm and the
 *     output projection.
 * On the seed pair and on held-out sentences (container pairs the model never saw together).
 *
 *   npx tsx scripts/07-inside-cheio-vazia.ts [--fast] [--model DIR] [--out DIR]   (default model: models/pt-en)
 */
import { generatePtEn, loadModelDir, SEED_PAIRS } from '../src/index.js';
import { ablateHeads, type AblationResult } from '../src/inspect/ablate.js';
import { logitLens } from '../src/inspect/lens.js';
import { patchActivations, type PatchResult } from '../src/inspect/patch.js';
import { ablationGrids, gridsSvg, gridTable, inspectPage, patchGrids, type Grid } from '../src/inspect/render.js';
import { section, startScript } from './common.js';

const ctx = await startScript('07-inside-cheio-vazia', 'Inside cheio / vazia: ablation, patching and the logit lens');
const args = process.argv.slice(2);
const dir = args.includes('--model') ? args[args.indexOf('--model') + 1]! : 'models/pt-en';
const loaded = await loadModelDir(dir);
const seed = loaded.run.training.seed ?? 1;
const heldOut = generatePtEn({ seed }).heldOutReferent.slice(0, ctx.fast ? 4 : 40);
const sentences = [...SEED_PAIRS.map((p) => p.source), ...heldOut.map((c) => c.source)];
console.log(`model: ${dir}; the 2 seed sentences and ${heldOut.length} held-out sentences`);

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
/** Elementwise mean of equally shaped grids. */
const meanGrid = (grids: readonly number[][][]) => grids[0]!.map((row, i) => row.map((_, j) => mean(grids.map((g) => g[i]![j]!))));

section('Head ablation on the seed sentence (cheio → glass)');
const seedAblation = await ablateHeads(loaded, SEED_PAIRS[0]!.source);
console.log(`decision: ${seedAblation.decision.description}; clean ${seedAblation.clean.toFixed(2)}\n`);
for (const g of ablationGrids(seedAblation)) console.log(gridTable(g));

section(`Head ablation over all ${sentences.length} sentences: mean change of the decision (zero and mean ablation)`);
const ablations: Record<'zero' | 'mean', AblationResult[]> = { zero: [], mean: [] };
for (const mode of ['zero', 'mean'] as const) {
  for (const s of sentences) ablations[mode].push(await ablateHeads(loaded, s, { mode }));
}
const cleanMean = mean(ablations.zero.map((r) => r.clean));
console.log(`mean clean decision: ${cleanMean.toFixed(2)} (logit of the right noun minus the wrong one)\n`);
const ablationSummary: Grid[] = [];
for (const mode of ['zero', 'mean'] as const) {
  const runs = ablations[mode];
  runs[0]!.grids.forEach((g, k) => {
    const values = meanGrid(runs.map((r) => r.grids[k]!.change.map((row, l) => [...row, r.grids[k]!.layerChange[l]!])));
    const grid = { title: `${g.title}: mean change, ${mode}-ablated`, rows: g.change.map((_, l) => `layer ${l + 1}`), cols: [...g.change[0]!.map((_, h) => `head ${h + 1}`), 'all heads'], values, scale: cleanMean };
    ablationSummary.push(grid);
    console.log(gridTable(grid));
  });
}
// The single heads that matter most, and whole layers.
const singles = ablationSummary.flatMap((g) => g.values.flatMap((row, l) => row.slice(0, -1).map((x, h) => ({ what: `${g.title.split(':')[0]} layer ${l + 1} head ${h + 1} (${g.title.includes('mean-ablated') ? 'mean' : 'zero'})`, x }))));
singles.sort((a, b) => a.x - b.x);
const layersAll = ablationSummary.flatMap((g) => g.values.map((row, l) => ({ what: `${g.title.split(':')[0]} layer ${l + 1}, all heads (${g.title.includes('mean-ablated') ? 'mean' : 'zero'})`, x: row.at(-1)! })));
layersAll.sort((a, b) => a.x - b.x);
console.log(`largest single-head effect: ${singles[0]!.what}: ${singles[0]!.x.toFixed(2)} of ${cleanMean.toFixed(2)} (${((100 * -singles[0]!.x) / cleanMean).toFixed(0)}%)`);
console.log(`largest whole-layer effect: ${layersAll[0]!.what}: ${layersAll[0]!.x.toFixed(2)} (${((100 * -layersAll[0]!.x) / cleanMean).toFixed(0)}%)`);

section('Activation patching: the vazia twin run with one activation from the cheio run');
const seedPatch = await patchActivations(loaded, SEED_PAIRS[0]!.source);
console.log(`clean ${seedPatch.clean.text} → ${seedPatch.cleanValue.toFixed(2)}\ncorrupted ${seedPatch.corrupted.text} → ${seedPatch.corruptedValue.toFixed(2)}\n`);
for (const g of patchGrids(seedPatch)) console.log(gridTable(g));

section(`Patching over all ${sentences.length} sentences (each with its adjective twin): mean share restored`);
const patches: PatchResult[] = [];
for (const s of sentences) patches.push(await patchActivations(loaded, s));
const patchSummary: Grid[] = [];
for (const [name, pick] of [
  ['head output', (r: PatchResult) => r.heads],
  ['attention pattern', (r: PatchResult) => r.patterns],
] as const) {
  pick(patches[0]!).forEach((g, k) => {
    const values = meanGrid(patches.map((r) => pick(r)[k]!.restored.map((row, l) => [...row, pick(r)[k]!.layerRestored[l]!])));
    const grid = { title: `${g.title}: ${name} patched, mean share restored`, rows: g.restored.map((_, l) => `layer ${l + 1}`), cols: [...g.restored[0]!.map((_, h) => `head ${h + 1}`), 'all heads'], values, scale: 1 };
    patchSummary.push(grid);
    console.log(gridTable(grid));
  });
}
// The residual stream by role: the two containers, the adjective, and the best other position.
const roles = patches.map((r) => {
  const encoder = r.residual.find((g) => g.stack === 'encoder')!;
  const reading = heldOut.find((c) => c.source === r.clean.text) ?? SEED_PAIRS.find((c) => c.source === r.clean.text)!;
  const at = (t: string) => encoder.tokens.indexOf(t);
  const [from, into, adjective] = [at(reading.from), at(reading.into), at(reading.adjective)];
  return encoder.restored.map((row) => [row[from]!, row[into]!, row[adjective]!, Math.max(...row.filter((_, p) => p !== from && p !== into && p !== adjective))]);
});
const roleGrid: Grid = { title: 'encoder residual stream patched at one position: mean share restored', rows: ['embeddings', ...roles[0]!.slice(1).map((_, l) => `layer ${l + 1}`)], cols: ['from noun', 'into noun', 'adjective', 'best other'], values: meanGrid(roles), scale: 1 };
console.log(gridTable(roleGrid));
const decoderStreams = patches.map((r) => {
  const g = r.residual.find((x) => x.stack === 'decoder')!;
  const p = r.decision.position; // the position that writes the noun
  return g.restored.map((row) => [row[p]!, Math.max(...row.filter((_, i) => i !== p))]);
});
const decoderGrid: Grid = { title: 'decoder residual stream patched at one position: mean share restored', rows: ['embeddings', ...decoderStreams[0]!.slice(1).map((_, l) => `layer ${l + 1}`)], cols: ['writes the noun', 'best other'], values: meanGrid(decoderStreams), scale: 1 };
console.log(gridTable(decoderGrid));

section('Logit lens: the decision after each decoder layer, where the noun is written');
const lensRows: number[][] = [];
for (const r of patches) {
  const lens = await logitLens(loaded, r.clean.text, { targetIds: r.clean.targetIds, topK: 1 });
  const p = r.decision.position;
  const right = lens.top.map(() => 0);
  // The probability of the right noun per layer: the lens' answer is the final layer's choice.
  lens.probability.forEach((row, l) => (right[l] = lens.answers[p] === r.decision.rightLabel ? row[p]! : 0));
  lensRows.push(lens.rank.map((row, l) => (lens.answers[p] === r.decision.rightLabel ? row[p]! : Number.NaN)).concat(right));
}
const layers = (lensRows[0]!.length / 2) | 0;
const lensGrid: Grid = {
  title: 'logit lens at the noun: mean rank and probability of the right noun',
  rows: ['embeddings', ...Array.from({ length: layers - 1 }, (_, l) => `layer ${l + 1}`)],
  cols: ['rank', 'probability'],
  values: Array.from({ length: layers }, (_, l) => [mean(lensRows.map((r) => r[l]!).filter((x) => !Number.isNaN(x))), mean(lensRows.map((r) => r[layers + l]!))]),
};
console.log(gridTable(lensGrid));

section('What the numbers say');
const crossAll = patchSummary.filter((g) => g.title.startsWith('cross') && g.title.includes('head output')).flatMap((g) => g.values.map((row, l) => ({ l: l + 1, all: row.at(-1)!, best: Math.max(...row.slice(0, -1)) })));
const adjective = roleGrid.values.map((row) => row[2]!);
console.log(`- The referent lives at the adjective: patching the encoder's stream at the adjective alone restores ${adjective.map((x) => `${(100 * x).toFixed(0)}%`).join(' / ')} (embeddings / layers); at the two nouns at most ${(100 * Math.max(...roleGrid.values.flatMap((r) => [r[0]!, r[1]!]))).toFixed(0)}%.`);
for (const c of crossAll) console.log(`- Cross-attention layer ${c.l}: all heads patched together restore ${(100 * c.all).toFixed(0)}%, the best single head ${(100 * c.best).toFixed(0)}%.`);
console.log(`- Ablation: the largest single head costs ${((100 * -singles[0]!.x) / cleanMean).toFixed(0)}% of the decision (${singles[0]!.what}); a whole layer at most ${((100 * -layersAll[0]!.x) / cleanMean).toFixed(0)}% (${layersAll[0]!.what}).`);

const page = inspectPage(`Inside cheio / vazia (${dir})`, [`${sentences.length} sentences: the seed pair and ${heldOut.length} held-out ones`, `decision: ${seedAblation.decision.description}`], [
  gridsSvg(ablationSummary, 'Head ablation: mean change of the decision'),
  gridsSvg([...patchSummary, roleGrid, decoderGrid], 'Activation patching: mean share of the clean decision restored'),
  gridsSvg([lensGrid], 'Logit lens'),
]);
console.log(`\nwrote ${ctx.save('ablation.svg', gridsSvg(ablationSummary, 'Head ablation: mean change of the decision (cheio/vazia)'))}`);
console.log(`wrote ${ctx.save('patching.svg', gridsSvg([...patchSummary, roleGrid, decoderGrid], 'Activation patching: mean share restored (cheio/vazia)'))}`);
console.log(`wrote ${ctx.save('inside.html', page)}`);
console.log(`wrote ${ctx.save('numbers.json', JSON.stringify({ model: dir, sentences: sentences.length, cleanMean, ablation: ablationSummary, patching: [...patchSummary, roleGrid, decoderGrid], lens: lensGrid }, null, 2))}`);
loaded.model.dispose();
