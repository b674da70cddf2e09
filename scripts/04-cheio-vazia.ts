/**
 * 4. cheio / vazia: does the model's attention link the adjective to the right container?
 *
 * "… da jarra para o copo até que ficasse cheio" — cheio (masculine) can only describe o copo;
 * with vazia (feminine) it is a jarra. For the two seed sentences and for held-out sentences whose
 * container pair the model never saw together in this construction, the script measures, for every
 * layer and head:
 *   - encoder: how much of the adjective's self-attention goes to the right noun rather than the
 *     other one: right / (right + other), averaged over sentences (0.5 = no preference);
 *   - decoder: when it writes the English noun after "until the" ("glass"/"jug"), how much of its
 *     cross-attention goes to the right Portuguese noun rather than the other.
 * It prints both tables and names the head that tracks the referent best, with its held-out score.
 *
 * The other two families read the sentence itself, and the adjective comes after both nouns, so
 * even a decoder's causal attention can look back at them. Given an encoder-only model
 * (--encoder DIR, e.g. `atencao train --arch encoder --task referent`) and a decoder-only model
 * (--decoder DIR, e.g. `atencao train --arch decoder --task pt`), the script measures for them too,
 * per layer and head, how much of the adjective's self-attention goes to the right noun rather
 * than the other one. With --fast and neither flag it trains a tiny one of each for a few steps.
 *
 *   npx tsx scripts/04-cheio-vazia.ts [--fast] [--model DIR] [--encoder DIR] [--decoder DIR] [--out DIR]
 *   (default model: models/pt-en)
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { generatePtEn, loadModel, loadModelDir, renderHeatmap, renderHtml, SEED_PAIRS, startRun, UsageError, type AttentionMaps, type HtmlExample, type LoadedModel, type ReferentCase, type TrainingArgs } from '../src/index.js';
import { attentionMaps, type ModelAttention } from '../src/infer/attention-maps.js';
import { classifyText, fillMask } from '../src/infer/classify.js';
import { generateText } from '../src/infer/generate.js';
import { ENCODER_RECIPES } from '../src/train/recipes/encoder.js';
import { DECODER_RECIPES } from '../src/train/recipes/decoder.js';
import { section, startScript } from './common.js';

const ctx = await startScript('04-cheio-vazia', 'cheio / vazia: where the adjective and the referent noun attend');
const args = process.argv.slice(2);
const dir = args.includes('--model') ? args[args.indexOf('--model') + 1]! : 'models/pt-en';
const translator = await loadModel(dir);
const seed = translator.run?.training.seed ?? 1;
const heldOut = generatePtEn({ seed }).heldOutReferent.slice(0, ctx.fast ? 12 : undefined);
console.log(`model: ${dir}; ${heldOut.length} held-out sentences (container pairs never seen together in training) + the 2 seed sentences`);

interface Scores {
  /** [layer][head] mean of right / (right + other). */
  ratio: number[][];
  /** [layer][head] fraction of sentences where right > other. */
  wins: number[][];
}

async function measure(cases: readonly ReferentCase[], pick: (maps: AttentionMaps, c: ReferentCase) => { layers: number[][][][]; row: number; right: number; other: number } | undefined): Promise<Scores & { translated: number }> {
  let translated = 0;
  const read = async (c: ReferentCase) => {
    const maps = await translator.attention(c.source);
    if (maps.output === c.target) translated++;
    return maps;
  };
  const { ratio, wins } = await measureWith(cases, read, pick);
  return { ratio, wins, translated };
}

const encoder = (maps: AttentionMaps, c: ReferentCase) => {
  const row = maps.sourceTokens.indexOf(c.adjective);
  const [right, other] = c.referent === 'into' ? [c.into, c.from] : [c.from, c.into];
  return { layers: maps.encoder, row, right: maps.sourceTokens.indexOf(right), other: maps.sourceTokens.indexOf(other) };
};
const decoder = (maps: AttentionMaps, c: ReferentCase) => {
  const row = maps.outputTokens.findIndex((t, i) => i >= 2 && maps.outputTokens[i - 2] === 'until' && maps.outputTokens[i - 1] === 'the');
  if (row < 0) return undefined;
  const [right, other] = c.referent === 'into' ? [c.into, c.from] : [c.from, c.into];
  return { layers: maps.cross, row, right: maps.sourceTokens.indexOf(right), other: maps.sourceTokens.indexOf(other) };
};

function table(title: string, scores: Scores): { layer: number; head: number; score: number } {
  section(title);
  console.log('right / (right + other), mean over sentences; in brackets: share of sentences where the right noun gets more');
  const heads = scores.ratio[0]!.length;
  console.log(`         ${Array.from({ length: heads }, (_, h) => `head ${h + 1}`.padEnd(15)).join('')}`);
  let best = { layer: 0, head: 0, score: -1 };
  scores.ratio.forEach((row, l) => {
    console.log(`layer ${l + 1}  ${row.map((x, h) => `${x.toFixed(2)} (${(100 * scores.wins[l]![h]!).toFixed(0)}%)`.padEnd(15)).join('')}`);
    row.forEach((x, h) => {
      if (x > best.score) best = { layer: l + 1, head: h + 1, score: x };
    });
  });
  return best;
}

const enc = await measure(heldOut, encoder);
const dec = await measure(heldOut, decoder);
console.log(`held-out sentences translated exactly: ${enc.translated} of ${heldOut.length}`);
const bestEnc = table('Encoder self-attention: the adjective → the right noun (held-out sentences)', enc);
const bestDec = table('Cross-attention when writing the noun after "until the" (held-out sentences)', dec);

section('The head that tracks the referent best');
console.log(`encoder: layer ${bestEnc.layer}, head ${bestEnc.head} — ${bestEnc.score.toFixed(2)} of the adjective's attention to the two nouns goes to the right one (held-out)`);
console.log(`decoder: layer ${bestDec.layer}, head ${bestDec.head} — writing the noun, ${bestDec.score.toFixed(2)} of its attention to the two Portuguese nouns goes to the right one (held-out)`);

section('The seed sentences, in those two heads');
const examples: HtmlExample[] = [];
for (const pair of SEED_PAIRS) {
  const maps = await translator.attention(pair.source);
  const t = maps.output;
  examples.push({ source: pair.source, translation: t, maps });
  const e = encoder(maps, pair);
  const d = decoder(maps, pair);
  const encRow = maps.encoder[bestEnc.layer - 1]![bestEnc.head - 1]![e.row]!;
  console.log(`${pair.source}\n→ ${t}`);
  console.log(renderHeatmap([encRow], [pair.adjective], maps.sourceTokens, { numbers: true, title: `encoder layer ${bestEnc.layer} head ${bestEnc.head}: where "${pair.adjective}" looks` }));
  if (d) {
    const decRow = maps.cross[bestDec.layer - 1]![bestDec.head - 1]![d.row]!;
    console.log(renderHeatmap([decRow], [`"${maps.outputTokens[d.row]}"`], maps.sourceTokens, { numbers: true, title: `cross-attention layer ${bestDec.layer} head ${bestDec.head}: writing "${maps.outputTokens[d.row]}"` }));
  }
}
translator.dispose();

// The encoder-only and decoder-only models: where the adjective itself looks.
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : undefined);
const others: { arch: 'encoder' | 'decoder'; dir: string }[] = [];
let encoderDir = flag('--encoder');
let decoderDir = flag('--decoder');
if (ctx.fast && encoderDir === undefined && decoderDir === undefined) {
  section('Training a tiny encoder (referent) and a tiny decoder (pt) for a few steps (fast mode: the numbers mean little)');
  encoderDir = await trainTiny('encoder', ENCODER_RECIPES.referent!, { kind: 'referent', size: 400 });
  decoderDir = await trainTiny('decoder', DECODER_RECIPES.pt!, { kind: 'pt', size: 400 });
}
if (encoderDir !== undefined) others.push({ arch: 'encoder', dir: encoderDir });
if (decoderDir !== undefined) others.push({ arch: 'decoder', dir: decoderDir });
if (others.length === 0) console.log('\n(add --encoder DIR and --decoder DIR to measure an encoder-only and a decoder-only model too)');
const familyScores: Record<string, unknown> = {};
for (const { arch, dir: familyDir } of others) familyScores[arch] = await probeFamily(arch, familyDir);

console.log(`wrote ${ctx.save('scores.json', JSON.stringify({ model: dir, heldOut: heldOut.length, encoder: enc, decoder: dec, bestEncoder: bestEnc, bestDecoder: bestDec, ...familyScores }, null, 2))}`);
console.log(`wrote ${ctx.save('cheio-vazia.html', renderHtml({ title: 'cheio / vazia', examples }))}`);

/** Train a tiny model of one family for a few steps into the output folder. */
async function trainTiny(arch: 'encoder' | 'decoder', recipe: { training: TrainingArgs }, data: { kind: 'referent' | 'pt'; size: number }): Promise<string> {
  const out = join(ctx.out, `tiny-${arch}`);
  rmSync(out, { recursive: true, force: true });
  const training = { ...recipe.training, steps: 30, validEvery: 30, untilExact: undefined };
  await startRun({ out, arch, data, model: { dModel: 32, numHeads: 2, numLayers: 2, dFF: 64, dropout: 0 }, training, backend: 'auto', workers: 1 }, { info: () => undefined, warn: () => undefined });
  console.log(`${arch}: ${out} (${training.steps} steps)`);
  return out;
}

/**
 * One encoder-only or decoder-only model on the held-out sentences of its training seed: per layer
 * and head, right / (right + other) of the adjective's self-attention on the two nouns; for a
 * decoder also of the position that writes the adjective (the word before it). And what the
 * model does with the sentences: an encoder's class (or its fill-mask of the adjective), the
 * adjective a decoder writes after "… ficasse".
 */
async function probeFamily(arch: 'encoder' | 'decoder', familyDir: string): Promise<object> {
  const loaded = await loadModelDir(familyDir);
  if (loaded.model.arch !== arch) {
    loaded.model.dispose();
    throw new UsageError(`--${arch} ${familyDir} holds ${loaded.model.arch === 'decoder' ? 'a' : 'an'} ${loaded.model.arch} model`);
  }
  const cases = generatePtEn({ seed: loaded.run.training.seed }).heldOutReferent.slice(0, ctx.fast ? 12 : undefined);
  const name = arch === 'encoder' ? 'Encoder-only (bidirectional self-attention)' : 'Decoder-only (causal self-attention)';
  // The sentence as it is: a decoder reads it without writing anything after it.
  const read = (c: ReferentCase) => attentionMaps(loaded, c.source, { continuation: false });
  /** The nouns' columns and the row `offset` positions from the adjective's; undefined when a word reads as <unk>. */
  const pickAt = (offset: number) => (maps: ModelAttention, c: ReferentCase) => {
    const m = maps.maps[0]!;
    const [right, other] = c.referent === 'into' ? [c.into, c.from] : [c.from, c.into];
    const at = m.rows.lastIndexOf(c.adjective);
    const p = { layers: m.weights, row: at + offset, right: m.cols.indexOf(right), other: m.cols.indexOf(other) };
    return at < 0 || p.right < 0 || p.other < 0 ? undefined : p;
  };
  const scores = await measureWith(cases, read, pickAt(0));
  console.log(`\n${name}: ${familyDir}; ${scores.sentences} of ${cases.length} held-out sentences have the adjective and both nouns in its vocabulary`);
  console.log(await behaviour(loaded, cases));
  const best = table(`${name}: the adjective → the right noun (held-out sentences)`, scores);
  console.log(`${arch}-only: layer ${best.layer}, head ${best.head} — ${best.score.toFixed(2)} of the adjective's attention to the two nouns goes to the right one (held-out)`);
  let writing: (Scores & { best: { layer: number; head: number; score: number } }) | undefined;
  if (arch === 'decoder') {
    const w = await measureWith(cases, read, pickAt(-1));
    const bestWriting = table(`${name}: the position that writes the adjective ("ficasse") → the right noun (held-out sentences)`, w);
    console.log(`decoder-only, writing the adjective: layer ${bestWriting.layer}, head ${bestWriting.head} — ${bestWriting.score.toFixed(2)} of its attention to the two nouns goes to the right one (held-out)`);
    writing = { ...w, best: bestWriting };
  }
  const familyExamples: HtmlExample[] = [];
  for (const pair of SEED_PAIRS) {
    const maps = await read(pair);
    familyExamples.push({ maps });
    const m = maps.maps[0]!;
    const row = m.rows.lastIndexOf(pair.adjective);
    if (row < 0) continue;
    console.log(renderHeatmap([m.weights[best.layer - 1]![best.head - 1]![row]!], [pair.adjective], m.cols, { numbers: true, title: `${m.title}, layer ${best.layer} head ${best.head}: where "${pair.adjective}" looks` }));
  }
  console.log(`wrote ${ctx.save(`cheio-vazia-${arch}.html`, renderHtml({ title: `cheio / vazia: ${name}`, examples: familyExamples }))}`);
  loaded.model.dispose();
  return { model: familyDir, ...scores, best, ...(writing ? { writingAdjective: writing } : {}) };
}

/** How many cases pass an asynchronous check, checked one after another. */
async function count<T>(items: readonly T[], check: (item: T) => Promise<boolean>): Promise<number> {
  let n = 0;
  for (const item of items) if (await check(item)) n++;
  return n;
}

/** What the model does with the held-out sentences, in one line. */
async function behaviour(loaded: LoadedModel, cases: readonly ReferentCase[]): Promise<string> {
  const config = loaded.model.config;
  if (config.arch === 'decoder') {
    // The sentence up to the adjective: does it write the adjective that agrees with the referent?
    const right = await count(cases, async (c) => (await generateText(loaded, c.source.slice(0, c.source.lastIndexOf(` ${c.adjective}`)), { maxTokens: 1 })).tokens[0] === c.adjective);
    return `it writes the right adjective after "… ficasse" in ${right} of ${cases.length}`;
  }
  if (config.arch === 'encoder' && config.numClasses > 0) {
    const right = await count(cases, async (c) => (await classifyText(loaded, c.source)).label === c.referent);
    return `it names the referent (from | into) of ${right} of ${cases.length}`;
  }
  const right = await count(cases, async (c) => (await fillMask(loaded, c.source.replace(` ${c.adjective}`, ' [MASK]'))).masks[0]?.candidates[0]?.token === c.adjective);
  return `with the adjective masked, its first guess is the adjective in ${right} of ${cases.length}`;
}

/** `measure` for maps of any family: mean right / (right + other) and wins per layer and head. */
async function measureWith<M>(cases: readonly ReferentCase[], read: (c: ReferentCase) => Promise<M>, pick: (maps: M, c: ReferentCase) => { layers: number[][][][]; row: number; right: number; other: number } | undefined): Promise<Scores & { sentences: number }> {
  let ratio: number[][] | undefined;
  let wins: number[][] | undefined;
  let n = 0;
  for (const c of cases) {
    const p = pick(await read(c), c);
    if (p === undefined) continue;
    ratio ??= p.layers.map((l) => l.map(() => 0));
    wins ??= p.layers.map((l) => l.map(() => 0));
    p.layers.forEach((layer, l) =>
      layer.forEach((head, h) => {
        const right = head[p.row]![p.right]!;
        const other = head[p.row]![p.other]!;
        ratio![l]![h]! += right / (right + other + 1e-9);
        if (right > other) wins![l]![h]!++;
      }),
    );
    n++;
  }
  const norm = (m: number[][]) => m.map((row) => row.map((x) => x / Math.max(n, 1)));
  return { ratio: norm(ratio ?? [[0]]), wins: norm(wins ?? [[0]]), sentences: n };
}
