// The viewer's loader against a server that pushes back, in headless Chromium: the
// same-origin proxy (scripts/serve.mjs) answers the first frame requests with
// 429 Too Many Requests and Retry-After: 1, as a rate-limiting PACS gateway does.
// What must hold:
//  * every refused frame is asked for again, and not before the server's Retry-After;
//  * the whole series still loads (`lumen:series-loaded`), every slot resident;
//  * requests in flight never exceed 6 (HTTP/1.1 to one origin), and after the
//    refusals the loader backs off to fewer (its window halves on each transient
//    failure) before it climbs again;
//  * no page error and no console error other than Chromium's own log line for
//    each refused resource.
// The CPU backend: what is tested here is the loader, not the renderer.
import test from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../../scripts/serve.mjs";
import { dicomwebOrSkip, launchChromium } from "../helpers.mjs";

const WAIT = 180_000;

async function findHeadCt(base) {
  const res = await fetch(`${base}/studies?PatientID=INVESALIUS-CRANIUM`, { headers: { Accept: "application/dicom+json" } });
  if (!res.ok || res.status === 204) return null;
  const studies = await res.json();
  return studies[0]?.["0020000D"]?.Value?.[0] ?? null;
}

test("the loader honours 429 Retry-After, adapts its concurrency and still loads the series", async (t) => {
  const base = dicomwebOrSkip(t);
  if (!base) return;
  const study = await findHeadCt(base);
  assert.ok(study, "the head CT (PatientID INVESALIUS-CRANIUM) is not on the server: run scripts/samples.sh BASE --only head-ct");

  const REFUSE = 12;
  const RETRY_AFTER_S = 1;
  const refusedAt = new Map(); // frame URL -> time of the 429
  const retried = []; // ms between a 429 and the next request for the same URL
  let inFlight = 0;
  const concurrency = []; // [time, requests in flight] at each start
  let frameRequests = 0;
  const server = await startServer({
    dicomweb: new URL(base).origin,
    intercept(req, res, forward) {
      if (!/\/frames\/\d/.test(req.url)) return forward();
      const now = Date.now();
      frameRequests++;
      if (refusedAt.has(req.url)) retried.push(now - refusedAt.get(req.url));
      if (frameRequests <= REFUSE) {
        refusedAt.set(req.url, now);
        res.writeHead(429, { "Content-Type": "text/plain", "Retry-After": String(RETRY_AFTER_S) });
        res.end("rate limited (test)");
        return;
      }
      inFlight++;
      concurrency.push([now, inFlight]);
      res.on("close", () => inFlight--);
      forward();
    },
  });
  t.after(() => server.close());
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await launchChromium([]);
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (/status of 429/.test(m.text())) return; // Chromium logs each refused resource
    errors.push(`console: ${m.text()}`);
  });

  await page.goto(`${origin}/?study=${study}&backend=cpu`);
  await page.waitForSelector('body[data-series-loaded="1"]', { timeout: WAIT });
  const progress = await page.evaluate(() => {
    const s = window.lumen.viewports()[0].state.series;
    return window.lumen.study.progress(s);
  });
  assert.equal(progress.failed, 0, "no slot failed");
  assert.equal(progress.resident, progress.total, "every image of the displayed series is resident");

  assert.equal(refusedAt.size, REFUSE, "the first requests were refused");
  assert.ok(retried.length >= REFUSE, `every refused frame was asked for again (${retried.length} of ${REFUSE})`);
  const early = retried.filter((ms) => ms < RETRY_AFTER_S * 1000 - 50);
  assert.deepEqual(early, [], `retries came before Retry-After: ${early.join(", ")} ms`);

  const peak = Math.max(...concurrency.map(([, n]) => n));
  assert.ok(peak <= 6, `at most 6 requests in flight on HTTP/1.1, saw ${peak}`);
  // Right after the refusals the window is 1: the first requests that got through ran one at a time.
  const firstThrough = concurrency.slice(0, 3).map(([, n]) => n);
  assert.ok(firstThrough.every((n) => n <= 2), `after ${REFUSE} refusals the loader backs off to one or two at a time, saw ${firstThrough}`);
  assert.ok(concurrency.some(([, n]) => n >= 4), `the window grows back (peak ${peak})`);
  assert.deepEqual(errors, []);
  t.diagnostic(`${frameRequests} frame requests, ${REFUSE} refused with Retry-After ${RETRY_AFTER_S} s; retries after ${Math.min(...retried)}–${Math.max(...retried)} ms; in flight: first ${firstThrough}, peak ${peak}`);
});

// Frame lists: the 30-frame ultrasound cine of the corpus (the dicomweb tests store it)
// is fetched with WADO-RS frame lists (several frames per request), every frame
// arriving; against a server that answers a list with its first frame only (the
// proxy rewrites the request), the loader notices, asks for the rest one by one, and
// the whole cine still loads.
async function findCine(base) {
  const res = await fetch(`${base}/instances?includefield=00280008&limit=1000`, { headers: { Accept: "application/dicom+json" } });
  if (!res.ok || res.status === 204) return null;
  for (const x of await res.json()) {
    if (Number(x["00280008"]?.Value?.[0] ?? 1) >= 20) return { study: x["0020000D"].Value[0], series: x["0020000E"].Value[0], frames: Number(x["00280008"].Value[0]) };
  }
  return null;
}

test("a multi-frame instance loads through frame lists, and one by one from a server without them", async (t) => {
  const base = dicomwebOrSkip(t);
  if (!base) return;
  const cine = await findCine(base);
  assert.ok(cine, "no instance of 20+ frames on the server: crate/tests/dicomweb.rs stores the corpus (its 30-frame ultrasound cine) there");
  const browser = await launchChromium([]);
  t.after(() => browser.close());

  for (const honoursLists of [true, false]) {
    await t.test(honoursLists ? "frame lists" : "a server that answers a list with one frame", async (t) => {
      const lists = []; // frames asked for per request
      const server = await startServer({
        dicomweb: new URL(base).origin,
        intercept(req, res, forward) {
          const m = /\/frames\/([\d,]+)/.exec(req.url);
          if (m) {
            lists.push(m[1].split(",").length);
            if (!honoursLists) req.url = req.url.replace(/\/frames\/(\d+)[\d,]*/, "/frames/$1");
          }
          forward();
        },
      });
      t.after(() => server.close());
      const page = await browser.newPage();
      t.after(() => page.close());
      const errors = [];
      page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
      page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
      await page.goto(`http://127.0.0.1:${server.address().port}/?study=${cine.study}&series=${cine.series}&backend=cpu`);
      await page.waitForSelector('body[data-series-loaded="1"]', { timeout: WAIT });
      const progress = await page.evaluate(() => window.lumen.study.progress(window.lumen.viewports()[0].state.series));
      assert.deepEqual([progress.resident, progress.failed, progress.total], [cine.frames, 0, cine.frames], "every frame resident, none failed");
      assert.ok(lists.some((n) => n > 1), `frame lists were asked for: ${lists}`);
      if (honoursLists) assert.ok(lists.length < cine.frames, `${lists.length} requests for ${cine.frames} frames`);
      else assert.ok(lists.filter((n) => n > 1).length <= 6, `the loader stopped asking for lists after the first answers: ${lists}`);
      assert.deepEqual(errors, []);
      t.diagnostic(`${cine.frames} frames in ${lists.length} requests: ${lists.join(" ")}`);
    });
  }
});
