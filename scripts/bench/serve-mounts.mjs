// The benchmark pages' web server: 127.0.0.1 only, static files from a few mounted
// folders, cross-origin isolated (COOP/COEP) so performance.now() has fine resolution.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

/** `mounts`: [[url prefix ending in "/", folder], …]. Resolves to the listening server. */
export function serveMounts(mounts) {
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const mount = mounts.find(([p]) => url.startsWith(p));
    const base = mount && mount[1];
    const file = mount && path.resolve(base, "." + path.sep + url.slice(mount[0].length));
    const headers = { "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
    if (!file || !(file === base || file.startsWith(base + path.sep)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, headers);
      return res.end("not found");
    }
    res.writeHead(200, { ...headers, "Content-Type": TYPES[path.extname(file)] || "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}
