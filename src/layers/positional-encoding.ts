import * as tf from '@tensorflow/tfjs';
import type { PositionalEncodingKind } from '../config.js';
import { ConfigError, ShapeError } from '../errors.js';
import { AtencaoLayer, normal, lastDim, type Kwargs, type LayerArgs, type LayerOutput, type LayerVariable } from './base.js';
import { positiveInt } from './qkv-projection.js';

export interface PositionalEncodingArgs extends LayerArgs {
  /** Longest sequence covered. */
  maxLen: number;
  /** 'sinusoidal' (fixed, the paper) or 'learned' (a trained table). Default: 'sinusoidal'. */
  kind?: PositionalEncodingKind;
}

export interface PositionalEncodingCallArgs {
  /** Position of the first token (for step-by-step decoding). Default: 0. */
  offset?: number;
}

/**
 * Adds a position vector to every token vector: (B, T, d) → (B, T, d).
 * Sinusoidal: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)).
 */
export class PositionalEncoding extends AtencaoLayer {
  static className = 'PositionalEncoding';
  readonly maxLen: number;
  readonly kind: PositionalEncodingKind;
  private table?: tf.Tensor2D;
  private learned?: LayerVariable;

  constructor(args: PositionalEncodingArgs) {
    super(args);
    this.maxLen = positiveInt('maxLen', args.maxLen);
    this.kind = args.kind ?? 'sinusoidal';
    if (this.kind !== 'sinusoidal' && this.kind !== 'learned') {
      throw new ConfigError(`positionalEncoding ('${String(args.kind)}') must be one of sinusoidal, learned`);
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const d = lastDim(inputShape as (number | null)[], this.name);
    if (this.kind === 'learned') {
      this.learned = this.weight('positions', [this.maxLen, d], normal(0.02));
    } else {
      this.table = this.constant(tf.tensor2d(sinusoidTable(this.maxLen, d), [this.maxLen, d]));
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return inputShape as tf.Shape;
  }

  /** The position vectors for positions offset … offset+length-1: (length, d). */
  positions(length: number, offset = 0): tf.Tensor2D {
    if (offset + length > this.maxLen) {
      throw new ShapeError(`sequence of ${offset + length} positions is longer than maxLen (${this.maxLen})`);
    }
    const all = this.kind === 'learned' ? (this.learned!.read() as tf.Tensor2D) : this.table!;
    return tf.slice(all, [offset, 0], [length, -1]);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return this.forward(Array.isArray(inputs) ? inputs[0]! : inputs, kwargs as PositionalEncodingCallArgs).output;
  }

  /** x (B, T, d) plus the vectors of positions offset … offset + T − 1. */
  forward(x: tf.Tensor, options: PositionalEncodingCallArgs = {}): LayerOutput {
    const { offset = 0 } = options;
    return { output: tf.tidy(() => tf.add(x, this.positions(x.shape[1]!, offset))) }; // (B, T, d) + (T, d)
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxLen: this.maxLen, kind: this.kind };
  }
}
tf.serialization.registerClass(PositionalEncoding);

/** The sinusoid table as a flat row-major Float32Array of (maxLen, d). */
export function sinusoidTable(maxLen: number, d: number): Float32Array {
  const out = new Float32Array(maxLen * d);
  for (let p = 0; p < maxLen; p++) {
    for (let i = 0; i < d; i += 2) {
      const angle = p / Math.pow(10000, i / d);
      out[p * d + i] = Math.sin(angle);
      if (i + 1 < d) out[p * d + i + 1] = Math.cos(angle);
    }
  }
  return out;
}
