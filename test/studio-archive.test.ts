import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readArchive, unpackModelArchive, writeArchive } from '../src/io/archive.js';
import { planStudioRun, settingsFromQuery, DEFAULT_SETTINGS } from '../src/web/studio-settings.js';

const root = mkdtempSync(join(tmpdir(), 'atencao-archive-'));
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 7) & 255);

describe('model archives (the studio\'s download)', () => {
  it('are tar files the system tar unpacks byte for byte, and reads back', () => {
    const files = [
      { name: 'config.json', data: new TextEncoder().encode('{"a": 1}\n') },
      { name: 'weights.bin', data: bytes(1300, 13) }, // not a multiple of 512
      { name: 'film.jsonl', data: new Uint8Array(0) },
    ];
    const tar = writeArchive('my-model', files);
    expect(tar.length % 512).toBe(0);
    const path = join(root, 'm.tar');
    writeFileSync(path, tar);
    const out = join(root, 'system');
    mkdirSync(out);
    execFileSync('tar', ['-xf', path, '-C', out]);
    for (const f of files) expect(new Uint8Array(readFileSync(join(out, 'my-model', f.name)))).toEqual(f.data);
    const back = readArchive(tar, 'm.tar');
    expect(back.folder).toBe('my-model');
    expect(back.files.map((f) => [f.name, [...f.data]])).toEqual(files.map((f) => [f.name, [...f.data]]));
    expect(unpackModelArchive(path, join(root, 'unpacked'))).toEqual(['config.json', 'weights.bin', 'film.jsonl']);
    expect(readFileSync(join(root, 'unpacked', 'weights.bin'))).toEqual(Buffer.from(files[1]!.data));
    expect(() => unpackModelArchive(path, join(root, 'unpacked'))).toThrow(`${join(root, 'unpacked')} already exists; choose a new folder to unpack into`);
  });

  it('reads a model folder packed by the system tar, and refuses what is not a model folder', () => {
    const dir = join(root, 'folder');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.json'), '{}');
    writeFileSync(join(dir, 'weights.bin'), Buffer.from(bytes(700, 3)));
    const packed = join(root, 'folder.tar');
    execFileSync('tar', ['-cf', packed, '-C', root, 'folder']);
    const read = readArchive(readFileSync(packed), 'folder.tar');
    expect(read.folder).toBe('folder');
    expect(read.files.map((f) => f.name).sort()).toEqual(['model.json', 'weights.bin']);

    writeFileSync(join(dir, 'notes.txt'), 'hello');
    execFileSync('tar', ['-cf', packed, '-C', root, 'folder']);
    expect(() => readArchive(readFileSync(packed), 'folder.tar')).toThrow("folder.tar: 'folder/notes.txt' is not a file of a model folder");

    const linked = join(root, 'linked');
    mkdirSync(linked);
    symlinkSync('/etc/passwd', join(linked, 'config.json'));
    const linkTar = join(root, 'linked.tar');
    execFileSync('tar', ['-cf', linkTar, '-C', root, 'linked']);
    expect(() => readArchive(readFileSync(linkTar), 'linked.tar')).toThrow("linked.tar: 'linked/config.json' is not a regular file (a link or a device); refusing it");

    const outside = join(root, 'outside.tar');
    execFileSync('tar', ['-cf', outside, '-C', dir, 'model.json', 'weights.bin']);
    expect(() => readArchive(readFileSync(outside), 'outside.tar')).toThrow("outside.tar: 'model.json' is not inside a folder");

    const tar = writeArchive('m', [{ name: 'config.json', data: bytes(10, 1) }]);
    tar[600] ^= 1; // inside the data: unnoticed by tar, caught by the model folder's checks; the header is checked here
    tar[10] ^= 1;
    expect(() => readArchive(tar, 'x.tar')).toThrow("x.tar is damaged (a tar header's checksum does not match)");
    expect(() => readArchive(writeArchive('m', [{ name: 'config.json', data: bytes(2000, 1) }]).subarray(0, 1536), 'cut.tar')).toThrow('cut.tar is truncated (m/config.json needs 2000 bytes)');
    expect(() => writeArchive('m', [{ name: '../x', data: bytes(1, 1) }])).toThrow("'../x' is not a file of a model folder");
  });
});

describe('the studio form as a run', () => {
  it('reads its settings from the address, naming bad values', () => {
    expect(settingsFromQuery('?view=train&arch=decoder&task=lm&steps=300&seed=2&backend=webgl&autostart=1')).toEqual({
      settings: { ...DEFAULT_SETTINGS, arch: 'decoder', task: 'lm', steps: 300, seed: 2, backend: 'webgl' },
      autostart: true,
      train: true,
      errors: [],
    });
    expect(settingsFromQuery('?arch=rnn&steps=-3&backend=metal').errors).toEqual(['arch=rnn is not one of encoder-decoder, decoder, encoder', 'backend=metal is not one of auto, webgpu, webgl, wasm, cpu', 'steps=-3 is not a whole number of at least 1']);
  });

  it('trains what `atencao train` would, in the size asked', () => {
    const plan = planStudioRun({ ...DEFAULT_SETTINGS, task: 'copy', size: 'recipe', steps: 500 });
    expect(plan.model).toEqual({ dModel: 64, numHeads: 4, numEncoderLayers: 2, numDecoderLayers: 2, dFF: 256, dropout: 0 });
    expect(plan.training).toMatchObject({ steps: 500, batchSize: 64, lr: 2e-3, warmup: 100, validEvery: 50, seed: 1 });
    expect(planStudioRun({ ...DEFAULT_SETTINGS, arch: 'decoder', task: 'lm', size: 'tiny' })).toMatchObject({ data: { kind: 'pt' }, model: { dModel: 16, numLayers: 1 }, training: { batchSize: 16 } });
    expect(() => planStudioRun({ ...DEFAULT_SETTINGS, task: 'lm' })).toThrow('the language-model task trains a decoder (next word) or an encoder (masked words), not an encoder–decoder');
    expect(() => planStudioRun({ ...DEFAULT_SETTINGS, arch: 'encoder', task: 'sort' })).toThrow('the encoder family does not train on the sort task here (it reads: lm (masked words), referent or a text file)');
    expect(() => planStudioRun({ ...DEFAULT_SETTINGS, task: 'file' }, { name: 'book.txt', kind: 'text' })).toThrow('book.txt has no tab-separated pairs');
    expect(planStudioRun({ ...DEFAULT_SETTINGS, task: 'file' }, { name: 'pairs.tsv', kind: 'corpus' }).data).toEqual({ kind: 'corpus', file: '/data/pairs.tsv', tokenizer: 'word' });
  });
});
