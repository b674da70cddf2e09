/**
 * Optional ways a tokenizer reads text less literally: lowercased (with the usual case of each word
 * learned from the training text, to give it back on output) and without accents (so "agua" and
 * "água" are one word). Plain data, saved in tokenizer.json.
 */
export interface TextForm {
  /** Text is lowercased before it is tokenized. */
  lowercase?: boolean;
  /** Accents and other combining marks are removed before it is tokenized. */
  foldAccents?: boolean;
  /** Lowercased words whose usual written form is not all lowercase ("tom" → "Tom", "i" → "I"). */
  truecase?: Record<string, string>;
  /** Sentences usually start with a capital letter: decoded text gets one. */
  capitalizeFirst?: boolean;
}

/** At most this many words in a truecase table (the most frequent ones). */
const MAX_TRUECASE = 50_000;
const WORD = /[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*/gu;

/** The text as a tokenizer of this form reads it (NFC first, as every tokenizer does). */
export function normalizeText(text: string, form: TextForm | undefined): string {
  let out = text.normalize('NFC');
  if (form?.foldAccents === true) out = out.normalize('NFD').replace(/\p{M}/gu, '').normalize('NFC');
  if (form?.lowercase === true) out = out.toLowerCase();
  return out;
}

/**
 * Learn how the training text writes case: for each word, its most frequent form when it is not
 * the first word of a sentence (there a capital says nothing about the word), kept when it is not
 * plain lowercase; and whether most sentences start with a capital.
 */
export function learnCasing(texts: Iterable<string>, foldAccents: boolean): Pick<TextForm, 'truecase' | 'capitalizeFirst'> {
  const forms = new Map<string, Map<string, number>>();
  let sentences = 0;
  let capitalized = 0;
  for (const text of texts) {
    const normal = normalizeText(text, { foldAccents });
    const words = normal.match(WORD) ?? [];
    if (words.length === 0) continue;
    sentences++;
    const first = words[0]!;
    if (first[0] !== first[0]!.toLowerCase()) capitalized++;
    // Inside the sentence only; a sentence of one word still tells us its case if it is not capitalised.
    words.forEach((word, i) => {
      if (i === 0 && word[0] !== word[0]!.toLowerCase()) return;
      const key = word.toLowerCase();
      let counts = forms.get(key);
      if (counts === undefined) forms.set(key, (counts = new Map()));
      counts.set(word, (counts.get(word) ?? 0) + 1);
    });
  }
  const ranked = [...forms]
    .map(([key, counts]) => {
      const [form, count] = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a));
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      return { key, form, count, total };
    })
    .filter((w) => w.form !== w.key)
    .sort((a, b) => b.total - a.total)
    .slice(0, MAX_TRUECASE);
  return { truecase: Object.fromEntries(ranked.map((w) => [w.key, w.form])), capitalizeFirst: sentences > 0 && capitalized / sentences > 0.5 };
}

/** Give lowercased output text its usual case back. */
export function restoreCase(text: string, form: TextForm | undefined): string {
  if (form?.lowercase !== true) return text;
  const table = form.truecase ?? {};
  let out = text.replace(WORD, (word) => (Object.hasOwn(table, word) ? table[word]! : word));
  if (form.capitalizeFirst === true) out = out.replace(/\p{L}/u, (c) => c.toUpperCase());
  return out;
}

/** A saved text form, checked (undefined when absent). */
export function checkTextForm(value: unknown, fail: (message: string) => Error): TextForm | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('tokenizer form must be an object');
  const v = value as Record<string, unknown>;
  for (const key of ['lowercase', 'foldAccents', 'capitalizeFirst'] as const) {
    if (v[key] !== undefined && typeof v[key] !== 'boolean') throw fail(`tokenizer form.${key} must be true or false`);
  }
  const table = v.truecase;
  if (table !== undefined && (typeof table !== 'object' || table === null || Array.isArray(table) || !Object.values(table).every((f) => typeof f === 'string'))) {
    throw fail('tokenizer form.truecase must map words to strings');
  }
  return v as TextForm;
}
