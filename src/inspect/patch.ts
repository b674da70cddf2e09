import { readReferent } from '../data/pt-en.js';
import { UsageError } from '../errors.js';
import { kindTitle } from '../infer/attention-maps.js';
import type { LoadedModel } from '../infer/loaded.js';
import type { AttentionKind } from '../model/model.js';
import { headKinds, measure } from './ablate.js';
import { decisionValue, disposeInput, prepareProbe, probeInput, type Decision, type Probe, type ProbeOptions } from './probe.js';
import { disposeTrace, replaceHead, replacePosition, trace, type StackName, type Trace } from './trace.js';

export interface PatchOptions extends ProbeOptions {
  /** The corrupted input. Default: the clean sentence's twin whose referent is the other container. */
  corrupted?: string;
}

/** Restored share per kind, [layer][head]: (patched − corrupted) / (clean − corrupted). */
export interface PatchGrid {
  kind: AttentionKind;
  title: string;
  restored: number[][];
  /** Per layer, every head patched together. */
  layerRestored: number[];
}

/** Restored share per stack, [layer][position]; layer 0 is the embeddings. */
export interface ResidualGrid {
  stack: StackName;
  /** Tokens of the positions (clean input). */
  tokens: string[];
  /** Tokens of the same positions in the corrupted input. */
  corruptedTokens: string[];
  restored: number[][];
}

export interface PatchResult {
  clean: Probe;
  corrupted: Probe;
  decision: Decision;
  /** The decision on the clean and on the corrupted input. */
  cleanValue: number;
  corruptedValue: number;
  /** A head's output from the clean run. */
  heads: PatchGrid[];
  /** A head's attention pattern (its weights) from the clean run. */
  patterns: PatchGrid[];
  /** The residual stream at one position after one block, from the clean run. */
  residual: ResidualGrid[];
}

/**
 * Activation patching: run the corrupted input with one activation taken from the clean run, and
 * report how much of the clean decision it restores — 0 = none (the corrupted value), 1 = all of it.
 * Both inputs must have the same length; an encoder–decoder decodes both from the clean translation.
 */
export async function patchActivations(loaded: LoadedModel, cleanText: string, options: PatchOptions = {}): Promise<PatchResult> {
  const clean = await prepareProbe(loaded, cleanText, { ...options, decide: true });
  const decision = clean.decision!;
  const corruptedText = options.corrupted ?? defaultCorruption(loaded, cleanText);
  // Read as the clean input is (a decoder up to the adjective, a masked-LM encoder with it masked); the decision stays the clean one's.
  const corrupted = await prepareProbe(loaded, corruptedText, { targetIds: clean.targetIds, decide: true });
  if (corrupted.ids.length !== clean.ids.length) {
    throw new UsageError(`the clean and corrupted inputs must have the same length in tokens (${clean.ids.length} and ${corrupted.ids.length}): '${cleanText}' / '${corruptedText}'`);
  }
  const cleanInput = probeInput(clean);
  const corruptedInput = { ...probeInput(corrupted), ...(decision.classes ? { classes: true } : {}) };
  let cleanRun: Trace | undefined;
  try {
    cleanRun = trace(loaded.model, cleanInput);
    const cleanValue = await decisionValue(cleanRun.logits, decision);
    const corruptedValue = await measure(loaded, corruptedInput, {}, decision);
    const share = (value: number) => (Math.abs(cleanValue - corruptedValue) < 1e-9 ? Number.NaN : (value - corruptedValue) / (cleanValue - corruptedValue));
    const from = cleanRun;
    const numHeads = loaded.model.config.numHeads;
    const heads: PatchGrid[] = [];
    const patterns: PatchGrid[] = [];
    for (const { kind, layers } of headKinds(loaded)) {
      const out: number[][] = [];
      const pat: number[][] = [];
      const outAll: number[] = [];
      const patAll: number[] = [];
      for (let l = 0; l < layers; l++) {
        const mine = (k: AttentionKind, layer: number) => k === kind && layer === l;
        outAll.push(share(await measure(loaded, corruptedInput, { heads: (k, layer) => (mine(k, layer) ? from.attention[k]![layer]!.heads : undefined) }, decision)));
        patAll.push(share(await measure(loaded, corruptedInput, { weights: (k, layer) => (mine(k, layer) ? from.attention[k]![layer]!.weights : undefined) }, decision)));
        const rowOut: number[] = [];
        const rowPat: number[] = [];
        for (let h = 0; h < numHeads; h++) {
          const at = (k: AttentionKind, layer: number) => k === kind && layer === l;
          rowOut.push(share(await measure(loaded, corruptedInput, { heads: (k, layer, z) => (at(k, layer) ? replaceHead(z, h, from.attention[k]![layer]!.heads) : undefined) }, decision)));
          rowPat.push(share(await measure(loaded, corruptedInput, { weights: (k, layer, w) => (at(k, layer) ? replaceHead(w, h, from.attention[k]![layer]!.weights) : undefined) }, decision)));
        }
        out.push(rowOut);
        pat.push(rowPat);
      }
      const title = kindTitle(loaded.model.arch, kind);
      heads.push({ kind, title, restored: out, layerRestored: outAll });
      patterns.push({ kind, title, restored: pat, layerRestored: patAll });
    }
    const residual: ResidualGrid[] = [];
    for (const stack of Object.keys(from.residual) as StackName[]) {
      const streams = from.residual[stack]!;
      const length = streams[0]!.shape[1]!;
      const restored: number[][] = [];
      for (let l = 0; l < streams.length; l++) {
        const row: number[] = [];
        for (let p = 0; p < length; p++) {
          row.push(share(await measure(loaded, corruptedInput, { residual: (s, layer, h) => (s === stack && layer === l ? replacePosition(h, p, streams[l]!) : undefined) }, decision)));
        }
        restored.push(row);
      }
      const [tokens, corruptedTokens] = stack === 'decoder' && clean.targetTokens ? [clean.targetTokens, corrupted.targetTokens!] : [clean.inputTokens, corrupted.inputTokens];
      residual.push({ stack, tokens, corruptedTokens, restored });
    }
    return { clean, corrupted, decision, cleanValue, corruptedValue, heads, patterns, residual };
  } finally {
    if (cleanRun) disposeTrace(cleanRun);
    disposeInput(cleanInput);
    disposeInput(corruptedInput);
  }
}

/**
 * The corrupted twin of a referent sentence: the adjective flipped (cheio → vazia) where the model
 * reads it; the containers swapped where it does not (a decoder writes the adjective, a masked-LM
 * encoder has it masked).
 */
export function defaultCorruption(loaded: LoadedModel, text: string): string {
  const reading = readReferent(text);
  const c = loaded.model.config;
  const seesAdjective = c.arch === 'encoder-decoder' || (c.arch === 'encoder' && c.numClasses > 0);
  return seesAdjective ? reading.adjectiveTwin : reading.containersTwin;
}
