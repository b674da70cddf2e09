/**
 * What the browser page does with each family: the sentence box's examples, its action, and the
 * results shown above the attention explorer. Every computation is the library's own (the same
 * code the CLI runs in Node); this file only reads the page's inputs and writes text into it.
 */
import type { Arch } from '../config.js';
import { SEED_PAIRS, type ReferentCase } from '../data/pt-en.js';
import { MASK } from '../data/tokenizer.js';
import { SyntheticTask } from '../data/tasks.js';
import { attentionMaps, fromTranslation, type ModelAttention } from '../infer/attention-maps.js';
import { classifyText, fillMask } from '../infer/classify.js';
import type { LoadedModel } from '../infer/loaded.js';
import { Translator } from '../infer/translator.js';
import type { RunConfig } from '../io/model-dir.js';
import type { Transformer } from '../model/transformer.js';

/** What the page computed for the last input (also read by the browser tests). */
export interface PageResult {
  input: string;
  maps: ModelAttention;
  /** Encoder–decoder: the greedy translation; decoder: the greedy continuation. */
  output?: string;
  /** Encoder–decoder: the beam-search translation. */
  beam?: string;
  /** Encoder: the text with each [MASK] filled, and the best tokens for each, with their probabilities. */
  fill?: { filled: string; masks: { position: number; candidates: { token: string; probability: number }[] }[] };
  /** Encoder with a classifier: the label (and the noun it points to, for the referent task) and every class's probability. */
  classes?: { label: string; noun?: string; probabilities: Record<string, number> };
}

export interface FamilyView {
  /** A sentence about the model above the box. */
  about: string;
  /** Id of the submit button. */
  button: string;
  /** Example inputs for the box, from what the model was trained on. */
  examples(run: RunConfig | undefined): string[];
  /** Compute, write the results into the page, and return them. */
  run(loaded: LoadedModel, text: string): Promise<PageResult>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/**
 * Example inputs of the training data's kind: made from the two seed sentences for the toy corpus
 * (by `fromSeed`), a few test inputs for a synthetic task, none for a user's text.
 */
function dataExamples(run: RunConfig | undefined, fromSeed: (pair: ReferentCase) => string[]): string[] {
  const spec = run?.data.spec;
  if (spec === undefined) return [];
  if (spec.kind === 'pt-en' || spec.kind === 'pt' || spec.kind === 'referent') return [...new Set(SEED_PAIRS.flatMap(fromSeed))];
  if (spec.kind === 'task') {
    const task = new SyntheticTask(spec.task, { symbols: spec.symbols, minLen: spec.minLen, maxLen: spec.maxLen, seed: run!.training.seed });
    return task.test.slice(0, 3).map((p) => p.source);
  }
  return [];
}

/** The container an adjective describes, in a seed sentence. */
const referentNoun = (pair: ReferentCase) => (pair.referent === 'into' ? pair.into : pair.from);

const encoderDecoder: FamilyView = {
  about: 'A small encoder–decoder transformer running in your browser with TensorFlow.js: type a sentence to translate, then see where each layer and head looks.',
  button: 'translate',
  examples: (run) => dataExamples(run, (pair) => [pair.source]),
  async run(loaded, source) {
    const translator = new Translator(loaded.dir, loaded.model as Transformer, loaded.source, loaded.target, loaded.run);
    const beam = Math.max(1, Math.min(8, Math.floor(Number($<HTMLInputElement>('beam').value) || 1)));
    const greedy = await translator.translate(source);
    const withBeam = await translator.translate(source, { beam });
    const maps = fromTranslation(source, await translator.attention(source));
    $('greedy').textContent = greedy.output;
    $('beam-label').textContent = `Beam (K = ${beam})`;
    $('beam-output').textContent = withBeam.output;
    $('unknown').textContent = greedy.unknown.length > 0 ? `Words the model never saw in training (read as <unk>): ${greedy.unknown.join(', ')}` : '';
    return { input: source, output: greedy.output, beam: withBeam.output, maps };
  },
};

const decoder: FamilyView = {
  about: 'A small decoder-only transformer (GPT) running in your browser with TensorFlow.js: type the start of a text, it continues it greedily, then see where each position looks (only backwards).',
  button: 'generate',
  // The toy corpus: the sentence up to the adjective (its gender must match the referent), or up to the referent noun.
  examples: (run) => dataExamples(run, (pair) => [pair.source.slice(0, pair.source.indexOf(` ${pair.adjective}`)), pair.source.slice(0, pair.source.indexOf(` ${referentNoun(pair)} `))]),
  async run(loaded, prompt) {
    const maxNew = Math.max(1, Math.floor(Number($<HTMLInputElement>('max-new').value) || 1));
    const maps = await attentionMaps(loaded, prompt, { continuation: true, maxNew });
    $('prompt-echo').textContent = prompt;
    $('continuation').textContent = maps.output ?? '';
    return { input: prompt, output: maps.output, maps };
  },
};

const encoder: FamilyView = {
  about:
    'A small encoder-only transformer (BERT) running in your browser with TensorFlow.js: type a sentence, with [MASK] where a word is hidden; it proposes the words that fit (and labels the sentence when it has classes), then see where each token looks (both ways).',
  button: 'read',
  // The toy corpus: the adjective or the noun it describes hidden; a referent classifier reads the whole sentence.
  examples: (run) =>
    dataExamples(run, (pair) =>
      run?.data.spec.kind === 'referent' ? [pair.source] : [pair.source.replace(` ${pair.adjective}`, ' [MASK]'), pair.source.replace(` ${referentNoun(pair)} `, ' [MASK] ')],
    ),
  async run(loaded, text) {
    const maps = await attentionMaps(loaded, text);
    const result: PageResult = { input: text, maps };
    // Fill-mask when the model read a mask; classification when it has a classifier.
    const fillBox = $('fill-mask');
    fillBox.textContent = '';
    if (maps.maps[0]!.rows.includes(MASK)) {
      const filled = await fillMask(loaded, text, { topK: 5 });
      result.fill = { filled: filled.filled, masks: filled.masks };
      fillBox.appendChild(line('Filled', filled.filled));
      filled.masks.forEach((m, i) => {
        fillBox.appendChild(line(filled.masks.length > 1 ? `[MASK] ${i + 1}` : '[MASK]', ''));
        fillBox.appendChild(probabilityTable(m.candidates.map((c) => [c.token, c.probability])));
      });
    }
    const classBox = $('classification');
    classBox.textContent = '';
    const config = loaded.model.config;
    if (config.arch === 'encoder' && config.numClasses > 0) {
      const c = await classifyText(loaded, text);
      result.classes = { label: c.label, ...(c.noun !== undefined ? { noun: c.noun } : {}), probabilities: c.probabilities };
      classBox.appendChild(line('Class', c.noun === undefined ? c.label : `${c.label} (${c.noun})`));
      classBox.appendChild(probabilityTable(Object.entries(c.probabilities)));
    }
    return result;
  },
};

/** A result line: a grey label, then the text. */
function line(label: string, text: string): HTMLElement {
  const p = document.createElement('p');
  const l = document.createElement('span');
  l.className = 'label';
  l.textContent = label;
  p.append(l, ' ', text);
  return p;
}

/** Names with their probabilities, as bars. */
function probabilityTable(rows: [string, number][]): HTMLElement {
  const table = document.createElement('table');
  table.className = 'probs';
  for (const [name, probability] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = name;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(200 * probability)}px`;
    tr.insertCell().appendChild(bar);
    tr.insertCell().textContent = probability.toFixed(3);
  }
  return table;
}

export const VIEWS: Readonly<Record<Arch, FamilyView>> = { 'encoder-decoder': encoderDecoder, decoder, encoder };
