// The Chromium side of scripts/bench/side-by-side.mjs: our wasm module and Cornerstone's
// codecs in the same page (same origin, served by side-by-side.mjs), measured by core.mjs.
// Our module through the shell's loader (www/src/wasm-select.ts, compiled to www/dist/):
// ?build=simd|scalar forces one of the two builds, else (auto) the loader picks.
import init, * as lumen from "/www/dist/wasm-select.js";
import { loadPeers } from "./peers.mjs";
import { runCase } from "./core.mjs";

// The emscripten glue files are CommonJS/UMD; run each with a `module` of its own instead of
// letting it set a global (OpenJPH's would be called `Module`).
const host = {
  async factory(pkg, js) {
    const src = await (await fetch(`/node_modules/${pkg}/${js}`)).text();
    const module = { exports: {} };
    new Function("module", "exports", `${src}\n//# sourceURL=/node_modules/${pkg}/${js}`)(module, module.exports);
    return module.exports;
  },
  wasmUrl: (pkg, wasm) => new URL(`/node_modules/${pkg}/${wasm}`, location.href).href,
  async losslessDecoder() {
    return (await import("/node_modules/@cornerstonejs/jpeg-lossless-decoder-js/release/lossless.js")).Decoder;
  },
};

const log = document.getElementById("log");
window.bench = {
  ready: (async () => {
    const build = new URLSearchParams(location.search).get("build");
    await init(build === "simd" || build === "scalar" ? { build } : undefined);
    const peers = await loadPeers(host);
    log.textContent = `ready (crossOriginIsolated: ${self.crossOriginIsolated})`;
    return { peers, crossOriginIsolated: self.crossOriginIsolated, userAgent: navigator.userAgent, build: lumen.wasmBuild() };
  })(),
  async run(entry) {
    const { peers } = await this.ready;
    const bytes = new Uint8Array(await (await fetch(`/frames/${entry.frame_file}`)).arrayBuffer());
    const r = runCase(lumen, peers, entry, bytes);
    log.textContent += `\n${entry.file}: ${r.ours_ms} vs ${r.peer_ms} ${r.check}`;
    return r;
  },
};
