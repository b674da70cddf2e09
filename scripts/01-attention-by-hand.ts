/**
 * 1. Attention by hand, on the sentence that motivates the project.
 *
 * Tiny dimensions (d = 4, two heads of 2) so every matrix fits on screen: the Q, K, V projections,
 * the scores, the softmax, the weighted sum of values, then two heads concatenated and projected —
 * each step computed with plain loops and checked against the library's MultiHeadAttention layer
 * holding the same weights.
 *
 *   npx tsx scripts/01-attention-by-hand.ts [--fast] [--out DIR]
 */
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention, renderHeatmap, renderSvg, scaledDotProductAttention } from '../src/index.js';
import { formatMatrix, section, startScript } from './common.js';

type Matrix = number[][];
const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
const transpose = (a: Matrix): Matrix => a[0]!.map((_, j) => a.map((row) => row[j]!));
const softmaxRows = (a: Matrix): Matrix =>
  a.map((row) => {
    const max = Math.max(...row);
    const e = row.map((x) => Math.exp(x - max));
    const sum = e.reduce((s, x) => s + x, 0);
    return e.map((x) => x / sum);
  });
const columns = (a: Matrix, from: number, n: number): Matrix => a.map((row) => row.slice(from, from + n));
const maxDiff = (a: Matrix, b: Matrix) => Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i]![j]!))));

/** A seeded generator, so every run prints the same numbers. */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

const ctx = await startScript('01-attention-by-hand', 'Attention by hand: Q, K, V, scores, softmax, weighted sum, heads');
const words = 'Ela derramou água da jarra para o copo até que ficasse cheio'.split(' ');
const d = 4;
const heads = 2;
const dk = d / heads;
const r = random(7);
const rand = (rows: number, cols: number): Matrix => Array.from({ length: rows }, () => Array.from({ length: cols }, () => Number(r().toFixed(2))));

section('The input: one vector per word');
console.log('In a trained model these come from the embedding and the positions; here they are random, d = 4.');
const X = rand(words.length, d);
console.log(formatMatrix(X, words));

section('Step 1 — project every word to a query, a key and a value');
console.log('Q = X·Wq asks "what am I looking for?", K = X·Wk says "what do I offer?", V = X·Wv is what gets passed on.');
const Wq = rand(d, d);
const Wk = rand(d, d);
const Wv = rand(d, d);
const Q = matmul(X, Wq);
const K = matmul(X, Wk);
const V = matmul(X, Wv);
console.log(`Wq =\n${formatMatrix(Wq)}\n\nQ = X·Wq (one row per word) =\n${formatMatrix(Q, words)}`);

section('Step 2 — scores: how well each query matches each key, scaled by √dk');
console.log(`One head first, using all ${d} dimensions: scores = Q·Kᵀ / √${d}. Row "cheio":`);
const scores = matmul(Q, transpose(K)).map((row) => row.map((x) => x / Math.sqrt(d)));
const cheio = words.indexOf('cheio');
console.log(formatMatrix([scores[cheio]!], ['cheio']));
console.log(words.map((w) => w.padStart(9)).join(''));

section('Step 3 — softmax turns each row of scores into weights that sum to 1');
const weights = softmaxRows(scores);
console.log(formatMatrix([weights[cheio]!], ['cheio'], 3));
console.log(`sum = ${weights[cheio]!.reduce((s, x) => s + x, 0).toFixed(6)}`);
console.log(renderHeatmap(weights, words, words, { title: 'all rows (queries) × columns (keys):' }));

section('Step 4 — the output of each word is the weighted sum of the values');
const output = matmul(weights, V);
console.log(formatMatrix(output, words));

// The library's pure function on the same Q, K, V.
const lib = tf.tidy(() => {
  const r1 = scaledDotProductAttention(tf.tensor2d(Q), tf.tensor2d(K), tf.tensor2d(V));
  return { output: r1.output.arraySync() as Matrix, weights: r1.weights.arraySync() as Matrix };
});
console.log(`\ncheck: scaledDotProductAttention gives the same weights (max difference ${maxDiff(lib.weights, weights).toExponential(1)}) and outputs (${maxDiff(lib.output, output).toExponential(1)})`);

section(`Step 5 — ${heads} heads: each looks with its own ${dk} dimensions, then they are concatenated and projected`);
const Wo = rand(d, d);
const headOutputs: Matrix[] = [];
const headWeights: Matrix[] = [];
for (let h = 0; h < heads; h++) {
  const q = columns(Q, h * dk, dk);
  const k = columns(K, h * dk, dk);
  const v = columns(V, h * dk, dk);
  const w = softmaxRows(matmul(q, transpose(k)).map((row) => row.map((x) => x / Math.sqrt(dk))));
  headWeights.push(w);
  headOutputs.push(matmul(w, v));
  const top = w[cheio]!.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0])[0]!;
  console.log(`head ${h + 1}: "cheio" looks most at "${words[top[1]]}" (${top[0].toFixed(2)})`);
}
const concat = X.map((_, i) => headOutputs.flatMap((o) => o[i]!));
const multiHead = matmul(concat, Wo);
console.log(`\nconcat(head 1, head 2)·Wo =\n${formatMatrix(multiHead, words)}`);

// The library layer with the same weights (biases off, so it is exactly these matrices).
const layer = new MultiHeadAttention({ numHeads: heads, keyDim: dk, useBias: false });
const check = tf.tidy(() => {
  const x = tf.tensor3d([X]);
  layer.build([x.shape, x.shape]);
  layer.projection.wq.write(tf.tensor2d(Wq));
  layer.projection.wk.write(tf.tensor2d(Wk));
  layer.projection.wv.write(tf.tensor2d(Wv));
  layer.wo.write(tf.tensor2d(Wo));
  const { output: out, weights: w } = layer.forward(x, x, x, { returnAttentionScores: true });
  return { output: (out.arraySync() as Matrix[])[0]!, weights: (w!.arraySync() as Matrix[][])[0]! };
});
const diff = Math.max(maxDiff(check.output, multiHead), ...check.weights.map((w, h) => maxDiff(w, headWeights[h]!)));
console.log(`\ncheck: MultiHeadAttention with the same weights matches the hand computation (max difference ${diff.toExponential(1)})`);
if (!(diff < 1e-4)) throw new Error(`the library and the hand computation disagree (${diff})`);
layer.dispose();

const svg = ctx.save(
  'heads.svg',
  renderSvg(
    headWeights.map((w, h) => ({ kind: 'encoder' as const, title: 'encoder self-attention', layer: 1, head: h + 1, rows: words, cols: words, weights: w })),
    'Untrained attention weights of two heads (random weights): rows look at columns',
  ),
);
console.log(`\nwrote ${svg}`);
console.log('\nWith random weights the patterns mean nothing yet; scripts 2–4 train models and look again.');
