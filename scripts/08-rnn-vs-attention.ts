/**
 * 8. Do recurrent networks lose track of words far apart? The claim, measured.
 *
 * Attention is said to have replaced recurrent networks because an RNN must carry everything
 * through one state vector, token after token, so a word far back fades. Here three models learn
 * the same translations, with the same trainer and optimizer:
 *   - an LSTM encoder–decoder (the decoder sees only the encoder's last state),
 *   - the same with additive attention over the encoder's states (Bahdanau et al. 2015),
 *   - a transformer encoder–decoder.
 * The sentences are the cheio/vazia construction with 0–3 relative clauses between the container
 * poured into and "até que ficasse cheio", so the adjective lands 3–22 words after the noun it
 * describes (each clause adds five words). For each number of clauses the script reports exact match and how often the noun
 * after "until the" is the right one, plus parameters and training time per step on this machine.
 *
 * With --clauses N the sentences hold up to N clauses (default 3), for longer distances.
 *
 *   npx tsx scripts/08-rnn-vs-attention.ts [--fast] [--steps N] [--clauses N] [--out DIR]
 */
import { FlatAdamStepper } from '../src/train/stepper.js';
import { train } from '../src/train/trainer.js';
import { createModel, greedyDecode, Tokenizer, type Model } from '../src/index.js';
import { generateDistanceCases, type DistanceCase } from '../src/data/pt-en.js';
import { BOS_ID, EOS_ID, PAD_ID } from '../src/data/tokenizer.js';
import { createLstmSeq2Seq } from '../src/rnn/seq2seq.js';
import { exactMatch } from '../src/train/metrics.js';
import { gridsSvg, gridTable, linePlotSvg } from '../src/inspect/render.js';
import { section, startScript } from './common.js';

const ctx = await startScript('08-rnn-vs-attention', 'RNN vs attention: exact match against the distance between a noun and its adjective');
const args = process.argv.slice(2);
const stepsFlag = args.indexOf('--steps');
const steps = stepsFlag >= 0 ? Number(args[stepsFlag + 1]) : ctx.fast ? 15 : 1500;
const clausesFlag = args.indexOf('--clauses');
const maxClauses = clausesFlag >= 0 ? Number(args[clausesFlag + 1]) : 3;
const seen = new Set<string>();
const trainCases = generateDistanceCases({ seed: 11, size: ctx.fast ? 300 : 8000, maxClauses, seen });
const validCases = generateDistanceCases({ seed: 12, size: ctx.fast ? 16 : 200, maxClauses, seen });
const testCases = generateDistanceCases({ seed: 13, size: ctx.fast ? 24 : 200 * (maxClauses + 1), maxClauses, seen });
const source = Tokenizer.build('word', trainCases.map((c) => c.source));
const target = Tokenizer.build('word', trainCases.map((c) => c.target));
const encode = (c: DistanceCase) => ({ src: source.encode(c.source, { eos: true }), tgt: target.encode(c.target) });
const train_ = trainCases.map(encode);
const maxLen = Math.max(...[...trainCases, ...validCases, ...testCases].map(encode).flatMap((p) => [p.src.length, p.tgt.length + 1]));
console.log(`${trainCases.length} training sentences, ${testCases.length} test sentences; vocabularies ${source.size}/${target.size}; maxLen ${maxLen}; ${steps} steps each`);
console.log(`e.g. ${testCases.find((c) => c.clauses === 2)?.source ?? testCases[0]!.source}`);

const ids = { pad: PAD_ID, bos: BOS_ID, eos: EOS_ID };
const units = 96;
const candidates: { name: string; make: () => Model; lr: number; warmup: number; schedule: 'noam' | 'constant' }[] = [
  { name: 'LSTM', make: () => createLstmSeq2Seq({ srcVocabSize: source.size, tgtVocabSize: target.size, units, maxLen, attention: false }, { seed: 1 }), lr: 3e-3, warmup: 100, schedule: 'constant' },
  { name: 'LSTM + attention', make: () => createLstmSeq2Seq({ srcVocabSize: source.size, tgtVocabSize: target.size, units, maxLen, attention: true }, { seed: 1 }), lr: 3e-3, warmup: 100, schedule: 'constant' },
  {
    name: 'transformer',
    make: () => createModel({ srcVocabSize: source.size, tgtVocabSize: target.size, dModel: 64, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 256, dropout: 0.1, maxLen }, { seed: 1 }),
    lr: 2e-3,
    warmup: 300,
    schedule: 'noam',
  },
];

interface Row {
  name: string;
  parameters: number;
  msPerStep: number;
  /** Per number of clauses: exact match, right noun after "until the", sentences. */
  byClauses: { clauses: number; distance: number; exact: number; referent: number; n: number }[];
}
const rows: Row[] = [];
for (const c of candidates) {
  section(`Training: ${c.name}`);
  const model = c.make();
  const stepper = new FlatAdamStepper(model, c.lr);
  const began = performance.now();
  let lastLog = 0;
  const result = await train(
    model,
    stepper,
    {
      data: { batchAt: (step, batchSize) => Array.from({ length: batchSize }, (_, i) => train_[(step * batchSize + i) % train_.length]!) },
      valid: validCases.map(encode),
      evaluation: { objective: 'seq2seq', ids },
      start: { step: 0, elapsedSeconds: 0, tokensSeen: 0 },
      steps,
      batchSize: 32,
      schedule: { lr: c.lr, warmup: c.warmup, kind: c.schedule },
      labelSmoothing: 0.1,
      clipNorm: 1,
      validEvery: Math.max(1, Math.floor(steps / 3)),
      seed: 1,
    },
    {
      onStep: (e) => {
        if (performance.now() - lastLog > 30_000 || e.step === e.steps) {
          lastLog = performance.now();
          console.log(`step ${e.step}/${e.steps} loss ${e.loss.toFixed(3)}`);
        }
      },
      onValidation: (v) => console.log(`validation at step ${v.step}: loss ${v.loss.toFixed(3)}, exact match ${((v.exactMatch ?? 0) * 100).toFixed(0)}%`),
    },
  );
  const seconds = (performance.now() - began) / 1000;
  await stepper.dispose();
  // Training time per step, from the trainer's own clock (validation excluded).
  const msPerStep = (1000 * result.state.elapsedSeconds) / Math.max(result.state.step, 1);
  const outputs = await greedyDecode(model as Required<Pick<Model, 'startGeneration'>>, testCases.map((t) => source.encode(t.source, { eos: true })), ids, { maxLen: maxLen - 1 });
  const byClauses = Array.from({ length: maxClauses + 1 }, (_, k) => {
    const at = testCases.map((t, i) => ({ t, out: outputs[i]! })).filter((x) => x.t.clauses === k);
    const exact = exactMatch(at.map((x) => x.out), at.map((x) => target.encode(x.t.target)));
    const referent = at.filter((x) => {
      const words = target.tokensOf(x.out);
      const i = words.findIndex((w, j) => j >= 2 && words[j - 1] === 'the' && words[j - 2] === 'until');
      return i >= 0 && words[i] === x.t.referentEn;
    }).length / Math.max(at.length, 1);
    const distance = at.reduce((s, x) => s + x.t.distance, 0) / Math.max(at.length, 1);
    return { clauses: k, distance, exact, referent, n: at.length };
  });
  rows.push({ name: c.name, parameters: model.countTrainableParams(), msPerStep, byClauses });
  console.log(`${c.name}: ${model.countTrainableParams()} parameters, ${msPerStep.toFixed(0)} ms per training step, ${seconds.toFixed(0)} s in all`);
  console.log(`${c.name} by clauses: ${byClauses.map((b) => `${b.clauses}: exact ${(100 * b.exact).toFixed(0)}%, right noun ${(100 * b.referent).toFixed(0)}%`).join('; ')}`);
  model.dispose();
}

section('Exact match and the right noun, by distance between the noun and its adjective');
const distances = rows[0]!.byClauses.map((b) => `${b.clauses} cl. (~${b.distance.toFixed(0)} w)`);
const exactGrid = { title: 'exact match (share of test sentences translated exactly)', rows: rows.map((r) => r.name), cols: distances, values: rows.map((r) => r.byClauses.map((b) => b.exact)), scale: 1 };
const referentGrid = { title: 'right noun after "until the" (share of test sentences)', rows: rows.map((r) => r.name), cols: distances, values: rows.map((r) => r.byClauses.map((b) => b.referent)), scale: 1 };
console.log(gridTable(exactGrid));
console.log(gridTable(referentGrid));
console.log(`test sentences per column: ${rows[0]!.byClauses.map((b) => b.n).join(', ')}`);
console.log('\nmodel                parameters   ms/step');
for (const r of rows) console.log(`${r.name.padEnd(20)} ${String(r.parameters).padStart(10)} ${r.msPerStep.toFixed(0).padStart(9)}`);

const plot = (pick: (b: Row['byClauses'][number]) => number, what: string) =>
  linePlotSvg(
    rows.map((r) => ({ name: `${r.name} (${r.msPerStep.toFixed(0)} ms/step)`, points: r.byClauses.map((b) => [b.distance, pick(b)] as [number, number]) })),
    `${what} against the noun–adjective distance (${steps} steps each)`,
    { x: 'words between the referent noun and its adjective (mean per clause count)', y: what },
  );
console.log(`\nwrote ${ctx.save('exact-match.svg', plot((b) => b.exact, 'exact match'))}`);
console.log(`wrote ${ctx.save('right-noun.svg', plot((b) => b.referent, 'right noun after "until the"'))}`);
console.log(`wrote ${ctx.save('rnn-vs-attention.svg', gridsSvg([exactGrid, referentGrid], `RNN vs attention, ${steps} training steps each`))}`);
console.log(`wrote ${ctx.save('rnn-vs-attention.json', JSON.stringify({ steps, maxLen, train: trainCases.length, test: testCases.length, rows }, null, 2))}`);
