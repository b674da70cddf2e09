import type { StepEvent, ValidationRecord } from '../train/trainer.js';

/**
 * Training progress for people: on a terminal, one bar redrawn in place with ETA, loss and tokens/s;
 * elsewhere (logs, CI) a plain line every ~5% of the run or 30 seconds.
 */
export class ProgressReporter {
  private lastDraw = 0;
  private lastLine = 0;
  private lastLineStep = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty: boolean = stream.isTTY === true,
  ) {}

  info(message: string): void {
    this.line(message);
  }

  warn(message: string): void {
    this.line(`warning: ${message}`);
  }

  step(e: StepEvent): void {
    const now = performance.now();
    if (this.tty) {
      if (now - this.lastDraw < 100 && e.step !== e.steps) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((width * e.step) / e.steps);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
      this.stream.write(`\r\x1b[2K${bar} ${pct(e.step / e.steps)} ${this.summary(e)}`);
      this.drawn = true;
      return;
    }
    const every = Math.max(1, Math.round(e.steps / 20));
    if (e.step - this.lastLineStep >= every || now - this.lastLine > 30_000) {
      this.lastLine = now;
      this.lastLineStep = e.step;
      this.line(this.summary(e));
    }
  }

  validation(r: ValidationRecord): void {
    const bleu = r.bleu === undefined ? '' : `, BLEU ${(100 * r.bleu).toFixed(1)}`;
    const exact = r.exactMatch === undefined ? '' : `, exact match ${pct(r.exactMatch)}`;
    this.line(`step ${r.step}: valid loss ${r.loss.toFixed(3)}, token accuracy ${pct(r.tokenAccuracy)}${exact}${bleu} (${formatSeconds(r.elapsedSeconds)})`);
  }

  /** End the bar line so later output starts on a fresh line. */
  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  private summary(e: StepEvent): string {
    const rate = e.tokensPerSecond >= 1000 ? `${(e.tokensPerSecond / 1000).toFixed(1)}k` : e.tokensPerSecond.toFixed(0);
    const perStep = e.elapsedSeconds / Math.max(e.step, 1);
    const eta = formatSeconds(perStep * (e.steps - e.step));
    return `step ${e.step}/${e.steps} · loss ${e.loss.toFixed(4)} · lr ${e.lr.toExponential(1)} · ${rate} tok/s · ETA ${eta}`;
  }

  private line(text: string): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
    this.stream.write(`${text}\n`);
  }
}

/** A fraction as a percentage with one decimal: 0.953 → "95.3%". */
/** A fraction as a percentage with one decimal; '–' where there is none (e.g. exact match of a language model). */
export function pct(x: number | undefined): string {
  if (x === undefined) return '–';
  return `${(100 * x).toFixed(1)}%`;
}

export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  return h > 0 ? `${h}:${String(m % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}` : `${m}:${String(s % 60).padStart(2, '0')}`;
}
