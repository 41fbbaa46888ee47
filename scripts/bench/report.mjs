// The side-by-side section of `npm run bench`: side-by-side.jsonl (scripts/bench/side-by-side.mjs)
// as a table or JSON lines, plus the wasm sizes (raw and gzip -9) of ours and Cornerstone's.
//   node scripts/bench/report.mjs FILE.jsonl [--json]
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { root } from "../../tests/helpers.mjs";
import { PACKAGES } from "./peers.mjs";

const [file, flag] = process.argv.slice(2);
const json = flag === "--json";
const rows = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));

const version = (pkg) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, "node_modules", pkg, "package.json"), "utf8")).version;
  } catch {
    return "5.14.0"; // the loader itself is not installed: its RLE decoder is ported (cornerstone-rle.mjs)
  }
};
const peerLabel = (name) => `${PACKAGES[name].pkg}@${version(PACKAGES[name].pkg)}`;

const sizes = [["ours", "lumen (the whole module: every codec, DICOMweb client)", "www/pkg/lumen_bg.wasm"]];
if (fs.existsSync(path.join(root, "www/pkg-simd/lumen_bg.wasm"))) sizes.push(["ours", "lumen, simd128 build", "www/pkg-simd/lumen_bg.wasm"]);
// The decoder alone (every codec, Part 10, no DICOMweb transport, no GPU): what a plugin host loads.
if (fs.existsSync(path.join(root, "www/pkg-decoder/lumen_bg.wasm"))) sizes.push(["ours", "lumen decoder-only", "www/pkg-decoder/lumen_bg.wasm"]);
if (fs.existsSync(path.join(root, "www/pkg-decoder/lumen_simd_bg.wasm"))) sizes.push(["ours", "lumen decoder-only, simd128 build", "www/pkg-decoder/lumen_simd_bg.wasm"]);
for (const [name, p] of Object.entries(PACKAGES)) {
  if (p.wasm) sizes.push(["cornerstone", `${name} (${p.pkg}@${version(p.pkg)})`, path.join("node_modules", p.pkg, p.wasm)]);
}
const sizeRows = sizes.map(([side, module, rel]) => {
  const buf = fs.readFileSync(path.join(root, rel));
  return { side, module, file: rel, raw: buf.length, gzip: zlib.gzipSync(buf, { level: 9 }).length };
});

if (json) {
  for (const r of rows) {
    console.log(JSON.stringify({
      bench: "decode", case: r.case, env: r.env, build: r.build ?? null, ours_ms: r.ours_ms ?? null, peer: r.peer,
      peer_ms: r.peer_ms ?? null, ratio: r.ratio ?? null, peer_version: version(PACKAGES[r.peer].pkg),
      check: r.check, max_abs_diff: r.max_abs_diff ?? null, hash_ms: r.hash_ms ?? null, runs: r.runs ?? null,
    }));
  }
  for (const s of sizeRows) console.log(JSON.stringify({ bench: "wasm_size", ...s }));
  process.exit(0);
}

const table = (cols, data) => {
  console.log("| " + cols.join(" | ") + " |");
  console.log("|" + cols.map(() => "---").join("|") + "|");
  for (const r of data) console.log("| " + cols.map((c) => r[c] ?? "-").join(" | ") + " |");
};

console.log("\n## Side by side with Cornerstone3D's codecs\n");
console.log("ours = Lumen decodeFrame (wasm) on frame 1's bare codestream; peer = Cornerstone3D's decoder on the same bytes;");
console.log("ratio = ours_ms / peer_ms (< 1: ours is faster); hash_ms = what hashing the frame (SHA-256) would cost, for reference: decodeFrame does not hash, so ours_ms excludes it.\n");
const order = new Map(); // cases in measurement order, each case's environments together
for (const r of rows) if (!order.has(r.case)) order.set(r.case, order.size);
const envRank = { node: 0, chromium: 1 };
// The environment with our build (simd / scalar) when the records say which ran.
const envLabel = (r) => (r.build ? `${r.env} (${r.build})` : r.env);
table(
  ["case", "codec", "env", "ours_ms", "peer", "peer_ms", "ratio", "check", "hash_ms"],
  [...rows]
    .sort((a, b) => order.get(a.case) - order.get(b.case) || envRank[a.env] - envRank[b.env])
    .map((r) => ({ ...r, env: envLabel(r), case: r.case.replace(/\.dcm$/, "") })),
);

console.log("\nPer codec: ratio range over the sources (ct512, mr1024, cr1760, us640rgb).\n");
const codecs = new Map();
const envCols = [...new Set([...rows].sort((a, b) => envRank[b.env] - envRank[a.env]).map(envLabel))];
for (const r of rows) {
  const k = `${r.codec}|${r.peer}`;
  if (!codecs.has(k)) codecs.set(k, { codec: r.codec, peer: peerLabel(r.peer), ...Object.fromEntries(envCols.map((e) => [e, []])) });
  if (r.ratio == null) continue;
  codecs.get(k)[envLabel(r)].push(r.ratio);
}
const range = (xs) => (xs.length ? (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}–${Math.max(...xs)}`) : "-");
table(
  ["codec", "peer", ...envCols],
  [...codecs.values()].map((c) => ({
    codec: c.codec, peer: c.peer, ...Object.fromEntries(envCols.map((e) => [e, range(c[e])])),
  })),
);

console.log("\nwasm sizes (bytes; gzip -9). Cornerstone's: the decode-only builds its loader loads.\n");
const theirs = sizeRows.filter((s) => s.side === "cornerstone");
table(["module", "file", "raw", "gzip"], [
  ...sizeRows,
  { module: "Cornerstone's four codecs together", file: "", raw: theirs.reduce((a, s) => a + s.raw, 0), gzip: theirs.reduce((a, s) => a + s.gzip, 0) },
]);

const bad = rows.filter((r) => !r.ok);
if (bad.length) {
  console.log(`\n**${bad.length} OUTPUT MISMATCHES OR ERRORS** (ours vs Cornerstone):\n`);
  for (const r of bad) console.log(`- ${r.env} ${r.case} vs ${r.peer}: ${r.check}`);
}
