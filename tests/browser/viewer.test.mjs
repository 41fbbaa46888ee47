// The viewer (index.html) end to end in headless Chromium, on WebGPU (SwiftShader)
// and on WebGL2, against the project's Orthanc through the same-origin proxy of
// scripts/serve.mjs:
//  * the worklist lists exactly the studies the server has (all pages), and a
//    Patient ID filter narrows it to the matching studies; Enter opens, Back returns;
//  * the head CT (scripts/corpus/invesalius.py) opened with ?study=&series=: its first
//    image, the next ones (keyboard, wheel), a W/L preset and a zoom are read back from
//    the canvas and compared with `lumen render` (native GPU path) on the corpus file of
//    the same SOP Instance UID, same size and view: within one grey level;
//  * the GPU device destroyed (as a driver reset would): the viewer recovers without a
//    reload and shows the same pixels again;
//  * MPR 1×3 once the series is loaded: three non-blank, different views with their
//    reference lines; the axial viewport as shown and five more scenes (nearest,
//    zoom/pan, MIP, MinIP, an oblique plane with an average slab) rendered by the core
//    equal `lumen render --mpr` within one grey level; the Oblique tool turns the other
//    two planes (reference line by the angle swept, axial view unchanged, the oblique
//    coronal viewport equal to `lumen render --mpr oblique --axes`); reset undoes it; a crosshair click in the axial view moves the coronal and
//    sagittal planes but not the axial one; the wheel moves the axial plane;
//  * the fixture study with one corrupt slice (PatientID LUMEN-CORRUPT,
//    scripts/corpus/samples/build.py): exactly one of its 10 images shows its error
//    (role=alert), the 9 others render;
//  * no page error and no console error throughout (one documented exception: the
//    server's refusal of the corrupt slice's frames, logged by Chromium as a failed
//    resource load).
// Waits are explicit (the machine is slow: SwiftShader renders take 50-100 ms).
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { startServer } from "../../scripts/serve.mjs";
import { cli, corpusDir, dicomwebOrSkip, launchChromium, WEBGPU_FLAGS, decodePng } from "../helpers.mjs";

const WAIT = 60_000;
const LONG_WAIT = 180_000; // a whole series over DICOMweb, decoded in the page
const cacheDir = process.env.LUMEN_CACHE || path.join(os.homedir(), ".cache", "lumen");

// WebGPU needs its flags to present (FIELD-NOTES); WebGL2 needs nothing.
const BACKENDS = [
  { name: "webgpu", args: WEBGPU_FLAGS },
  { name: "webgl2", args: [] },
];

// ---- DICOMweb from Node ---------------------------------------------------

async function qido(base, query) {
  const res = await fetch(`${base}/${query}`, { headers: { Accept: "application/dicom+json" } });
  if (res.status === 204) return [];
  if (!res.ok) throw new Error(`QIDO-RS ${query}: HTTP ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text.trim() ? JSON.parse(text) : [];
}

const value = (ds, tag) => ds?.[tag]?.Value?.[0];

/** Every StudyInstanceUID on the server (paged, like the worklist). */
async function allStudyUids(base) {
  const uids = new Set();
  for (let offset = 0; ; offset += 100) {
    const page = await qido(base, `studies?limit=100&offset=${offset}`);
    for (const s of page) uids.add(value(s, "0020000D"));
    if (page.length < 100) return uids;
  }
}

/** The head CT: the study of PatientID INVESALIUS-CRANIUM (else any CT study) with a CT series of 100+ instances. */
async function findHeadCt(base) {
  let studies = await qido(base, "studies?PatientID=INVESALIUS-CRANIUM");
  if (!studies.length) studies = (await qido(base, "studies?ModalitiesInStudy=CT&includefield=NumberOfStudyRelatedInstances")).filter((s) => (value(s, "00201208") ?? 0) >= 100);
  for (const st of studies) {
    const study = value(st, "0020000D");
    for (const se of await qido(base, `studies/${study}/series?includefield=NumberOfSeriesRelatedInstances`)) {
      const series = value(se, "0020000E");
      if (value(se, "00080060") !== "CT") continue;
      const n = value(se, "00201209") ?? (await qido(base, `studies/${study}/series/${series}/instances`)).length;
      if (n >= 100) return { study, series, patientId: value(st, "00100020"), instances: n };
    }
  }
  return null;
}

// ---- native reference -----------------------------------------------------

/** MediaStorageSOPInstanceUID (0002,0003) from a Part 10 file's meta group. */
function sopUidOf(file) {
  const b = fs.readFileSync(file);
  if (b.toString("latin1", 128, 132) !== "DICM") return null;
  const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
  for (let pos = 132; pos + 8 <= b.length; ) {
    if (b.readUInt16LE(pos) !== 2) return null;
    const element = b.readUInt16LE(pos + 2);
    const vr = b.toString("latin1", pos + 4, pos + 6);
    const [len, header] = LONG.has(vr) ? [b.readUInt32LE(pos + 8), 12] : [b.readUInt16LE(pos + 6), 8];
    if (element === 3) return b.toString("latin1", pos + header, pos + header + len).replace(/[\0 ]+$/, "");
    pos += header + len;
  }
  return null;
}


/** `lumen render` of one file with a viewport's state (`api.ts` ViewportState): the grey pixels. */
function nativeRender(file, state) {
  const out = path.join(os.tmpdir(), `lumen-viewer-${process.pid}-${Date.now()}.png`);
  const args = ["render", file, "--out", out, "--size", `${state.width}x${state.height}`];
  if (state.window) args.push("--window", `${state.window.center},${state.window.width}`);
  if (state.voi_function) args.push("--voi-function", state.voi_function);
  if (typeof state.zoom === "number") args.push("--zoom", String(state.zoom));
  if (state.pan && (state.pan[0] || state.pan[1])) args.push("--pan", `${state.pan[0]},${state.pan[1]}`);
  if (state.rotation) args.push("--rotate", String(state.rotation));
  const flip = `${state.flip_horizontal ? "h" : ""}${state.flip_vertical ? "v" : ""}`;
  if (flip) args.push("--flip", flip);
  if (state.invert) args.push("--invert");
  if (state.interpolation) args.push("--interp", state.interpolation);
  execFileSync(cli, args, { stdio: ["ignore", "ignore", "pipe"] });
  const png = decodePng(fs.readFileSync(out));
  fs.rmSync(out, { force: true });
  assert.equal(png.channels, 1, "the head CT renders grey");
  assert.ok(new Set(png.pixels).size > 16, `${file}: the native render has only ${new Set(png.pixels).size} distinct values`);
  return png;
}

/** `lumen render SERIES_DIR --mpr …` of an MPR viewport's state (`api.ts` MprState): the grey pixels. */
function nativeMpr(dir, state) {
  const out = path.join(os.tmpdir(), `lumen-viewer-mpr-${process.pid}-${Date.now()}.png`);
  const args = ["render", dir, "--out", out, "--mpr", state.view, "--center", state.center.join(","), "--size", `${state.width}x${state.height}`];
  if (state.normal) args.push("--normal", state.normal.join(","));
  if (state.right && state.down) args.push("--axes", [...state.right, ...state.down].join(","));
  if (state.window) args.push("--window", `${state.window.center},${state.window.width}`);
  if (state.mm_per_pixel) args.push("--mm-per-pixel", String(state.mm_per_pixel));
  if (state.pan && (state.pan[0] || state.pan[1])) args.push("--pan", `${state.pan[0]},${state.pan[1]}`);
  if (state.slab_mm) args.push("--slab-mm", String(state.slab_mm), "--slab-mode", state.slab_mode ?? "mip");
  if (state.invert) args.push("--invert");
  args.push("--interp", state.interpolation ?? "linear");
  execFileSync(cli, args, { stdio: ["ignore", "ignore", "pipe"] });
  const png = decodePng(fs.readFileSync(out));
  fs.rmSync(out, { force: true });
  assert.equal(png.channels, 1, "the head CT renders grey");
  return png;
}

function compare(got, expected, what) {
  assert.equal(`${got.width}x${got.height}`, `${expected.width}x${expected.height}`, `${what}: canvas size`);
  assert.equal(got.pixels.length, expected.pixels.length);
  let max = 0;
  let differing = 0;
  for (let k = 0; k < got.pixels.length; k++) {
    const d = Math.abs(got.pixels[k] - expected.pixels[k]);
    if (d) differing++;
    if (d > max) max = d;
  }
  assert.ok(max <= 1, `${what}: max difference ${max} grey levels from \`lumen render\` (${differing} of ${got.pixels.length} pixels differ)`);
  return { max, differing };
}

function differs(a, b) {
  if (a.pixels.length !== b.pixels.length) return a.pixels.length;
  let n = 0;
  for (let k = 0; k < a.pixels.length; k++) if (a.pixels[k] !== b.pixels[k]) n++;
  return n;
}

// ---- the page -------------------------------------------------------------

/** A viewport canvas read back (the core draws with putImageData: exact): R channel, and whether it is grey. */
async function readCanvas(page, selector) {
  const r = await page.evaluate((sel) => {
    const c = document.querySelector(sel);
    if (!c) throw new Error(`no ${sel}`);
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const grey = new Uint8Array(c.width * c.height);
    let notGrey = 0;
    for (let p = 0, i = 0; p < grey.length; p++, i += 4) {
      grey[p] = d[i];
      if (d[i] !== d[i + 1] || d[i] !== d[i + 2] || d[i + 3] !== 255) notGrey++;
    }
    let s = "";
    for (let i = 0; i < grey.length; i += 0x8000) s += String.fromCharCode.apply(null, grey.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, notGrey, b64: btoa(s) };
  }, selector);
  assert.equal(r.notGrey, 0, `${selector}: ${r.notGrey} pixels are not opaque grey`);
  return { width: r.width, height: r.height, pixels: Buffer.from(r.b64, "base64") };
}

const distinct = (img) => new Set(img.pixels).size;

/**
 * Waits until viewport `index` has rendered a state matching `expect` (a subset of its
 * state) or failed: returns { render, message, state }.
 */
async function settle(page, index, expect = {}, timeout = WAIT) {
  const handle = await page.waitForFunction(
    ({ index, expect }) => {
      const v = window.lumen?.viewports()[index];
      if (!v) return false;
      const same = (a, b) => {
        if (b === null || typeof b !== "object") return a === b;
        if (!a || typeof a !== "object") return false;
        return Object.keys(b).every((k) => same(a[k], b[k]));
      };
      if (!Object.keys(expect).every((k) => same(v.state[k], expect[k]))) return false;
      const render = v.element.dataset.render;
      if (render !== "ready" && render !== "error") return false;
      const msg = v.element.querySelector('[data-state="error"]');
      return { render, message: msg ? msg.textContent : null, state: v.state };
    },
    { index, expect },
    { timeout, polling: 100 },
  );
  return handle.jsonValue();
}

async function settleReady(page, index, expect = {}, timeout = WAIT) {
  const r = await settle(page, index, expect, timeout);
  assert.equal(r.render, "ready", `viewport ${index}: ${r.message}`);
  return r.state;
}

/** Waits for the reading screen's first image, or fails with the page's error panel. */
async function openedFirstImage(page, timeout = WAIT) {
  const r = await (
    await page.waitForFunction(
      () => {
        if (document.body.dataset.firstImage === "1") return { ok: true };
        const alert = document.querySelector('.error-panel[role="alert"]');
        return alert ? { ok: false, message: alert.textContent } : false;
      },
      null,
      { timeout, polling: 100 },
    )
  ).jsonValue();
  assert.ok(r.ok, `the study did not open: ${r.message}`);
}

const vpCanvas = (i) => `.viewport[data-viewport-index="${i}"] canvas`;

async function viewportCentre(page, i) {
  const box = await page.locator(`.viewport[data-viewport-index="${i}"]`).boundingBox();
  return [box.x + box.width / 2, box.y + box.height / 2];
}

test("the viewer: worklist, reading, MPR and a corrupt slice (WebGPU, WebGL2)", async (t) => {
  const base = dicomwebOrSkip(t);
  if (!base) return;
  assert.ok(fs.existsSync(cli), `native CLI not built at ${cli}`);
  const expectedStudies = await allStudyUids(base);
  const ct = await findHeadCt(base);
  assert.ok(ct, "the head CT (PatientID INVESALIUS-CRANIUM, a CT series of 108 slices) is not on the server: run scripts/samples.sh BASE --only head-ct");
  const seriesDir = path.join(corpusDir, "files", "invesalius-ct", "series");
  const files = new Map(
    fs
      .readdirSync(seriesDir)
      .filter((f) => f.endsWith(".dcm"))
      .map((f) => [sopUidOf(path.join(seriesDir, f)), path.join(seriesDir, f)]),
  );
  assert.ok(files.size >= 100, `only ${files.size} head CT files under ${seriesDir}`);
  const corrupt = (await qido(base, "studies?PatientID=LUMEN-CORRUPT"))[0] ?? null;
  const corruptRecord = path.join(cacheDir, "samples", "corrupt", "sample.json");
  const corruptSop = fs.existsSync(corruptRecord) ? JSON.parse(fs.readFileSync(corruptRecord, "utf8")).corrupt_sop_instance_uid : null;

  const server = await startServer({ dicomweb: new URL(base).origin });
  const origin = `http://127.0.0.1:${server.address().port}`;
  t.after(() => server.close());
  const ran = [];

  for (const backend of BACKENDS) {
    await t.test(backend.name, async (t) => {
      const browser = await launchChromium(backend.args);
      t.after(() => browser.close());
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });

      // Like tests/browser/render.test.mjs: a backend without an adapter is reported, not failed.
      const probe = await context.newPage();
      await probe.goto(`${origin}/config.json`);
      const adapter = await probe.evaluate(async (b) => {
        try {
          const m = await import("/pkg/lumen.js");
          await m.default();
          if (typeof m.gpuInfo !== "function") return { ok: "unknown (no gpuInfo)" };
          return { ok: JSON.parse(await m.gpuInfo(b)) };
        } catch (e) {
          return { error: String(e && e.message ? e.message : e) };
        }
      }, backend.name);
      await probe.close();
      if (adapter.error) {
        t.skip(`${backend.name}: no adapter in this Chromium: ${adapter.error}`);
        return;
      }
      t.diagnostic(`${backend.name}: ${JSON.stringify(adapter.ok)}`);

      const page = await context.newPage();
      const errors = [];
      let allowRefusedLoads = false; // only while the corrupt study loads (see the top)
      page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() !== "error") return;
        if (allowRefusedLoads && /^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) return;
        errors.push(`console.error: ${m.text()} (${m.location()?.url ?? ""})`);
      });
      const url = (query) => `${origin}/?backend=${backend.name}${query}`;

      await t.test("worklist", async () => {
        await page.goto(url(""));
        await page.waitForSelector('#worklist[data-state="ready"]', { timeout: WAIT });
        const listed = new Set();
        for (let pages = 0; ; pages++) {
          assert.ok(pages < 1000, "the worklist never reaches its last page");
          for (const uid of await page.$$eval("#worklist tbody tr[data-study-uid]", (trs) => trs.map((tr) => tr.dataset.studyUid))) listed.add(uid);
          if (await page.isDisabled("#wl-next")) break;
          const offset = await page.getAttribute("#worklist", "data-offset");
          await page.click("#wl-next");
          await page.waitForFunction((o) => {
            const t = document.getElementById("worklist");
            return t.dataset.state !== "loading" && t.dataset.offset !== o;
          }, offset, { timeout: WAIT });
          assert.equal(await page.getAttribute("#worklist", "data-state"), "ready", await page.textContent(".worklist-screen"));
        }
        assert.deepEqual([...listed].sort(), [...expectedStudies].sort(), "the worklist's studies (every page) against QIDO-RS from Node");

        // Patient ID filter (a prefix match: the UI appends *).
        const expected = new Set((await qido(base, `studies?PatientID=${encodeURIComponent(ct.patientId)}*`)).map((s) => value(s, "0020000D")));
        await page.fill("#wl-id", ct.patientId);
        await page.press("#wl-id", "Enter");
        await page.waitForFunction((pid) => {
          const t = document.getElementById("worklist");
          return t.dataset.state === "ready" && JSON.parse(t.dataset.query || "[]").some(([k, v]) => k === "PatientID" && v === `${pid}*`);
        }, ct.patientId, { timeout: WAIT });
        const filtered = await page.$$eval("#worklist tbody tr[data-study-uid]", (trs) => trs.map((tr) => tr.dataset.studyUid));
        assert.ok(filtered.includes(ct.study), "the head CT is listed under its Patient ID");
        assert.deepEqual([...filtered].sort(), [...expected].sort(), `rows for PatientID=${ct.patientId}*`);

        // Keyboard: select the head CT row, Enter opens it, Back returns to the worklist.
        await page.focus("#worklist");
        const rowIndex = filtered.indexOf(ct.study);
        await page.keyboard.press("Home");
        for (let i = 0; i < rowIndex; i++) await page.keyboard.press("ArrowDown");
        assert.equal(await page.getAttribute(`#worklist tr[data-study-uid="${ct.study}"]`, "aria-selected"), "true");
        await page.keyboard.press("Enter");
        await page.waitForURL((u) => u.searchParams.get("study") === ct.study, { timeout: WAIT });
        await page.waitForSelector('.reading-screen .viewport[data-viewport-index="0"]', { timeout: WAIT });
        await page.goBack();
        await page.waitForSelector('#worklist[data-state="ready"]', { state: "visible", timeout: WAIT });
        assert.equal(await page.evaluate(() => window.lumen.study), null, "the study is closed on the worklist");
      });

      await t.test("head CT: stack viewport against lumen render", async () => {
        await page.goto(url(`&study=${ct.study}&series=${ct.series}`));
        await openedFirstImage(page);
        assert.equal(await page.evaluate(() => window.lumen.core.backend), backend.name, "the core runs on the backend asked for");
        assert.equal(await page.evaluate(() => performance.getEntriesByName("lumen:first-image").length), 1, "one lumen:first-image mark");
        assert.equal(await page.getAttribute('.viewport[data-viewport-index="0"]', "data-series-uid"), ct.series);

        /** Viewport 0 read back and rendered natively from its state. */
        const check = async (what) => {
          const state = await settleReady(page, 0);
          const sop = await page.evaluate(({ s, i }) => window.lumen.study.imageInfo(s, i).sop_instance_uid, { s: state.series, i: state.image });
          const file = files.get(sop);
          assert.ok(file, `no corpus file with SOP Instance UID ${sop}`);
          const got = await readCanvas(page, vpCanvas(0));
          assert.equal(`${got.width}x${got.height}`, `${state.width}x${state.height}`, "the canvas is the state's size");
          const r = compare(got, nativeRender(file, state), `${backend.name} ${what} (image ${state.image}, ${path.basename(file)})`);
          t.diagnostic(`${backend.name} ${what}: image ${state.image} ${state.width}x${state.height}: max difference ${r.max}, ${r.differing} pixels differ`);
          return { state, got };
        };

        const first = await check("first image");
        assert.ok(distinct(first.got) > 16, "the first image is not blank");

        // Next image from the keyboard, then from the wheel.
        await page.keyboard.press("ArrowDown");
        await settleReady(page, 0, { image: first.state.image + 1 });
        const second = await check("ArrowDown");
        assert.ok(differs(second.got, first.got) > 0, "ArrowDown changed the pixels");
        const [cx, cy] = await viewportCentre(page, 0);
        await page.mouse.move(cx, cy);
        await page.mouse.wheel(0, 120);
        await settleReady(page, 0, { image: first.state.image + 2 });
        const third = await check("wheel");
        assert.ok(differs(third.got, second.got) > 0, "the wheel changed the pixels");
        assert.equal(await page.getAttribute('.viewport[data-viewport-index="0"]', "data-image-index"), String(first.state.image + 2));

        // A W/L preset.
        await page.selectOption('select[aria-label="Window preset"]', "preset:lung");
        await settleReady(page, 0, { window: { center: -600, width: 1500 } });
        const lung = await check("lung window -600/1500");
        assert.ok(differs(lung.got, third.got) > 0, "the lung window changed the pixels");

        // Zoom: the zoom tool, a drag upwards.
        await page.click('button[data-tool="zoom"]');
        assert.equal(await page.getAttribute('button[data-tool="zoom"]', "aria-pressed"), "true");
        await page.mouse.move(cx, cy);
        await page.mouse.down();
        await page.mouse.move(cx, cy - 30, { steps: 3 });
        await page.mouse.move(cx, cy - 60, { steps: 3 });
        await page.mouse.up();
        const zoomed = await settleReady(page, 0);
        assert.equal(typeof zoomed.zoom, "number", "the drag set a zoom factor");
        const zoom = await check(`zoom ${zoomed.zoom.toFixed(3)}`);
        assert.ok(differs(zoom.got, lung.got) > 0, "zooming changed the pixels");

        // Length (the shared drag tracking, drag.ts): one measurement by a drag, a
        // second by two clicks; each shows a line and a label in mm.
        await page.click('button[data-tool="length"]');
        const vp = '.viewport[data-viewport-index="0"]';
        await page.mouse.move(cx - 40, cy);
        await page.mouse.down();
        await page.mouse.move(cx, cy, { steps: 3 });
        await page.mouse.move(cx + 40, cy, { steps: 3 });
        await page.mouse.up();
        await page.waitForFunction((sel) => document.querySelectorAll(`${sel} .measure-line`).length === 1, vp, { timeout: WAIT });
        await page.mouse.click(cx, cy - 40);
        await page.mouse.click(cx, cy + 40);
        await page.waitForFunction((sel) => document.querySelectorAll(`${sel} .measure-line`).length === 2, vp, { timeout: WAIT });
        const labels = await page.$$eval(`${vp} .measure-label`, (ts) => ts.map((t) => t.textContent));
        assert.equal(labels.length, 2);
        for (const l of labels) assert.match(l, /\d+(\.\d+)? mm/, `a length label: ${l}`);
        await page.click('button[data-tool="zoom"]');

        // Reset ("0"): back to the fitted default view and window.
        await page.keyboard.press("0");
        const reset = await settleReady(page, 0, { zoom: "fit" });
        assert.equal(reset.window, undefined, "reset drops the explicit window");
        await check("reset");

        // The GPU device is lost (destroyed, as a driver reset would): the next render
        // notices, a new device is made, the frames are fetched and uploaded again,
        // and the same image comes back with the same pixels, without a reload.
        await page.waitForSelector('body[data-series-loaded="1"]', { timeout: LONG_WAIT });
        const losses = await page.evaluate(() => window.lumen.study.memory().device_losses);
        const lostAt = Date.now();
        await page.evaluate(() => window.lumen.study.loseDevice());
        await page.keyboard.press("ArrowDown");
        await page.waitForFunction((n) => window.lumen.study.memory().device_losses === n + 1, losses, { timeout: WAIT, polling: 50 });
        await settleReady(page, 0, { image: first.state.image + 3 }, LONG_WAIT);
        await check("after the device was lost");
        await page.waitForFunction(
          (s) => {
            const p = window.lumen.study.progress(s);
            return p.resident === p.total;
          },
          reset.series,
          { timeout: LONG_WAIT, polling: 100 },
        );
        const memory = await page.evaluate(() => window.lumen.study.memory());
        assert.equal(memory.backend, backend.name, "the new device is on the same backend");
        assert.ok(memory.gpu_bytes > 0, "the frames are back on the GPU");
        t.diagnostic(`${backend.name} device lost: series resident again ${Date.now() - lostAt} ms later (${memory.gpu_bytes} GPU bytes)`);
      });

      await t.test("head CT: MPR", async () => {
        await page.waitForSelector('body[data-series-loaded="1"]', { timeout: LONG_WAIT });
        assert.equal(await page.evaluate(() => performance.getEntriesByName("lumen:series-loaded").length), 1, "one lumen:series-loaded mark");
        assert.equal(await page.isDisabled('button[data-layout="mpr"]'), false, "MPR is available for the head CT");
        await page.click('button[data-layout="mpr"]');
        await page.waitForFunction(() => document.querySelectorAll(".viewport.mpr").length === 3, null, { timeout: WAIT });
        for (const i of [0, 1, 2]) await settleReady(page, i, {}, LONG_WAIT);
        const views = await page.$$eval(".viewport.mpr", (els) => els.map((e) => e.dataset.view));
        assert.deepEqual(views, ["axial", "coronal", "sagittal"]);
        const read = () => Promise.all([0, 1, 2].map((i) => readCanvas(page, vpCanvas(i))));
        const before = await read();
        // What is compared: the three views are not blank and differ from each other (the
        // core fits the volume its own way, so no native image of the same grid exists).
        before.forEach((img, i) => assert.ok(distinct(img) > 16, `${views[i]} MPR is blank (${distinct(img)} distinct values)`));
        assert.ok(differs(before[0], before[1]) > 0 && differs(before[1], before[2]) > 0 && differs(before[0], before[2]) > 0, "the three MPR views differ");
        const lines = await page.$$eval(".viewport.mpr", (els) => els.map((e) => e.querySelectorAll("line.ref-line").length));
        assert.deepEqual(lines, [2, 2, 2], "each MPR view shows the other two planes' reference lines");

        // The same scenes rendered natively by `lumen render --mpr` (the same framing,
        // volume and shader code, on Mesa): the axial viewport exactly as shown, then
        // explicit scenes through the core's renderMpr: nearest and linear reslices, a
        // 20 mm MIP, a 10 mm MinIP and an oblique plane with a 10 mm average slab.
        const shown = await settleReady(page, 0);
        const c = shown.center;
        const scenes = [
          { what: "axial viewport as shown", state: shown },
          { what: "coronal, nearest", state: { series: shown.series, view: "coronal", center: c, width: 256, height: 192, window: { center: 40, width: 80 }, interpolation: "nearest" } },
          { what: "sagittal, linear, zoomed and panned", state: { series: shown.series, view: "sagittal", center: c, width: 200, height: 240, window: { center: 300, width: 1500 }, interpolation: "linear", mm_per_pixel: 0.6, pan: [12, -7] } },
          { what: "axial 20 mm MIP", state: { series: shown.series, view: "axial", center: c, width: 256, height: 256, window: { center: 300, width: 1500 }, interpolation: "linear", slab_mm: 20, slab_mode: "mip" } },
          { what: "coronal 10 mm MinIP, inverted", state: { series: shown.series, view: "coronal", center: c, width: 240, height: 200, window: { center: 40, width: 400 }, interpolation: "linear", slab_mm: 10, slab_mode: "minip", invert: true } },
          { what: "oblique (1,1,2), 10 mm average", state: { series: shown.series, view: "oblique", normal: [1, 1, 2], center: c, width: 256, height: 256, window: { center: 40, width: 400 }, interpolation: "linear", slab_mm: 10, slab_mode: "avg" } },
        ];
        for (const { what, state } of scenes) {
          await page.evaluate(async (st) => {
            document.getElementById("mpr-check")?.remove();
            const canvas = document.createElement("canvas");
            canvas.id = "mpr-check";
            document.body.append(canvas);
            await window.lumen.study.renderMpr(st, canvas);
          }, state);
          const got = await readCanvas(page, "#mpr-check");
          const r = compare(got, nativeMpr(seriesDir, state), `${backend.name} MPR ${what}`);
          assert.ok(distinct(got) > 16, `${what}: blank (${distinct(got)} distinct values)`);
          t.diagnostic(`${backend.name} MPR ${what}: max difference ${r.max}, ${r.differing} of ${got.pixels.length} pixels differ from lumen render`);
        }
        await page.evaluate(() => document.getElementById("mpr-check")?.remove());

        // Crosshair click in the axial view: the centre moves in x/y, so the coronal and
        // sagittal planes move; the axial plane stays, and so does its view (the UI pans
        // to compensate for the core centring each view on the crosshair).
        await page.click('button[data-tool="crosshair"]');
        const centre0 = (await settleReady(page, 0)).center;
        const box = await page.locator('.viewport[data-viewport-index="0"]').boundingBox();
        await page.mouse.click(box.x + box.width * 0.4, box.y + box.height * 0.4);
        const moved = await page.waitForFunction((c) => {
          const s = window.lumen.viewports()[0]?.state;
          return s && (s.center[0] !== c[0] || s.center[1] !== c[1]) ? s.center : false;
        }, centre0, { timeout: WAIT });
        const centre1 = await moved.jsonValue();
        assert.equal(centre1[2], centre0[2], "an axial click keeps the axial plane");
        for (const i of [0, 1, 2]) await settleReady(page, i, { center: centre1 });
        const after = await read();
        let axialMax = 0;
        for (let k = 0; k < after[0].pixels.length; k++) axialMax = Math.max(axialMax, Math.abs(after[0].pixels[k] - before[0].pixels[k]));
        assert.ok(axialMax <= 1, `the axial view changed by up to ${axialMax} grey levels after an in-plane crosshair move`);
        assert.ok(differs(after[1], before[1]) > 0, "the coronal plane moved");
        assert.ok(differs(after[2], before[2]) > 0, "the sagittal plane moved");

        // The wheel in the axial view moves the axial plane: 5 notches of the volume's
        // smallest spacing along +z (wheel down).
        const step = await page.evaluate(() => {
          const s = window.lumen.viewports()[0].state.series;
          return Math.min(...window.lumen.study.info.series[s].volume.spacing_mm.filter((x) => x > 0));
        });
        const [ax, ay] = await viewportCentre(page, 0);
        await page.mouse.move(ax, ay);
        for (let k = 0; k < 5; k++) await page.mouse.wheel(0, 120);
        const target = centre1[2] + 5 * step;
        await page.waitForFunction((z) => {
          const v = window.lumen.viewports();
          return v.length === 3 && Math.abs(v[0].state.center[2] - z) < 1e-6 && v.every((x) => x.element.dataset.render === "ready");
        }, target, { timeout: WAIT, polling: 100 });
        const settled = await settleReady(page, 0);
        t.diagnostic(`${backend.name} MPR: centre ${centre0.map((v) => v.toFixed(2))} → click ${centre1.map((v) => v.toFixed(2))} → wheel ${settled.center.map((v) => v.toFixed(2))} (step ${step} mm)`);
        const wheeled = await readCanvas(page, vpCanvas(0));
        assert.ok(differs(wheeled, after[0]) > 0, "the wheel moved the axial plane");

        // Oblique: a drag around the crosshair in the axial view turns the coronal and
        // sagittal planes about the axial normal. The axial view stays as it was; its
        // coronal reference line turns by the angle swept; the coronal viewport now
        // shows an oblique plane, equal to `lumen render --mpr oblique --axes …`.
        const lineAngle = async () => {
          const l = await page.$eval('.viewport[data-viewport-index="0"] line.ref-line[data-view="coronal"]', (e) => [+e.getAttribute("x1"), +e.getAttribute("y1"), +e.getAttribute("x2"), +e.getAttribute("y2")]);
          return Math.atan2(l[3] - l[1], l[2] - l[0]);
        };
        const angle0 = await lineAngle();
        const axialState = await settleReady(page, 0);
        await page.keyboard.press("o");
        assert.equal(await page.getAttribute('button[data-tool="oblique"]', "aria-pressed"), "true", "o selects the Oblique tool");
        const o = await page.$eval('.viewport[data-viewport-index="0"] circle.crosshair', (e) => [+e.getAttribute("cx"), +e.getAttribute("cy")]);
        const vb = await page.locator('.viewport[data-viewport-index="0"]').boundingBox();
        const dpr = await page.evaluate(() => window.devicePixelRatio || 1);
        const [ox, oy] = [vb.x + o[0] / dpr, vb.y + o[1] / dpr];
        const r = Math.min(vb.width, vb.height) / 4;
        // From 0° to 30° clockwise about the crosshair.
        await page.mouse.move(ox + r, oy);
        await page.mouse.down();
        for (const deg of [10, 20, 30]) await page.mouse.move(ox + r * Math.cos((deg * Math.PI) / 180), oy + r * Math.sin((deg * Math.PI) / 180), { steps: 2 });
        await page.mouse.up();
        await page.waitForFunction(() => window.lumen.viewports()[1]?.state.view === "oblique", null, { timeout: WAIT });
        for (const i of [0, 1, 2]) await settleReady(page, i, {}, LONG_WAIT);
        const states = await page.evaluate(() => window.lumen.viewports().map((v) => v.state));
        assert.equal(states[0].view, "axial", "the axial view itself is not turned");
        assert.equal(states[2].view, "oblique", "the sagittal plane turned too");
        const turned = (await lineAngle()) - angle0;
        const deg = (((turned * 180) / Math.PI + 540) % 360) - 180;
        assert.ok(Math.abs(deg - 30) < 2 || Math.abs(deg + 150) < 2, `the coronal reference line turned by ${deg.toFixed(2)}°, not 30°`);
        const axialAfter = await readCanvas(page, vpCanvas(0));
        assert.equal(differs(axialAfter, wheeled), 0, "the axial pixels did not change");
        assert.deepEqual(states[0].center, axialState.center);
        const cor = states[1];
        const obliqueGot = await readCanvas(page, vpCanvas(1));
        const ro = compare(obliqueGot, nativeMpr(seriesDir, cor), `${backend.name} oblique coronal viewport`);
        t.diagnostic(`${backend.name} Oblique tool: reference line turned ${deg.toFixed(2)}°; coronal oblique viewport vs lumen render: max difference ${ro.max}, ${ro.differing} pixels differ`);
        await page.keyboard.press("0");
        await page.waitForFunction(() => window.lumen.viewports().every((v) => v.state.view !== "oblique"), null, { timeout: WAIT });
      });

      await t.test("a corrupt slice shows its error, the others render", async (t) => {
        if (!corrupt) {
          t.skip("no study with PatientID LUMEN-CORRUPT on the server (scripts/samples.sh BASE_URL --only corrupt stores it)");
          return;
        }
        const uid = value(corrupt, "0020000D");
        allowRefusedLoads = true;
        try {
          await page.goto(url(`&study=${uid}`));
          await page.waitForFunction(() => document.body.dataset.seriesLoaded === "1" || document.querySelector('.error-panel[role="alert"]'), null, { timeout: LONG_WAIT });
          const opened = await page.$('.error-panel[role="alert"]');
          assert.equal(opened, null, `the study did not open: ${opened && (await opened.textContent())}`);
          const n = await page.evaluate(() => window.lumen.study.info.series[window.lumen.viewports()[0].state.series].images);
          assert.equal(n, 10, "the fixture series has 10 images");
          await page.evaluate(() => document.activeElement?.blur?.());
          await page.keyboard.press("Home");
          const outcomes = [];
          for (let i = 0; i < n; i++) {
            if (i > 0) await page.keyboard.press("ArrowDown");
            const r = await settle(page, 0, { image: i });
            const alert = await page.$(`.viewport[data-viewport-index="0"] [data-state="error"][role="alert"]`);
            const info = await page.evaluate((i) => window.lumen.study.imageInfo(window.lumen.viewports()[0].state.series, i), i);
            const img = r.render === "ready" ? await readCanvas(page, vpCanvas(0)) : null;
            outcomes.push({ i, render: r.render, message: alert ? (await alert.textContent()).trim() : null, sop: info.sop_instance_uid, instance: info.instance_number, distinct: img ? distinct(img) : 0 });
          }
          t.diagnostic(JSON.stringify(outcomes.map((o) => [o.i, o.render, o.message])));
          const failed = outcomes.filter((o) => o.render === "error");
          assert.equal(failed.length, 1, `exactly one image fails: ${JSON.stringify(outcomes)}`);
          assert.ok(failed[0].message, "the failed image shows a message");
          if (corruptSop) assert.equal(failed[0].sop, corruptSop, "the failed image is the corrupt instance");
          else assert.equal(failed[0].instance, 5, "the failed image is InstanceNumber 5");
          for (const o of outcomes.filter((o) => o.render !== "error")) {
            assert.equal(o.render, "ready");
            assert.equal(o.message, null, `image ${o.i} shows no error`);
            assert.ok(o.distinct > 16, `image ${o.i} is not blank`);
          }
          const p = await page.evaluate(() => window.lumen.study.progress(window.lumen.viewports()[0].state.series));
          assert.deepEqual({ resident: p.resident, failed: p.failed, total: p.total }, { resident: 9, failed: 1, total: 10 });
        } finally {
          allowRefusedLoads = false;
        }
      });

      assert.deepEqual(errors, [], "no page errors and no console errors");
      ran.push(backend.name);
    });
  }
  assert.ok(ran.length > 0, "neither WebGPU nor WebGL2 ran the viewer in Chromium");
});
