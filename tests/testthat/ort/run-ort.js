// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node) for test-onnx-export.R:
//   node run-ort.js <onnxruntime-node dir> <model.onnx> <inputs.json>
// inputs.json: {"<input name>": {"type": "float32" | "int32" | "int64", "dims": [...],
// "data": [row-major values]}}. Prints one line per output: name TAB dims TAB values,
// values space-separated in row-major order.
const fs = require('fs');

async function main() {
  const [ortDir, modelPath, inputsPath] = process.argv.slice(2);
  const ort = require(ortDir);
  const spec = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const feeds = {};
  for (const [name, t] of Object.entries(spec)) {
    let data;
    if (t.type === 'float32') data = Float32Array.from(t.data);
    else if (t.type === 'int32') data = Int32Array.from(t.data);
    else if (t.type === 'int64') data = BigInt64Array.from(t.data.map((v) => BigInt(v)));
    else throw new Error('unsupported input type ' + t.type);
    feeds[name] = new ort.Tensor(t.type, data, t.dims);
  }
  const session = await ort.InferenceSession.create(modelPath);
  const out = await session.run(feeds);
  for (const name of session.outputNames) {
    const t = out[name];
    console.log([name, t.dims.join(','), Array.from(t.data, Number).join(' ')].join('\t'));
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
