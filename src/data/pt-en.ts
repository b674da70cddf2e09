import { DataError } from '../errors.js';
import { Random } from '../util/random.js';
import type { Pair, Splits } from './types.js';

/*
 * A toy Portuguese→English corpus from a small grammar, built around one construction whose
 * translation can only be right if attention follows gender agreement:
 *
 *   Ela derramou água da jarra para o copo até que ficasse cheio.  → … until the glass was full.
 *   Ela derramou água da jarra para o copo até que ficasse vazia.  → … until the jug was empty.
 *
 * "Full" can only describe the container poured into and "empty" the one poured from, but the only
 * clue in the sentence for which noun to write after "until the" is the adjective's gender. So the
 * two containers always differ in gender, and plain sentences teach every noun with its gender.
 */

type Gender = 'f' | 'm';

interface Word {
  readonly pt: string;
  readonly en: string;
}

interface Noun extends Word {
  readonly gender: Gender;
}

/** Portuguese adjectives agree with their noun; English ones do not. */
interface Adjective {
  readonly f: string;
  readonly m: string;
  readonly en: string;
}

const SUBJECTS: readonly Word[] = [
  { pt: 'Ela', en: 'She' },
  { pt: 'Ele', en: 'He' },
  { pt: 'A menina', en: 'The girl' },
  { pt: 'O menino', en: 'The boy' },
  { pt: 'A mulher', en: 'The woman' },
  { pt: 'O homem', en: 'The man' },
];

const POUR_VERBS: readonly Word[] = [
  { pt: 'derramou', en: 'poured' },
  { pt: 'despejou', en: 'tipped' },
];

/** Mass nouns: Portuguese uses no article after the verb ("derramou água"), like English. */
const LIQUIDS: readonly Word[] = [
  { pt: 'água', en: 'water' },
  { pt: 'leite', en: 'milk' },
  { pt: 'suco', en: 'juice' },
  { pt: 'vinho', en: 'wine' },
  { pt: 'café', en: 'coffee' },
  { pt: 'chá', en: 'tea' },
];

/**
 * The containers, half of each gender. Not every masculine noun ends in -o (balde, pote, tanque,
 * cálice, barril), so gender has to be learnt per noun rather than read off the last letter, and
 * jarra/jarro differ only in gender.
 */
export const CONTAINERS: readonly Noun[] = Object.freeze([
  { pt: 'jarra', en: 'jug', gender: 'f' },
  { pt: 'garrafa', en: 'bottle', gender: 'f' },
  { pt: 'xícara', en: 'cup', gender: 'f' },
  { pt: 'panela', en: 'pot', gender: 'f' },
  { pt: 'tigela', en: 'bowl', gender: 'f' },
  { pt: 'caneca', en: 'mug', gender: 'f' },
  { pt: 'lata', en: 'can', gender: 'f' },
  { pt: 'chaleira', en: 'kettle', gender: 'f' },
  { pt: 'copo', en: 'glass', gender: 'm' },
  { pt: 'balde', en: 'bucket', gender: 'm' },
  { pt: 'pote', en: 'jar', gender: 'm' },
  { pt: 'jarro', en: 'pitcher', gender: 'm' },
  { pt: 'barril', en: 'barrel', gender: 'm' },
  { pt: 'tanque', en: 'tank', gender: 'm' },
  { pt: 'frasco', en: 'flask', gender: 'm' },
  { pt: 'cálice', en: 'goblet', gender: 'm' },
] as const);

/** "de"/"em" contract with the article; "para" does not. */
const ARTICLES = {
  f: { the: 'a', from: 'da', in: 'na', to: 'para a' },
  m: { the: 'o', from: 'do', in: 'no', to: 'para o' },
} as const;

const FULL: Adjective = { f: 'cheia', m: 'cheio', en: 'full' };
const EMPTY: Adjective = { f: 'vazia', m: 'vazio', en: 'empty' };
const QUALITIES: readonly Adjective[] = [
  { f: 'limpa', m: 'limpo', en: 'clean' },
  { f: 'suja', m: 'sujo', en: 'dirty' },
  { f: 'pequena', m: 'pequeno', en: 'small' },
  { f: 'grande', m: 'grande', en: 'big' },
];
/** Adjectives said of a container on its own ("O copo está cheio."). */
const STATES: readonly Adjective[] = [FULL, EMPTY, ...QUALITIES];
/**
 * An optional adjective after the noun in plain action sentences. Full/empty stay out of them, so
 * that after a verb of pouring they only ever appear in the referent construction.
 */
const ATTRIBUTES: readonly (Adjective | undefined)[] = [undefined, ...QUALITIES];

/** Plain-sentence actions on one container ("Ele lavou o balde."). */
const HANDLE_VERBS: readonly Word[] = [
  { pt: 'lavou', en: 'washed' },
  { pt: 'quebrou', en: 'broke' },
  { pt: 'esvaziou', en: 'emptied' },
  { pt: 'comprou', en: 'bought' },
];

export interface ReferentCase extends Pair {
  /** Portuguese source container (poured from) and destination (poured into). */
  from: string;
  into: string;
  /** English nouns of the two containers. */
  fromEn: string;
  intoEn: string;
  /** The Portuguese adjective as written, e.g. 'vazia'. */
  adjective: string;
  /** Which container the adjective refers to: 'into' for full, 'from' for empty. */
  referent: 'from' | 'into';
  /** English noun of the referent. */
  referentEn: string;
}

export interface PtEnCorpus extends Splits {
  /**
   * Referent sentences of the test split whose (from, into) container pair never occurs together
   * (either order) in any training or validation referent sentence.
   */
  heldOutReferent: ReferentCase[];
}

export interface PtEnOptions {
  /** Seed of every random choice. Default: 1. */
  seed?: number;
  /** Training pairs, including both seed pairs. Default: 6000. */
  size?: number;
  /** Validation pairs. Default: 300. */
  validSize?: number;
  /** Test pairs. Default: 500. */
  testSize?: number;
}

const DEFAULTS: Required<PtEnOptions> = { seed: 1, size: 6000, validSize: 300, testSize: 500 };

/** Share of the feminine–masculine container pairs kept out of training referent sentences. */
const HELD_OUT_SHARE = 0.2;
/** Shares of the test split: referent sentences of held-out pairs, and of training pairs. */
const TEST_HELD_OUT_SHARE = 0.3;
const TEST_TRAINED_SHARE = 0.2;
/** Share of referent sentences in the training and validation splits. */
const REFERENT_SHARE = 0.5;
/** Drawing distinct sentences by rejection slows down sharply as a pool runs out; stop well before. */
const MAX_FILL = 0.75;

/** Build one referent sentence (used by scripts to probe the model). */
export function referentSentence(args: {
  subject?: string;
  verb?: string;
  liquid?: string;
  from: string;
  into: string;
  referent: 'from' | 'into';
  /**
   * The adjective, by its English meaning: 'full', 'empty', 'clean' or 'dirty'. Default: 'full'
   * for the container poured into, 'empty' for the one poured from (the only readings that make
   * sense of the pouring).
   */
  state?: string;
}): ReferentCase {
  const from = lookup(CONTAINERS, args.from, 'container');
  const into = lookup(CONTAINERS, args.into, 'container');
  if (from.gender === into.gender) {
    throw new DataError(
      `containers '${from.pt}' and '${into.pt}' have the same gender (${from.gender}), ` +
        'so the adjective could refer to either; pick one feminine and one masculine container',
    );
  }
  if (args.referent !== 'from' && args.referent !== 'into') {
    throw new DataError(`referent '${String(args.referent)}' must be 'from' or 'into'`);
  }
  return buildReferent(
    lookup(SUBJECTS, args.subject ?? 'Ela', 'subject'),
    lookup(POUR_VERBS, args.verb ?? 'derramou', 'verb'),
    lookup(LIQUIDS, args.liquid ?? 'água', 'liquid'),
    from,
    into,
    args.referent,
    args.state === undefined ? undefined : lookupState(args.state),
  );
}

/** The pair of seed sentences: the same pouring, once ending "full" (the glass), once "empty" (the jug). */
export const SEED_PAIRS: readonly ReferentCase[] = Object.freeze([
  referentSentence({ from: 'jarra', into: 'copo', referent: 'into' }),
  referentSentence({ from: 'jarra', into: 'copo', referent: 'from' }),
]);

/** Write pairs as TSV text: one `source<TAB>target` per line, ending with a newline. */
export function toTsv(pairs: readonly Pair[]): string {
  return pairs
    .map(({ source, target }) => {
      // A tab or newline inside a sentence would silently shift the columns of every later line.
      if (/[\t\n\r]/.test(source + target)) {
        throw new DataError(`pair ${JSON.stringify({ source, target })} contains a tab or newline`);
      }
      return `${source}\t${target}\n`;
    })
    .join('');
}

/**
 * Generate train / validation / test splits. Every source sentence occurs once in the whole corpus.
 * The test split is drawn first, from its own random stream, so it does not change with `size`.
 */
export function generatePtEn(options: PtEnOptions = {}): PtEnCorpus {
  const o = resolveOptions(options);
  const random = new Random(o.seed);
  const { trained, heldOut } = splitContainerPairs(random.fork());
  const [testRandom, validRandom, trainRandom] = [random.fork(), random.fork(), random.fork()];

  const testHeldOut = Math.round(o.testSize * TEST_HELD_OUT_SHARE);
  const testTrained = Math.round(o.testSize * TEST_TRAINED_SHARE);
  const validReferent = Math.round(o.validSize * REFERENT_SHARE);
  const trainReferent = Math.max(SEED_PAIRS.length, Math.round(o.size * REFERENT_SHARE));
  const plainNeeded = o.size - trainReferent + (o.validSize - validReferent) + (o.testSize - testHeldOut - testTrained);
  checkCapacity('plain', plainNeeded, PLAIN_CAPACITY);
  checkCapacity('referent (training pairs)', trainReferent + validReferent + testTrained, trained.length * REFERENT_PER_PAIR);
  checkCapacity('referent (held-out pairs)', testHeldOut, heldOut.length * REFERENT_PER_PAIR);

  const seen = new Set(SEED_PAIRS.map((p) => p.source));
  const testPairs: Pair[] = testRandom.shuffle([
    ...drawDistinct(testHeldOut, seen, () => drawReferent(testRandom, heldOut)),
    ...drawDistinct(testTrained, seen, () => drawReferent(testRandom, trained)),
    ...drawPlain(testRandom, o.testSize - testHeldOut - testTrained, seen, false),
  ]);
  const validPairs: Pair[] = validRandom.shuffle([
    ...drawDistinct(validReferent, seen, () => drawReferent(validRandom, trained)),
    ...drawPlain(validRandom, o.validSize - validReferent, seen, false),
  ]);
  const trainPairs: Pair[] = trainRandom.shuffle([
    ...SEED_PAIRS,
    ...drawDistinct(trainReferent - SEED_PAIRS.length, seen, () => drawReferent(trainRandom, trained)),
    ...drawPlain(trainRandom, o.size - trainReferent, seen, true),
  ]);

  // Decided from the sentences themselves, so the field means exactly what its doc says.
  const seenTogether = new Set([...trainPairs, ...validPairs].filter(isReferentCase).map(pairKey));
  return {
    train: trainPairs.map(stripPair),
    valid: validPairs.map(stripPair),
    test: testPairs.map(stripPair),
    heldOutReferent: testPairs.filter(isReferentCase).filter((c) => !seenTogether.has(pairKey(c))),
  };
}

function buildReferent(subject: Word, verb: Word, liquid: Word, from: Noun, into: Noun, referent: 'from' | 'into', state: Adjective = referent === 'into' ? FULL : EMPTY): ReferentCase {
  const noun = referent === 'into' ? into : from;
  return {
    source:
      `${subject.pt} ${verb.pt} ${liquid.pt} ${ARTICLES[from.gender].from} ${from.pt} ` +
      `${ARTICLES[into.gender].to} ${into.pt} até que ficasse ${state[noun.gender]}.`,
    target: `${subject.en} ${verb.en} ${liquid.en} from the ${from.en} into the ${into.en} until the ${noun.en} was ${state.en}.`,
    from: from.pt,
    into: into.pt,
    fromEn: from.en,
    intoEn: into.en,
    adjective: state[noun.gender],
    referent,
    referentEn: noun.en,
  };
}

type ContainerPair = readonly [Noun, Noun];

/** Distinct sentences one unordered container pair yields: 2 orders × 2 referents × the rest. */
const REFERENT_PER_PAIR = 2 * 2 * SUBJECTS.length * POUR_VERBS.length * LIQUIDS.length;

function drawReferent(random: Random, pairs: readonly ContainerPair[]): ReferentCase {
  const [a, b] = random.pick(pairs);
  const [from, into] = random.next() < 0.5 ? [a, b] : [b, a];
  const referent = random.next() < 0.5 ? 'into' : 'from';
  return buildReferent(random.pick(SUBJECTS), random.pick(POUR_VERBS), random.pick(LIQUIDS), from, into, referent);
}

/** All unordered feminine–masculine pairs, split into those trained on and those held out. */
function splitContainerPairs(random: Random): { trained: ContainerPair[]; heldOut: ContainerPair[] } {
  const feminine = CONTAINERS.filter((c) => c.gender === 'f');
  const masculine = CONTAINERS.filter((c) => c.gender === 'm');
  const all = feminine.flatMap((f) => masculine.map((m): ContainerPair => [f, m]));
  // The seed sentences are training examples, so their pair can never be held out.
  const seed = SEED_PAIRS[0]!;
  const isSeed = ([f, m]: ContainerPair) => f.pt === seed.from && m.pt === seed.into;
  const candidates = random.shuffle(all.filter((p) => !isSeed(p)));
  const count = Math.round(all.length * HELD_OUT_SHARE);
  return { heldOut: candidates.slice(0, count), trained: [...all.filter(isSeed), ...candidates.slice(count)] };
}

/*
 * The same construction as a classification task: which container does the adjective describe?
 *
 *   Ela derramou água da jarra para o copo até que ficasse cheio.  → into (o copo)
 *   Ela derramou água da jarra para o copo até que ficasse vazia.  → from (a jarra)
 *
 * In the translation corpus "full" always describes the container poured into and "empty" the one
 * poured from, so a classifier could read the answer off the adjective's meaning and never look at
 * a noun. Here the adjective (full, empty, clean or dirty) is drawn independently of the container
 * it describes — some sentences tell of odd pourings, but all are grammatical — so only its gender,
 * matched against the genders of the two containers, decides.
 */

/** The classes of the referent task, by index: the container poured from, and the one poured into. */
export const REFERENT_LABELS: readonly ('from' | 'into')[] = Object.freeze(['from', 'into'] as const);

/** Adjectives that end a referent-classification sentence; each has distinct feminine and masculine forms. */
const REFERENT_STATES: readonly Adjective[] = [FULL, EMPTY, QUALITIES[0]!, QUALITIES[1]!];

export interface ReferentCorpus {
  /** Sentences of the training container pairs, including both seed sentences. */
  train: ReferentCase[];
  /** Other sentences of the training container pairs. */
  valid: ReferentCase[];
  /** Sentences of the held-out container pairs only: no two of their containers occur together in train or valid. */
  test: ReferentCase[];
  /** The held-out (feminine, masculine) container pairs. */
  heldOutPairs: [string, string][];
}

/**
 * Referent-classification splits. The container pairs are split exactly as `generatePtEn` splits
 * them for the same seed, so an encoder pre-trained on that corpus's Portuguese (same seed) has not
 * seen the test pairs together either. Every sentence occurs once in the whole corpus.
 */
export function generateReferent(options: PtEnOptions = {}): ReferentCorpus {
  const o = resolveOptions(options);
  const random = new Random(o.seed);
  const { trained, heldOut } = splitContainerPairs(random.fork());
  const [testRandom, validRandom, trainRandom] = [random.fork(), random.fork(), random.fork()];
  checkCapacity('referent (training pairs)', o.size + o.validSize, trained.length * CLASSIFIED_PER_PAIR);
  checkCapacity('referent (held-out pairs)', o.testSize, heldOut.length * CLASSIFIED_PER_PAIR);
  const seen = new Set(SEED_PAIRS.map((p) => p.source));
  const test = drawDistinct(o.testSize, seen, () => drawClassified(testRandom, heldOut));
  const valid = drawDistinct(o.validSize, seen, () => drawClassified(validRandom, trained));
  const train = trainRandom.shuffle([...SEED_PAIRS, ...drawDistinct(o.size - SEED_PAIRS.length, seen, () => drawClassified(trainRandom, trained))]);
  return { train, valid, test, heldOutPairs: heldOut.map(([f, m]) => [f.pt, m.pt]) };
}

/**
 * The two containers of a sentence of the referent construction ("… da jarra para o copo …"), as
 * written; undefined when the sentence does not have that shape.
 */
export function referentNouns(text: string): { from: string; into: string } | undefined {
  const m = /(?:^|\s)d[ao]\s+([\p{L}\p{M}-]+)\s+para\s+[ao]\s+([\p{L}\p{M}-]+)/iu.exec(text.normalize('NFC'));
  return m ? { from: m[1]!, into: m[2]! } : undefined;
}

/** Distinct classification sentences one unordered pair yields: 2 orders × 2 referents × the adjectives × the rest. */
const CLASSIFIED_PER_PAIR = REFERENT_PER_PAIR * REFERENT_STATES.length;

function drawClassified(random: Random, pairs: readonly ContainerPair[]): ReferentCase {
  const [a, b] = random.pick(pairs);
  const [from, into] = random.next() < 0.5 ? [a, b] : [b, a];
  const referent = random.next() < 0.5 ? 'into' : 'from';
  const state = random.pick(REFERENT_STATES);
  return buildReferent(random.pick(SUBJECTS), random.pick(POUR_VERBS), random.pick(LIQUIDS), from, into, referent, state);
}

function lookupState(en: string): Adjective {
  const found = REFERENT_STATES.find((a) => a.en === en);
  if (!found) throw new DataError(`unknown state '${en}' (choose one of: ${REFERENT_STATES.map((a) => a.en).join(', ')})`);
  return found;
}

interface PlainTemplate {
  /** Relative frequency among plain sentences. */
  readonly weight: number;
  /** How many distinct sentences the template can make. */
  readonly size: number;
  draw(random: Random, container: Noun): Pair;
}

const PLAIN_TEMPLATES: readonly PlainTemplate[] = [
  {
    // "Ela derramou leite na xícara limpa." → "She poured milk into the clean cup."
    weight: 3,
    size: SUBJECTS.length * POUR_VERBS.length * LIQUIDS.length * CONTAINERS.length * ATTRIBUTES.length,
    draw(random, c) {
      const [s, v, l, n] = [random.pick(SUBJECTS), random.pick(POUR_VERBS), random.pick(LIQUIDS), phrase(c, random.pick(ATTRIBUTES))];
      return sentence(`${s.pt} ${v.pt} ${l.pt} ${ARTICLES[c.gender].in} ${n.pt}`, `${s.en} ${v.en} ${l.en} into the ${n.en}`);
    },
  },
  {
    // "O homem encheu a garrafa de suco." → "The man filled the bottle with juice."
    weight: 2,
    size: SUBJECTS.length * LIQUIDS.length * CONTAINERS.length * ATTRIBUTES.length,
    draw(random, c) {
      const [s, l, n] = [random.pick(SUBJECTS), random.pick(LIQUIDS), phrase(c, random.pick(ATTRIBUTES))];
      return sentence(`${s.pt} encheu ${ARTICLES[c.gender].the} ${n.pt} de ${l.pt}`, `${s.en} filled the ${n.en} with ${l.en}`);
    },
  },
  {
    // "A menina bebeu chá da caneca suja." → "The girl drank tea from the dirty mug."
    weight: 2,
    size: SUBJECTS.length * LIQUIDS.length * CONTAINERS.length * ATTRIBUTES.length,
    draw(random, c) {
      const [s, l, n] = [random.pick(SUBJECTS), random.pick(LIQUIDS), phrase(c, random.pick(ATTRIBUTES))];
      return sentence(`${s.pt} bebeu ${l.pt} ${ARTICLES[c.gender].from} ${n.pt}`, `${s.en} drank ${l.en} from the ${n.en}`);
    },
  },
  {
    // "Ele lavou o balde grande." → "He washed the big bucket."
    weight: 2,
    size: SUBJECTS.length * HANDLE_VERBS.length * CONTAINERS.length * ATTRIBUTES.length,
    draw(random, c) {
      const [s, v, n] = [random.pick(SUBJECTS), random.pick(HANDLE_VERBS), phrase(c, random.pick(ATTRIBUTES))];
      return sentence(`${s.pt} ${v.pt} ${ARTICLES[c.gender].the} ${n.pt}`, `${s.en} ${v.en} the ${n.en}`);
    },
  },
  {
    // "A jarra está vazia." → "The jug is empty." The same predicative agreement as "ficasse vazia".
    weight: 1,
    size: CONTAINERS.length * STATES.length,
    draw(random, c) {
      const a = random.pick(STATES);
      return sentence(`${ARTICLES[c.gender].the} ${c.pt} está ${a[c.gender]}`, `the ${c.en} is ${a.en}`);
    },
  },
  {
    // "O copo cheio está na mesa." → "The full glass is on the table." The adjective moves in English.
    weight: 1,
    size: CONTAINERS.length * STATES.length,
    draw(random, c) {
      const n = phrase(c, random.pick(STATES));
      return sentence(`${ARTICLES[c.gender].the} ${n.pt} está na mesa`, `the ${n.en} is on the table`);
    },
  },
];

const PLAIN_CAPACITY = PLAIN_TEMPLATES.reduce((sum, t) => sum + t.size, 0);
const PLAIN_WEIGHT = PLAIN_TEMPLATES.reduce((sum, t) => sum + t.weight, 0);

/**
 * `count` distinct plain sentences. With `coverContainers`, the first ones go through every
 * container in turn, so each noun and its gender are seen in training even in a small corpus.
 */
function drawPlain(random: Random, count: number, seen: Set<string>, coverContainers: boolean): Pair[] {
  const covered = coverContainers ? CONTAINERS.slice(0, count) : [];
  return [
    ...covered.flatMap((c) => drawDistinct(1, seen, () => pickTemplate(random).draw(random, c))),
    ...drawDistinct(count - covered.length, seen, () => pickTemplate(random).draw(random, random.pick(CONTAINERS))),
  ];
}

function pickTemplate(random: Random): PlainTemplate {
  let r = random.next() * PLAIN_WEIGHT;
  for (const t of PLAIN_TEMPLATES) {
    r -= t.weight;
    if (r < 0) return t;
  }
  return PLAIN_TEMPLATES[PLAIN_TEMPLATES.length - 1]!;
}

/** Draw until `count` sentences not in `seen` are found, adding each to `seen`. */
function drawDistinct<T extends Pair>(count: number, seen: Set<string>, draw: () => T): T[] {
  const out: T[] = [];
  // checkCapacity keeps every pool at most MAX_FILL full, so this bound is only reached through a bug.
  const maxAttempts = 1000 + 100 * count;
  for (let attempt = 0; out.length < count; attempt++) {
    if (attempt >= maxAttempts) throw new DataError(`found only ${out.length} of ${count} distinct sentences after ${attempt} draws`);
    const pair = draw();
    if (seen.has(pair.source)) continue;
    seen.add(pair.source);
    out.push(pair);
  }
  return out;
}

function checkCapacity(kind: string, needed: number, capacity: number): void {
  const limit = Math.floor(capacity * MAX_FILL);
  if (needed > limit) {
    throw new DataError(
      `the options need ${needed} distinct ${kind} sentences, more than ${limit} ` +
        `(3/4 of the ${capacity} the grammar can make); lower size, validSize or testSize`,
    );
  }
}

function resolveOptions(options: PtEnOptions): Required<PtEnOptions> {
  const o: Required<PtEnOptions> = {
    seed: options.seed ?? DEFAULTS.seed,
    size: options.size ?? DEFAULTS.size,
    validSize: options.validSize ?? DEFAULTS.validSize,
    testSize: options.testSize ?? DEFAULTS.testSize,
  };
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new DataError(`seed (${o.seed}) must be a non-negative integer`);
  for (const name of ['size', 'validSize', 'testSize'] as const) {
    if (!Number.isSafeInteger(o[name]) || o[name] < 1) throw new DataError(`${name} (${o[name]}) must be a positive integer`);
  }
  if (o.size < SEED_PAIRS.length) throw new DataError(`size (${o.size}) must be at least ${SEED_PAIRS.length}, to hold both seed pairs`);
  return o;
}

function lookup<T extends Word>(words: readonly T[], value: string, what: string): T {
  const found = words.find((w) => w.pt === value);
  if (!found) throw new DataError(`unknown ${what} '${value}' (choose one of: ${words.map((w) => w.pt).join(', ')})`);
  return found;
}

/** A container with an optional adjective: after the noun in Portuguese, before it in English. */
function phrase(noun: Noun, adjective: Adjective | undefined): Word {
  return adjective ? { pt: `${noun.pt} ${adjective[noun.gender]}`, en: `${adjective.en} ${noun.en}` } : noun;
}

/** Capitalise the first word and attach the full stop, the way the tokenizer expects. */
function sentence(pt: string, en: string): Pair {
  const finish = (s: string) => `${s[0]!.toUpperCase()}${s.slice(1)}.`;
  return { source: finish(pt), target: finish(en) };
}

function isReferentCase(pair: Pair): pair is ReferentCase {
  return 'referent' in pair;
}

function pairKey(c: ReferentCase): string {
  return [c.from, c.into].sort().join('+');
}

function stripPair({ source, target }: Pair): Pair {
  return { source, target };
}

/** A sentence of the referent construction, read back: its containers, its adjective and the noun it describes. */
export interface ReferentReading {
  /** Portuguese containers as written: poured from, poured into. */
  from: string;
  into: string;
  /** English nouns of the two containers. */
  fromEn: string;
  intoEn: string;
  /** The adjective as written ('cheio') and the same adjective in the other gender ('cheia'). */
  adjective: string;
  otherGender: string;
  /** Which container the adjective agrees with, and its English noun. */
  referent: 'from' | 'into';
  referentEn: string;
  /** The other container's English noun. */
  otherEn: string;
  /** The twin whose adjective describes the other container ("… cheio." ↔ "… vazia."): the referent flips. */
  adjectiveTwin: string;
  /** The twin with the two containers swapped ("da jarra para o copo" ↔ "do copo para a jarra"), the adjective kept. */
  containersTwin: string;
}

/**
 * Read a sentence of the referent construction ("… da jarra para o copo … cheio."): which
 * container the final adjective agrees with, and its two twins that move the referent. A
 * `DataError` names what is missing when the text lacks the two containers or the adjective.
 */
export function readReferent(text: string): ReferentReading {
  const nouns = referentNouns(text);
  if (nouns === undefined) throw new DataError(`'${text}' has no "da|do X para a|o Y" with two containers`);
  const from = CONTAINERS.find((c) => c.pt === nouns.from.toLowerCase());
  const into = CONTAINERS.find((c) => c.pt === nouns.into.toLowerCase());
  if (!from || !into) throw new DataError(`'${text}': ${!from ? nouns.from : nouns.into} is not a container (choose from ${CONTAINERS.map((c) => c.pt).join(', ')})`);
  if (from.gender === into.gender) throw new DataError(`'${text}': ${from.pt} and ${into.pt} have the same gender, so the adjective could describe either`);
  const words = text.normalize('NFC').match(/[\p{L}\p{M}]+/gu) ?? [];
  const last = words.at(-1)?.toLowerCase() ?? '';
  const state = STATES.find((a) => a.f !== a.m && (a.f === last || a.m === last));
  if (state === undefined) throw new DataError(`'${text}' does not end with an adjective that agrees with one container (e.g. ${FULL.m}, ${EMPTY.f})`);
  const gender: Gender = state.f === last ? 'f' : 'm';
  const [noun, other] = from.gender === gender ? [from, into] : [into, from];
  // The twin's adjective describes the other noun: full ↔ empty keep the pouring sensible, other states stay.
  const twinState = state === FULL ? EMPTY : state === EMPTY ? FULL : state;
  const end = text.normalize('NFC').lastIndexOf(last);
  const swapped = text
    .normalize('NFC')
    .replace(new RegExp(`\\bd[ao]\\s+${from.pt}\\s+para\\s+[ao]\\s+${into.pt}\\b`, 'iu'), `${ARTICLES[into.gender].from} ${into.pt} ${ARTICLES[from.gender].to} ${from.pt}`);
  return {
    from: from.pt,
    into: into.pt,
    fromEn: from.en,
    intoEn: into.en,
    adjective: last,
    otherGender: state[gender === 'f' ? 'm' : 'f'],
    referent: noun === from ? 'from' : 'into',
    referentEn: noun.en,
    otherEn: other.en,
    adjectiveTwin: `${text.normalize('NFC').slice(0, end)}${twinState[other.gender]}${text.normalize('NFC').slice(end + last.length)}`,
    containersTwin: swapped,
  };
}

/*
 * The referent construction with the two words it links pulled apart: relative clauses after the
 * container poured into ("… para o copo, que estava na mesa e que ela comprou ontem, até que
 * ficasse cheio.") put more and more words between the nouns and the adjective. The clauses hold
 * no adjective, so the only agreement clue is still the final one.
 */

/** Relative clauses of four Portuguese words that describe a container without naming its gender. */
const FILLER_CLAUSES: readonly Word[] = [
  { pt: 'que estava na mesa', en: 'which was on the table' },
  { pt: 'que ela comprou ontem', en: 'which she bought yesterday' },
  { pt: 'que ele trouxe hoje', en: 'which he brought today' },
  { pt: 'que ficava na cozinha', en: 'which stood in the kitchen' },
  { pt: 'que estava no chão', en: 'which was on the floor' },
  { pt: 'que alguém deixou ali', en: 'which someone left there' },
];

export interface DistanceCase extends ReferentCase {
  /** Filler clauses between the container poured into and "até que ficasse". */
  clauses: number;
  /** Words between the referent noun and the adjective. */
  distance: number;
}

export interface DistanceOptions {
  seed?: number;
  /** Sentences to draw. */
  size: number;
  /** Most filler clauses (each sentence gets 0 … maxClauses, evenly). Default: 3. */
  maxClauses?: number;
  /** Sentences not to repeat (and to add the drawn ones to). */
  seen?: Set<string>;
}

/**
 * Referent sentences with 0 … maxClauses filler clauses (evenly spread), with their translations,
 * every source distinct. Distance grows by five words a clause (four words and "e"/a comma).
 */
export function generateDistanceCases(options: DistanceOptions): DistanceCase[] {
  const random = new Random(options.seed ?? 1);
  const maxClauses = options.maxClauses ?? 3;
  const seen = options.seen ?? new Set<string>();
  const feminine = CONTAINERS.filter((c) => c.gender === 'f');
  const masculine = CONTAINERS.filter((c) => c.gender === 'm');
  return drawDistinct(options.size, seen, () => {
    const clauses = Math.floor(random.next() * (maxClauses + 1));
    const [a, b] = [random.pick(feminine), random.pick(masculine)];
    const [from, into] = random.next() < 0.5 ? [a, b] : [b, a];
    const referent = random.next() < 0.5 ? 'into' : 'from';
    const base = buildReferent(random.pick(SUBJECTS), random.pick(POUR_VERBS), random.pick(LIQUIDS), from, into, referent);
    const chosen = random.shuffle([...FILLER_CLAUSES]).slice(0, clauses);
    if (clauses === 0) return { ...base, clauses, distance: distanceOf(base.source, base) };
    const pt = `, ${chosen.map((c) => c.pt).join(' e ')},`;
    const en = `, ${chosen.map((c) => c.en).join(' and ')},`;
    const source = base.source.replace(` ${into.pt} até`, ` ${into.pt}${pt} até`);
    const target = base.target.replace(` ${into.en} until`, ` ${into.en}${en} until`);
    const c = { ...base, source, target };
    return { ...c, clauses, distance: distanceOf(source, c) };
  });
}

/** Words (and commas) between the referent noun and the adjective. */
function distanceOf(source: string, c: ReferentCase): number {
  const words = source.replace(/,/g, ' ,').replace(/\.$/, '').split(/\s+/);
  const noun = c.referent === 'into' ? c.into : c.from;
  return words.lastIndexOf(c.adjective) - words.indexOf(noun) - 1;
}
