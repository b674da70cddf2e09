/**
 * 5. A GPT-style decoder learns to copy by continuing, and its attention looks back.
 *
 * The decoder-only model has no encoder and no cross-attention: one causal stack reads
 * "hcadbefgij<sep>" and continues it with "hcadbefgij". Every position may attend only to itself
 * and to the positions before it. The position that writes output symbol i (the <sep> for the
 * first, then each output symbol for the next) has to fetch input symbol i, which sits n = 10
 * positions back. Once the task is learnt, a head puts its weight on that offset diagonal,
 * key = query − n: the output looks back at the input it copies, as the cross-attention of the
 * encoder–decoder did in script 2, but inside one sequence. (The default copy model has one block,
 * so the head finds the offset from the positions alone; deeper models can also find it by content,
 * reading the position just after the current symbol's earlier copy, the "induction head" pattern.)
 * The script trains in stages (resuming one run), measures the diagonal after each, draws the
 * causal attention, checks the key/value cache against re-running the whole sequence, and writes
 * with the cache.
 *
 *   npx tsx scripts/05-gpt-continuation.ts [--fast] [--out DIR]
 */
import * as tf from '@tensorflow/tfjs';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BOS_ID, EOS_ID, greedyDecode, loadModelDir, PAD_ID, renderHeatmap, renderSvg, resumeRun, SEP, startRun, SyntheticTask, type DecoderOnly, type LoadedModel, type Panel } from '../src/index.js';
import { generateIds, generateText } from '../src/infer/generate.js';
import { DECODER_RECIPES } from '../src/train/recipes/decoder.js';
import { formatMatrix, section, startScript } from './common.js';

const ctx = await startScript('05-gpt-continuation', 'A GPT-style decoder continues "input <sep>" with a copy: causal attention looks back');
const dir = join(ctx.out, 'model');
rmSync(dir, { recursive: true, force: true });
const quiet = { info: () => undefined, warn: (m: string) => console.log(`warning: ${m}`) };
const stages = ctx.fast ? [1, 10, 20] : [50, 100, 150, 200, 300, 400, 600];
const recipe = DECODER_RECIPES.copy!;
const task = new SyntheticTask('copy', {});
const n = task.options.maxLen; // input length: every output symbol is n positions after its source
const probes = task.test.slice(0, ctx.fast ? 20 : 200);

/** bos, input, <sep>, output: the sequence the model reads when teacher-forced (its last token writes eos). */
function sequence(m: LoadedModel, p: { source: string; target: string }): number[] {
  const tok = m.source;
  return [BOS_ID, ...tok.encode(p.source), tok.special(SEP), ...tok.encode(p.target)];
}

interface Measure {
  /** [layer][head] mean weight on key = query − n, over the rows that write an output symbol. */
  offset: number[][];
  /** [layer][head] mean weight on the previous position, query − 1, over the same rows. */
  previous: number[][];
  /** Held-out probes copied exactly (greedy decoding, batched, with the cache). */
  exact: number;
  /** The causal attention of the first probe, [layer][head][query][key]. */
  example: number[][][][];
}

async function measure(): Promise<Measure> {
  const m = await loadModelDir(dir);
  try {
    const ids = probes.map((p) => sequence(m, p));
    const weights = tf.tidy(() => m.model.attention({ ids: tf.tensor2d(ids, undefined, 'int32') }).decoder!.map((w) => w.arraySync() as number[][][][])); // per layer (B, H, T, T)
    // Rows n + 1 … 2n: the <sep> writes output symbol 1, output symbol i writes symbol i + 1.
    const rows = Array.from({ length: n }, (_, i) => n + 1 + i);
    const mean = (at: (q: number) => number) =>
      weights.map((layer) => layer[0]!.map((_, h) => layer.reduce((s, b) => s + rows.reduce((t, q) => t + b[h]![q]![at(q)]!, 0), 0) / (layer.length * rows.length)));
    const prompts = ids.map((s) => s.slice(0, n + 2)); // bos, input, <sep>
    const outputs = await greedyDecode(m.model as DecoderOnly, prompts, { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID }, { maxLen: n + 1 });
    const exact = outputs.filter((o, i) => m.source.decode(o) === probes[i]!.target).length / probes.length;
    return { offset: mean((q) => q - n), previous: mean((q) => q - 1), exact, example: weights.map((layer) => layer[0]!) };
  } finally {
    m.model.dispose();
  }
}

function best(table: number[][], layer: number): { head: number; weight: number } {
  const row = table[layer]!;
  const head = row.indexOf(Math.max(...row));
  return { head: head + 1, weight: row[head]! };
}

section(`Training in stages; after each, the last layer's weight on the offset diagonal (key = query − ${n}, ${probes.length} test sequences)`);
// A row q attends over q + 1 positions: chance is the mean of 1 / (q + 1) over the rows measured.
const chance = Array.from({ length: n }, (_, i) => 1 / (n + 2 + i)).reduce((a, b) => a + b, 0) / n;
console.log(`chance level: ${chance.toFixed(2)} (a row reading q + 1 positions evenly)\n`);
console.log('  step   exact   offset diagonal (best head of the last layer)');
let last!: Measure;
let layers = 0;
for (const [i, steps] of stages.entries()) {
  const training = { ...recipe.training, steps, validEvery: Math.max(1, steps - (stages[i - 1] ?? 0)), untilExact: undefined };
  if (i === 0) await startRun({ out: dir, arch: 'decoder', data: { kind: 'task', task: 'copy' }, model: recipe.model, training, backend: 'auto' }, quiet);
  else await resumeRun({ out: dir, overrides: { steps, validEvery: training.validEvery }, backend: 'auto' }, quiet);
  last = await measure();
  layers = last.offset.length;
  const b = best(last.offset, layers - 1);
  console.log(`${String(steps).padStart(6)}  ${(100 * last.exact).toFixed(0).padStart(5)}%   head ${b.head}: ${b.weight.toFixed(2)}`);
}

section('Where each head looks, after training (mean weight over the rows that write an output symbol)');
for (let l = 0; l < layers; l++) {
  console.log(`layer ${l + 1}, heads 1…${last.offset[l]!.length}`);
  console.log(formatMatrix([last.offset[l]!, last.previous[l]!], [`key = query − ${n}`, 'key = query − 1']));
}
const top = best(last.offset, layers - 1);
console.log(`\noffset diagonal: ${top.weight.toFixed(2)} of the attention of layer ${layers}, head ${top.head} goes to key = query − ${n}, the input symbol being copied (chance ${chance.toFixed(2)})`);

section(`The causal self-attention of layer ${layers}, head ${top.head}, for "${probes[0]!.source}"`);
const loaded = await loadModelDir(dir);
const seq = sequence(loaded, probes[0]!);
// Short labels keep the heatmap narrow: • is bos, | is <sep>, $ is eos.
const label = (id: number) => (id === BOS_ID ? '•' : id === EOS_ID ? '$' : id === loaded.source.special(SEP) ? '|' : loaded.source.vocab[id]!);
const cols = seq.map(label);
const rows = seq.map((id, q) => `${label(id)} → ${label(q + 1 < seq.length ? seq[q + 1]! : EOS_ID)}`);
console.log('rows: the token a position reads → the token it writes; columns: the tokens it may look at (• bos, | <sep>, $ eos)\n');
console.log(renderHeatmap(last.example[layers - 1]![top.head - 1]!, rows, cols));
const panels: Panel[] = last.example.flatMap((layer, l) => layer.map((weights, h) => ({ kind: 'decoder' as const, title: 'causal self-attention', layer: l + 1, head: h + 1, rows, cols, weights })));
console.log(`wrote ${ctx.save('causal-attention.svg', renderSvg(panels, `GPT-style decoder on copy: causal self-attention for "${probes[0]!.source}"`))}`);

section('Writing with the key/value cache');
const model = loaded.model as DecoderOnly;
// The cache must give the logits of re-running the whole sequence, at every step.
let worst = 0;
const before = tf.memory().numTensors;
const prompt = seq.slice(0, n + 2);
const cached = model.startGeneration([prompt], { cache: true });
const full = model.startGeneration([prompt], { cache: false });
for (const token of seq.slice(n + 1)) {
  const a = cached.step([token]);
  const b = full.step([token]);
  worst = Math.max(worst, tf.tidy(() => tf.max(tf.abs(tf.sub(a.logits, b.logits))).dataSync()[0]!));
  tf.dispose([a.logits, b.logits]);
}
cached.dispose();
full.dispose();
console.log(`check: the cache gives the full recompute's logits (max difference ${worst.toExponential(1)}; tensors ${before} → ${tf.memory().numTensors})`);

const timed = async (cache: boolean) => {
  const start = performance.now();
  let tokens = 0;
  for (const p of probes) tokens += (await generateIds(model, loaded.source.encode(p.source).concat(loaded.source.special(SEP)), { temperature: 0, cache })).ids.length;
  return (performance.now() - start) / tokens;
};
await timed(true); // warm-up
const [withCache, without] = [await timed(true), await timed(false)];
console.log(`greedy, one sequence at a time: ${withCache.toFixed(2)} ms/token with the cache, ${without.toFixed(2)} without\n`);
for (const p of probes.slice(0, 3)) {
  const r = await generateText(loaded, p.source, { temperature: 0 });
  console.log(`${r.full}   (${r.text === p.target ? 'right' : 'wrong'}; least sure token p = ${Math.min(...r.modelProbabilities).toFixed(3)}, stopped at ${r.stop})`);
}
const sampled = await generateText(loaded, probes[0]!.source, { temperature: 1.5, seed: 7 });
console.log(`\nsampled at temperature 1.5 (seed 7): ${sampled.full}`);
console.log(`  chosen tokens' probabilities: ${sampled.probabilities.map((x) => x.toFixed(2)).join(' ')}`);
loaded.model.dispose();
