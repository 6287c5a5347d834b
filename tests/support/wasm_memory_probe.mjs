// Imported by the test entry before the built worker: keeps the Wasm instance the worker
// creates (index.js instantiates its module with `new WebAssembly.Instance` when it loads, and
// again after a panic), so the entry can answer the size of its linear memory, which nothing
// in the bundle exposes and which never shrinks once grown.
const Original = WebAssembly.Instance;
let latest = null;

function Instance(module, imports) {
  latest = new Original(module, imports);
  return latest;
}
Instance.prototype = Original.prototype;
WebAssembly.Instance = Instance;

/** Bytes of the worker's Wasm linear memory (0 before it is instantiated). */
export function wasmMemoryBytes() {
  return latest?.exports.memory?.buffer.byteLength ?? 0;
}
