// Every corpus file decodes in wasm (under Node) to the same canonical bytes as the
// native build: the same JSON record per frame, SHA-256 included, or the same error.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { corpusDir, loadWasm, manifest, nativeRecords } from "../helpers.mjs";

const lumen = await loadWasm();
const { files } = manifest();

test("the corpus is not empty", () => {
  assert.ok(files.length > 50, `only ${files.length} files in the manifest`);
});

test("wasm and native decode every corpus file identically", () => {
  const mismatches = [];
  let frames = 0;
  for (const f of files) {
    const file = path.join(corpusDir, f.path);
    const native = nativeRecords(file);
    const wasm = lumen
      .decodeFileRecords(fs.readFileSync(file), file)
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    frames += wasm.filter((r) => r.sha256).length;
    try {
      assert.deepEqual(wasm, native);
    } catch {
      mismatches.push(`${f.path}: wasm ${JSON.stringify(wasm[0]).slice(0, 160)} | native ${JSON.stringify(native[0]).slice(0, 160)}`);
    }
  }
  assert.deepEqual(mismatches, [], mismatches.join("\n"));
  assert.ok(frames > 100, `only ${frames} frames decoded`);
});

test("wasm matches the reference decoder on lossless files", () => {
  const wrong = [];
  for (const f of files) {
    if (!f.reference || !f.lossless) continue;
    const file = path.join(corpusDir, f.path);
    const records = lumen.decodeFileRecords(fs.readFileSync(file), file).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const ours = records.map((r) => r.sha256);
    if (JSON.stringify(ours) !== JSON.stringify(f.frame_sha256)) wrong.push(`${f.path}: ${records.at(-1).error ?? "hash differs"}`);
  }
  assert.deepEqual(wrong, [], wrong.join("\n"));
});

test("a bare WADO-RS style frame decodes through decodeFrame", () => {
  const f = files.find((x) => x.transfer_syntax === "1.2.840.10008.1.2.1" && x.reference && x.frames === 1 && x.samples_per_pixel === 1);
  assert.ok(f, "no single-frame Explicit VR LE file in the corpus");
  const bytes = fs.readFileSync(path.join(corpusDir, f.path));
  const whole = lumen.decodeFile(bytes, 1);
  const info = JSON.parse(whole.info);
  // Native frame bytes are the canonical bytes for LE data with Bits Stored = Bits Allocated;
  // decode them again as a bare frame and expect the same hash.
  const description = JSON.stringify({
    rows: info.rows, columns: info.columns, samples_per_pixel: info.samples_per_pixel,
    bits_allocated: info.bits_allocated, bits_stored: info.bits_stored,
    pixel_representation: info.pixel_representation, photometric_interpretation: info.photometric_interpretation,
  });
  const again = lumen.decodeFrame("1.2.840.10008.1.2.1", whole.data, description);
  assert.equal(JSON.parse(again.info).sha256, info.sha256);
});

test("errors cross into JS as exceptions naming the cause", () => {
  assert.throws(() => lumen.decodeFrame("1.2.3.4", new Uint8Array(8), "{}"), /unsupported transfer syntax "1.2.3.4"/);
  assert.throws(() => lumen.decodeFile(new Uint8Array(300), 1), /DICOM/);
  const desc = JSON.stringify({ rows: 512, columns: 512, samples_per_pixel: 1, bits_allocated: 16, bits_stored: 16, pixel_representation: 0, photometric_interpretation: "MONOCHROME2" });
  assert.throws(() => lumen.decodeFrame("1.2.840.10008.1.2.4.50", new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), desc), /JPEG/);
  assert.throws(() => lumen.decodeFrame("1.2.840.10008.1.2.1", new Uint8Array(100), desc), /too short/);
});
