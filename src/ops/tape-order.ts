import * as tf from '@tensorflow/tfjs';

/**
 * Gradients of gradients through ops that keep their own output for the gradient (softmax, exp,
 * tanh, sigmoid, a custom gradient that saves its value).
 *
 * The tfjs engine records the copies an op saves for its gradient while the op runs, so on the
 * tape the copy of an output comes before the node that produces the output. Backprop selects the
 * nodes between x and y in one sweep in tape order, and runs them in reverse order: a path from x
 * through such a copy is missed. First-order gradients never take that path (the copy is read by
 * the op's own gradient, no other op uses it). A gradient of a gradient does: the inner gradient
 * is a function of the copy (softmax's is dy·y − Σ(dy·y)·y), so part of the outer gradient went
 * missing, silently (or, with no other path, "Cannot compute gradient"). Here each such copy is
 * moved to just after the node that produced its source, where a sweep in tape order reaches it.
 */

interface TapeNode {
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
}

interface TapeEngine {
  state: { activeTape: TapeNode[] | null };
  addTapeNode(...args: unknown[]): void;
  atencaoTapeOrder?: boolean;
}

/** Install the reordering on the engine (idempotent); it applies on every backend. */
export function installTapeOrder(): void {
  const engine = tf.engine() as unknown as TapeEngine;
  const stock = engine.addTapeNode;
  if (engine.atencaoTapeOrder === true || typeof stock !== 'function') return;
  engine.atencaoTapeOrder = true;
  engine.addTapeNode = function (this: TapeEngine, ...args: unknown[]): void {
    stock.apply(this, args);
    const tape = this.state.activeTape;
    if (tape === null || tape.length < 2) return;
    const produced = tape[tape.length - 1]!.outputs;
    // The copies of this node's outputs were recorded just before it (the op saves its inputs
    // first, then its outputs): a node with one input x among those outputs and one output.
    let first = tape.length - 1;
    while (first > 0 && isCopyOf(tape[first - 1]!, produced)) first--;
    if (first < tape.length - 1) tape.push(...tape.splice(first, tape.length - 1 - first));
  };
}

function isCopyOf(node: TapeNode, produced: readonly tf.Tensor[]): boolean {
  const names = Object.keys(node.inputs);
  return names.length === 1 && names[0] === 'x' && node.outputs.length === 1 && produced.some((t) => t.id === node.inputs.x!.id);
}
