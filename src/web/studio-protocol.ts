/** The messages between the studio page and its training worker (src/web/studio-worker.ts). */
import type { ValidationRecord } from '../io/run-record.js';
import type { FilmFrame } from '../train/film.js';
import type { StudioSettings } from './studio-settings.js';

export type StudioState = 'idle' | 'running' | 'paused' | 'done' | 'error';

/** Page → worker. */
export type ToWorker =
  /** Train a new model, or (`continue`) the loaded one for `settings.steps` more steps. */
  | { type: 'start'; settings: StudioSettings; file?: { name: string; kind: 'corpus' | 'text'; bytes: Uint8Array }; continue?: boolean }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  /** Pack the trained (or loaded) model as a model-folder archive. */
  | { type: 'archive' }
  /** Load a model folder (its files) or an archive (one .tar file), checked as Node checks it. */
  | { type: 'load'; files: { name: string; bytes: Uint8Array }[] };

/** What the worker ran on. */
export interface BackendReport {
  name: string;
  /** The GPU adapter or renderer, for WebGPU and WebGL. */
  adapter?: string;
  /** Backends tried first and why they did not start (auto). */
  skipped: string[];
}

/** Worker → page. */
export type FromWorker =
  | { type: 'backend'; backend: BackendReport }
  | {
      type: 'started';
      description: string;
      parameters: number;
      /** The step the run stops at, and the one it starts from (0, or the loaded model's). */
      steps: number;
      from: number;
      model: object;
      training: object;
      data: object;
      probe: string;
      /** Film frames and validations from before `from` (a continued model's). */
      frames: FilmFrame[];
      metrics: ValidationRecord[];
    }
  | { type: 'step'; step: number; loss: number; seconds: number }
  | { type: 'valid'; record: ValidationRecord; seconds: number }
  | { type: 'frame'; frame: FilmFrame }
  | { type: 'state'; state: StudioState; message?: string }
  | { type: 'archive'; name: string; bytes: Uint8Array }
  | { type: 'loaded'; name: string; description: string; frames: FilmFrame[]; metrics: ValidationRecord[]; archive: Uint8Array; resumable: boolean }
  | { type: 'failed'; message: string };
