// The DICOMweb client compiled to wasm, under Node's fetch, against the project's
// Orthanc (started and loaded by `npm test` before the Node tests): the same records
// as the native `lumen get`, and errors that name their cause.
import test from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { cli, dicomwebUrl, loadWasm } from "../helpers.mjs";

const lumen = await loadWasm();
const base = dicomwebUrl();
const server = JSON.stringify({ base_url: base, timeout_ms: 60000 });
// JPEG XL's float path differs between native and wasm by design (see corpus.test.mjs).
const FLOAT_DECODED = new Set(["1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"]);

function nativeGet(study) {
  let out;
  try {
    out = execFileSync(cli, ["get", base, "--study", study], { encoding: "utf8", maxBuffer: 256 << 20 });
  } catch (e) {
    out = e.stdout;
  }
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const key = (r) => `${r.sop_instance_uid}#${r.frame}`;

test("QIDO-RS through fetch in wasm", async () => {
  const studies = JSON.parse(await lumen.searchStudies(server, JSON.stringify([["includefield", "all"]])));
  assert.ok(studies.length > 20, `${studies.length} studies on the server: run npm test, which loads the corpus`);
  const ct = studies.find((s) => s.modalities_in_study.includes("CT") && s.number_of_instances >= 108);
  assert.ok(ct, "the head CT study");
  const byId = JSON.parse(await lumen.searchStudies(server, JSON.stringify([["PatientID", ct.patient_id.slice(0, 3) + "*"]])));
  assert.ok(byId.some((s) => s.study_instance_uid === ct.study_instance_uid), "wildcard match");
  const none = JSON.parse(await lumen.searchStudies(server, JSON.stringify([["PatientID", "no-such-patient-xyz"]])));
  assert.deepEqual(none, []);
});

test("wasm retrieves and decodes studies exactly as the native lumen get", async () => {
  const studies = JSON.parse(await lumen.searchStudies(server, ""));
  let frames = 0;
  const mismatches = [];
  // The corrupt-slice fixture (viewer tests) fails by design: not a wasm/native comparison.
  for (const s of studies.filter((s) => s.patient_id !== "LUMEN-CORRUPT").slice(0, 12)) {
    const wasm = (await lumen.retrieveStudyRecords(server, s.study_instance_uid, undefined)).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const native = new Map(nativeGet(s.study_instance_uid).map((r) => [key(r), r]));
    assert.equal(wasm.length, native.size, `${s.study_instance_uid}: ${wasm.length} records in wasm, ${native.size} native`);
    for (const r of wasm) {
      frames++;
      const n = native.get(key(r));
      if (r.error || !n || n.error) {
        mismatches.push(`${key(r)}: ${r.error ?? ""} / ${n?.error ?? "missing natively"}`);
        continue;
      }
      if (r.sha256 !== n.sha256 && !FLOAT_DECODED.has(r.transfer_syntax)) mismatches.push(`${key(r)} (${r.transfer_syntax}): hashes differ`);
    }
  }
  assert.ok(frames > 50, `${frames} frames`);
  assert.deepEqual(mismatches, [], mismatches.join("\n"));
});

test("401 is an authentication error; the token is not in the message", async (t) => {
  const fake = http.createServer((req, res) => {
    res.writeHead(401, { "Content-Type": "text/plain" });
    res.end("token expired");
  });
  await new Promise((r) => fake.listen(0, "127.0.0.1", r));
  t.after(() => fake.close());
  const cfg = JSON.stringify({ base_url: `http://127.0.0.1:${fake.address().port}/dicom-web`, bearer_token: "secret-token" });
  await assert.rejects(lumen.searchStudies(cfg, ""), (e) => {
    assert.match(e.message, /authentication failed \(HTTP 401\): token expired/);
    assert.doesNotMatch(e.message, /secret-token/);
    return true;
  });
});
