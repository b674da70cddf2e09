import * as tf from '@tensorflow/tfjs';
const { setBackend } = await import('./dist/backend.js');
await setBackend('wasm');
const { linear } = await import('./dist/ops/linear.js');
const [B, T, K, N] = process.argv.slice(2).map(Number);
const w = tf.randomNormal([K, N]), bias = tf.zeros([N]);
const x = tf.relu(tf.randomNormal([B, T, K]));
const big = tf.randomNormal([8 << 20]);
function run(sparse, flush) {
  const t = [];
  for (let i = 0; i < 30; i++) {
    if (flush) tf.dispose(tf.add(big, 1));
    const s = performance.now(); const y = linear(x, w, bias, undefined, { sparseInput: sparse }); y.dataSync(); t.push(performance.now() - s); y.dispose();
  }
  t.sort((a, b) => a - b); return t[15].toFixed(3);
}
for (const flush of [false, true]) console.log(`B${B} T${T} K${K} N${N} flush ${flush}: dense ${run(false, flush)} sparse ${run(true, flush)} dense ${run(false, flush)} sparse ${run(true, flush)}`);
