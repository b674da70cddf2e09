import type { ModelAttention } from '../infer/attention-maps.js';
import type { LoadedModel } from '../infer/loaded.js';
import type { ExplorerExample } from '../viz/html.js';
import { ablateHeads, headKinds } from './ablate.js';
import { rolloutOf, valueNorms } from './aggregate.js';
import { explorerExamples } from './explorer.js';
import { logitLens } from './lens.js';
import { patchActivations } from './patch.js';
import { ablationGrids, gridsSvg, lensGrids, neuronGrids, patchGrids, stepsHtml } from './render.js';
import { neuronView } from './neurons.js';
import { decodeSteps, stepKeys } from './steps.js';
import type { AttentionKind } from '../model/model.js';

/*
 * The causal tools and aggregate views for a page (the browser page of 'atencao serve'): plain
 * data and SVG text, no DOM, so the same functions run in Node.
 */

export type InspectTool = 'ablate' | 'patch' | 'lens' | 'neurons' | 'steps';

export interface PageInspection {
  tool: InspectTool;
  text: string;
  /** One line: what was measured and the headline number. */
  summary: string;
  /** The grids as one SVG (every token escaped); for 'steps', a whole page with a step slider. */
  svg: string;
}

export interface InspectOptions {
  /** neurons: the attention (default: cross-attention, else the model's own), layer and head (1-based; default: last layer, head 1), query token or position (default: the last). */
  kind?: AttentionKind;
  layer?: number;
  head?: number;
  query?: string | number;
  /** steps: beam width (default 3). */
  beam?: number;
}

/**
 * The explorer's views of one input: the raw weights, their rollout (from the same weights) and
 * the value-weighted norms ‖α·f(x)‖ (one more run of the model on the same tokens).
 */
export async function inspectViews(loaded: LoadedModel, maps: ModelAttention): Promise<ExplorerExample[]> {
  const views = [maps, rolloutOf(maps)];
  // The tokens the maps cover: an encoder–decoder's translation, a decoder's prompt and continuation.
  const seq2seq = loaded.model.arch === 'encoder-decoder';
  const text = !seq2seq && maps.output ? `${maps.input} ${maps.output}` : maps.input;
  const targetIds = seq2seq && maps.output !== undefined ? [1, ...loaded.target.encode(maps.output)] : undefined;
  // The norms need the same tokens as the maps; when they cannot be read so (a cut prompt), the view is left out.
  const norms = await valueNorms(loaded, text, targetIds ? { targetIds } : {}).catch(() => undefined);
  const sameShape = norms?.shares.maps.every((m, i) => m.rows.length === maps.maps[i]?.rows.length && m.cols.length === maps.maps[i]?.cols.length);
  if (norms && sameShape) views.push(norms.shares);
  return explorerExamples(views);
}

/** Run one causal tool on a sentence of the referent construction and draw it. */
export async function runInspectTool(loaded: LoadedModel, tool: InspectTool, text: string, options: InspectOptions = {}): Promise<PageInspection> {
  if (tool === 'neurons') {
    const kinds = headKinds(loaded);
    const kind = options.kind ?? (kinds.find((k) => k.kind === 'cross') ?? kinds[0]!).kind;
    const layers = kinds.find((k) => k.kind === kind)?.layers ?? 1;
    const v = await neuronView(loaded, text, { kind, layer: options.layer ?? layers, head: options.head ?? 1, query: options.query });
    const summary = `${v.kind} attention, layer ${v.layer}, head ${v.head}, query "${v.queryToken}": each score is the sum of its q⊙k terms divided by √${v.q.length}`;
    return { tool, text, summary, svg: gridsSvg(neuronGrids(v), `q·k neurons: where "${v.queryToken}" looks`) };
  }
  if (tool === 'steps') {
    const r = await decodeSteps(loaded, text, { beam: options.beam ?? 3 });
    return { tool, text, summary: `${r.output} (beam ${r.beam}, ${r.steps.length} steps)`, svg: stepsHtml(r, (step, hyp) => stepKeys(r, step, hyp)) };
  }
  if (tool === 'ablate') {
    const r = await ablateHeads(loaded, text);
    const worst = r.grids.flatMap((g) => g.change.flatMap((row, l) => row.map((x, h) => ({ x, name: `${g.title}, layer ${l + 1}, head ${h + 1}` })))).sort((a, b) => a.x - b.x)[0];
    const summary = `${r.decision.description}: ${r.clean.toFixed(2)}; the head that matters most alone: ${worst?.name ?? '–'} (${worst ? worst.x.toFixed(2) : '–'})`;
    return { tool, text, summary, svg: gridsSvg(ablationGrids(r), 'Head ablation: change of the decision') };
  }
  if (tool === 'patch') {
    const r = await patchActivations(loaded, text);
    const summary = `${r.decision.description}: ${r.cleanValue.toFixed(2)} here, ${r.corruptedValue.toFixed(2)} in "${r.corrupted.text}"; each cell: the share of the difference a patch from this sentence restores in the twin`;
    return { tool, text, summary, svg: gridsSvg(patchGrids(r), 'Activation patching: share restored') };
  }
  const r = await logitLens(loaded, text, { topK: 3 });
  const summary = `Logit lens over the ${r.stack} stack: the final answer's probability and rank after each layer, at every position`;
  return { tool, text, summary, svg: gridsSvg(lensGrids(r), 'Logit lens') };
}
