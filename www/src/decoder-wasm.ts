// The decoder-only wasm module (scripts/build.sh: `--no-default-features`, no DICOMweb
// transport, no GPU), for plugin hosts: www/pkg-decoder/lumen_simd_bg.wasm where the
// engine has SIMD, else www/pkg-decoder/lumen_bg.wasm; one glue, www/pkg-decoder/lumen.js.
import initGlue from "../pkg-decoder/lumen.js";
import { selectingInit, type WasmBuild } from "./wasm-build.js";
export * from "../pkg-decoder/lumen.js";

const decoder = selectingInit(initGlue, {
  simd: new URL("../pkg-decoder/lumen_simd_bg.wasm", import.meta.url),
  scalar: new URL("../pkg-decoder/lumen_bg.wasm", import.meta.url),
});

/** The build `init()` loads here (the one that loaded, once it has). */
export function wasmBuild(): WasmBuild {
  return decoder.state.build;
}

export default decoder.init;
