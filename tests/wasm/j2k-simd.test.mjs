// The simd128 module's JPEG 2000 paths against the scalar module's (the reference):
// the HTJ2K block decoder (crate/src/codec/j2k/ht_block_simd.rs against ht_block.rs),
// T1's column skipping, the 5/3 and 9/7 synthesis and the sample output. Every JPEG
// 2000 and HTJ2K frame of the corpus, the lossy HTJ2K fixtures
// (crate/tests/fixtures/htj2k-lossy) and the bench's JPEG 2000 and HTJ2K frames decode
// to the same bytes (or the same error) in both, and so do damaged copies of them
// (bytes changed at random places, so that blocks are malformed: the two must reject
// the same blocks and decode the rest alike).
// Needs both builds (www/pkg, www/pkg-simd); skipped where either is missing.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { corpusDir, manifest, root } from "../helpers.mjs";

const www = path.join(root, "www");
const have = ["pkg/lumen.js", "pkg/lumen_bg.wasm", "pkg-simd/lumen_bg.wasm"].every((f) =>
  fs.existsSync(path.join(www, f)),
);

/** One instance of the glue per build: the same file imported under two URLs. */
async function load(wasm, tag) {
  const mod = await import(pathToFileURL(path.join(www, "pkg/lumen.js")).href + `?${tag}`);
  mod.initSync({ module: fs.readFileSync(path.join(www, wasm)) });
  return mod;
}

const J2K = (ts) => /^1\.2\.840\.10008\.1\.2\.4\.(90|91|201|202|203)$/.test(ts);

/** The frame's bytes or its error message. */
function decode(lumen, ts, bytes, desc) {
  try {
    const f = lumen.decodeFrame(ts, bytes, desc);
    const data = f.data;
    f.free();
    return data;
  } catch (e) {
    return `error: ${e.message ?? e}`;
  }
}

/** A raw codestream's Image Pixel description from its SIZ marker. */
function describe(j2c) {
  const v = new DataView(j2c.buffer, j2c.byteOffset, j2c.byteLength);
  if (v.getUint16(0) !== 0xff4f || v.getUint16(2) !== 0xff51) return null;
  const width = v.getUint32(8) - v.getUint32(16);
  const height = v.getUint32(12) - v.getUint32(20);
  const components = v.getUint16(40);
  const ssiz = j2c[42];
  const bits = (ssiz & 0x7f) + 1;
  return JSON.stringify({
    rows: height,
    columns: width,
    samples_per_pixel: components,
    bits_allocated: bits <= 8 ? 8 : bits <= 16 ? 16 : 32,
    bits_stored: bits,
    pixel_representation: ssiz >> 7,
    photometric_interpretation: components === 3 ? "RGB" : "MONOCHROME2",
    planar_configuration: 0,
  });
}

/** Deterministic damage: `n` bytes past the main header set to random values. */
function damaged(bytes, seed, n) {
  let s = seed >>> 0 || 1;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const out = Uint8Array.from(bytes);
  const from = Math.min(out.length - 1, 64);
  for (let i = 0; i < n; i++) {
    out[from + Math.floor(rnd() * (out.length - from))] = Math.floor(rnd() * 256);
  }
  return out;
}

/** Bare JPEG 2000 and HTJ2K frames: [name, transfer syntax, bytes, description JSON]. */
function frames() {
  const out = [];
  const fixtures = path.join(root, "crate/tests/fixtures/htj2k-lossy");
  for (const f of fs.readdirSync(fixtures).filter((f) => f.endsWith(".j2c")).sort()) {
    const bytes = fs.readFileSync(path.join(fixtures, f));
    const desc = describe(bytes);
    if (desc) out.push([f, "1.2.840.10008.1.2.4.203", bytes, desc]);
  }
  const cache = process.env.LUMEN_CACHE || path.join(os.homedir(), ".cache", "lumen");
  const index = path.join(cache, "bench", "frames", "index.json");
  if (fs.existsSync(index)) {
    for (const e of JSON.parse(fs.readFileSync(index, "utf8"))) {
      if (!J2K(e.transfer_syntax)) continue;
      const bytes = fs.readFileSync(path.join(path.dirname(index), e.frame_file));
      out.push([e.frame_file, e.transfer_syntax, bytes, JSON.stringify(e.description)]);
    }
  }
  return out;
}

test("simd128 and scalar JPEG 2000 decoders agree", { skip: !have && "needs www/pkg and www/pkg-simd" }, async (t) => {
  const scalar = await load("pkg/lumen_bg.wasm", "scalar");
  const simd = await load("pkg-simd/lumen_bg.wasm", "simd");
  const diffs = [];
  let compared = 0;
  let corpusFiles = 0;
  let bare = 0;
  let errors = 0;

  // Corpus files: every frame's record (SHA-256 of the pixels, or the error).
  for (const f of manifest().files.filter((f) => J2K(f.transfer_syntax))) {
    const bytes = fs.readFileSync(path.join(corpusDir, f.path));
    const a = scalar.decodeFileRecords(bytes, f.path);
    const b = simd.decodeFileRecords(bytes, f.path);
    compared++;
    corpusFiles++;
    if (a !== b) diffs.push(`${f.path}: records differ`);
  }

  // Bare frames, intact and damaged (damage only for frames up to 300 kB, to keep
  // the test short).
  for (const [name, ts, bytes, desc] of frames()) {
    bare++;
    const variants = [[name, bytes]];
    if (bytes.length <= 300_000) {
      for (let seed = 1; seed <= 12; seed++) {
        variants.push([`${name} damaged #${seed}`, damaged(bytes, seed * 7919 + bytes.length, 1 + (seed % 4))]);
      }
    }
    for (const [label, b] of variants) {
      const x = decode(scalar, ts, b, desc);
      const y = decode(simd, ts, b, desc);
      compared++;
      if (typeof x === "string") errors++;
      const same =
        typeof x === "string" || typeof y === "string"
          ? x === y
          : x.length === y.length && Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(y.buffer, y.byteOffset, y.length));
      if (!same) diffs.push(label);
    }
  }
  t.diagnostic(`${compared} decodes compared (${corpusFiles} corpus files, ${bare} bare frames), ${errors} errors`);
  assert.ok(compared > 100, `only ${compared} decodes compared`);
  assert.deepEqual(diffs, [], `${diffs.length} of ${compared} differ`);
});
