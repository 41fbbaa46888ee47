// The GPU render path (crate::render through the wasm API `renderFrame`) in headless
// Chromium, on WebGPU (SwiftShader) and on WebGL2, against the native CLI's
// `lumen render` output for the same file, window and size: within one grey level.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { startServer } from "../../scripts/serve.mjs";
import { cli, corpusDir, launchChromium, WEBGPU_FLAGS, decodePng } from "../helpers.mjs";

// A CT with rescale and an explicit window, MONOCHROME1 with its own window, a
// palette file and an RGB file (the files crate/tests/render.rs uses).
const CASES = [
  { file: "files/pydicom/CT_small.dcm", size: [200, 160], window: [40, 400] },
  { file: "files/pydicom/CT_small.dcm", size: [128, 128], window: [40, 400], function: "sigmoid" },
  { file: "files/pydicom-data/RG3_UNCR.dcm", size: [256, 256] },
  { file: "files/pydicom-data/OT-PAL-8-face.dcm", size: [320, 240] },
  { file: "files/pydicom-data/US1_UNCR.dcm", size: [300, 200] },
];

// WebGPU needs these to present (FIELD-NOTES); WebGL2 needs nothing.
const BACKENDS = [
  { name: "webgpu", args: WEBGPU_FLAGS },
  { name: "webgl2", args: [] },
];


function nativeRender(c) {
  const out = path.join(os.tmpdir(), `lumen-render-${process.pid}-${path.basename(c.file)}-${c.function || "linear"}.png`);
  const args = ["render", path.join(corpusDir, c.file), "--out", out, "--size", `${c.size[0]}x${c.size[1]}`];
  if (c.window) args.push("--window", c.window.join(","));
  if (c.function) args.push("--voi-function", c.function);
  execFileSync(cli, args, { stdio: ["ignore", "ignore", "pipe"] });
  const png = decodePng(fs.readFileSync(out));
  fs.rmSync(out, { force: true });
  // A blank reference would make the comparison vacuous.
  assert.ok(new Set(png.pixels).size > 16, `${c.file}: the native render has only ${new Set(png.pixels).size} distinct values`);
  return png;
}

function settingsJson(c) {
  const s = {};
  if (c.window) [s.center, s.width] = c.window;
  if (c.function) s.function = c.function;
  return JSON.stringify(s);
}

test("the GPU path renders in Chromium (WebGPU, WebGL2) as natively", async (t) => {
  assert.ok(fs.existsSync(cli), `native CLI not built at ${cli}`);
  const native = CASES.map(nativeRender);
  const server = await startServer();
  const { port } = server.address();
  t.after(() => server.close());
  const adapters = [];

  for (const backend of BACKENDS) {
    await t.test(backend.name, async (t) => {
      const browser = await launchChromium(backend.args);
      t.after(() => browser.close());
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.evaluate(async () => {
        const m = await import("/pkg/lumen.js");
        await m.default();
        window.__lumen = m;
      });
      const info = await page.evaluate(async (b) => {
        try {
          return { ok: JSON.parse(await window.__lumen.gpuInfo(b)) };
        } catch (e) {
          return { error: String(e && e.message ? e.message : e) };
        }
      }, backend.name);
      if (info.error) {
        t.diagnostic(`${backend.name}: no adapter: ${info.error}`);
        return;
      }
      adapters.push(backend.name);
      t.diagnostic(`${backend.name}: ${info.ok.backend} on ${info.ok.adapter}`);
      for (const [i, c] of CASES.entries()) {
        const expected = native[i];
        const started = Date.now();
        const got = await page.evaluate(
          async ({ url, backend, w, h, settings }) => {
            const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
            return Array.from(await window.__lumen.renderFrame(bytes, 1, backend, w, h, settings));
          },
          { url: `/samples/${c.file}`, backend: backend.name, w: c.size[0], h: c.size[1], settings: settingsJson(c) },
        );
        const ms = Date.now() - started;
        assert.equal(got.length, expected.pixels.length, `${c.file}: ${got.length} bytes, native ${expected.width}x${expected.height}x${expected.channels}`);
        let max = 0;
        let differing = 0;
        for (let k = 0; k < got.length; k++) {
          const d = Math.abs(got[k] - expected.pixels[k]);
          if (d > 0) differing++;
          if (d > max) max = d;
        }
        t.diagnostic(`${backend.name} ${c.file} ${c.function || ""} ${c.size.join("x")}x${expected.channels}: max difference ${max}, ${differing} of ${got.length} samples differ, ${ms} ms`);
        assert.ok(max <= 1, `${backend.name} ${c.file}: max difference ${max} grey levels (${differing} samples differ)`);
      }
      assert.deepEqual(errors, []);
    });
  }
  assert.ok(adapters.length > 0, "neither WebGPU nor WebGL2 gave an adapter in Chromium");
});
