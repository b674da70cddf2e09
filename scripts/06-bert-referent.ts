/**
 * 6. A BERT-style encoder reads "cheio" and "vazia": which container does the adjective describe?
 *
 *   Ela derramou água da jarra para o copo até que ficasse cheio.  → into (o copo)
 *   Ela derramou água da jarra para o copo até que ficasse vazia.  → from (a jarra)
 *
 * The encoder-only model reads the whole sentence at once (every token attends to every token,
 * on both sides) and a classifier on its first position, [CLS], says 'from' or 'into'. The
 * adjective's meaning is drawn independently of the container, so only its gender decides. The
 * test sentences use container pairs never seen together in training.
 *
 * The script trains the classifier (with --pretrain, first a short masked-LM pre-training on the
 * Portuguese corpus, then fine-tuning from it; with --steps N, exactly N steps instead of stopping
 * once every validation sentence is right), prints its held-out accuracy, then measures for every
 * layer and head how much of the adjective's attention to the two nouns goes to the right one:
 * right / (right + other), averaged over held-out sentences (0.5 = no preference). It does the
 * same for the two articles (da/do, a/o), which carry the nouns' gender too, shows where [CLS]
 * looks, names the best heads and shows them on the seed sentences. --model DIR reads a folder
 * trained before instead (a classifier, or a masked LM).
 *
 *   npx tsx scripts/06-bert-referent.ts [--fast] [--pretrain] [--steps N] [--model DIR] [--out DIR]
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { loadModelDir, referentSentence, renderHeatmap, renderSvg, SEED_PAIRS, startRun, type ReferentCase } from '../src/index.js';
import { generateReferent } from '../src/data/pt-en.js';
import { classifyText, classifyTexts, encoderIds, fillMask } from '../src/infer/classify.js';
import { ENCODER_RECIPES } from '../src/train/recipes/encoder.js';
import { section, startScript } from './common.js';

const ctx = await startScript('06-bert-referent', 'BERT-style encoder: which container does the adjective describe?');
const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const pretrain = args.includes('--pretrain');
const quiet = { info: () => undefined, warn: (m: string) => console.log(`warning: ${m}`) };
const recipe = ENCODER_RECIPES.referent!;
const size = ctx.fast ? 400 : undefined;

/** Masked-LM pre-training on the Portuguese corpus; shows what the model guesses for the seed sentences' adjectives. */
async function pretrainEncoder(): Promise<string> {
  section('Masked-LM pre-training on the Portuguese side of the pt-en corpus');
  const out = join(ctx.out, 'pt-mlm');
  rmSync(out, { recursive: true, force: true });
  const pt = ENCODER_RECIPES.pt!;
  const steps = ctx.fast ? 10 : 1500;
  const s = await startRun({ out, arch: 'encoder', data: { kind: 'pt' }, model: pt.model, training: { ...pt.training, steps, validEvery: steps, seed: recipe.training.seed }, backend: 'auto' }, quiet);
  console.log(`${steps} steps in ${s.result.state.elapsedSeconds.toFixed(0)} s: masked tokens predicted right ${(100 * s.test.tokenAccuracy).toFixed(1)}% (test sentences)`);
  const mlm = await loadModelDir(out);
  // The same pouring in both gender orders: a good masked LM proposes adjectives that agree with one of the two nouns.
  for (const pair of [SEED_PAIRS[0]!, referentSentence({ from: 'balde', into: 'xícara', referent: 'into' })]) {
    const text = pair.source.replace(new RegExp(`${pair.adjective}\\.$`), '[MASK].');
    const r = await fillMask(mlm, text, { topK: 3 });
    console.log(`${text}\n  → ${r.masks[0]!.candidates.map((c) => `${c.token} ${(100 * c.probability).toFixed(0)}%`).join(', ')}`);
  }
  mlm.model.dispose();
  return out;
}

/** Train the classifier (fine-tuning `init` when given): until every validation sentence is right, or exactly --steps N. */
async function trainClassifier(init: string | undefined): Promise<string> {
  section(`Training the classifier${init ? ', fine-tuned from the masked LM' : ''}`);
  const out = join(ctx.out, 'referent');
  rmSync(out, { recursive: true, force: true });
  const fixed = flag('--steps') === undefined ? undefined : Number(flag('--steps'));
  const training = { ...recipe.training, ...(ctx.fast ? { steps: 30 } : {}), ...(fixed ? { steps: fixed, validEvery: fixed, untilExact: undefined } : {}), ...(init ? { init } : {}) };
  const summary = await startRun({ out, arch: 'encoder', data: { kind: 'referent', size }, model: recipe.model, training, backend: 'auto' }, quiet);
  const state = summary.result.state;
  console.log(`stopped at step ${state.step} after ${state.elapsedSeconds.toFixed(0)} s (${summary.result.reason === 'target' ? 'every validation sentence right' : 'step budget spent'})`);
  return out;
}

// --model DIR reads a folder trained before (a classifier, or a masked LM: then only the attention).
const dir = flag('--model') ?? (await trainClassifier(pretrain ? await pretrainEncoder() : undefined));
const loaded = await loadModelDir(dir);
const seed = loaded.run.training.seed;
const classifier = (loaded.model.config as { numClasses?: number }).numClasses! > 0;
const heldOut = generateReferent({ seed, size }).test;
let accuracy: number | undefined;
if (classifier) {
  const results = await classifyTexts(loaded, heldOut.map((c) => c.source));
  accuracy = results.filter((r, i) => r.label === heldOut[i]!.referent).length / heldOut.length;
  console.log(`held-out container pairs: ${(100 * accuracy).toFixed(1)}% right (${heldOut.length} sentences)`);
  section('The seed sentences');
  for (const pair of SEED_PAIRS) {
    const r = await classifyText(loaded, pair.source);
    console.log(`${pair.source}\n  → ${r.label} (${r.noun}), p = ${(r.probabilities[r.label]! * 100).toFixed(1)}%`);
  }
}

/** Token positions the measurement compares, in [CLS] sentence eos. */
function positions(c: ReferentCase, tokens: string[]) {
  const adjective = tokens.lastIndexOf(c.adjective);
  const from = tokens.indexOf(c.from);
  const into = tokens.lastIndexOf(c.into);
  const [right, other] = c.referent === 'into' ? [into, from] : [from, into];
  // The article before each noun (da/do, a/o) carries its gender as well.
  return { adjective, right, other, rightArticle: right - 1, otherArticle: other - 1 };
}

/** Every layer's attention for a batch of sentences: [sentence][layer][head][query][key] (padding keys get 0). */
function attentionOf(cases: readonly ReferentCase[]): { tokens: string[][]; weights: number[][][][][] } {
  const rows = cases.map((c) => encoderIds(loaded.source, c.source, loaded.model.config.maxLen).ids);
  const t = Math.max(...rows.map((r) => r.length));
  const ids = tf.tensor2d(rows.map((r) => [...r, ...new Array<number>(t - r.length).fill(0)]), [rows.length, t], 'int32');
  const layers = loaded.model.attention({ ids }).encoder!; // each (B, H, T, T)
  const arrays = layers.map((w) => w.arraySync() as number[][][][]);
  tf.dispose([ids, ...layers]);
  return { tokens: rows.map((r) => r.map((id) => loaded.source.vocab[id]!)), weights: cases.map((_, b) => arrays.map((layer) => layer[b]!)) };
}

const { numLayers, numHeads } = loaded.model.config as { numLayers: number; numHeads: number };
const zeros = () => Array.from({ length: numLayers }, () => new Array<number>(numHeads).fill(0));
const probes = heldOut.slice(0, ctx.fast ? 24 : undefined);
const ratio = zeros();
const wins = zeros();
const articleRatio = zeros();
/** [layer][part]: share of the [CLS] row (mean of heads) on each part of the sentence. */
const PARTS = ['adjective', 'right noun', 'other noun', 'articles', '[CLS]', 'the rest'] as const;
const cls = Array.from({ length: numLayers }, () => new Array<number>(PARTS.length).fill(0));
let n = 0;
for (let start = 0; start < probes.length; start += 64) {
  const cases = probes.slice(start, start + 64);
  const { tokens, weights } = attentionOf(cases);
  cases.forEach((c, b) => {
    const p = positions(c, tokens[b]!);
    if (p.adjective < 0 || p.right < 0 || p.other < 0) return;
    weights[b]!.forEach((layer, l) =>
      layer.forEach((head, h) => {
        const row = head[p.adjective]!;
        ratio[l]![h]! += row[p.right]! / (row[p.right]! + row[p.other]! + 1e-9);
        if (row[p.right]! > row[p.other]!) wins[l]![h]!++;
        articleRatio[l]![h]! += row[p.rightArticle]! / (row[p.rightArticle]! + row[p.otherArticle]! + 1e-9);
        const first = head[0]!;
        const parts = [first[p.adjective]!, first[p.right]!, first[p.other]!, first[p.rightArticle]! + first[p.otherArticle]!, first[0]!];
        parts.push(1 - parts.reduce((a, b) => a + b, 0));
        parts.forEach((x, k) => (cls[l]![k]! += x / numHeads));
      }),
    );
    n++;
  });
}
const mean = (m: number[][]) => m.map((row) => row.map((x) => x / Math.max(n, 1)));
const scores = { ratio: mean(ratio), wins: mean(wins), articleRatio: mean(articleRatio), cls: mean(cls) };
/** A [layer][head] table with labelled rows and columns. */
function table(m: number[][]): string {
  const header = `${' '.repeat(8)}${Array.from({ length: numHeads }, (_, h) => `head ${h + 1}`.padStart(8)).join('')}`;
  return [header, ...m.map((row, l) => `layer ${l + 1} ${row.map((x) => x.toFixed(2).padStart(8)).join('')}`)].join('\n');
}

section(`The adjective → the right noun, per layer and head (${n} held-out sentences)`);
console.log('right / (right + other), mean over sentences (0.5 = no preference):');
console.log(table(scores.ratio));
console.log('\nshare of sentences where the right noun gets more:');
console.log(table(scores.wins));
console.log('\nthe same for the articles before the nouns (da/do, a/o), which also carry the gender:');
console.log(table(scores.articleRatio));

section('Where [CLS] looks (the position the classifier reads), mean of heads');
console.log(`${' '.repeat(8)}${PARTS.map((p) => p.padStart(12)).join('')}`);
scores.cls.forEach((row, l) => console.log(`layer ${l + 1} ${row.map((x) => x.toFixed(2).padStart(12)).join('')}`));
const last = scores.cls[numLayers - 1]!;
console.log(`\nlast layer: ${last[0]!.toFixed(2)} of [CLS]'s attention on the adjective, ${last[3]!.toFixed(2)} on the two articles, ${(last[1]! + last[2]!).toFixed(2)} on the two nouns`);

function best(m: number[][]): { layer: number; head: number; score: number } {
  let top = { layer: 1, head: 1, score: -1 };
  m.forEach((row, l) => row.forEach((x, h) => (x > top.score ? (top = { layer: l + 1, head: h + 1, score: x }) : undefined)));
  return top;
}
const bestNoun = best(scores.ratio);
const bestArticle = best(scores.articleRatio);
section('The heads that link the adjective to its noun');
console.log(`best head: layer ${bestNoun.layer}, head ${bestNoun.head} — ${bestNoun.score.toFixed(2)} of the adjective's attention to the two nouns goes to the right one (right noun preferred in ${(100 * scores.wins[bestNoun.layer - 1]![bestNoun.head - 1]!).toFixed(0)}% of held-out sentences)`);
console.log(`for the articles: layer ${bestArticle.layer}, head ${bestArticle.head} — ${bestArticle.score.toFixed(2)} to the right one`);

section(`Where the adjective looks in layer ${bestNoun.layer}, head ${bestNoun.head}`);
const seedMaps = attentionOf(SEED_PAIRS);
const panels = SEED_PAIRS.map((pair, i) => {
  const tokens = seedMaps.tokens[i]!;
  const weights = seedMaps.weights[i]![bestNoun.layer - 1]![bestNoun.head - 1]!;
  const row = weights[positions(pair, tokens).adjective]!;
  console.log(renderHeatmap([row], [pair.adjective], tokens, { numbers: true, title: pair.source }));
  console.log();
  return { kind: 'encoder' as const, title: 'encoder self-attention (bidirectional)', layer: bestNoun.layer, head: bestNoun.head, rows: tokens, cols: tokens, weights };
});
console.log(`wrote ${ctx.save('heads.json', JSON.stringify({ model: dir, heldOutAccuracy: accuracy, init: loaded.run.training.init, sentences: n, ...scores, bestNoun, bestArticle }, null, 2))}`);
console.log(`wrote ${ctx.save('heads.svg', renderSvg(panels, `encoder layer ${bestNoun.layer}, head ${bestNoun.head}: cheio → copo, vazia → jarra`))}`);
loaded.model.dispose();
