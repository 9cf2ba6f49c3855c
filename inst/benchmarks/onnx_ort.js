// ONNX Runtime side of inst/benchmarks/onnx.R: times session.run on a model with one
// float input read from a raw little-endian float32 file.
//   node onnx_ort.js MODEL.onnx INPUT.f32 DIM1,DIM2,... THREADS REPS
// Prints the best milliseconds per run. Needs onnxruntime-node (npm install
// --ignore-scripts onnxruntime-node); NODE_PATH or ORT_NODE_MODULES points to it.
const path = require('path');
const fs = require('fs');
const modules = process.env.ORT_NODE_MODULES || '';
const ort = require(modules ? path.join(modules, 'onnxruntime-node') : 'onnxruntime-node');

async function main() {
  const [model, input, dims, threads, reps] = process.argv.slice(2);
  const shape = dims.split(',').map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all'});
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, shape);
  for (let i = 0; i < 3; ++i) await session.run(feeds);  // warm up
  let best = Infinity;
  for (let i = 0; i < Number(reps); ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(best.toFixed(3));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
