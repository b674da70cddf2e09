import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ModelAttention } from '../src/infer/attention-maps.js';
import { renderHtml } from '../src/viz/html.js';
import { attentionPanels, escapeMarkup, visibleText } from '../src/viz/panels.js';
import { renderSvg } from '../src/viz/svg.js';
import { renderHeatmap } from '../src/viz/terminal.js';

const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const SHIPPED = new URL('../models/pt-en', import.meta.url).pathname;

/** Tokens a hostile corpus or tokenizer.json can hold: escape sequences, a bell, NUL, lone surrogates, non-characters, a bidi override. */
const HOSTILE = ['\x1b[2J\x1b[31mred', '\x07bell\x00', '\ud800lone', 'lone\udfff', '\ufffe\uffff', '\u202egnp.exe', 'tab\there\nline', '\x9b31m', 'olá 🌍'];

/** Characters XML 1.0 allows (its Char production), checked code point by code point. */
function xmlAllows(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return false;
    const ok = c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd);
    if (!ok) return false;
  }
  return true;
}

function hostileMaps(): ModelAttention {
  const n = HOSTILE.length;
  const row = Array.from({ length: n }, () => 1 / n);
  return { arch: 'encoder', input: HOSTILE.join(' '), maps: [{ kind: 'encoder', title: 'bidirectional self-attention', note: 'n', rows: HOSTILE, cols: HOSTILE, weights: [[HOSTILE.map(() => row)]] }] };
}

describe('control characters and what XML forbids, in every view', () => {
  it('visibleText shows each one as a visible sign and leaves other text alone', () => {
    expect(visibleText('\x1b[2J')).toBe('␛[2J');
    expect(visibleText('\x00\x07\t\n\r\x1f')).toBe('␀␇␉␊␍␟');
    expect(visibleText('\x7f')).toBe('␡');
    expect(visibleText('\x9b31m')).toBe('\\u009b31m');
    expect(visibleText('\u202egnp.exe')).toBe('\\u202egnp.exe');
    expect(visibleText('a\u2028b')).toBe('a\\u2028b');
    expect(visibleText('\ud800x\udfff')).toBe('\ufffdx\ufffd');
    expect(visibleText('\ufffe\uffff')).toBe('\ufffd\ufffd');
    expect(visibleText('olá 🌍 ção — 日本')).toBe('olá 🌍 ção — 日本');
    expect(escapeMarkup('<\x1b>')).toBe('&lt;␛&gt;');
  });

  it('an SVG of hostile tokens holds only characters XML allows, and shows each token', () => {
    const svg = renderSvg(attentionPanels(hostileMaps()), HOSTILE.join(' '));
    expect(xmlAllows(svg)).toBe(true);
    expect(svg).toContain('␛[2J␛[31mred');
    expect(svg).toContain('\ufffdlone');
    expect(svg).toContain('olá 🌍');
  });

  it('an HTML report of hostile tokens holds only characters XML allows, in markup and data', () => {
    const html = renderHtml({ title: 'T\x1b[2J\ud800', examples: [{ maps: hostileMaps() }] });
    expect(xmlAllows(html)).toBe(true);
    const data = JSON.parse(/<script type="application\/json" id="attention-data">(.*?)<\/script>/s.exec(html)![1]!);
    expect(data[0].maps[0].rows[0]).toBe('␛[2J␛[31mred');
    expect(data[0].maps[0].rows[2]).toBe('\ufffdlone');
    expect(html).toContain('<title>T␛[2J\ufffd</title>');
  });

  it('a terminal heatmap sends no control character but its own colour codes', () => {
    for (const color of [false, true]) {
      const text = renderHeatmap(hostileMaps().maps[0]!.weights[0]![0]!, HOSTILE, HOSTILE, { color, title: 'title \x1b]0;pwned\x07' });
      // Remove the heatmap's own SGR colour sequences; nothing else may be a control character.
      const rest = text.replace(/\x1b\[(?:48|38);5;\d+m|\x1b\[0m/g, '');
      expect(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(rest), `color ${color}`).toBe(false);
      expect(rest).toContain('title ␛]0;pwned␇');
    }
  });

  it('atencao attention on a terminal-hostile text: no escape sequence reaches standard output', () => {
    const text = 'Ela derramou \x1b[2J\x1b]0;pwned\x07 água.';
    // 11 tokens (the escape sequence splits at its punctuation: ␛ [ 2J␛ ] 0 ; pwned␇), 3 × 9 more and <eos>: 39,
    // longer than the model's maxLen (17): it says so rather than cut it silently.
    const long = `${text} ${'Ela derramou água da jarra para o copo. '.repeat(3)}`;
    const r = spawnSync(process.execPath, [CLI, 'attention', '--model', SHIPPED, '--text', long, '--kind', 'cross', '--layer', '1', '--head', '1'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("warning: the text needs 39 tokens, more than the model's maxLen (17): it is cut, and the maps show its first 17");
    expect(/[\x00-\x09\x0b-\x1f\x7f]/.test(r.stdout)).toBe(false);
    expect(r.stdout).toContain('␛[2J␛]0;pwned␇');
    const out = join(mkdtempSync(join(tmpdir(), 'atencao-views-')), 'a.svg');
    const svg = spawnSync(process.execPath, [CLI, 'attention', '--model', SHIPPED, '--text', `${text} \ud800`, '--format', 'svg', '--out', out], { encoding: 'utf8' });
    expect(svg.status, svg.stderr).toBe(0);
    expect(xmlAllows(readFileSync(out, 'utf8'))).toBe(true);
  });
});
