import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/infer/load.js';
import { readArchive, unpackModelArchive, writeArchive } from '../src/io/archive.js';
import { filmObserver, readFilm } from '../src/train/film.js';
import { resumeRun, startRun } from '../src/train/run.js';
import { startServer, type RunningServer } from '../src/web/server.js';
import { planStudioRun, type StudioSettings } from '../src/web/studio-settings.js';

const CHROMIUM = '/usr/bin/chromium';
const BASE_ARGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const root = mkdtempSync(join(tmpdir(), 'atencao-studio-'));
/** The run every backend trains: the copy task, tiny, 30 steps, validated once at the end. */
const SETTINGS: StudioSettings = { arch: 'encoder-decoder', task: 'copy', size: 'tiny', steps: 30, seed: 1, backend: 'wasm', filmEvery: 5, validEvery: 30 };
const query = (s: StudioSettings) => `?view=train&arch=${s.arch}&task=${s.task}&size=${s.size}&steps=${s.steps}&seed=${s.seed}&backend=${s.backend}&film=${s.filmEvery}&validEvery=${s.validEvery}&autostart=1`;

interface NodeRun {
  dir: string;
  losses: number[];
}
let nodeRun: Promise<NodeRun> | undefined;
/** The same settings trained by `startRun` in Node on wasm (once for every test that compares). */
function trainInNode(): Promise<NodeRun> {
  nodeRun ??= (async () => {
    await tf.setBackend('wasm');
    const plan = planStudioRun(SETTINGS);
    const losses: number[] = [];
    const dir = join(root, 'node-copy');
    await startRun(
      { out: dir, arch: plan.arch, data: plan.data, model: plan.model, training: plan.training, backend: 'wasm', workers: 1 },
      { info: () => undefined, warn: () => undefined, stepEvery: 1, step: (e) => (losses[e.step - 1] = e.loss), observe: filmObserver({ every: SETTINGS.filmEvery }) },
    );
    return { dir, losses };
  })();
  return nodeRun;
}

const maxRelative = (a: readonly (number | null)[], b: readonly number[]) => Math.max(...a.map((x, i) => Math.abs(x! - b[i]!) / Math.abs(b[i]!)));

/** Open the studio with `search`, collecting console errors; wait for the run to end. */
async function train(browser: Browser, server: RunningServer, search: string, timeout = 120_000): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1100 }, acceptDownloads: true });
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}${search}`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('train')!.dataset.state!), undefined, { timeout });
  return { page, errors };
}

const studio = (page: Page) => page.evaluate(() => window.__studio);

describe.runIf(existsSync(CHROMIUM))('the training studio in headless Chromium', () => {
  let browser: Browser;
  let server: RunningServer;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, '--disable-gpu'] });
    server = await startServer({ port: 0 }); // no model: the studio alone
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await browser?.close();
  });

  it('trains the copy task on wasm from the URL as Node does, stays responsive, and its archive translates in Node as in the page', async () => {
    const [{ page, errors }, node] = await Promise.all([train(browser, server, query(SETTINGS)), trainInNode()]);
    const run = await studio(page);
    expect(run.state).toBe('done');
    expect(run.backend!.name).toBe('wasm');
    expect(run.losses).toHaveLength(30);
    console.log(`wasm: largest relative difference from Node's losses ${maxRelative(run.losses, node.losses).toExponential(2)}`);
    expect(maxRelative(run.losses, node.losses)).toBeLessThanOrEqual(1e-4);
    // The page never froze: its timer kept firing while the worker trained.
    expect(run.ticks).toBeGreaterThan(5);
    expect(run.longestTickGapMs).toBeLessThan(1000);
    const metrics = JSON.parse((await page.getAttribute('#train', 'data-metrics'))!);
    expect(metrics.step).toBe(30);
    expect(metrics.loss).toBeCloseTo(node.losses[29]!, 4);
    expect(metrics.exactMatch).toBeGreaterThanOrEqual(0);
    // The film: frames at steps 0, 5, …, 30, the last one as Node recorded it.
    expect(run.frames).toBe(7);
    expect(await page.getAttribute('#film', 'data-step')).toBe('30');
    const nodeFilm = readFilm(node.dir);
    expect(nodeFilm.map((f) => f.step)).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(await page.locator('#film-grid canvas').count()).toBe(2); // cross-attention: 1 layer × 2 heads
    expect(await page.locator('#chart-loss canvas').count()).toBeGreaterThan(0); // uPlot drew
    expect(await page.textContent('#train-backend-info')).toContain('Training on wasm');

    // Download the model; Node unpacks it and translates as the page does.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#train-download')]);
    const tar = join(root, download.suggestedFilename());
    await download.saveAs(tar);
    expect(download.suggestedFilename()).toBe('copy-seed1.tar');
    // A standard tar: the system's tar lists the folder.
    expect(execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()).toEqual(
      ['copy-seed1/', 'copy-seed1/checksums.json', 'copy-seed1/config.json', 'copy-seed1/film.jsonl', 'copy-seed1/metrics.jsonl', 'copy-seed1/model.json', 'copy-seed1/optimizer-30.bin', 'copy-seed1/tokenizer.json', 'copy-seed1/weights.bin'].sort(),
    );
    const out = join(root, 'unpacked');
    unpackModelArchive(tar, out);
    expect(readFilm(out)).toHaveLength(7);
    const text = await page.inputValue('#input');
    expect(text).not.toBe('');
    await page.click('#view-explore');
    await page.click('#translate');
    await page.waitForFunction((s) => window.__atencao.last?.input === s, text);
    const shown = await page.textContent('#greedy');
    await tf.setBackend('wasm');
    const translator = await loadModel(out);
    const nodeOut = await translator.translate(text);
    translator.dispose();
    expect(shown).toBe(nodeOut.output);
    // The page's model and Node's (same seed, same steps) are the same model.
    const fromNode = await loadModel(node.dir);
    expect((await fromNode.translate(text)).output).toBe(shown);
    fromNode.dispose();
    await page.screenshot({ path: join(root, 'studio-wasm.png'), fullPage: true });
    expect(errors).toEqual([]);

    // Bad input: one line in the page each, the previous state kept.
    await page.click('#view-train');
    const before = { state: await page.getAttribute('#train', 'data-state'), model: await page.evaluate(() => window.__atencao.model) };
    const refused = async (setFiles: () => Promise<void>, message: string) => {
      await setFiles();
      await page.waitForFunction(() => !document.getElementById('train-message')!.hidden, undefined, { timeout: 20_000 });
      expect(await page.textContent('#train-message')).toBe(message);
      expect(await page.getAttribute('#train', 'data-state')).toBe(before.state);
      expect(await page.evaluate(() => window.__atencao.model)).toBe(before.model);
      await page.evaluate(() => (document.getElementById('train-message')!.hidden = true));
    };
    await refused(
      () => {
        const big = join(root, 'big.tsv');
        writeFileSync(big, Buffer.alloc(50 * 2 ** 20, 'a\tb\n'));
        return page.setInputFiles('#train-file', big);
      },
      "big.tsv is 50.0 MiB, more than the 20 MiB the page trains on; train on it with 'atencao train --data' instead",
    );
    await refused(() => page.setInputFiles('#train-file', { name: 'photo.tsv', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 0x49]) }), 'photo.tsv is not a text file (it holds NUL bytes)');
    await refused(() => page.setInputFiles('#train-file', { name: 'pairs.tsv', mimeType: 'text/plain', buffer: Buffer.from('Ela bebeu água. She drank water.\nO copo caiu. The glass fell.\n') }), 'pairs.tsv has no tabs: a TSV file needs "source<TAB>target" on each line');
    expect(await page.textContent('#train-file-name')).toBe('');
    const { folder, files } = readArchive(readFileSync(tar), 'x');
    const without = writeArchive(folder, files.filter((f) => f.name !== 'weights.bin'));
    await refused(() => page.setInputFiles('#train-load', { name: 'missing.tar', mimeType: 'application/x-tar', buffer: Buffer.from(without) }), 'missing.tar: copy-seed1/weights.bin is missing');
    const altered = files.map((f) => (f.name === 'weights.bin' ? { ...f, data: f.data.map((b, i) => (i === 100 ? b ^ 1 : b)) } : f));
    await refused(
      () => page.setInputFiles('#train-load', { name: 'altered.tar', mimeType: 'application/x-tar', buffer: Buffer.from(writeArchive(folder, altered)) }),
      'altered.tar: copy-seed1/weights.bin does not match the checksum saved with it (damaged or replaced)',
    );
    await refused(() => page.setInputFiles('#train-load', { name: 'notes.tar', mimeType: 'application/x-tar', buffer: Buffer.from('not an archive') }), 'notes.tar is not a model archive (a tar file is made of 512-byte blocks; this one has 14 bytes)');
    // The trained model still translates.
    await page.click('#view-explore');
    await page.click('#translate');
    expect(await page.textContent('#greedy')).toBe(shown);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('plays a film recorded in Node, in the page and in the HTML report', async () => {
    const node = await trainInNode();
    const names = readdirSync(node.dir).filter((f) => /^(config|tokenizer|model)\.json$|^weights\.bin$|^checksums\.json$|^metrics\.jsonl$|^film\.jsonl$/.test(f));
    const page = await browser.newPage({ viewport: { width: 1300, height: 1100 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${server.url}?view=train&backend=wasm`);
    await page.waitForFunction(() => window.__atencao?.state === 'ready');
    const tar = writeArchive('from-node', names.map((name) => ({ name, data: readFileSync(join(node.dir, name)) })));
    await page.setInputFiles('#train-load', { name: 'from-node.tar', mimeType: 'application/x-tar', buffer: Buffer.from(tar) });
    await page.waitForFunction(() => window.__atencao.model === 'from-node', undefined, { timeout: 30_000 });
    // The folder itself, as a browser hands a chosen folder over (its files, optimizer states and all).
    await page.setInputFiles('#train-load-folder', node.dir);
    await page.waitForFunction(() => window.__atencao.model === 'node-copy', undefined, { timeout: 30_000 });
    const film = readFilm(node.dir);
    expect(await page.evaluate(() => window.atencaoFilm.state())).toMatchObject({ frames: film.length, step: 30 });
    await page.evaluate(() => window.atencaoFilm.seek(2));
    expect(await page.getAttribute('#film', 'data-step')).toBe(String(film[2]!.step));
    const cross = film[2]!.maps.find((m) => m.kind === 'cross')!;
    expect(await page.locator('#film-heat td').count()).toBe(cross.rows.length * cross.cols.length);
    expect(await page.locator('#film-heat th.col').allTextContents()).toEqual(cross.cols);
    expect(await page.textContent('#train-status')).toContain(`its film has ${film.length} frames`);
    // The page's model is Node's now.
    expect(await page.evaluate(() => window.__atencao.arch)).toBe('encoder-decoder');

    // Continue it for 10 steps in the page, as `atencao train --resume` continues it in Node.
    await page.fill('#train-steps', '10');
    await page.fill('#train-film', '5');
    await page.click('#train-continue');
    await page.waitForFunction(() => document.getElementById('train')!.dataset.state === 'running');
    await page.waitForFunction(() => document.getElementById('train')!.dataset.state === 'done', undefined, { timeout: 60_000 });
    const continued = await studio(page);
    expect(continued.from).toBe(30);
    const resumed = join(root, 'node-resumed');
    cpSync(node.dir, resumed, { recursive: true });
    const nodeLosses: number[] = [];
    await tf.setBackend('wasm');
    await resumeRun({ out: resumed, overrides: { steps: 40 }, backend: 'wasm', workers: 1 }, { info: () => undefined, warn: () => undefined, stepEvery: 1, step: (e) => (nodeLosses[e.step - 1] = e.loss) });
    expect(continued.losses.slice(30)).toHaveLength(10);
    expect(maxRelative(continued.losses.slice(30), nodeLosses.slice(30))).toBeLessThanOrEqual(1e-4);
    // Its film goes on from the recorded one.
    expect(await page.evaluate(() => window.atencaoFilm.state())).toMatchObject({ frames: film.length + 2, step: 40 });
    expect(errors).toEqual([]);
    await page.close();

    // The HTML report plays the same film from file://, with no server.
    const html = join(root, 'film.html');
    execFileSync(process.execPath, [new URL('../dist/cli/main.js', import.meta.url).pathname, 'attention', '--model', node.dir, '--film', '--format', 'html', '--out', html], { stdio: 'pipe' });
    const report = await browser.newPage({ viewport: { width: 900, height: 700 } });
    await report.goto(`file://${html}`);
    expect(await report.evaluate(() => window.atencaoFilm.state())).toMatchObject({ frames: film.length, step: 30, kind: 'cross' });
    await report.click('#film-play');
    await report.waitForFunction(() => !window.atencaoFilm.state().playing && window.atencaoFilm.state().index === window.atencaoFilm.state().frames - 1, undefined, { timeout: 10_000 });
    await report.close();
  }, 120_000);

  it('refuses a film that is not there or is malformed, in one line', () => {
    const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
    const run = (dir: string) => {
      try {
        execFileSync(process.execPath, [cli, 'attention', '--model', dir, '--film', '--format', 'html'], { stdio: 'pipe' });
        return '';
      } catch (error) {
        return String((error as { stderr: Buffer }).stderr).trim();
      }
    };
    const dir = mkdtempSync(join(root, 'nofilm-'));
    expect(run(dir)).toBe(`atencao: ${dir} holds no film (film.jsonl); record one with 'atencao train --film'`);
    writeFileSync(join(dir, 'film.jsonl'), '{"step": 0, "maps": []}\n');
    expect(run(dir)).toBe(`atencao: ${join(dir, 'film.jsonl')} line 1: maps is missing or empty`);
  });
});

/**
 * The same run on a software GPU (SwiftShader in Chromium): WebGL2, and WebGPU with the flags of
 * a Vulkan SwiftShader adapter. Their losses are compared with Node's on wasm: the same maths in
 * float32 on other kernels, so equal to rounding (the largest relative difference is printed).
 */
const SLOW = process.env.ATENCAO_GPU_BROWSER_TESTS === '1';
const GPU_RUNS = [
  { backend: 'webgl' as const, args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'], run: true, why: '' },
  {
    backend: 'webgpu' as const,
    args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'],
    run: SLOW,
    why: SLOW ? '' : ' — skipped: about 100 s on two busy cores (SwiftShader compiles a pipeline per shape); ATENCAO_GPU_BROWSER_TESTS=1 runs it',
  },
];
for (const { backend, args, run: enabled, why } of GPU_RUNS) {
  describe.runIf(existsSync(CHROMIUM) && enabled)(`the training studio on ${backend} (SwiftShader)${why}`, () => {
    let browser: Browser;
    let server: RunningServer;
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...args] });
      server = await startServer({ port: 0 });
    }, 60_000);
    afterAll(async () => {
      await server?.close();
      await browser?.close();
    });

    it(`trains the copy task 30 steps with Node's losses (${backend})`, async () => {
      const settings = { ...SETTINGS, backend, filmEvery: 30 };
      const [{ page, errors }, node] = await Promise.all([train(browser, server, query(settings), 150_000), trainInNode()]);
      const run = await studio(page);
      expect(run.message ?? null).toBeNull();
      expect(run.state).toBe('done');
      expect(run.backend!.name).toBe(backend);
      expect(run.backend!.adapter).toMatch(/swiftshader/i);
      expect(run.losses).toHaveLength(30);
      const difference = maxRelative(run.losses, node.losses);
      console.log(`${backend}: largest relative difference from Node's wasm losses ${difference.toExponential(2)}; ${JSON.parse((await page.getAttribute('#train', 'data-metrics'))!).stepsPerSecond?.toFixed(2)} steps/s`);
      expect(difference).toBeLessThanOrEqual(1e-4);
      expect(run.longestTickGapMs).toBeLessThan(1000);
      expect(errors).toEqual([]);
      await page.close();
    }, 180_000);
  });
}
