/**
 * Named errors. Every error the library raises on purpose is an `AtencaoError`, so the CLI can
 * print its message as one line and exit non-zero, while anything else is a bug worth a stack trace.
 */
export class AtencaoError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A `TransformerConfig` (or a layer's arguments) holds a value the model cannot be built with. */
export class ConfigError extends AtencaoError {}

/** A requested TensorFlow.js backend is unknown, not installed, or failed to start. */
export class BackendError extends AtencaoError {}

/** Tensors given to a function have shapes or types it cannot work with. */
export class ShapeError extends AtencaoError {}

/** A serialized layer or model cannot be read back (unknown class, bad structure). */
export class ModelFormatError extends AtencaoError {}

/** A command-line flag has a value or combination the command cannot use (exit code 2). */
export class UsageError extends AtencaoError {}

/** A data file or generated corpus cannot be used (unreadable, empty, malformed). */
export class DataError extends AtencaoError {}

/** Training cannot go on (e.g. the loss became NaN or infinite). */
export class TrainingError extends AtencaoError {}

/** A file could not be written (full disk, read-only folder, …); the previous version is intact. */
export class WriteError extends AtencaoError {}

/** Another process holds the model folder (a training run writing there); the message names it. */
export class LockedError extends AtencaoError {}
