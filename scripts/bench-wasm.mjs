// Median decode time of frame 1 per file in the wasm build under Node, the same
// protocol as `lumen bench` (Part 10 parse included; 2 warm-up runs, then at least 5
// runs and 0.3 s). Prints one JSON line per file.
import fs from "node:fs";
import path from "node:path";
import { loadWasm } from "../tests/helpers.mjs";

const lumen = await loadWasm();
for (const file of process.argv.slice(2)) {
  const bytes = fs.readFileSync(file);
  const run = () => {
    const f = lumen.decodeFile(bytes, 1);
    const info = f.info;
    f.free();
    return info;
  };
  let info;
  try {
    const first = lumen.decodeFile(bytes, 1);
    info = { ...JSON.parse(first.info), sha256: first.sha256 };
    first.free();
  } catch (e) {
    console.log(JSON.stringify({ error: String(e.message || e), file, frame: 1 }));
    continue;
  }
  run();
  const times = [];
  const start = performance.now();
  while (times.length < 5 || performance.now() - start < 300) {
    const t = performance.now();
    run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1];
  console.log(JSON.stringify({
    bench: "decode",
    case: path.basename(file),
    env: "node-wasm",
    ms: Math.round(median * 1000) / 1000,
    mpix_per_s: Math.round(((info.rows * info.columns) / median / 1e3) * 10) / 10,
    runs: times.length,
    sha256: info.sha256,
  }));
}
