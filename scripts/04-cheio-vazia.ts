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
 *   npx tsx scripts/04-cheio-vazia.ts [--fast] [--model DIR] [--out DIR]     (default model: models/pt-en)
 */
import { generatePtEn, loadModel, renderHeatmap, renderHtml, SEED_PAIRS, type AttentionMaps, type HtmlExample, type ReferentCase } from '../src/index.js';
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

function measure(cases: readonly ReferentCase[], pick: (maps: AttentionMaps, c: ReferentCase) => { layers: number[][][][]; row: number; right: number; other: number } | undefined): Scores & { translated: number } {
  let ratio: number[][] | undefined;
  let wins: number[][] | undefined;
  let n = 0;
  let translated = 0;
  for (const c of cases) {
    const maps = translator.attention(c.source);
    if (maps.output === c.target) translated++;
    const p = pick(maps, c);
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
  return { ratio: norm(ratio ?? [[0]]), wins: norm(wins ?? [[0]]), translated };
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

const enc = measure(heldOut, encoder);
const dec = measure(heldOut, decoder);
console.log(`held-out sentences translated exactly: ${enc.translated} of ${heldOut.length}`);
const bestEnc = table('Encoder self-attention: the adjective → the right noun (held-out sentences)', enc);
const bestDec = table('Cross-attention when writing the noun after "until the" (held-out sentences)', dec);

section('The head that tracks the referent best');
console.log(`encoder: layer ${bestEnc.layer}, head ${bestEnc.head} — ${bestEnc.score.toFixed(2)} of the adjective's attention to the two nouns goes to the right one (held-out)`);
console.log(`decoder: layer ${bestDec.layer}, head ${bestDec.head} — writing the noun, ${bestDec.score.toFixed(2)} of its attention to the two Portuguese nouns goes to the right one (held-out)`);

section('The seed sentences, in those two heads');
const examples: HtmlExample[] = [];
for (const pair of SEED_PAIRS) {
  const maps = translator.attention(pair.source);
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
console.log(`wrote ${ctx.save('scores.json', JSON.stringify({ model: dir, heldOut: heldOut.length, encoder: enc, decoder: dec, bestEncoder: bestEnc, bestDecoder: bestDec }, null, 2))}`);
console.log(`wrote ${ctx.save('cheio-vazia.html', renderHtml({ title: 'cheio / vazia', examples }))}`);
translator.dispose();
