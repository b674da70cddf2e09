import { setBackend } from '../src/index.js';

// Files that do not choose a backend run on wasm (the fastest one that installs everywhere).
await setBackend('wasm');
