import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Model folders built to attack a reader: copies of a good folder with one file replaced by
 * something a reader must refuse without hanging, exhausting memory or printing a stack trace.
 * Each case names what it tries and a pattern of the one line the reader must answer with.
 */
export interface HostileFolder {
  name: string;
  dir: string;
  /** The error message expected (a ModelFormatError, one line). */
  expect: RegExp;
}

const FILES = ['config.json', 'tokenizer.json', 'model.json', 'weights.bin', 'checksums.json'] as const;

/** The layer config inside a model.json (any family). */
function modelLayer(json: { modelTopology: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } } }): Record<string, unknown> {
  return json.modelTopology.config.layers.find((l) => ['Transformer', 'DecoderOnly', 'EncoderOnly'].includes(l.class_name))!.config;
}

/** Every hostile folder, made from copies of `model` (a folder made by `atencao train`) under a new temporary folder. */
export function hostileFolders(model: string): HostileFolder[] {
  const root = mkdtempSync(join(tmpdir(), 'atencao-hostile-'));
  const out: HostileFolder[] = [];
  const make = (name: string, expect: RegExp, change: (dir: string) => void) => {
    const dir = join(root, name);
    cpSync(model, dir, { recursive: true });
    change(dir);
    out.push({ name, dir, expect });
  };
  const editJson = (dir: string, file: string, edit: (json: any) => void) => {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    edit(json);
    writeFileSync(join(dir, file), JSON.stringify(json));
  };
  for (const file of FILES) {
    make(`${file}-dev-zero`, new RegExp(`${file.replace('.', '\\.')} is a symbolic link to /dev/zero, outside the model folder`), (d) => {
      rmSync(join(d, file));
      symlinkSync('/dev/zero', join(d, file));
    });
    make(`${file}-fifo`, new RegExp(`${file.replace('.', '\\.')} is a FIFO \\(named pipe\\), not a regular file`), (d) => {
      rmSync(join(d, file));
      execFileSync('mkfifo', [join(d, file)]);
    });
  }
  make('tokenizer-to-etc-passwd', /tokenizer\.json is a symbolic link to \/etc\/passwd, outside the model folder/, (d) => {
    rmSync(join(d, 'tokenizer.json'));
    symlinkSync('/etc/passwd', join(d, 'tokenizer.json'));
  });
  make('weights-through-a-linked-folder', /sub\/weights\.bin is a symbolic link to \S+\/outside\/weights\.bin, outside the model folder/, (d) => {
    // The manifest's path stays inside the folder as written, but a folder on it is a link out.
    const outside = join(root, 'outside');
    cpSync(join(model, 'weights.bin'), join(outside, 'weights.bin'));
    symlinkSync(outside, join(d, 'sub'));
    editJson(d, 'model.json', (j) => (j.weightsManifest[0].paths = ['./sub/weights.bin']));
  });
  make('config-a-folder', /config\.json is a folder, not a regular file/, (d) => {
    rmSync(join(d, 'config.json'));
    execFileSync('mkdir', [join(d, 'config.json')]);
  });
  make('max-len-4e6', /maxLen \(4000000\) must be at most 16384/, (d) => editJson(d, 'model.json', (j) => (modelLayer(j).max_len = 4e6)));
  make('max-len-1e9', /maxLen \(1000000000\) must be at most 16384/, (d) => editJson(d, 'model.json', (j) => (modelLayer(j).max_len = 1e9)));
  make('vocab-3m', /VocabSize \(3000000\) must be at most 1048576/, (d) => editJson(d, 'model.json', (j) => (modelLayer(j).src_vocab_size = 3e6)));
  make('weights-over-1-gib', /builds \d+ weights, more than the 268435456/, (d) => {
    editJson(d, 'model.json', (j) => Object.assign(modelLayer(j), { d_model: 4096, d_ff: 16384, num_heads: 8 }));
  });
  make('weights-too-large-file', /weights\.bin has 2415919104 bytes but should have \d+/, (d) => execFileSync('truncate', ['-s', String(2.25 * 2 ** 30), join(d, 'weights.bin')]));
  make('tokenizer-larger-than-model', /tokenizer\.json has \d+\/\d+ tokens but the model was built for \d+\/\d+/, (d) =>
    editJson(d, 'tokenizer.json', (j) => (j.source.vocab = [...j.source.vocab, ...Array.from({ length: 50_000 }, (_, i) => `extra${i}`)])),
  );
  make('config-data-null', /config\.json: 'data' must be an object \(got null\)/, (d) => editJson(d, 'config.json', (j) => (j.data = null)));
  make('config-model-missing', /config\.json: 'model' must be an object \(got nothing\)/, (d) => editJson(d, 'config.json', (j) => delete j.model));
  make('config-model-of-nothing', /config\.json: 'model' srcVocabSize \(undefined\) must be a positive integer/, (d) => editJson(d, 'config.json', (j) => (j.model = {})));
  make('config-not-an-object', /config\.json is not a JSON object/, (d) => writeFileSync(join(d, 'config.json'), '[1, 2, 3]'));
  return out;
}

/** A copy of `model` whose target tokens include ANSI escape sequences and characters XML forbids. */
export function hostileTokens(model: string): { dir: string; tokens: string[] } {
  const dir = join(mkdtempSync(join(tmpdir(), 'atencao-tokens-')), 'model');
  cpSync(model, dir, { recursive: true });
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const tokens = ['\x1b[2J\x1b[31mred', '\x07bell\x00', '\ud800lone', '\ufffe\uffff', '\u202egnp.exe', 'tab\there\nline'];
  // Replace ordinary words (not the specials at the start) on both sides: whatever the model writes or reads, some are hostile.
  for (const side of ['source', 'target']) {
    const vocab = json[side].vocab as string[];
    tokens.forEach((t, i) => (vocab[vocab.length - 1 - i] = t));
  }
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return { dir, tokens };
}
