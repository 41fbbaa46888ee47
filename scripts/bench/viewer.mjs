// Viewer benchmark in headless Chromium against a running Orthanc holding the
// sample head CT (scripts/start.sh, or scripts/samples.sh): time to first image
// (navigation → `lumen:first-image`), time to `lumen:series-loaded` (from
// navigation, and from `lumen:open-study`, the ratio's numerator) against a
// bare parallel fetch of the same frame bytes from the same server (6 at a time,
// the loader's concurrency), memory per voxel once the MPR volume is built, and
// frame times (W/L drag, 3-view MPR, 20 mm MIP slab), on WebGPU and WebGL2.
//   node scripts/bench/viewer.mjs [--json] [--runs N]   (LUMEN_DICOMWEB_ORIGIN, default http://127.0.0.1:18043)
import { startServer } from "../serve.mjs";
import { launchChromium, WEBGPU_FLAGS } from "../../tests/helpers.mjs";

const args = process.argv.slice(2);
const json = args.includes("--json");
const runs = Number(args[args.indexOf("--runs") + 1]) || 5;
const origin = process.env.LUMEN_DICOMWEB_ORIGIN || "http://127.0.0.1:18043";
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const qido = await fetch(`${origin}/dicom-web/studies?PatientID=INVESALIUS-CRANIUM`, { headers: { Accept: "application/dicom+json" } });
if (!qido.ok) throw new Error(`QIDO at ${origin}: HTTP ${qido.status} (is the sample Orthanc running? scripts/start.sh)`);
const studies = await qido.json();
if (!studies.length) throw new Error(`no head CT (PatientID INVESALIUS-CRANIUM) at ${origin}: run scripts/samples.sh`);
const study = studies[0]["0020000D"].Value[0];

const server = await startServer({ dicomweb: origin });
const base = `http://127.0.0.1:${server.address().port}`;
const out = [];
const emit = (o) => {
  out.push(o);
  if (json) console.log(JSON.stringify(o));
};

for (const backend of ["webgpu", "webgl2"]) {
  const browser = await launchChromium(backend === "webgpu" ? WEBGPU_FLAGS : []);
  const first = [];
  const loaded = [];
  const fromOpen = [];
  const bare = [];
  let page;
  for (let r = 0; r < runs; r++) {
    const context = await browser.newContext();
    page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/?study=${study}&backend=${backend}`);
    await page.waitForSelector('body[data-series-loaded="1"]', { timeout: 120000 });
    if (errors.length) throw new Error(`${backend}: page errors: ${errors.join("; ")}`);
    const marks = await page.evaluate(() => ({
      first: performance.getEntriesByName("lumen:first-image")[0].startTime,
      loaded: performance.getEntriesByName("lumen:series-loaded")[0].startTime,
      open: performance.getEntriesByName("lumen:open-study")[0].startTime,
    }));
    first.push(marks.first);
    loaded.push(marks.loaded);
    fromOpen.push(marks.loaded - marks.open);
    // The network limit: the same frames, fetched bare, 6 at a time, bodies read.
    bare.push(
      await page.evaluate(async (study) => {
        const s = window.lumen.study;
        const series = s.info.series[0];
        const urls = [];
        for (let i = 0; i < series.images; i++) {
          const im = s.imageInfo(0, i);
          urls.push(`/dicom-web/studies/${study}/series/${series.series_instance_uid}/instances/${im.sop_instance_uid}/frames/${im.frame}`);
        }
        const accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';
        const t0 = performance.now();
        let next = 0;
        const lane = async () => {
          while (next < urls.length) {
            const res = await fetch(urls[next++], { headers: { Accept: accept }, cache: "no-store" });
            await res.arrayBuffer();
          }
        };
        await Promise.all(Array.from({ length: 6 }, lane));
        return performance.now() - t0;
      }, study),
    );
    if (r < runs - 1) await context.close();
  }
  const images = await page.evaluate(() => window.lumen.study.info.series[0].images);
  emit({ bench: "viewer", case: "first-image", env: backend, ms: median(first), runs });
  // From navigation, and from the study's open (QIDO + metadata + every frame
  // retrieved, decoded in Workers and uploaded) against the bare fetch.
  emit({
    bench: "viewer", case: "series-loaded", env: backend, ms: median(loaded), from_open_ms: median(fromOpen),
    bare_fetch_ms: median(bare), ratio: median(fromOpen) / median(bare), images,
  });

  // Frame times on the last page: W/L drag (2-D 512² → the viewport's canvas), 3-view MPR, 20 mm MIP.
  const timings = await page.evaluate(async () => {
    const s = window.lumen.study;
    const canvas = document.createElement("canvas");
    const vol = s.info.series[0].volume;
    const center = s.volumeCenter(0);
    const time = async (f, n) => {
      await f(-1);
      const t = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f(i);
        t.push(performance.now() - t0);
      }
      return t.sort((a, b) => a - b)[Math.floor(n / 2)];
    };
    const wl = await time((i) => s.render({ series: 0, image: 54, width: 512, height: 512, window: { center: 40 + i, width: 400 + 4 * i } }, canvas), 20);
    const mpr = (view, extra = {}) => ({ series: 0, view, center, width: 512, height: 512, window: { center: 40, width: 400 }, ...extra });
    const threeView = await time(async () => {
      for (const v of ["axial", "coronal", "sagittal"]) await s.renderMpr(mpr(v), canvas);
    }, 5);
    const mip = await time(() => s.renderMpr(mpr("axial", { slab_mm: 20, slab_mode: "mip" }), canvas), 5);
    const m = s.memory();
    const voxels = vol.dimensions[0] * vol.dimensions[1] * vol.dimensions[2];
    return { wl, threeView, mip, memory: m, voxels };
  });
  emit({ bench: "viewer", case: "render-wl-512", env: backend, ms: timings.wl });
  emit({ bench: "viewer", case: "render-mpr-3-view-512", env: backend, ms: timings.threeView });
  emit({ bench: "viewer", case: "render-mip-20mm-512", env: backend, ms: timings.mip });
  const m = timings.memory;
  emit({
    bench: "viewer", case: "memory-per-voxel", env: backend, voxels: timings.voxels,
    gpu_frames_bytes: m.frame_bytes, gpu_volume_bytes: m.volume_bytes, wasm_heap_bytes: m.heap_bytes,
    bytes_per_voxel: (m.gpu_bytes + m.heap_bytes) / timings.voxels,
  });
  await browser.close();
}
server.close();

if (!json) {
  console.log(`viewer benchmark: head CT ${study}, ${runs} page loads per backend (medians)`);
  for (const o of out) {
    const rest = Object.entries(o)
      .filter(([k]) => !["bench", "case", "env"].includes(k))
      .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(2) : v}`)
      .join(" ");
    console.log(`${o.env.padEnd(7)} ${o.case.padEnd(24)} ${rest}`);
  }
}
