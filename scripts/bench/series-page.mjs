// The Chromium side of scripts/bench/series.mjs: the decoder plugin's Worker pool
// (www/src/decoder.ts, the decoder-only wasm module) decoding one frame `frames` times,
// all requests in flight at once, as a loader does with a series.
import { Decoder } from "/www/dist/decoder.js";

const log = document.getElementById("log");
window.series = {
  cores: navigator.hardwareConcurrency,
  /** ms for `frames` decodes on `workers` Workers: median of `runs` after a warm-up. */
  async run(entry, workers, frames, runs) {
    const bytes = new Uint8Array(await (await fetch(`/frames/${entry.frame_file}`)).arrayBuffer());
    const decoder = new Decoder({ workers });
    try {
      await decoder.ready;
      const batch = async (n) => {
        const copies = Array.from({ length: n }, () => bytes.slice().buffer);
        const t0 = performance.now();
        const out = await Promise.all(copies.map((b) => decoder.decodeFrame(entry.transfer_syntax, b, entry.description)));
        const ms = performance.now() - t0;
        const size = out[0].data.length;
        if (out.some((f) => f.data.length !== size)) throw new Error("frames of different sizes");
        return ms;
      };
      await batch(frames); // warm-up: every Worker has compiled, tiered up and run the codec
      const times = [];
      for (let r = 0; r < runs; r++) times.push(await batch(frames));
      times.sort((a, b) => a - b);
      const ms = times[Math.floor(times.length / 2)];
      log.textContent += `\n${entry.file} × ${frames} on ${workers}: ${ms.toFixed(1)} ms`;
      return ms;
    } finally {
      decoder.terminate();
    }
  },
};
log.textContent = "ready";
