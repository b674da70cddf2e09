import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../errors.js';
import { kindTitle } from '../infer/attention-maps.js';
import type { LoadedModel } from '../infer/loaded.js';
import type { AttentionKind } from '../model/model.js';
import { decisionValue, disposeInput, prepareProbe, probeInput, type Decision, type Probe, type ProbeOptions } from './probe.js';
import { disposeTrace, replaceHead, trace, type TraceHooks, type TraceInput } from './trace.js';

/** A head: its kind, layer and head, 1-based as the views number them. */
export interface HeadRef {
  kind: AttentionKind;
  layer: number;
  head: number;
}

export type AblationMode = 'zero' | 'mean';

export interface AblateOptions extends ProbeOptions {
  /** zero: the head's output becomes 0; mean: its mean over this input's positions. Default: zero. */
  mode?: AblationMode;
  /** Ablate these heads together in one run, instead of each head on its own. */
  heads?: readonly HeadRef[];
}

/** Effects of one kind of attention, [layer][head]. */
export interface HeadGrid {
  kind: AttentionKind;
  title: string;
  /** The decision with the head ablated. */
  ablated: number[][];
  /** ablated − clean: negative where the head carried the decision. */
  change: number[][];
  /** Per layer, the change with all its heads ablated together. */
  layerChange: number[];
}

export interface AblationResult {
  probe: Probe;
  decision: Decision;
  mode: AblationMode;
  /** The decision without any ablation. */
  clean: number;
  /** Each head alone (when no heads were listed). */
  grids: HeadGrid[];
  /** The listed heads, ablated together. */
  together?: { heads: HeadRef[]; ablated: number; change: number };
}

/**
 * Head ablation: run the model with one head's output (before Wo) set to zero or to its mean over
 * the positions, and measure the decision (`Probe.decision`) again. A head whose removal moves the
 * decision towards the wrong answer carries it.
 */
export async function ablateHeads(loaded: LoadedModel, text: string, options: AblateOptions = {}): Promise<AblationResult> {
  const probe = await prepareProbe(loaded, text, { ...options, decide: true });
  const decision = probe.decision!;
  const mode = options.mode ?? 'zero';
  const kinds = headKinds(loaded);
  for (const h of options.heads ?? []) checkHead(loaded, h);
  const input = probeInput(probe);
  try {
    const clean = trace(loaded.model, input);
    const cleanValue = await decisionValue(clean.logits, decision);
    // Per kind and layer, what a head is replaced by: zeros, or its mean over the query positions.
    const replacement = (kind: AttentionKind, layer: number) => {
      const z = clean.attention[kind]![layer]!.heads; // (1, H, Tq, dv)
      return mode === 'zero' ? tf.zerosLike(z) : tf.mean(z, 2, true); // (1, H, 1, dv) broadcasts over Tq
    };
    const run = async (heads: readonly HeadRef[]) => {
      const hooks: TraceHooks = {
        heads: (kind, layer, z) => {
          const mine = heads.filter((h) => h.kind === kind && h.layer === layer + 1);
          if (mine.length === 0) return undefined;
          const by = replacement(kind, layer);
          return mine.reduce((x, h) => replaceHead(x, h.head - 1, by), z);
        },
      };
      return measure(loaded, input, hooks, decision);
    };
    let grids: HeadGrid[] = [];
    let together: AblationResult['together'];
    if (options.heads && options.heads.length > 0) {
      const value = await run(options.heads);
      together = { heads: [...options.heads], ablated: value, change: value - cleanValue };
    } else {
      grids = [];
      for (const { kind, layers } of kinds) {
        const ablated: number[][] = [];
        const layerChange: number[] = [];
        const numHeads = loaded.model.config.numHeads;
        for (let l = 1; l <= layers; l++) {
          const row: number[] = [];
          for (let h = 1; h <= numHeads; h++) row.push(await run([{ kind, layer: l, head: h }]));
          ablated.push(row);
          layerChange.push((await run(Array.from({ length: numHeads }, (_, h) => ({ kind, layer: l, head: h + 1 })))) - cleanValue);
        }
        grids.push({ kind, title: kindTitle(loaded.model.arch, kind), ablated, change: ablated.map((r) => r.map((x) => x - cleanValue)), layerChange });
      }
    }
    disposeTrace(clean);
    return { probe, decision, mode, clean: cleanValue, grids, ...(together ? { together } : {}) };
  } finally {
    disposeInput(input);
  }
}

/** Run with hooks and read the decision; every tensor of the run is freed. */
export async function measure(loaded: LoadedModel, input: TraceInput, hooks: TraceHooks, decision: Decision): Promise<number> {
  const logits = tf.tidy(() => {
    const t = trace(loaded.model, input, hooks);
    return t.logits;
  });
  try {
    return await decisionValue(logits, decision);
  } finally {
    logits.dispose();
  }
}

/** The attention kinds of a model and how many layers each has. */
export function headKinds(loaded: LoadedModel): { kind: AttentionKind; layers: number }[] {
  const c = loaded.model.config;
  if (c.arch === 'encoder-decoder') {
    return [
      { kind: 'encoder', layers: c.numEncoderLayers },
      { kind: 'decoder', layers: c.numDecoderLayers },
      { kind: 'cross', layers: c.numDecoderLayers },
    ];
  }
  return [{ kind: c.arch === 'decoder' ? 'decoder' : 'encoder', layers: c.numLayers }];
}

/**
 * Parse "2.1,2.3" (layer.head, 1-based) or "cross:2.1": heads of `kind` (or of every kind the
 * model has when a head names none and `kind` is undefined). One-line errors for anything else.
 */
export function parseHeads(loaded: LoadedModel, spec: string, kind?: AttentionKind): HeadRef[] {
  const kinds = headKinds(loaded).map((k) => k.kind);
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .flatMap((item) => {
      const m = /^(?:(encoder|decoder|cross):)?(\d+)\.(\d+)$/.exec(item);
      if (!m) throw new UsageError(`--heads item '${item}' must be layer.head (e.g. 2.1) or kind:layer.head (e.g. cross:2.1)`);
      const named = (m[1] as AttentionKind | undefined) ?? kind;
      const refs = (named ? [named] : kinds).map((k) => ({ kind: k, layer: Number(m[2]), head: Number(m[3]) }));
      for (const r of refs) checkHead(loaded, r);
      return refs;
    });
}

function checkHead(loaded: LoadedModel, h: HeadRef): void {
  const kind = headKinds(loaded).find((k) => k.kind === h.kind);
  const arch = loaded.model.arch;
  if (!kind) throw new UsageError(`${arch === 'decoder' ? 'a' : 'an'} ${arch} model has no ${h.kind} attention (it has ${headKinds(loaded).map((k) => k.kind).join(', ')})`);
  if (!(h.layer >= 1 && h.layer <= kind.layers)) throw new UsageError(`unknown head ${h.kind}:${h.layer}.${h.head}: layer must be between 1 and ${kind.layers}`);
  const heads = loaded.model.config.numHeads;
  if (!(h.head >= 1 && h.head <= heads)) throw new UsageError(`unknown head ${h.kind}:${h.layer}.${h.head}: head must be between 1 and ${heads}`);
}
