import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { describeText, attentionPanels } from '../viz/panels.js';
import { loadModelDir } from '../infer/load.js';
import { renderHeatmap } from '../viz/terminal.js';
import { renderSvg } from '../viz/svg.js';
import { ablateHeads, parseHeads, type AblationMode } from '../inspect/ablate.js';
import { rolloutMaps, valueNorms } from '../inspect/aggregate.js';
import { explorerPage } from '../inspect/explorer.js';
import { logitLens } from '../inspect/lens.js';
import { neuronView } from '../inspect/neurons.js';
import { patchActivations } from '../inspect/patch.js';
import { ablationGrids, ablationText, gridsSvg, inspectPage, lensGrids, lensText, neuronGrids, neuronText, patchGrids, patchText, stepsHtml, stepsText, type Grid } from '../inspect/render.js';
import { decodeSteps, stepKeys } from '../inspect/steps.js';
import type { AttentionKind } from '../model/model.js';
import type { ModelAttention } from '../infer/attention-maps.js';
import { backendOption, numberIn, positiveInt, startBackend, writeOutput } from './options.js';

const TOOLS = ['ablate', 'patch', 'lens', 'rollout', 'value-norm', 'neurons', 'steps'] as const;

interface InspectArgs {
  tool: (typeof TOOLS)[number];
  model: string;
  text: string;
  format: string;
  out?: string;
  heads?: string;
  mode: string;
  corrupted?: string;
  right?: string;
  wrong?: string;
  kind?: string;
  layer?: number;
  head?: number;
  query?: string;
  beam: number;
  top: number;
  residual: number;
  numbers: boolean;
  backend: string;
}

const SEED = '"Ela derramou água da jarra para o copo até que ficasse cheio."';

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <tool>',
  describe: 'Look inside a model: head ablation, activation patching, logit lens, rollout, value norms, q·k neurons, decoding steps',
  builder: (y) =>
    y
      .positional('tool', {
        type: 'string',
        choices: TOOLS,
        demandOption: true,
        describe:
          'ablate: remove each head, measure the decision; patch: copy activations from a clean run into a corrupted one; lens: decode every layer; rollout: attention rollout; value-norm: ‖α·f(x)‖; neurons: q⊙k behind one query\'s scores; steps: decoding step by step',
      })
      .option('model', { type: 'string', demandOption: true, describe: 'Model folder made by atencao train' })
      .option('text', { type: 'string', demandOption: true, describe: 'The input; ablate and patch need a sentence of the referent construction (… da jarra para o copo até que ficasse cheio.)' })
      .option('format', { type: 'string', choices: ['terminal', 'json', 'svg', 'html'], default: 'terminal', describe: 'terminal text, raw JSON, an SVG figure or an HTML page' })
      .option('out', { type: 'string', describe: 'Write to this file (default: standard output)' })
      .option('heads', { type: 'string', describe: 'ablate: ablate these heads together, layer.head or kind:layer.head, e.g. 2.1,cross:2.3' })
      .option('mode', { type: 'string', choices: ['zero', 'mean'], default: 'zero', describe: 'ablate: replace a head\'s output by zeros or by its mean over the positions' })
      .option('corrupted', { type: 'string', describe: 'patch: the corrupted input (default: the twin whose adjective describes the other container)' })
      .option('right', { type: 'string', describe: 'ablate, patch: the right answer (word or class) instead of the referent\'s' })
      .option('wrong', { type: 'string', describe: 'ablate, patch: the wrong answer to compare it with' })
      .option('kind', { type: 'string', choices: ['encoder', 'decoder', 'cross'], describe: 'neurons: the attention (default: cross for an encoder–decoder, else the model\'s own); ablate: the kind of --heads without one' })
      .option('layer', { type: 'number', default: undefined, describe: 'neurons: layer (1-based, default: the last)' })
      .option('head', { type: 'number', default: undefined, describe: 'neurons: head (1-based, default: 1)' })
      .option('query', { type: 'string', describe: 'neurons: the query token or its 0-based position (default: the last)' })
      .option('beam', { type: 'number', default: 1, describe: 'steps: beam width (1 = greedy)' })
      .option('top', { type: 'number', default: 5, describe: 'steps, lens: candidates shown' })
      .option('residual', { type: 'number', default: 0.5, describe: 'rollout: share of the identity mixed into every layer (the residual connection)' })
      .option('numbers', { type: 'boolean', default: false, describe: 'rollout, value-norm (terminal): print the values in the cells' })
      .option('backend', backendOption)
      .example(`$0 inspect ablate --model models/pt-en --text ${SEED}`, 'each head\'s effect on glass vs jug')
      .example(`$0 inspect ablate --model models/pt-en --text ${SEED} --heads cross:2.1,cross:2.2 --mode mean`, 'two heads together')
      .example(`$0 inspect patch --model models/pt-en --text ${SEED} --format html --out patch.html`, 'how much of the clean decision each patch from the cheio run restores in the vazia run')
      .example(`$0 inspect lens --model models/pt-en --text ${SEED}`, 'what every layer would write')
      .example(`$0 inspect rollout --model models/pt-en --text ${SEED} --format svg --out rollout.svg`, 'rollout beside the raw weights')
      .example(`$0 inspect neurons --model models/pt-en --text ${SEED} --kind encoder --layer 2 --head 1 --query cheio`, 'the q⊙k terms behind where "cheio" looks')
      .example(`$0 inspect steps --model models/pt-en --text ${SEED} --beam 3 --format html --out steps.html`, 'beam search step by step, with a slider'),
  handler: async (args) => {
    positiveInt('layer', args.layer);
    positiveInt('head', args.head);
    positiveInt('beam', args.beam);
    positiveInt('top', args.top);
    numberIn('residual', args.residual, 0, 1);
    await startBackend(args.backend, true);
    const loaded = await loadModelDir(args.model);
    try {
      const text = await run(args, loaded);
      writeOutput(text, args.out);
    } finally {
      loaded.model.dispose();
    }
  },
};

type Loaded = Awaited<ReturnType<typeof loadModelDir>>;

async function run(args: InspectArgs, loaded: Loaded): Promise<string> {
  const format = args.format;
  const title = `${args.tool} · ${args.model}`;
  const figures = (grids: Grid[], lines: string[]) => (format === 'svg' ? gridsSvg(grids, title) : inspectPage(title, lines, [gridsSvg(grids, lines[0] ?? title)]));
  const decide = { right: args.right, wrong: args.wrong };
  if ((args.right === undefined) !== (args.wrong === undefined)) throw new UsageError('--right and --wrong go together');
  switch (args.tool) {
    case 'ablate': {
      const heads = args.heads === undefined ? undefined : parseHeads(loaded, args.heads, args.kind as AttentionKind | undefined);
      const r = await ablateHeads(loaded, args.text, { ...decide, mode: args.mode as AblationMode, heads });
      if (format === 'json') return json(r);
      if (format === 'terminal') return ablationText(r);
      return figures(ablationGrids(r), [r.probe.text, `decision: ${r.decision.description}; clean ${r.clean.toFixed(3)}`]);
    }
    case 'patch': {
      const r = await patchActivations(loaded, args.text, { ...decide, corrupted: args.corrupted });
      if (format === 'json') return json(r);
      if (format === 'terminal') return patchText(r);
      return figures(patchGrids(r), [`clean: ${r.clean.text} (${r.cleanValue.toFixed(2)})`, `corrupted: ${r.corrupted.text} (${r.corruptedValue.toFixed(2)})`, `decision: ${r.decision.description}`]);
    }
    case 'lens': {
      const r = await logitLens(loaded, args.text, { topK: args.top });
      if (format === 'json') return json(r);
      if (format === 'terminal') return lensText(r);
      return figures(lensGrids(r), [r.probe.text]);
    }
    case 'rollout':
    case 'value-norm': {
      const pair = args.tool === 'rollout' ? await rolloutMaps(loaded, args.text, { residual: args.residual }) : await valueNorms(loaded, args.text);
      const derived = 'rollout' in pair ? pair.rollout : pair.shares;
      if (format === 'json') return json(args.tool === 'rollout' ? { raw: pair.raw, rollout: derived } : { raw: pair.raw, valueNorm: derived, norms: (pair as { norms: unknown }).norms });
      return attentionViews(args, [pair.raw, derived], format, title);
    }
    case 'neurons': {
      const own = loaded.model.arch === 'encoder-decoder' ? 'cross' : loaded.model.arch === 'decoder' ? 'decoder' : 'encoder';
      const kind = (args.kind ?? own) as AttentionKind;
      const c = loaded.model.config;
      const layers = c.arch === 'encoder-decoder' ? (kind === 'encoder' ? c.numEncoderLayers : c.numDecoderLayers) : c.numLayers;
      const query = args.query === undefined ? undefined : /^\d+$/.test(args.query) ? Number(args.query) : args.query;
      const view = await neuronView(loaded, args.text, { kind, layer: args.layer ?? layers, head: args.head ?? 1, query });
      if (format === 'json') return json(view);
      if (format === 'terminal') return neuronText(view);
      return figures(neuronGrids(view), [view.probe.text, `${view.kind} attention, layer ${view.layer}, head ${view.head}, query "${view.queryToken}"`]);
    }
    case 'steps': {
      const r = await decodeSteps(loaded, args.text, { beam: args.beam, topK: args.top });
      const keys = (step: number, hyp: number) => stepKeys(r, step, hyp);
      if (format === 'json') return json(r);
      if (format === 'terminal') return stepsText(r, keys);
      if (format === 'svg') throw new UsageError("'inspect steps' has no SVG view: use --format html (a page with a step slider), terminal or json");
      return stepsHtml(r, keys);
    }
  }
}

/** Rollout and value norms in the views of 'atencao attention': raw weights beside the derived maps. */
function attentionViews(args: InspectArgs, maps: ModelAttention[], format: string, title: string): string {
  const panels = maps.flatMap((m) => attentionPanels(m));
  if (format === 'svg') return renderSvg(panels, describeText(maps[0]!));
  if (format === 'html') return explorerPage(title, maps);
  const heading = `${describeText(maps[0]!)}\n\n`;
  return heading + panels.map((p) => renderHeatmap(p.weights, p.rows, p.cols, { numbers: args.numbers, color: args.out === undefined && process.stdout.isTTY === true, title: `${p.title}, layer ${p.layer}${p.title.includes('rollout') ? '' : `, head ${p.head}`}` })).join('\n');
}

function json(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))}\n`;
}
