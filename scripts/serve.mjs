// Serves the shell (www/) and the bundled sample data on 127.0.0.1 only.
// `node scripts/serve.mjs` prints the URL; tests import startServer().
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cache = process.env.LUMEN_CACHE || path.join(os.homedir(), ".cache", "lumen");
const corpus = process.env.LUMEN_CORPUS || path.join(cache, "corpus");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
  ".dcm": "application/dicom",
};

/** Sample files for the page: the corpus manifest's decodable files, one per transfer syntax and kind. */
export function sampleIndex() {
  const manifestPath = path.join(corpus, "manifest.json");
  if (!fs.existsSync(manifestPath)) return [];
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  const seen = new Set();
  const out = [];
  for (const f of manifest.files) {
    if (!f.reference) continue;
    const key = `${f.transfer_syntax}|${f.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: f.path, transfer_syntax: f.transfer_syntax, kind: f.kind, frames: f.frames });
  }
  return out;
}

function send(res, status, body, type = "text/plain; charset=utf-8") {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
}

/** Resolves `rel` under `base`, refusing anything that escapes it. */
function within(base, rel) {
  const full = path.resolve(base, "." + path.sep + rel);
  return full === base || full.startsWith(base + path.sep) ? full : null;
}

/** Forwards a request to the DICOMweb server, streaming both ways (same origin for the page: Orthanc has no CORS). */
function proxy(req, res, target) {
  const upstream = new URL(req.url, target);
  const headers = { ...req.headers, host: upstream.host };
  delete headers.origin;
  // Orthanc writes absolute URLs (BulkDataURI, RetrieveURL, Content-Location) from the
  // request's host: name ours, or the page is sent to Orthanc's origin, which has no CORS.
  if (req.headers.host) headers.forwarded = `host=${req.headers.host};proto=http`;
  const out = http.request(upstream, { method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  out.on("error", (e) => send(res, 502, `DICOMweb server ${target}: ${e.message}`));
  req.pipe(out);
}

/**
 * `dicomweb`: origin of the DICOMweb server to proxy `/dicom-web/*` and `/wado` to
 * (e.g. http://127.0.0.1:18042), or none. `intercept(req, res, forward)`: fault
 * injection for tests, called for each DICOMweb request; it answers itself, or calls
 * `forward()` to proxy as usual.
 */
export function startServer({ port = 0, host = "127.0.0.1", dicomweb = process.env.LUMEN_DICOMWEB_ORIGIN, intercept = null } = {}) {
  const www = path.join(root, "www");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (dicomweb && (url.pathname.startsWith("/dicom-web/") || url.pathname === "/wado")) {
      const forward = () => proxy(req, res, dicomweb);
      return intercept ? intercept(req, res, forward) : forward();
    }
    let pathname = decodeURIComponent(url.pathname);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed");
    if (pathname === "/samples/index.json") return send(res, 200, JSON.stringify(sampleIndex()), TYPES[".json"]);
    let file;
    if (pathname.startsWith("/samples/")) file = within(corpus, pathname.slice("/samples/".length));
    else file = within(www, pathname === "/" ? "index.html" : pathname.slice(1));
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) return send(res, 404, `not found: ${pathname}`);
    res.writeHead(200, {
      "Content-Type": TYPES[path.extname(file)] || "application/octet-stream",
      "Cache-Control": "no-store",
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.LUMEN_PORT || process.env.PORT || 8080);
  const server = await startServer({ port }).catch(async (e) => {
    if (e.code !== "EADDRINUSE") throw e;
    console.error(`port ${port} is busy; using a free one`);
    return startServer({ port: 0 });
  });
  const { port: actual } = server.address();
  const upstream = process.env.LUMEN_DICOMWEB_ORIGIN;
  if (upstream) console.log(`/dicom-web/* and /wado are proxied to ${upstream}`);
  console.log(`Lumen is running at http://127.0.0.1:${actual}/  (Ctrl-C stops it)`);
  const stop = () => {
    server.close(() => process.exit(0));
    // open keep-alive and streaming connections would hold close() up
    server.closeAllConnections();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
