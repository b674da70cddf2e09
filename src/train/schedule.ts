import { ConfigError } from '../errors.js';

import type { ScheduleKind } from '../io/run-record.js';

export type { ScheduleKind };

export interface ScheduleOptions {
  /** Peak learning rate (reached at the end of warm-up). */
  lr: number;
  /** Steps of linear warm-up. */
  warmup: number;
  /** 'noam': linear warm-up, then decay ∝ 1/√step (the 2017 paper); 'constant': warm-up, then flat. */
  kind: ScheduleKind;
}

/** Learning rate for a 1-based step: lr · min(step / warmup, √(warmup / step)) for 'noam'. */
export function learningRate(step: number, { lr, warmup, kind }: ScheduleOptions): number {
  const s = Math.max(step, 1);
  if (warmup <= 0) return kind === 'noam' ? lr / Math.sqrt(s) : lr;
  const rise = Math.min(1, s / warmup);
  if (kind === 'constant') return lr * rise;
  return lr * Math.min(s / warmup, Math.sqrt(warmup / s));
}

export function validateSchedule(o: ScheduleOptions): void {
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new ConfigError(`lr (${o.lr}) must be a positive number`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new ConfigError(`warmup (${o.warmup}) must be a non-negative integer`);
  if (o.kind !== 'noam' && o.kind !== 'constant') throw new ConfigError(`schedule ('${String(o.kind)}') must be one of noam, constant`);
}
