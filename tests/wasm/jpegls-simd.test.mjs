// The simd128 module's JPEG-LS output against the scalar module's (the reference):
// the output stores (`put_rgb`, `put_samples` in crate/src/codec/jpegls.rs) have simd128
// paths. Every JPEG-LS fixture decodes to the same bytes (or the same error) in both,
// with its own description; for streams of more than 8 bits, with an 8-bit one (a
// description that does not fit the stream: both keep each sample's low 8 bits); and
// with one bit fewer stored, unsigned and signed (the stores mask and sign-extend).
// Needs both builds (www/pkg, www/pkg-simd); skipped where either is missing.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root } from "../helpers.mjs";

const www = path.join(root, "www");
const have = ["pkg/lumen.js", "pkg/lumen_bg.wasm", "pkg-simd/lumen_bg.wasm"].every((f) =>
  fs.existsSync(path.join(www, f)),
);
const fixtures = path.join(root, "crate/tests/fixtures/jpegls");

/** One instance of the glue per build: the same file imported under two URLs. */
async function load(wasm, tag) {
  const mod = await import(pathToFileURL(path.join(www, "pkg/lumen.js")).href + `?${tag}`);
  mod.initSync({ module: fs.readFileSync(path.join(www, wasm)) });
  return mod;
}

/** The frame's bytes or its error message. */
function decode(lumen, bytes, desc) {
  try {
    const f = lumen.decodeFrame("1.2.840.10008.1.2.4.80", bytes, desc);
    const data = f.data;
    f.free();
    return data;
  } catch (e) {
    return `error: ${e.message ?? e}`;
  }
}

/** manifest.txt: name, width, height, components, bits, NEAR, ILV, SHA-256, encoder. */
function cases() {
  const out = [];
  for (const line of fs.readFileSync(path.join(fixtures, "manifest.txt"), "utf8").split("\n")) {
    const [name, w, h, nc, bits] = line.trim().split(/\s+/);
    if (!name?.endsWith(".jls")) continue;
    const describe = (b, stored = b, signed = 0) =>
      JSON.stringify({
        rows: +h,
        columns: +w,
        samples_per_pixel: +nc,
        bits_allocated: b <= 8 ? 8 : 16,
        bits_stored: stored,
        pixel_representation: signed,
        photometric_interpretation: +nc === 3 ? "RGB" : "MONOCHROME2",
        planar_configuration: 0,
      });
    const bytes = fs.readFileSync(path.join(fixtures, name));
    out.push([name, bytes, describe(+bits)]);
    if (+bits > 8) out.push([`${name} (described as 8-bit)`, bytes, describe(8)]);
    if (+bits > 2) {
      out.push([`${name} (${bits - 1} bits stored)`, bytes, describe(+bits, bits - 1)]);
      out.push([`${name} (${bits - 1} bits stored, signed)`, bytes, describe(+bits, bits - 1, 1)]);
    }
  }
  return out;
}

test("simd128 and scalar JPEG-LS decoders agree", { skip: !have && "needs www/pkg and www/pkg-simd" }, async () => {
  const scalar = await load("pkg/lumen_bg.wasm", "scalar");
  const simd = await load("pkg-simd/lumen_bg.wasm", "simd");
  const all = cases();
  const diffs = [];
  let rgbMismatch = 0;
  for (const [name, bytes, desc] of all) {
    const a = decode(scalar, bytes, desc);
    const b = decode(simd, bytes, desc);
    if (name.startsWith("rgb12_ilv1") && name.includes("8-bit")) {
      assert.ok(a instanceof Uint8Array, `${name}: ${a}`);
      rgbMismatch++;
    }
    const same = typeof a === "string" ? a === b : b instanceof Uint8Array && Buffer.compare(a, b) === 0;
    if (!same) diffs.push(name);
  }
  assert.ok(all.length >= 120, `only ${all.length} cases`);
  assert.equal(rgbMismatch, 1, "the 12-bit line-interleaved RGB fixture was decoded as 8-bit");
  assert.deepEqual(diffs, []);
});
