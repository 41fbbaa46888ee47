// Where our wasm decoder spends its time on one bench frame, in V8 (Node): decodes the
// frame repeatedly under the inspector's CPU profiler and prints self time per function
// (wasm functions by their name-section names, when the module keeps them).
//   node scripts/bench/profile.mjs CASE_SUBSTRING [--build simd|scalar | --wasm DIR] [--ms 3000] [--top 25]
// e.g. node scripts/bench/profile.mjs cr1760-1.2.840.10008.1.2.4.201
// The built modules have no function names (wasm-opt drops them); for names, run
// wasm-bindgen on cargo's output without wasm-opt and pass its directory:
//   wasm-bindgen --target web --out-dir /tmp/prof \
//     $CARGO_TARGET_DIR/simd128/wasm32-unknown-unknown/release/lumen.wasm
//   node scripts/bench/profile.mjs cr1760-1.2.840.10008.1.2.4.201 --wasm /tmp/prof
import fs from "node:fs";
import path from "node:path";
import inspector from "node:inspector";
import { loadWasm } from "../../tests/helpers.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const want = args.find((a) => !a.startsWith("--") && !args[args.indexOf(a) - 1]?.startsWith("--"));
if (!want) throw new Error("usage: profile.mjs CASE_SUBSTRING [--build simd|scalar] [--ms N] [--top N]");
const cache = process.env.LUMEN_CACHE ?? path.join(process.env.HOME, ".cache", "lumen");
const framesDir = path.join(cache, "bench", "frames");
const entry = JSON.parse(fs.readFileSync(path.join(framesDir, "index.json"), "utf8")).find((e) => e.file.includes(want));
if (!entry) throw new Error(`no bench frame matches ${want} in ${framesDir}/index.json`);
async function load(dir) {
  if (!dir) return loadWasm(opt("--build", undefined));
  const mod = await import(path.resolve(dir, "lumen.js"));
  mod.initSync({ module: fs.readFileSync(path.resolve(dir, "lumen_bg.wasm")) });
  return { ...mod, wasmBuild: dir };
}
const lumen = await load(opt("--wasm", undefined));
const bytes = new Uint8Array(fs.readFileSync(path.join(framesDir, entry.frame_file)));
const desc = JSON.stringify(entry.description);
const decode = () => lumen.decodeFrame(entry.transfer_syntax, bytes, desc).free();
for (let i = 0; i < 5; i++) decode();

const session = new inspector.Session();
session.connect();
const post = (m, p = {}) => new Promise((ok, bad) => session.post(m, p, (e, r) => (e ? bad(e) : ok(r))));
await post("Profiler.enable");
await post("Profiler.setSamplingInterval", { interval: 100 });
await post("Profiler.start");
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < Number(opt("--ms", 3000))) {
  decode();
  n++;
}
const ms = (performance.now() - t0) / n;
const { profile } = await post("Profiler.stop");
const self = new Map();
const dt = new Map(profile.nodes.map((x) => [x.id, 0]));
profile.samples.forEach((id, i) => dt.set(id, dt.get(id) + (profile.timeDeltas[i] ?? 0)));
let total = 0;
for (const node of profile.nodes) {
  const name = node.callFrame.functionName || `(${node.callFrame.url.split("/").pop() || "anonymous"})`;
  self.set(name, (self.get(name) ?? 0) + dt.get(node.id));
  total += dt.get(node.id);
}
console.log(`${entry.file} (${lumen.wasmBuild}): ${n} decodes, ${ms.toFixed(3)} ms each`);
for (const [name, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(opt("--top", 25)))) {
  console.log(`${((100 * t) / total).toFixed(1).padStart(5)} %  ${(t / 1000 / n).toFixed(3).padStart(8)} ms  ${name}`);
}
