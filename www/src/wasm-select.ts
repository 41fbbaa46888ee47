// The viewer core's wasm module: www/pkg-simd/lumen_bg.wasm (simd128) where the engine
// validates a tiny SIMD function, else www/pkg/lumen_bg.wasm (scalar), both with the
// glue www/pkg/lumen.js (wasm-build.ts). This module re-exports that glue; its default
// export (`init`, as the glue's) loads the right module. Import from here instead of
// "../pkg/lumen.js". The decoder alone has its own loader, decoder-wasm.ts.
import initGlue from "../pkg/lumen.js";
import { selectingInit, type WasmBuild } from "./wasm-build.js";
export * from "../pkg/lumen.js";
export { simdSupported, type WasmBuild } from "./wasm-build.js";

const viewer = selectingInit(initGlue, {
  simd: new URL("../pkg-simd/lumen_bg.wasm", import.meta.url),
  scalar: new URL("../pkg/lumen_bg.wasm", import.meta.url),
});

/** The build `init()` loads here (the one that loaded, once it has). */
export function wasmBuild(): WasmBuild {
  return viewer.state.build;
}

export default viewer.init;
