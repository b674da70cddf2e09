import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { AttentionMaps } from '../src/index.js';
import { renderHtml } from '../src/viz/html.js';
import { attentionPanels, escapeMarkup } from '../src/viz/panels.js';
import { renderSvg } from '../src/viz/svg.js';
import { renderHeatmap } from '../src/viz/terminal.js';

const EVIL = '<img src=x onerror=alert(1)>';

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

it('panels follow the selection and label decoder rows by the word written', () => {
  const all = attentionPanels(maps());
  expect(all.map((p) => `${p.kind}${p.layer}.${p.head}`)).toEqual(['encoder1.1', 'encoder1.2', 'decoder1.1', 'decoder1.2', 'cross1.1', 'cross1.2']);
  const cross = attentionPanels(maps(), { kinds: ['cross'], head: 2 });
  expect(cross).toHaveLength(1);
  expect(cross[0]!.rows).toEqual(['x', '<eos>']);
  expect(cross[0]!.cols).toEqual([EVIL, 'b"&\'', '<eos>']);
  expect(cross[0]!.weights).toEqual([[0.3, 0.3, 0.4], [0, 0, 1]]);
});

it('SVG escapes every token, labels both axes and draws one cell per weight', () => {
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

it('HTML keeps tokens as data, never markup, and round-trips them exactly', () => {
  const html = renderHtml({ title: `report ${EVIL}`, examples: [{ source: `${EVIL} </script><script>alert(2)</script>`, translation: EVIL, maps: maps() }] });
  expect(html).not.toContain('<img');
  expect(html).not.toContain('alert(2)</script>');
  expect(html.match(/<\/script>/g)).toHaveLength(2); // the data block and the code block, nothing injected
  const json = /<script type="application\/json" id="attention-data">(.*?)<\/script>/s.exec(html)![1]!;
  const data = JSON.parse(json) as { source: string; sourceTokens: string[] }[];
  expect(data[0]!.source).toBe(`${EVIL} </script><script>alert(2)</script>`);
  expect(data[0]!.sourceTokens[0]).toBe(EVIL);
  expect(html).toContain(`<title>report ${escapeMarkup(EVIL)}</title>`);
  expect(html).not.toContain('innerHTML'); // tokens reach the page only through textContent
  expect(html).not.toMatch(/(src|href)\s*=\s*["']?https?:|<link|<script src/); // nothing fetched: works offline, from file://
});

it('terminal heatmaps: a character ramp without colour, ANSI cells with it, numbers on request', () => {
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

it('atencao attention writes every format for the shipped model; weights sum to 1; bad selections exit 2', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [new URL('../dist/cli/main.js', import.meta.url).pathname, 'attention', '--model', new URL('../models/pt-en', import.meta.url).pathname, '--text', 'Ela derramou água da jarra para o copo até que ficasse cheio.', ...args], { encoding: 'utf8' });
  const json = cli('--format', 'json', '--kind', 'all');
  expect(json.status, json.stderr).toBe(0);
  const data = JSON.parse(json.stdout) as { translation: string; panels: { kind: string; weights: number[][] }[] };
  expect(data.translation).toBe('She poured water from the jug into the glass until the glass was full.');
  expect(data.panels).toHaveLength(3 * 2 * 4);
  for (const p of data.panels) for (const row of p.weights) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-4);
  const dir = mkdtempSync(join(tmpdir(), 'atencao-viz-'));
  for (const format of ['svg', 'html'] as const) {
    const r = cli('--format', format, '--out', join(dir, `a.${format}`), '--kind', 'cross');
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, `a.${format}`), 'utf8')).toContain('copo');
  }
  const terminal = cli('--kind', 'cross', '--layer', '2', '--head', '1', '--no-color');
  expect(terminal.stdout).toContain('cross-attention (decoder → encoder), layer 2, head 1');
  const bad = cli('--layer', '3');
  expect(bad.status).toBe(2);
  expect(bad.stderr.trim()).toBe("atencao: --layer (3) must be between 1 and 2 (see 'atencao --help')");
});
