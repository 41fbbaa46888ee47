// Shared by the Node tests: where things are, the corpus manifest, the native CLI.
import assert from "node:assert/strict";
import fs from "node:fs";
import zlib from "node:zlib";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cache = process.env.LUMEN_CACHE || path.join(os.homedir(), ".cache", "lumen");
export const corpusDir = process.env.LUMEN_CORPUS || path.join(cache, "corpus");
const targetDir = process.env.CARGO_TARGET_DIR || path.join(cache, "target");
export const cli = process.env.LUMEN_CLI || path.join(targetDir, "debug", "lumen");

export function manifest() {
  const file = path.join(corpusDir, "manifest.json");
  if (!fs.existsSync(file)) throw new Error(`no corpus manifest at ${file}: run scripts/setup-corpus.sh (npm test does)`);
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** The native CLI's JSON lines for a file (it exits non-zero on a decode error; the records still say why). */
export function nativeRecords(file) {
  if (!fs.existsSync(cli)) throw new Error(`native CLI not built at ${cli}`);
  let out;
  try {
    out = execFileSync(cli, ["decode", file], { encoding: "utf8", maxBuffer: 64 << 20 });
  } catch (e) {
    out = e.stdout;
  }
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)), as www/src/wasm-select.ts. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Each wasm build scripts/build.sh makes: its JS glue and its module, under www/. */
const WASM_BUILDS = {
  simd: ["pkg/lumen.js", "pkg-simd/lumen_bg.wasm"],
  scalar: ["pkg/lumen.js", "pkg/lumen_bg.wasm"],
  // The decoder alone (no DICOMweb transport, no GPU), for plugin hosts.
  "decoder-simd": ["pkg-decoder/lumen.js", "pkg-decoder/lumen_simd_bg.wasm"],
  "decoder-scalar": ["pkg-decoder/lumen.js", "pkg-decoder/lumen_bg.wasm"],
};

/**
 * Which wasm build to load: LUMEN_WASM_BUILD=simd|scalar|decoder-simd|decoder-scalar,
 * else what the browser loader (www/src/wasm-select.ts) picks: the simd128 module where
 * the engine has SIMD and the module was built, else the scalar one.
 */
export function wasmBuild() {
  const want = process.env.LUMEN_WASM_BUILD || "auto";
  if (want in WASM_BUILDS) return want;
  if (want !== "auto") throw new Error(`LUMEN_WASM_BUILD=${want}: one of auto, ${Object.keys(WASM_BUILDS).join(", ")}`);
  const simd = WebAssembly.validate(SIMD_PROBE) && fs.existsSync(path.join(root, "www", WASM_BUILDS.simd[1]));
  return simd ? "simd" : "scalar";
}

/** The wasm module, instantiated synchronously in this process; `wasmBuild` says which one. */
export async function loadWasm(build = wasmBuild()) {
  const [glue, wasm] = WASM_BUILDS[build];
  const mod = await import(path.join(root, "www", glue));
  mod.initSync({ module: fs.readFileSync(path.join(root, "www", wasm)) });
  return { ...mod, wasmBuild: build };
}

/** The DICOMweb base URL of the project's Orthanc (scripts/orthanc.sh start prints it). */
export function dicomwebUrl() {
  if (process.env.LUMEN_DICOMWEB_URL) return process.env.LUMEN_DICOMWEB_URL;
  return execFileSync("bash", [path.join(root, "scripts", "orthanc.sh"), "start"], { encoding: "utf8" }).trim();
}

/** The DICOMweb base URL for a test, or null after skipping `t` when there is no server. */
export function dicomwebOrSkip(t) {
  try {
    const base = dicomwebUrl();
    if (base) return base;
    t.skip("no DICOMweb server (LUMEN_DICOMWEB_URL unset and scripts/orthanc.sh gave nothing)");
  } catch (e) {
    t.skip(`no DICOMweb server: ${e.message}`);
  }
  return null;
}

/** Chromium flags under which headless WebGPU (SwiftShader) presents and stays alive (FIELD-NOTES). */
export const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--use-angle=swiftshader", "--enable-features=Vulkan", "--use-vulkan=swiftshader"];

/** Debian's Chromium, headless, with no background traffic (the machine's network is closed). */
export async function launchChromium(extraArgs = []) {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs],
  });
}

/** Decodes an 8-bit grey or RGB PNG with filter type 0 (the CLI's own writer). */
export function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString("latin1"), "\x89PNG\r\n\x1a\n");
  let pos = 8;
  let width, height, channels;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.subarray(pos + 4, pos + 8).toString("latin1");
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, "bit depth");
      channels = { 0: 1, 2: 3 }[data[9]];
      assert.ok(channels, `colour type ${data[9]}`);
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    assert.equal(raw[row], 0, `PNG filter type on row ${y}`);
    raw.copy(pixels, y * stride, row + 1, row + 1 + stride);
  }
  return { width, height, channels, pixels };
}
