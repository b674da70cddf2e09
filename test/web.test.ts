import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/infer/load.js';
import { startServer, type RunningServer } from '../src/web/server.js';

const CHROMIUM = '/usr/bin/chromium';
const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
// CI installs Chromium (.ci/run); elsewhere the browser test runs only where it is installed.
const run = existsSync(CHROMIUM) || process.env.CI === 'true';

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

describe.runIf(run)('the attention explorer in headless Chromium', () => {
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({ model: MODEL, port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('serves only the page, its code and the model files', async () => {
    for (const path of ['/', '/app.js', '/model/model.json', '/model/weights.bin', '/model/tokenizer.json', '/wasm/tfjs-backend-wasm-simd.wasm']) {
      expect(await get(server, path), path).toBe(200);
    }
    for (const path of ['/model/../package.json', '/model/..%2fpackage.json', '/model/%2e%2e/package.json', '/model/evaluation.json', '/model/', '/../../etc/passwd', `/model/${'a'.repeat(5000)}`, '/src/index.ts']) {
      expect(await get(server, path), path).toBe(404);
    }
  });

  for (const backend of ['wasm', 'cpu']) {
    it(`translates like the Node CLI and shows the same attention weights (${backend})`, async () => {
      const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}?backend=${backend}`);
      await page.waitForFunction(() => window.__atencao?.state !== 'loading', undefined, { timeout: 60_000 });
      expect(await page.evaluate(() => window.__atencao.error ?? null)).toBeNull();
      expect(await page.evaluate(() => window.__atencao.backend)).toBe(backend);

      const sentence = 'O menino derramou leite do balde para a xícara até que ficasse vazio.';
      await page.fill('#input', sentence);
      await page.click('#translate');
      await page.waitForFunction((s) => window.__atencao.last?.source === s, sentence);
      const shown = { greedy: await page.textContent('#greedy'), beam: await page.textContent('#beam-output') };
      const inPage = await page.evaluate(() => window.__atencao.last!.maps);

      await tf.setBackend('wasm');
      const translator = await loadModel(MODEL);
      const node = translator.translate(sentence);
      const nodeBeam = translator.translate(sentence, { beam: 4 });
      const maps = translator.attention(sentence);
      translator.dispose();
      expect(shown.greedy).toBe(node.output);
      expect(shown.greedy).toBe('The boy poured milk from the bucket into the cup until the bucket was empty.');
      expect(shown.beam).toBe(nodeBeam.output);
      expect(inPage.sourceTokens).toEqual(maps.sourceTokens);
      expect(inPage.outputTokens).toEqual(maps.outputTokens);
      for (const kind of ['encoder', 'decoderSelf', 'cross'] as const) {
        const a = inPage[kind].flat(3);
        const b = maps[kind].flat(3);
        expect(a).toHaveLength(b.length);
        expect(Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))).toBeLessThan(1e-4);
      }
      // The explorer rendered: a heatmap cell per weight of the selected map, and the head view.
      expect(await page.locator('#heat td').count()).toBe(maps.outputTokens.length * maps.sourceTokens.length);
      await page.hover('#headview .tokens.left .tok >> nth=12');
      expect(await page.textContent('#headview .tokens.right')).toMatch(/\d\.\d\d/);
      const dir = mkdtempSync(join(tmpdir(), 'atencao-web-'));
      await page.screenshot({ path: join(dir, `explorer-${backend}.png`), fullPage: true });
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
