// A series decoded on a pool of Web Workers: the decoder plugin's pool (www/src/decoder.ts,
// decoder-only wasm module) in headless Chromium decodes frame 1 of each benchmark file
// `--frames` times (default 48, all requested at once, as a loader does with a series),
// on 1 Worker and on `navigator.hardwareConcurrency` Workers. Speedup = 1-Worker time /
// N-Worker time; the goal is the machine's core count.
//   node scripts/bench/series.mjs [--only SUBSTRING] [--frames N] [--runs N] [--json]
//   node scripts/bench/series.mjs --table FILE   (the table of a --json run's records)
// Reads $LUMEN_CACHE/bench/frames/index.json (scripts/bench/frames.py); default cases:
// the 512² CT in every transfer syntax.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { root, launchChromium } from "../../tests/helpers.mjs";
import { serveMounts } from "./serve-mounts.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const json = args.includes("--json");

function printTable(rows) {
  console.log(`| case | codec | 1 Worker (ms, ${rows[0]?.frames} frames) | ${rows[0]?.workers} Workers (ms) | frames/s | speedup |`);
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.case} | ${r.codec} | ${r.ms_1_worker} | ${r.ms_n_workers} | ${r.frames_per_s} | ${r.speedup} |`);
}
if (opt("--table")) {
  printTable(fs.readFileSync(opt("--table"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)));
  process.exit(0);
}
const only = opt("--only", "ct512");
const frames = Number(opt("--frames", 48));
const runs = Number(opt("--runs", 5));
const cache = process.env.LUMEN_CACHE || path.join(os.homedir(), ".cache", "lumen");
const framesDir = path.join(cache, "bench", "frames");
const log = (s) => process.stderr.write(`\x1b[1m[series]\x1b[0m ${s}\n`);
const entries = JSON.parse(fs.readFileSync(path.join(framesDir, "index.json"), "utf8")).filter((e) => e.file.includes(only));
if (!entries.length) throw new Error(`no benchmark frames match ${only} in ${framesDir}/index.json`);

const server = await serveMounts([
  ["/www/dist/", path.join(root, "www", "dist")],
  ["/www/pkg-decoder/", path.join(root, "www", "pkg-decoder")],
  ["/scripts/bench/", path.join(root, "scripts", "bench")],
  ["/frames/", framesDir],
]);
const browser = await launchChromium();
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");
const rows = [];
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/scripts/bench/series.html`);
  await page.waitForFunction(() => window.series);
  const cores = await page.evaluate(() => window.series.cores);
  log(`chromium ${browser.version()}, hardwareConcurrency ${cores}, load average ${load()}; ${entries.length} cases × ${frames} frames`);
  for (const e of entries) {
    const one = await page.evaluate(([e, f, r]) => window.series.run(e, 1, f, r), [e, frames, runs]);
    const many = await page.evaluate(([e, w, f, r]) => window.series.run(e, w, f, r), [e, cores, frames, runs]);
    const row = {
      bench: "series",
      case: e.file.replace(/\.dcm$/, ""),
      codec: e.codec,
      env: "chromium",
      frames,
      workers: cores,
      ms_1_worker: +one.toFixed(1),
      ms_n_workers: +many.toFixed(1),
      frames_per_s: +((frames * 1000) / many).toFixed(1),
      speedup: +(one / many).toFixed(2),
    };
    rows.push(row);
    log(`${row.case.padEnd(36)} 1 Worker ${String(row.ms_1_worker).padStart(8)} ms   ${cores} Workers ${String(row.ms_n_workers).padStart(8)} ms   ×${row.speedup}`);
  }
} finally {
  await browser.close();
  server.close();
}
log(`load average ${load()}`);
if (json) for (const r of rows) console.log(JSON.stringify(r));
else printTable(rows);
