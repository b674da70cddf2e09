import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../src/infer/load.js';
import { patchActivations } from '../src/inspect/patch.js';
import { startServer, type RunningServer } from '../src/web/server.js';

const CHROMIUM = '/usr/bin/chromium';
const MODEL = new URL('../models/pt-en', import.meta.url).pathname;
const CHEIO = 'Ela derramou água da jarra para o copo até que ficasse cheio.';

describe.runIf(existsSync(CHROMIUM))('Look inside, in the browser page', () => {
  let browser: Browser;
  let server: RunningServer;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    server = await startServer({ model: MODEL, port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await browser?.close();
  });

  it('shows rollout and value norms beside the weights, and patches like Node', async () => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}?backend=wasm`);
    await page.waitForFunction(() => (window as unknown as { __atencao?: { state: string } }).__atencao?.state !== 'loading', undefined, { timeout: 60_000 });
    await page.fill('#input', CHEIO);
    await page.click('#translate');
    await page.waitForFunction((s) => (window as unknown as { __atencao: { last?: { input: string } } }).__atencao.last?.input === s, CHEIO);
    // The explorer's View selector: the weights, their rollout, the value-weighted norms.
    expect(await page.locator('#example option').allTextContents()).toEqual(['attention weights', 'rollout', '‖α·f(x)‖']);
    await page.click('#inspect-patch');
    await page.waitForFunction(() => (window as unknown as { __atencao: { inspection?: unknown } }).__atencao.inspection !== undefined, undefined, { timeout: 60_000 });
    const shown = await page.evaluate(() => (window as unknown as { __atencao: { inspection: { summary: string; svg: string } } }).__atencao.inspection);
    const loaded = await loadModelDir(MODEL);
    const node = await patchActivations(loaded, CHEIO);
    loaded.model.dispose();
    expect(shown.summary).toContain(node.cleanValue.toFixed(2));
    expect(shown.summary).toContain(node.corruptedValue.toFixed(2));
    expect(await page.locator('#inspect-out svg rect').count()).toBeGreaterThan(50);
    // The q·k neuron view of "cheio" (encoder–decoder default: cross-attention, last layer) and the steps page.
    await page.fill('#neurons-query', 'glass');
    await page.click('#inspect-neurons');
    await page.waitForFunction(() => (window as unknown as { __atencao: { inspection: { tool: string } } }).__atencao.inspection.tool === 'neurons', undefined, { timeout: 60_000 });
    expect(await page.textContent('#inspect-summary')).toContain('cross attention, layer 2, head 1, query "glass"');
    await page.click('#inspect-steps');
    await page.waitForFunction(() => (window as unknown as { __atencao: { inspection: { tool: string } } }).__atencao.inspection.tool === 'steps', undefined, { timeout: 60_000 });
    expect(await page.textContent('#inspect-summary')).toBe('She poured water from the jug into the glass until the glass was full. (beam 3, 16 steps)');
    expect(await page.frameLocator('#inspect-steps-frame').locator('#stepn').textContent()).toBe('1 of 16');
    await page.screenshot({ path: join(tmpdir(), 'atencao-inspect-page.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
