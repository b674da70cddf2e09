import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AttentionMaps } from '../src/index.js';
import { attentionMaps, checkKinds, type ModelAttention } from '../src/infer/attention-maps.js';
import { loadModelDir, type LoadedModel } from '../src/infer/load.js';
import type { DecoderOnly } from '../src/model/decoder-only.js';
import type { Model } from '../src/model/model.js';
import { renderHtml } from '../src/viz/html.js';
import { attentionPanels, escapeMarkup } from '../src/viz/panels.js';
import { renderSvg } from '../src/viz/svg.js';
import { renderHeatmap } from '../src/viz/terminal.js';
import { tinyFolder } from './tiny-families.js';

const EVIL = '<img src=x onerror=alert(1)>';
const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const SHIPPED = new URL('../models/pt-en', import.meta.url).pathname;
const SENTENCE = 'Ela derramou água da jarra para o copo até que ficasse cheio.';

/** Hand-made maps: 1 layer, 2 heads; source [EVIL, "b", <eos>], output ["x", <eos>]. */
function maps(): AttentionMaps {
  const src = [EVIL, 'b"&\'', '<eos>'];
  return {
    output: 'x',
    sourceTokens: src,
    targetTokens: ['<bos>', 'x'],
    outputTokens: ['x', '<eos>'],
    encoder: [[[[0.5, 0.25, 0.25], [0, 1, 0], [0.2, 0.3, 0.5]], [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1]]]],
    decoderSelf: [[[[1, 0], [0.4, 0.6]], [[1, 0], [0.9, 0.1]]]],
    cross: [[[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], [[0.3, 0.3, 0.4], [0, 0, 1]]]],
  };
}

/** A decoder's maps by hand: 2 layers, 1 head, tokens [<bos>, EVIL, "y"], causal (upper triangle 0). */
function decoderMaps(): ModelAttention {
  const tokens = ['<bos>', EVIL, 'y'];
  const w = [[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]];
  return { arch: 'decoder', input: EVIL, output: 'y', maps: [{ kind: 'decoder', title: 'causal self-attention', note: 'n', rows: tokens, cols: tokens, weights: [[w], [w]] }] };
}

/** An encoder's maps by hand: 1 layer, 1 head, tokens [<bos>, EVIL, <eos>]. */
function encoderMaps(): ModelAttention {
  const tokens = ['<bos>', EVIL, '<eos>'];
  return { arch: 'encoder', input: EVIL, maps: [{ kind: 'encoder', title: 'bidirectional self-attention', note: 'n', rows: tokens, cols: tokens, weights: [[[[0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]]] }] };
}

/** The JSON data block of an HTML report. */
function reportData(html: string): { name: string; lines: [string, string][]; maps: { kind: string; title: string; rows: string[] }[] }[] {
  return JSON.parse(/<script type="application\/json" id="attention-data">(.*?)<\/script>/s.exec(html)![1]!);
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'attention', ...args], { encoding: 'utf8' });
}

/** Largest absolute difference between two nested arrays of numbers of the same shape. */
function maxDiff(a: unknown, b: unknown): number {
  const x = (a as number[]).flat(4) as number[];
  const y = (b as number[]).flat(4) as number[];
  expect(x).toHaveLength(y.length);
  return Math.max(0, ...x.map((v, i) => Math.abs(v - y[i]!)));
}

/** model.attention for one id sequence, as [layer][head][query][key] per kind, computed here. */
function modelAttention(loaded: LoadedModel, ids: number[], targetIds?: number[]): Record<string, number[][][][]> {
  const input = tf.tensor2d([ids], [1, ids.length], 'int32');
  const target = targetIds && tf.tensor2d([targetIds], [1, targetIds.length], 'int32');
  const weights = loaded.model.attention({ ids: input, ...(target ? { targetIds: target } : {}) });
  const out = Object.fromEntries(Object.entries(weights).map(([kind, layers]) => [kind, layers.map((w) => (w.arraySync() as number[][][][])[0]!)]));
  tf.dispose([input, ...(target ? [target] : []), ...Object.values(weights).flat()]);
  return out;
}

describe('views of hand-made maps', () => {
  it('panels follow the selection and label decoder rows by the word written', async () => {
    const all = attentionPanels(maps());
    expect(all.map((p) => `${p.kind}${p.layer}.${p.head}`)).toEqual(['encoder1.1', 'encoder1.2', 'decoder1.1', 'decoder1.2', 'cross1.1', 'cross1.2']);
    expect(all.map((p) => p.title)).toContain('cross-attention (decoder → encoder)');
    const cross = attentionPanels(maps(), { kinds: ['cross'], head: 2 });
    expect(cross).toHaveLength(1);
    expect(cross[0]!.rows).toEqual(['x', '<eos>']);
    expect(cross[0]!.cols).toEqual([EVIL, 'b"&\'', '<eos>']);
    expect(cross[0]!.weights).toEqual([[0.3, 0.3, 0.4], [0, 0, 1]]);
  });

  it('panels of a decoder and an encoder: one kind each, titled by family, kinds the family lacks select nothing', async () => {
    const dec = attentionPanels(decoderMaps());
    expect(dec.map((p) => `${p.title} ${p.layer}.${p.head}`)).toEqual(['causal self-attention 1.1', 'causal self-attention 2.1']);
    expect(attentionPanels(decoderMaps(), { kinds: ['cross'] })).toEqual([]);
    const enc = attentionPanels(encoderMaps(), { layer: 1 });
    expect(enc).toHaveLength(1);
    expect(enc[0]!.title).toBe('bidirectional self-attention');
    expect(enc[0]!.rows).toEqual(['<bos>', EVIL, '<eos>']);
  });

  it('each family accepts its own kinds and all; any other kind is refused naming them', async () => {
    const folder = (arch: Model['arch']) => ({ dir: 'm', model: { arch } as Model });
    expect(checkKinds(folder('encoder-decoder'), ['all'])).toEqual(['encoder', 'decoder', 'cross']);
    expect(checkKinds(folder('encoder-decoder'), ['cross'])).toEqual(['cross']);
    expect(checkKinds(folder('decoder'), ['all'])).toEqual(['decoder']);
    expect(checkKinds(folder('encoder'), ['encoder'])).toEqual(['encoder']);
    expect(() => checkKinds(folder('decoder'), ['encoder'])).toThrow('--kind (encoder) must be decoder or all: m is a decoder model, whose only attention is causal self-attention');
    expect(() => checkKinds(folder('encoder'), ['cross'])).toThrow('--kind (cross) must be encoder or all: m is an encoder model, whose only attention is bidirectional self-attention');
  });

  it('SVG escapes every token, labels both axes and draws one cell per weight', async () => {
    const panels = attentionPanels(maps(), { kinds: ['encoder', 'cross'] });
    const svg = renderSvg(panels, `${EVIL} → x`);
    expect(svg).not.toContain('<img');
    expect(svg).toContain(escapeMarkup(EVIL));
    expect(svg).toContain('b&quot;&amp;&#39;');
    expect(svg.match(/<rect x="\d+(\.\d+)?" y="\d+(\.\d+)?" width="21"/g)).toHaveLength(3 * 3 * 2 + 2 * 3 * 2);
    expect(svg).toContain('encoder self-attention · layer 1 · head 2');
    expect(svg).toContain('<text x="10" y="');
    expect(svg).toContain('>weight</text>');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  it('SVG of one kind (decoder, encoder) and of no panel at all', async () => {
    const dec = renderSvg(attentionPanels(decoderMaps()), EVIL);
    expect(dec).not.toContain('<img');
    expect(dec).toContain('causal self-attention · layer 2 · head 1');
    expect(dec.match(/<rect x="\d+(\.\d+)?" y="\d+(\.\d+)?" width="21"/g)).toHaveLength(2 * 3 * 3);
    const enc = renderSvg(attentionPanels(encoderMaps()), 'enc');
    expect(enc).toContain('bidirectional self-attention · layer 1 · head 1');
    const none = renderSvg([], `nothing ${EVIL}`);
    expect(none).not.toContain('<img');
    expect(none).toContain('no attention selected');
  });

  it('HTML keeps tokens as data, never markup, and round-trips them exactly', async () => {
    const html = renderHtml({ title: `report ${EVIL}`, examples: [{ source: `${EVIL} </script><script>alert(2)</script>`, translation: EVIL, maps: maps() }] });
    expect(html).not.toContain('<img');
    expect(html).not.toContain('alert(2)</script>');
    expect(html.match(/<\/script>/g)).toHaveLength(2); // the data block and the code block, nothing injected
    const data = reportData(html);
    expect(data[0]!.lines[0]).toEqual(['Source', `${EVIL} </script><script>alert(2)</script>`]);
    expect(data[0]!.lines[1]).toEqual(['Translation', EVIL]);
    expect(data[0]!.maps.map((m) => m.kind)).toEqual(['encoder', 'decoder', 'cross']);
    expect(data[0]!.maps[0]!.rows[0]).toBe(EVIL);
    expect(html).toContain(`<title>report ${escapeMarkup(EVIL)}</title>`);
    expect(html).not.toContain('innerHTML'); // tokens reach the page only through textContent
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?https?:|<link|<script src/); // nothing fetched: works offline, from file://
  });

  it('HTML of one kind: a decoder (prompt and continuation) and an encoder (the sentence only)', async () => {
    const html = renderHtml({ title: 't', examples: [{ maps: decoderMaps() }, { maps: encoderMaps(), notes: [`label ${EVIL}`] }] });
    expect(html).not.toContain('<img');
    const data = reportData(html);
    expect(data[0]!.lines).toEqual([['Prompt', EVIL], ['Continuation', 'y']]);
    expect(data[0]!.maps.map((m) => m.title)).toEqual(['causal self-attention']);
    expect(data[1]!.lines).toEqual([['Sentence', EVIL], ['', `label ${EVIL}`]]);
    expect(data[1]!.maps[0]!.rows).toEqual(['<bos>', EVIL, '<eos>']);
  });

  it('terminal heatmaps: a character ramp without colour, ANSI cells with it, numbers on request', async () => {
    const plain = renderHeatmap([[0, 1], [0.5, 0.5]], ['a', 'b'], ['x', 'y'], { title: 'T' });
    expect(plain.split('\n')[0]).toBe('T');
    expect(plain).toContain('██');
    expect(plain).not.toContain('\x1b[');
    const numbers = renderHeatmap([[0, 1], [0.5, 0.5]], ['a', 'b'], ['x', 'y'], { numbers: true });
    expect(numbers).toContain('1.0');
    expect(numbers).toContain('.50');
    const colour = renderHeatmap([[0, 1]], ['a'], ['x', 'y'], { color: true });
    expect(colour).toContain('\x1b[48;5;231m');
    expect(colour).toContain('\x1b[48;5;19m');
  });
});

it('atencao attention writes every format for the shipped model; weights sum to 1 and equal model.attention; bad selections exit 2', async () => {
  const json = cli('--model', SHIPPED, '--text', SENTENCE, '--format', 'json', '--kind', 'all');
  expect(json.status, json.stderr).toBe(0);
  const data = JSON.parse(json.stdout) as { arch: string; translation: string; sourceTokens: string[]; panels: { kind: string; layer: number; head: number; weights: number[][] }[] };
  expect(data.arch).toBe('encoder-decoder');
  expect(data.translation).toBe('She poured water from the jug into the glass until the glass was full.');
  expect(data.panels).toHaveLength(3 * 2 * 4);
  for (const p of data.panels) for (const row of p.weights) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-4);
  // The same weights from the model itself, on ids encoded here: source + eos, bos + translation.
  const loaded = await loadModelDir(SHIPPED);
  const src = [...loaded.source.encode(SENTENCE), 2];
  const tgt = [1, ...loaded.target.encode(data.translation)];
  const reference = modelAttention(loaded, src, tgt);
  loaded.model.dispose();
  expect(data.sourceTokens).toEqual([...loaded.source.tokenize(SENTENCE), '<eos>']);
  for (const p of data.panels) expect(maxDiff(p.weights, reference[p.kind]![p.layer - 1]![p.head - 1])).toBeLessThan(1e-5);

  const dir = mkdtempSync(join(tmpdir(), 'atencao-viz-'));
  for (const format of ['svg', 'html'] as const) {
    const r = cli('--model', SHIPPED, '--text', SENTENCE, '--format', format, '--out', join(dir, `a.${format}`), '--kind', 'cross');
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, `a.${format}`), 'utf8')).toContain('copo');
  }
  const terminal = cli('--model', SHIPPED, '--text', SENTENCE, '--kind', 'cross', '--layer', '2', '--head', '1', '--no-color');
  expect(terminal.stdout).toContain('cross-attention (decoder → encoder), layer 2, head 1');
  const bad = cli('--model', SHIPPED, '--text', SENTENCE, '--layer', '3');
  expect(bad.status).toBe(2);
  expect(bad.stderr.trim()).toBe("atencao: --layer (3) must be between 1 and 2 (see 'atencao --help')");
});

describe('a decoder and an encoder folder', () => {
  let root: string;
  let decoderDir: string;
  let encoderDir: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'atencao-viz-families-'));
    decoderDir = await tinyFolder(root, 'decoder');
    encoderDir = await tinyFolder(root, 'encoder');
  });

  it('attentionMaps: a decoder reads bos + prompt + its greedy continuation, causally; no tensor leaks', async () => {
    const loaded = await loadModelDir(decoderDir);
    const prompt = 'Ela derramou água';
    await attentionMaps(loaded, prompt);
    const before = tf.memory().numTensors;
    const maps = await attentionMaps(loaded, prompt);
    expect(tf.memory().numTensors).toBe(before);
    expect(maps.maps.map((m) => m.kind)).toEqual(['decoder']);
    const m = maps.maps[0]!;
    // The continuation by a plain loop: the whole sequence through the model, argmax of the last position.
    const ids = [1, ...loaded.source.encode(prompt)];
    const written: number[] = [];
    while (ids.length < loaded.model.config.maxLen) {
      const logits = tf.tidy(() => (loaded.model as DecoderOnly).forward(tf.tensor2d([ids], [1, ids.length], 'int32')).arraySync() as number[][][]);
      const last = logits[0]![ids.length - 1]!;
      const next = last.indexOf(Math.max(...last));
      if (next === 2) break;
      ids.push(next);
      written.push(next);
    }
    expect(maps.output).toBe(loaded.source.decode(written));
    expect(m.rows).toEqual(ids.map((id) => loaded.source.vocab[id]));
    expect(m.cols).toEqual(m.rows);
    expect(maxDiff(m.weights, modelAttention(loaded, ids).decoder)).toBeLessThan(1e-5);
    for (const head of m.weights.flat(1)) {
      head.forEach((row, q) => {
        expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
        row.forEach((w, k) => k > q && expect(w).toBe(0)); // nothing after the query
      });
    }
    const promptOnly = await attentionMaps(loaded, prompt, { continuation: false });
    expect(promptOnly.output).toBeUndefined();
    expect(promptOnly.maps[0]!.rows).toEqual(['<bos>', 'Ela', 'derramou', 'água']);
    loaded.model.dispose();
  });

  it('attentionMaps: an encoder reads [CLS] sentence eos both ways, [MASK] as the mask token; no tensor leaks', async () => {
    const loaded = await loadModelDir(encoderDir);
    const text = 'Ela derramou [MASK] da jarra.';
    await attentionMaps(loaded, text);
    const before = tf.memory().numTensors;
    const maps = await attentionMaps(loaded, text);
    expect(tf.memory().numTensors).toBe(before);
    const m = maps.maps[0]!;
    expect(maps.output).toBeUndefined();
    expect(m.rows).toEqual(['<bos>', 'Ela', 'derramou', '<mask>', 'da', 'jarra', '.', '<eos>']);
    const ids = [1, ...loaded.source.encode('Ela derramou'), loaded.source.vocab.indexOf('<mask>'), ...loaded.source.encode('da jarra.'), 2];
    expect(maxDiff(m.weights, modelAttention(loaded, ids).encoder)).toBeLessThan(1e-5);
    // Bidirectional: the first token already looks at the last ones.
    expect(m.weights[0]![0]![0]!.slice(1).every((w) => w > 0)).toBe(true);
    loaded.model.dispose();
  });

  it('atencao attention --format json for each family equals model.attention on ids encoded here', async () => {
    const dec = cli('--model', decoderDir, '--text', 'Ela derramou água', '--format', 'json');
    expect(dec.status, dec.stderr).toBe(0);
    const decData = JSON.parse(dec.stdout) as { arch: string; output: string; axes: Record<string, { rows: string[] }>; panels: { kind: string; layer: number; head: number; weights: number[][] }[] };
    expect(decData.arch).toBe('decoder');
    expect(decData.panels.map((p) => p.kind)).toEqual(['decoder', 'decoder', 'decoder', 'decoder']);
    const decLoaded = await loadModelDir(decoderDir);
    const decIds = decData.axes.decoder!.rows.map((t) => decLoaded.source.vocab.indexOf(t));
    expect(decIds.slice(0, 4)).toEqual([1, ...decLoaded.source.encode('Ela derramou água')]);
    expect(decLoaded.source.decode(decIds.slice(4))).toBe(decData.output);
    const decRef = modelAttention(decLoaded, decIds).decoder!;
    decLoaded.model.dispose();
    for (const p of decData.panels) expect(maxDiff(p.weights, decRef[p.layer - 1]![p.head - 1])).toBeLessThan(1e-5);

    const enc = cli('--model', encoderDir, '--text', SENTENCE, '--format', 'json', '--layer', '2');
    expect(enc.status, enc.stderr).toBe(0);
    const encData = JSON.parse(enc.stdout) as { arch: string; output?: string; panels: { kind: string; layer: number; head: number; rows: string[]; weights: number[][] }[] };
    expect(encData.arch).toBe('encoder');
    expect(encData.output).toBeUndefined();
    expect(encData.panels.map((p) => `${p.kind}${p.layer}.${p.head}`)).toEqual(['encoder2.1', 'encoder2.2']);
    const encLoaded = await loadModelDir(encoderDir);
    const encIds = [1, ...encLoaded.source.encode(SENTENCE), 2];
    expect(encData.panels[0]!.rows).toEqual(encIds.map((id) => encLoaded.source.vocab[id]));
    const encRef = modelAttention(encLoaded, encIds).encoder!;
    encLoaded.model.dispose();
    for (const p of encData.panels) expect(maxDiff(p.weights, encRef[p.layer - 1]![p.head - 1])).toBeLessThan(1e-5);
  });

  it('terminal, SVG and HTML for a decoder and an encoder folder', async () => {
    const out = mkdtempSync(join(tmpdir(), 'atencao-viz-out-'));
    for (const [dir, title] of [[decoderDir, 'causal self-attention'], [encoderDir, 'bidirectional self-attention']] as const) {
      const terminal = cli('--model', dir, '--text', 'Ela derramou água', '--layer', '1', '--head', '2', '--no-color', '--no-continue');
      expect(terminal.status, terminal.stderr).toBe(0);
      expect(terminal.stdout).toContain(`${title}, layer 1, head 2`);
      const svg = cli('--model', dir, '--text', 'Ela derramou água', '--format', 'svg', '--out', join(out, 'a.svg'));
      expect(svg.status, svg.stderr).toBe(0);
      const svgText = readFileSync(join(out, 'a.svg'), 'utf8');
      expect(svgText).toContain(`${title} · layer 2 · head 2`);
      expect(svgText).toContain('derramou');
      const html = cli('--model', dir, '--text', `Ela ${EVIL}`, '--format', 'html', '--out', join(out, 'a.html'));
      expect(html.status, html.stderr).toBe(0);
      const page = readFileSync(join(out, 'a.html'), 'utf8');
      expect(page).not.toContain('<img');
      const data = reportData(page);
      expect(data[0]!.maps.map((m) => m.title)).toEqual([title]);
      expect(data[0]!.lines[0]![1]).toBe(`Ela ${EVIL}`);
    }
  });

  it('--kind a family lacks is refused with one line naming the kinds it has', async () => {
    const cases: [string, string, string][] = [
      [decoderDir, 'cross', `--kind (cross) must be decoder or all: ${decoderDir} is a decoder model, whose only attention is causal self-attention`],
      [encoderDir, 'decoder', `--kind (decoder) must be encoder or all: ${encoderDir} is an encoder model, whose only attention is bidirectional self-attention`],
    ];
    for (const [dir, kind, message] of cases) {
      const r = cli('--model', dir, '--text', 'Ela', '--kind', kind);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`atencao: ${message} (see 'atencao --help')\n`);
    }
    const layer = cli('--model', encoderDir, '--text', 'Ela', '--layer', '3');
    expect(layer.stderr.trim()).toBe("atencao: --layer (3) must be between 1 and 2 (see 'atencao --help')");
  });
});
