// Joins native.jsonl and wasm.jsonl (and the bench index) into a table or JSON lines.
import fs from "node:fs";
import path from "node:path";

const [dir, flag] = process.argv.slice(2);
const read = (f) => fs.readFileSync(path.join(dir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const index = new Map(JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")).map((e) => [e.file, e]));
const native = new Map(read("native.jsonl").filter((r) => r.case).map((r) => [r.case, r]));
const wasm = new Map(read("wasm.jsonl").filter((r) => r.case).map((r) => [r.case, r]));
const rows = [];
for (const [file, e] of index) {
  const n = native.get(file);
  const w = wasm.get(file);
  const match = n && w && n.sha256 === w.sha256 ? (e.lossless ? (n.sha256 === e.reference_sha256 ? "exact" : "DIFF") : "same") : "-";
  rows.push({ file, source: e.source, codec: e.codec, ts: e.transfer_syntax, size: `${e.columns}x${e.rows}x${e.samples_per_pixel}`, bytes: e.bytes, native_ms: n?.ms, wasm_ms: w?.ms, wasm_over_native: n && w ? Math.round((w.ms / n.ms) * 100) / 100 : null, check: match });
}
if (flag === "--json") {
  for (const r of rows) {
    for (const env of ["native", "node-wasm"]) {
      const ms = env === "native" ? r.native_ms : r.wasm_ms;
      if (ms != null) console.log(JSON.stringify({ bench: "decode", case: r.file, env, ours_ms: ms }));
    }
  }
} else {
  const cols = ["source", "codec", "ts", "size", "bytes", "native_ms", "wasm_ms", "wasm_over_native", "check"];
  console.log("| " + cols.join(" | ") + " |");
  console.log("|" + cols.map(() => "---").join("|") + "|");
  for (const r of rows) console.log("| " + cols.map((c) => r[c] ?? "-").join(" | ") + " |");
}
