import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionMaps, fromTranslation, type ModelAttention } from '../src/infer/attention-maps.js';
import { classifyText, fillMask } from '../src/infer/classify.js';
import { generateText } from '../src/infer/generate.js';
import { loadModel, loadModelDir } from '../src/infer/load.js';
import { startServer, type RunningServer } from '../src/web/server.js';
import { tinyFolder } from './tiny-families.js';

const CHROMIUM = '/usr/bin/chromium';
const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
// CI installs Chromium (.ci/run); elsewhere the browser test runs only where it is installed.
const run = existsSync(CHROMIUM) || process.env.CI === 'true';
/** Screenshots of the page, one per family, kept for a look. */
const SHOTS = mkdtempSync(join(tmpdir(), 'atencao-web-'));

/** Raw GET without URL normalisation, so "../" and "%2f" reach the server as typed. */
function get(server: RunningServer, path: string): Promise<number> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every weight of two maps of the same kinds within `tol` of each other, with the same tokens. */
function expectSameMaps(inPage: ModelAttention, node: ModelAttention, tol = 1e-4): void {
  expect(inPage.maps.map((m) => m.kind)).toEqual(node.maps.map((m) => m.kind));
  inPage.maps.forEach((m, i) => {
    const n = node.maps[i]!;
    expect(m.rows).toEqual(n.rows);
    expect(m.cols).toEqual(n.cols);
    const a = m.weights.flat(3);
    const b = n.weights.flat(3);
    expect(a).toHaveLength(b.length);
    expect(Math.max(...a.map((x, j) => Math.abs(x - b[j]!)))).toBeLessThan(tol);
  });
}

describe.runIf(run)('the attention explorer in headless Chromium', () => {
  let browser: Browser;

  /** Open the served page on a backend, collecting console errors, and wait until the model is loaded. */
  async function open(server: RunningServer, backend: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}?backend=${backend}`);
    await page.waitForFunction(() => window.__atencao?.state !== 'loading', undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => window.__atencao.error ?? null)).toBeNull();
    expect(await page.evaluate(() => window.__atencao.backend)).toBe(backend);
    return { page, errors };
  }

  /** Type `text`, press the family's button and wait for the page's result. */
  async function submit(page: Page, button: string, text: string): Promise<void> {
    await page.fill('#input', text);
    await page.click(button);
    await page.waitForFunction((s) => window.__atencao.last?.input === s, text);
  }

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  describe('an encoder–decoder (the shipped pt-en model)', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer({ model: MODEL, port: 0 });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('serves only the page, its code and the model files', async () => {
      for (const path of ['/', '/app.js', '/model/model.json', '/model/weights.bin', '/model/tokenizer.json', '/model/config.json', '/wasm/tfjs-backend-wasm-simd.wasm']) {
        expect(await get(server, path), path).toBe(200);
      }
      for (const path of ['/model/../package.json', '/model/..%2fpackage.json', '/model/%2e%2e/package.json', '/model/evaluation.json', '/model/', '/../../etc/passwd', `/model/${'a'.repeat(5000)}`, '/src/index.ts']) {
        expect(await get(server, path), path).toBe(404);
      }
    });

    for (const backend of ['wasm', 'cpu']) {
      it(`translates like the Node CLI and shows the same attention weights (${backend})`, async () => {
        const { page, errors } = await open(server, backend);
        expect(await page.evaluate(() => window.__atencao.arch)).toBe('encoder-decoder');
        expect(await page.isVisible('#translate')).toBe(true);
        expect(await page.isVisible('#generate')).toBe(false);
        expect(await page.isVisible('#read')).toBe(false);

        const sentence = 'O menino derramou leite do balde para a xícara até que ficasse vazio.';
        await submit(page, '#translate', sentence);
        const shown = { greedy: await page.textContent('#greedy'), beam: await page.textContent('#beam-output') };
        const inPage = await page.evaluate(() => window.__atencao.last!.maps);

        await tf.setBackend('wasm');
        const translator = await loadModel(MODEL);
        const node = await translator.translate(sentence);
        const nodeBeam = await translator.translate(sentence, { beam: 4 });
        const maps = await translator.attention(sentence);
        translator.dispose();
        expect(shown.greedy).toBe(node.output);
        expect(shown.greedy).toBe('The boy poured milk from the bucket into the cup until the bucket was empty.');
        expect(shown.beam).toBe(nodeBeam.output);
        expectSameMaps(inPage, fromTranslation(sentence, maps));
        // The explorer rendered: the cross-attention first, a heatmap cell per weight, and the head view.
        expect(await page.inputValue('#kind')).toBe('cross');
        expect(await page.locator('#kind option').count()).toBe(3);
        expect(await page.locator('#heat td').count()).toBe(maps.outputTokens.length * maps.sourceTokens.length);
        await page.hover('#headview .tokens.left .tok >> nth=12');
        expect(await page.textContent('#headview .tokens.right')).toMatch(/\d\.\d\d/);
        await page.screenshot({ path: join(SHOTS, `encoder-decoder-${backend}.png`), fullPage: true });
        expect(errors).toEqual([]);
        await page.close();
      }, 120_000);
    }

    it('shows a failure in the page, not only in the console', async () => {
      const page = await browser.newPage();
      await page.goto(`${server.url}?backend=nonexistent`);
      await page.waitForFunction(() => window.__atencao?.state === 'error', undefined, { timeout: 30_000 });
      expect(await page.textContent('#error')).toBe('the nonexistent backend could not start in this browser');
      expect(await page.isVisible('#error')).toBe(true);
      await page.close();
    });
  });

  describe('a decoder and an encoder folder', () => {
    let root: string;
    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'atencao-web-families-'));
    });

    it('decoder: the page continues the prompt as Node does and shows its causal attention', async () => {
      const dir = await tinyFolder(root, 'decoder');
      const server = await startServer({ model: dir, port: 0 });
      try {
        const { page, errors } = await open(server, 'wasm');
        expect(await page.evaluate(() => window.__atencao.arch)).toBe('decoder');
        expect(await page.isVisible('#generate')).toBe(true);
        expect(await page.isVisible('#translate')).toBe(false);
        // The toy corpus's examples: the seed sentences without their adjective.
        expect(await page.inputValue('#input')).toBe('Ela derramou água da jarra para o copo até que ficasse');

        const prompt = 'Ela derramou água';
        await submit(page, '#generate', prompt);
        const shown = await page.textContent('#continuation');
        const inPage = await page.evaluate(() => window.__atencao.last!);

        await tf.setBackend('wasm');
        const loaded = await loadModelDir(dir);
        const node = await attentionMaps(loaded, prompt, { maxNew: 32 });
        const generated = await generateText(loaded, prompt, { maxTokens: 32 });
        loaded.model.dispose();
        expect(shown).toBe(generated.text);
        expect(shown).toBe(node.output);
        expect(inPage.output).toBe(node.output);
        expectSameMaps(inPage.maps, node);
        expect(await page.inputValue('#kind')).toBe('decoder');
        expect(await page.textContent('#kind option')).toBe('causal self-attention');
        const tokens = node.maps[0]!.rows.length;
        expect(await page.locator('#heat td').count()).toBe(tokens * tokens);
        await page.screenshot({ path: join(SHOTS, 'decoder.png'), fullPage: true });
        expect(errors).toEqual([]);
        await page.close();
      } finally {
        await server.close();
      }
    }, 120_000);

    it('encoder: the page fills [MASK] as Node does and reads the sentence both ways', async () => {
      const dir = await tinyFolder(root, 'encoder');
      const server = await startServer({ model: dir, port: 0 });
      try {
        const { page, errors } = await open(server, 'wasm');
        expect(await page.evaluate(() => window.__atencao.arch)).toBe('encoder');
        expect(await page.isVisible('#read')).toBe(true);
        expect(await page.isVisible('#translate')).toBe(false);
        expect(await page.inputValue('#input')).toBe('Ela derramou água da jarra para o copo até que ficasse [MASK].');

        const text = 'Ela derramou [MASK] da jarra.';
        await submit(page, '#read', text);
        const inPage = await page.evaluate(() => window.__atencao.last!);

        await tf.setBackend('wasm');
        const loaded = await loadModelDir(dir);
        const node = await attentionMaps(loaded, text);
        const filled = await fillMask(loaded, text);
        loaded.model.dispose();
        expectSameMaps(inPage.maps, node);
        expect(inPage.maps.maps[0]!.rows).toContain('<mask>');
        expect(inPage.fill!.masks[0]!.candidates[0]!.token).toBe(filled.masks[0]!.candidates[0]!.token);
        expect(inPage.fill!.masks[0]!.candidates.map((c) => c.token)).toEqual(filled.masks[0]!.candidates.map((c) => c.token));
        expect(await page.textContent('#fill-mask')).toContain(filled.filled);
        expect(inPage.classes).toBeUndefined(); // a masked LM has no classes
        expect(await page.textContent('#kind option')).toBe('bidirectional self-attention');
        await page.screenshot({ path: join(SHOTS, 'encoder.png'), fullPage: true });
        expect(errors).toEqual([]);
        await page.close();
      } finally {
        await server.close();
      }
    }, 120_000);

    it('encoder classifier: the page labels the sentence as Node does', async () => {
      const dir = await tinyFolder(root, 'encoder', { kind: 'referent', size: 300 });
      const server = await startServer({ model: dir, port: 0 });
      try {
        const { page, errors } = await open(server, 'wasm');
        const text = 'Ela derramou água da jarra para o copo até que ficasse cheio.';
        expect(await page.inputValue('#input')).toBe(text);
        await submit(page, '#read', text);
        const inPage = await page.evaluate(() => window.__atencao.last!);
        await tf.setBackend('wasm');
        const loaded = await loadModelDir(dir);
        const node = await classifyText(loaded, text);
        loaded.model.dispose();
        expect(inPage.classes!.label).toBe(node.label);
        expect(Object.keys(inPage.classes!.probabilities)).toEqual(['from', 'into']);
        for (const [label, p] of Object.entries(node.probabilities)) expect(Math.abs(inPage.classes!.probabilities[label]! - p)).toBeLessThan(1e-4);
        expect(await page.textContent('#classification')).toContain(`${node.label} (${node.noun})`);
        expect(inPage.fill).toBeUndefined(); // no [MASK] in the sentence
        await page.screenshot({ path: join(SHOTS, 'encoder-classifier.png'), fullPage: true });
        expect(errors).toEqual([]);
        await page.close();
      } finally {
        await server.close();
      }
    }, 120_000);
  });
});
