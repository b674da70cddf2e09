import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
const TINY = ['--d-model', '16', '--heads', '2', '--layers', '1', '--d-ff', '32', '--batch-size', '8', '--backend', 'wasm'];

let dir: string;
let corpus: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'atencao-cli-'));
  corpus = join(dir, 'pairs.tsv');
  const lines = ['um gato preto e branco\ta black and white cat', 'um\tone', 'dois\ttwo', 'três\tthree', 'quatro\tfour', 'cinco\tfive', 'seis\tsix', 'sete\tseven', 'oito\teight', 'nove\tnine', 'dez\tten'];
  writeFileSync(corpus, ['\uFEFFum gato\ta cat\tCC-BY 2.0 (extra column)', ...lines.map((l) => `${l}\r`), 'no tab here', 'um\tone', '\t\tempty', ''].join('\n'));
});

/** One line on stderr starting with "atencao:", no stack trace, and the given exit code. */
function expectCleanError(r: ReturnType<typeof run>, status: number, message: string): void {
  expect(r.status, r.stderr).toBe(status);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('backend:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('atencao train: bad input', () => {
  it('needs data', () => expectCleanError(run('train', '--out', join(dir, 'x')), 2, 'choose the data: --task copy|reverse|sort|pt-en|pt|referent or --data FILE'));
  it('rejects an unknown task', () => expectCleanError(run('train', '--task', 'translate', '--out', join(dir, 'x')), 2, 'Invalid values'));
  it('rejects a missing corpus file', () => expectCleanError(run('train', '--data', join(dir, 'nope.tsv'), '--out', join(dir, 'x')), 1, `corpus file '${join(dir, 'nope.tsv')}' not found`));
  it('rejects an empty corpus file', () => {
    const empty = join(dir, 'empty.tsv');
    writeFileSync(empty, '');
    expectCleanError(run('train', '--data', empty, '--out', join(dir, 'x')), 1, `corpus file '${empty}' is empty`);
  });
  it('rejects a folder as corpus', () => expectCleanError(run('train', '--data', dir, '--out', join(dir, 'x')), 1, `corpus file '${dir}' is a directory`));
  it('rejects invalid UTF-8 with its line number', () => {
    const bad = join(dir, 'latin1.tsv');
    writeFileSync(bad, Buffer.concat([Buffer.from('ok\tfine\nna\xefve\tnaive\n', 'latin1')]));
    expectCleanError(run('train', '--data', bad, '--out', join(dir, 'x')), 1, 'is not valid UTF-8 (first bad byte on line 2)');
  });
  it('takes aligned files as --source and --target, both or neither, of the same length', () => {
    const pt = join(dir, 'aligned.pt');
    const en = join(dir, 'aligned.en');
    writeFileSync(pt, 'um\ndois\n');
    writeFileSync(en, 'one\n');
    expectCleanError(run('train', '--source', pt, '--out', join(dir, 'x')), 2, '--source and --target go together');
    expectCleanError(run('train', '--source', pt, '--target', en, '--out', join(dir, 'x')), 1, `'${pt}' has 2 lines but '${en}' has 1`);
    expectCleanError(run('train', '--arch', 'decoder', '--source', pt, '--target', en, '--out', join(dir, 'x')), 2, 'they train an encoder-decoder, not a decoder');
  });
  it('rejects a corpus without a single tab', () => {
    const noTabs = join(dir, 'notabs.txt');
    writeFileSync(noTabs, 'just text\nmore text\n');
    expectCleanError(run('train', '--data', noTabs, '--out', join(dir, 'x')), 1, "has no usable pairs (expected 'source<TAB>target' per line; 2 lines, 2 skipped)");
  });
  for (const [flag, value, message] of [
    ['--batch-size', '0', '--batch-size (0) must be a positive integer'],
    ['--dropout', '1.5', '--dropout (1.5) must be in [0, 1)'],
    ['--lr', '-1', '--lr (-1) must be a positive number'],
    ['--steps', '2.5', '--steps (2.5) must be a positive integer'],
    ['--lengths', '9:3', '--lengths (9:3) needs 1 ≤ MIN ≤ MAX'],
    ['--heads', '3', 'dModel (64) must be divisible by numHeads (3)'],
  ] as const) {
    it(`rejects ${flag} ${value}`, () => {
      const r = run('train', '--task', 'copy', flag, value, '--out', join(dir, 'never'));
      expectCleanError(r, flag === '--heads' ? 1 : 2, message);
      expect(existsSync(join(dir, 'never', 'model.json'))).toBe(false);
    });
  }
  it('refuses to resume a folder that is not a model', () => {
    mkdirSync(join(dir, 'plain'), { recursive: true });
    expectCleanError(run('train', '--out', join(dir, 'plain'), '--resume'), 2, "is not a model folder made by 'atencao train'");
  });
});

describe('atencao train and eval on a small corpus', () => {
  it('trains, skips bad lines with a count, writes every file, refuses to overwrite, evaluates', () => {
    const out = join(dir, 'model');
    const r = run('train', '--data', corpus, '--tokenizer', 'word', '--out', out, '--steps', '3', '--valid-every', '2', '--valid-fraction', '0.2', '--max-len', '4', ...TINY);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('skipped 2 of 15 lines: 1 without a tab (line 13), 1 with an empty source (line 15); removed 1 duplicate pair');
    expect(r.stderr).toMatch(/skipped 1 (training|validation) pairs longer than maxLen 4 tokens/);
    for (const f of ['model.json', 'weights.bin', 'tokenizer.json', 'config.json', 'metrics.jsonl', 'optimizer-3.bin', 'evaluation.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metrics.map((m) => m.step)).toEqual([2, 3]);
    for (const key of ['step', 'loss', 'tokenAccuracy', 'exactMatch', 'bleu', 'elapsedSeconds', 'tokensPerSecond']) expect(metrics[0]).toHaveProperty(key);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.formatVersion).toBe(1);
    expect(config.training).toMatchObject({ steps: 3, batchSize: 8, validEvery: 2 });
    expect(config.data.sha256.train).toMatch(/^[0-9a-f]{64}$/);

    expectCleanError(run('train', '--data', corpus, '--out', out, ...TINY), 2, 'already holds a model; add --resume to continue it, or choose another --out');

    const e = run('eval', '--model', out, '--data', corpus, '--json');
    expect(e.status, e.stderr).toBe(0);
    const result = JSON.parse(e.stdout) as Record<string, number>;
    expect(result.n).toBeGreaterThan(5);
    for (const key of ['exactMatch', 'tokenAccuracy', 'bleu']) {
      expect(result[key]).toBeGreaterThanOrEqual(0);
      expect(result[key]).toBeLessThanOrEqual(1);
    }
  });

  it('--tokenizer bpe learns subwords: saved with the model, no unknown input, text given back as written', () => {
    const out = join(dir, 'bpe');
    const r = run('train', '--data', corpus, '--tokenizer', 'bpe', '--vocab-size', '300', '--out', out, '--steps', '2', '--valid-every', '2', ...TINY);
    expect(r.status, r.stderr).toBe(0);
    const tokenizers = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as Record<'source' | 'target', { kind: string; vocab: string[]; bpe: { merges: unknown[] } }>;
    for (const side of ['source', 'target'] as const) {
      expect(tokenizers[side].kind).toBe('bpe');
      expect(tokenizers[side].vocab.length).toBeLessThanOrEqual(300);
      expect(tokenizers[side].bpe.merges.length).toBeGreaterThan(0);
    }
    // A word the corpus never had is spelled in subwords and bytes, never <unk>; the characters
    // the corpus never had ("Z", "é", "-": its Portuguese has "ê" but no "é") are named.
    const t = run('translate', '--model', out, '--json', 'um Zé-ninguém');
    expect(t.status, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout).unknown).toEqual(['Z', 'é', '-']);
    expect(JSON.parse(t.stdout).output).not.toContain('<unk>');
    const plain = run('translate', '--model', out, 'um Zé-ninguém');
    expect(plain.stderr).toContain('warning: characters the model never saw in training, read as bytes: Z, é, -');
    expectCleanError(run('train', '--data', corpus, '--tokenizer', 'word', '--vocab-size', '300', '--out', join(dir, 'x')), 2, '--vocab-size goes with --tokenizer bpe');
  });

  it('the same seed and backend give the same losses', () => {
    const losses = (out: string) => {
      const r = run('train', '--task', 'reverse', '--lengths', '3:5', '--out', out, '--steps', '4', '--valid-every', '2', '--dropout', '0.1', ...TINY);
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { trainLoss: number; loss: number }));
    };
    const a = losses(join(dir, 'seed-a'));
    expect(losses(join(dir, 'seed-b'))).toEqual(a.map((m) => expect.objectContaining({ trainLoss: m.trainLoss, loss: m.loss })));
  });
});

describe('atencao train: the three families and the steppers', () => {
  const metricsOf = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const configOf = (out: string) => JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { model: Record<string, unknown>; data: Record<string, unknown> };

  it('--arch decoder trains a task as continuation, records its family, and resumes', () => {
    const out = join(dir, 'gpt');
    const r = run('train', '--arch', 'decoder', '--task', 'reverse', '--lengths', '3:5', '--out', out, '--steps', '3', '--valid-every', '2', ...TINY);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('decoder: d 16, 2 heads, 1 layer, ff 32');
    expect(configOf(out).model).toMatchObject({ arch: 'decoder', numLayers: 1, dModel: 16 });
    expect(configOf(out).data).toMatchObject({ arch: 'decoder', spec: { kind: 'task', task: 'reverse' } });
    // Continuations have an exact match (greedy output = target); the model is untrained, so it is low.
    expect(metricsOf(out).map((m) => [m.step, typeof m.exactMatch])).toEqual([
      [2, 'number'],
      [3, 'number'],
    ]);
    const again = run('train', '--out', out, '--resume', '--steps', '4', '--valid-every', '1');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain('resuming at step 3 of 4');
    expect(metricsOf(out).map((m) => m.step)).toEqual([2, 3, 4]);
  });

  it('--arch encoder trains the referent classifier, with the class names recorded', () => {
    const out = join(dir, 'bert');
    const r = run('train', '--arch', 'encoder', '--task', 'referent', '--out', out, '--steps', '2', '--valid-every', '2', ...TINY);
    expect(r.status, r.stderr).toBe(0);
    expect(configOf(out).model).toMatchObject({ arch: 'encoder', numClasses: 2 });
    expect(configOf(out).data).toMatchObject({ arch: 'encoder', labels: ['from', 'into'] });
    const [m] = metricsOf(out);
    // Classification: exact match is the accuracy.
    expect(m!.exactMatch).toBe(m!.tokenAccuracy);
  });

  it('a family that does not train on the data is refused with one line', () => {
    expectCleanError(run('train', '--arch', 'encoder', '--task', 'copy', '--out', join(dir, 'never')), 2, '--task copy does not train an encoder model (it trains: encoder-decoder, decoder)');
    expect(existsSync(join(dir, 'never', 'model.json'))).toBe(false);
  });

  it('--resume accepts the original command repeated, and refuses a changed setting naming it', () => {
    const out = join(dir, 'again');
    const command = ['train', '--task', 'reverse', '--lengths', '3:5', '--out', out, '--valid-every', '2', ...TINY];
    expect(run(...command, '--steps', '2').status).toBe(0);
    const again = run(...command, '--steps', '3', '--resume');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain('resuming at step 2 of 3');
    expectCleanError(run(...command, '--steps', '4', '--resume', '--lr', '0.5'), 2, '--resume continues the run as it was configured: --lr 0.5 differs from it');
  });

  it('--json prints a JSON line per logged step, each validation and the result on stdout; progress stays on stderr', () => {
    const out = join(dir, 'json-log');
    const r = run('train', '--task', 'reverse', '--lengths', '3:5', '--out', out, '--steps', '5', '--valid-every', '4', '--stepper', 'device', '--json', '--log-every', '2', ...TINY);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.event, l.step])).toEqual([
      ['step', 2],
      ['step', 4],
      ['validation', 4],
      ['step', 5],
      ['validation', 5],
      ['done', 5],
    ]);
    for (const l of lines.filter((x) => x.event === 'step')) {
      expect(l).toMatchObject({ steps: 5, backend: 'wasm' });
      expect(Number.isFinite(l.loss) && (l.loss as number) > 0 && (l.tokensPerSecond as number) > 0).toBe(true);
    }
    // The validation lines are the records metrics.jsonl keeps; the result names its split.
    expect(lines.filter((l) => l.event === 'validation').map(({ event: _, backend: __, ...rest }) => rest)).toEqual(metricsOf(out));
    expect(lines.at(-1)).toMatchObject({ event: 'done', reason: 'steps', dir: out, test: { split: 'test' } });
    expect(r.stderr).toContain('saved in');
    expect(run('train', '--task', 'copy', '--out', join(dir, 'x'), '--log-every', '0').stderr).toContain('--log-every (0) must be a positive integer');
  });

  it('every --stepper gives the same losses (dropout off): flat, device (tf.train.adam) and parallel (2 threads)', () => {
    const losses = (stepper: string, says: string | undefined, ...extra: string[]) => {
      const out = join(dir, `stepper-${stepper}`);
      const r = run('train', '--task', 'reverse', '--lengths', '3:5', '--out', out, '--steps', '4', '--valid-every', '2', '--dropout', '0', '--stepper', stepper, ...extra, ...TINY);
      expect(r.status, r.stderr).toBe(0);
      if (says === undefined) expect(r.stderr).not.toContain('steps: ');
      else expect(r.stderr).toContain(`steps: ${says}`);
      return metricsOf(out).flatMap((m) => [m.trainLoss!, m.loss!]);
    };
    const flat = losses('flat', undefined);
    const device = losses('device', 'tf.train.adam on the device');
    const parallel = losses('parallel', 'flat Adam, 2 threads', '--workers', '2');
    flat.forEach((l, i) => {
      expect(Math.abs(device[i]! - l)).toBeLessThan(1e-5);
      expect(Math.abs(parallel[i]! - l)).toBeLessThan(1e-5);
    });
  });
});

it('atencao data writes the pt-en corpus as TSV', () => {
  const out = join(dir, 'data', 'pt-en.tsv');
  const r = run('data', '--task', 'pt-en', '--out', out);
  expect(r.status, r.stderr).toBe(0);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(6000);
  expect(lines).toContain('Ela derramou água da jarra para o copo até que ficasse vazia.\tShe poured water from the jug into the glass until the jug was empty.');
});
