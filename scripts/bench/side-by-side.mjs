// Our wasm decodeFrame vs Cornerstone3D's decoders on the same bare frames (frame 1 of
// each benchmark file, as WADO-RS returns it), in Node and in headless Chromium.
//   node scripts/bench/side-by-side.mjs [--env node|chromium|both] [--only SUBSTRING] [--out FILE]
//                                       [--build auto|simd|scalar]
// --build: which of our two wasm modules (www/pkg: scalar, www/pkg-simd: simd128) runs;
// auto (default) is what the shell's loader (www/src/wasm-select.ts) picks. Each record
// says which one ran (`build`).
// Reads $LUMEN_CACHE/bench/frames/index.json (scripts/bench/frames.py); writes one JSON
// line per case and environment to --out (default $LUMEN_CACHE/bench/side-by-side.jsonl)
// and progress to stderr. Exits 1 if any output differs beyond its tolerance.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { root, loadWasm, launchChromium } from "../../tests/helpers.mjs";
import { loadPeers, PEER_FOR } from "./peers.mjs";
import { runCase, PROTOCOL } from "./core.mjs";
import { serveMounts } from "./serve-mounts.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const cache = process.env.LUMEN_CACHE || path.join(os.homedir(), ".cache", "lumen");
const bench = path.join(cache, "bench");
const framesDir = path.join(bench, "frames");
const envs = opt("--env", "both") === "both" ? ["node", "chromium"] : [opt("--env")];
const only = opt("--only", "");
const buildOpt = opt("--build", "auto");
if (!["auto", "simd", "scalar"].includes(buildOpt)) throw new Error(`--build auto|simd|scalar, not ${buildOpt}`);
const outFile = opt("--out", path.join(bench, "side-by-side.jsonl"));
const log = (s) => process.stderr.write(`\x1b[1m[bench]\x1b[0m ${s}\n`);

const entries = JSON.parse(fs.readFileSync(path.join(framesDir, "index.json"), "utf8")).filter(
  (e) => PEER_FOR[e.transfer_syntax] && e.file.includes(only),
);
if (!entries.length) throw new Error(`no frames with a Cornerstone peer in ${framesDir}/index.json`);

const results = [];
function record(env, build, r) {
  const line = { bench: "decode", env, build, ...r };
  results.push(line);
  const flag = r.ok ? "" : "   <<<<<<<<<< " + r.check;
  log(`${env.padEnd(8)} ${build.padEnd(6)} ${r.case.padEnd(40)} ours ${String(r.ours_ms).padStart(8)} ms  ${r.peer.padEnd(24)} ${String(r.peer_ms).padStart(8)} ms  ratio ${r.ratio}  ${r.check}${flag}`);
}

// ------------------------------------------------------------------------------ Node
async function runNode() {
  const require = createRequire(path.join(root, "package.json"));
  // The emscripten glue files by path (CommonJS; in Node they read the .wasm with fs).
  const dir = (pkg) => path.join(root, "node_modules", pkg);
  const host = {
    factory: async (pkg, js) => require(path.join(dir(pkg), js)),
    wasmUrl: (pkg, wasm) => path.join(dir(pkg), wasm),
    losslessDecoder: async () => (await import("@cornerstonejs/jpeg-lossless-decoder-js")).Decoder,
  };
  const lumen = await loadWasm(buildOpt === "auto" ? undefined : buildOpt);
  const peers = await loadPeers(host);
  log(`node ${process.version}, our ${lumen.wasmBuild} build: ${entries.length} cases`);
  for (const e of entries) {
    const bytes = new Uint8Array(fs.readFileSync(path.join(framesDir, e.frame_file)));
    record("node", lumen.wasmBuild, runCase(lumen, peers, e, bytes));
  }
}

// -------------------------------------------------------------------------- Chromium
const MOUNTS = [
  ["/www/pkg/", path.join(root, "www", "pkg")],
  ["/www/pkg-simd/", path.join(root, "www", "pkg-simd")],
  ["/www/dist/", path.join(root, "www", "dist")],
  ["/scripts/bench/", path.join(root, "scripts", "bench")],
  ["/node_modules/@cornerstonejs/", path.join(root, "node_modules", "@cornerstonejs")],
  ["/frames/", framesDir],
];
const serve = () => serveMounts(MOUNTS);

async function runChromium() {
  const server = await serve();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => log(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && log(`page console: ${m.text()}`));
    await page.goto(`http://127.0.0.1:${server.address().port}/scripts/bench/page.html?build=${buildOpt}`);
    await page.waitForFunction(() => window.bench);
    const info = await page.evaluate(async () => {
      const r = await window.bench.ready;
      return { crossOriginIsolated: r.crossOriginIsolated, userAgent: r.userAgent, build: r.build };
    });
    log(`chromium ${browser.version()} (crossOriginIsolated: ${info.crossOriginIsolated}), our ${info.build} build: ${entries.length} cases`);
    for (const e of entries) record("chromium", info.build, await page.evaluate((entry) => window.bench.run(entry), e));
  } finally {
    await browser.close();
    server.close();
  }
}

const t0 = Date.now();
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");
log(`load average ${load()} (${os.cpus().length} CPUs): other work on this machine slows both sides`);
for (const env of envs) {
  if (env === "node") await runNode();
  else if (env === "chromium") await runChromium();
  else throw new Error(`--env node|chromium|both, not ${env}`);
}
fs.writeFileSync(outFile, results.map((r) => JSON.stringify(r)).join("\n") + "\n");
const bad = results.filter((r) => !r.ok);
log(`load average ${load()}; ${results.length} measurements in ${((Date.now() - t0) / 1000).toFixed(0)} s -> ${outFile}; protocol ${JSON.stringify(PROTOCOL)}`);
if (bad.length) {
  log(`\x1b[31m${bad.length} OUTPUT MISMATCHES OR ERRORS:\x1b[0m`);
  for (const r of bad) log(`  ${r.env} ${r.case} vs ${r.peer}: ${r.check}`);
  process.exitCode = 1;
}
