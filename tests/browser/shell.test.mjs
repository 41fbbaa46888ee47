// The sample page (samples.html) in headless Debian Chromium: it loads the wasm in a worker, shows
// its version, lists the sample data, and decodes a sample to the native bytes.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer } from "../../scripts/serve.mjs";
import { cli, corpusDir, dicomwebUrl, launchChromium, loadWasm, manifest, nativeRecords, root } from "../helpers.mjs";
import { execFileSync } from "node:child_process";

const FLOAT_DECODED = new Set(["1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"]);
const wasm = await loadWasm();
const version = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version;

/** The sample page in a fresh Chromium, closed after `t`; page errors are collected. */
async function openSamplePage(t) {
  const server = await startServer();
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    server.close();
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/samples.html`);
  return { page, errors };
}

test("the shell decodes samples in Chromium like the native build", async (t) => {
  const { page, errors } = await openSamplePage(t);
  await page.waitForSelector(`#version[data-version="${version}"]`, { timeout: 30000 });
  assert.equal(await page.textContent("#version"), `Lumen ${version}`);
  await page.waitForSelector("#samples button");

  // One file per codec family, decoded in the page's worker, compared with native.
  const { files } = manifest();
  const picks = new Map();
  for (const f of files) if (f.reference && !picks.has(f.transfer_syntax)) picks.set(f.transfer_syntax, f);
  assert.ok(picks.size >= 15, `only ${picks.size} transfer syntaxes in the corpus`);
  for (const f of picks.values()) {
    const info = await page.evaluate(async (url) => (await window.lumen.showUrl(url)).info, `samples/${f.path}`);
    const file = path.join(corpusDir, f.path);
    // JPEG XL's float path rounds differently natively (AVX2/FMA) and in wasm (see
    // tests/wasm): there the browser must equal the same wasm module under Node.
    const expected = FLOAT_DECODED.has(f.transfer_syntax)
      ? { sha256: wasm.decodeFile(fs.readFileSync(file), 1).sha256 }
      : nativeRecords(file)[0];
    assert.equal(info.sha256, expected.sha256, `${f.path} (${f.transfer_syntax})`);
  }
  assert.equal(await page.getAttribute("#status", "data-state"), "ok");

  // A bad file shows an error and the page keeps working.
  const bad = path.join(os.tmpdir(), "lumen-not-dicom.dcm");
  fs.writeFileSync(bad, "this is not DICOM");
  await page.setInputFiles("#file", bad);
  await page.waitForSelector('#status[data-state="error"]');
  assert.match(await page.textContent("#status"), /DICOM/);
  const again = [...picks.values()][0];
  await page.evaluate(async (url) => (await window.lumen.showUrl(url)).info, `samples/${again.path}`);
  assert.equal(await page.getAttribute("#status", "data-state"), "ok");
  assert.deepEqual(errors, []);
});

test("the decoder plugin's Worker pool decodes a series on every Worker, and a bad frame fails alone", async (t) => {
  const { page, errors } = await openSamplePage(t);
  // Multi-frame files of three codecs, every frame requested at once from a pool of 3
  // Workers (the decoder-only module), with a non-DICOM "file" in the middle.
  const paths = ["files/generated/multiframe/jls-lossless.dcm", "files/generated/multiframe/j2k-lossless.dcm", "files/generated/multiframe/htj2k-lossless.dcm"];
  const result = await page.evaluate(async (paths) => {
    const { Decoder } = await import("/dist/decoder.js");
    const decoder = new Decoder({ workers: 3, hash: true });
    const version = await decoder.ready;
    const files = await Promise.all(paths.map(async (p) => new Uint8Array(await (await fetch(`samples/${p}`)).arrayBuffer())));
    const jobs = [];
    files.forEach((bytes, i) => {
      for (let frame = 1; frame <= 10; frame++) {
        jobs.push(decoder.decodeFile(bytes.slice().buffer, frame).then((d) => ({ file: i, frame, sha256: d.info.sha256, bytes: d.data.length })));
        if (i === 1 && frame === 5) jobs.push(decoder.decodeFile(new TextEncoder().encode("not DICOM at all").buffer, 1).then(() => ({ bad: "decoded" }), (e) => ({ bad: e.message })));
      }
    });
    const out = await Promise.all(jobs);
    const perWorker = decoder.answeredPerWorker();
    decoder.terminate();
    return { version, out, perWorker, size: decoder.size };
  }, paths);
  assert.equal(result.version, version);
  assert.equal(result.size, 3);
  const bad = result.out.filter((r) => "bad" in r);
  assert.equal(bad.length, 1);
  assert.match(bad[0].bad, /DICOM/, bad[0].bad);
  const frames = result.out.filter((r) => !("bad" in r));
  assert.equal(frames.length, 30);
  for (const [i, p] of paths.entries()) {
    const native = nativeRecords(path.join(corpusDir, p));
    for (const r of frames.filter((r) => r.file === i)) assert.equal(r.sha256, native[r.frame - 1].sha256, `${p} frame ${r.frame}`);
  }
  // 31 requests spread over the 3 Workers: each answered some.
  assert.equal(result.perWorker.reduce((a, b) => a + b, 0), 31);
  assert.ok(result.perWorker.every((n) => n > 0), `answers per Worker: ${result.perWorker}`);
  assert.deepEqual(errors, []);
});

test("the wasm DICOMweb client works in Chromium through the same-origin proxy", async (t) => {
  const base = dicomwebUrl();
  const server = await startServer({ dicomweb: new URL(base).origin });
  const { port } = server.address();
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    server.close();
  });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/samples.html`);
  const result = await page.evaluate(async () => {
    const m = await import("/pkg/lumen.js");
    await m.default();
    const server = JSON.stringify({ base_url: `${location.origin}/dicom-web` });
    const studies = JSON.parse(await m.searchStudies(server, JSON.stringify([["ModalitiesInStudy", "CT"]])));
    const ct = studies.find((s) => s.number_of_instances >= 108);
    const records = await m.retrieveStudyRecords(server, ct.study_instance_uid, undefined);
    return { study: ct.study_instance_uid, records };
  });
  const wasm = result.records.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  let out;
  try {
    out = execFileSync(cli, ["get", base, "--study", result.study], { encoding: "utf8", maxBuffer: 256 << 20 });
  } catch (e) {
    out = e.stdout;
  }
  const native = new Map(out.split("\n").filter(Boolean).map((l) => JSON.parse(l)).map((r) => [`${r.sop_instance_uid}#${r.frame}`, r]));
  assert.ok(wasm.length >= 108, `${wasm.length} frames`);
  assert.equal(wasm.length, native.size);
  const FLOAT_DECODED = new Set(["1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"]);
  for (const r of wasm) {
    assert.ok(!r.error, r.error);
    const n = native.get(`${r.sop_instance_uid}#${r.frame}`);
    if (!FLOAT_DECODED.has(r.transfer_syntax)) assert.equal(r.sha256, n.sha256, `${r.sop_instance_uid} frame ${r.frame}`);
  }
});
