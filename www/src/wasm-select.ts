// Which wasm build to run: scripts/build.sh makes two modules from the same Rust code,
// www/pkg/lumen_bg.wasm (scalar, runs on any WebAssembly engine) and
// www/pkg-simd/lumen_bg.wasm (built with simd128), that share one JS glue file,
// www/pkg/lumen.js. This module re-exports that glue; its default export (`init`, as
// the glue's) loads the SIMD module where the engine validates a tiny SIMD function,
// else the scalar one. Import from here instead of "../pkg/lumen.js".
import initGlue from "../pkg/lumen.js";
export * from "../pkg/lumen.js";

export type WasmBuild = "simd" | "scalar";

/** (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): valid only with SIMD. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** True when this engine runs wasm SIMD128. */
export function simdSupported(): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** The build `init()` loads here (the one that loaded, once it has). */
export let wasmBuild: WasmBuild = simdSupported() ? "simd" : "scalar";

/** Where a build's module is, next to this file's www/dist/. */
export function wasmUrl(build: WasmBuild = wasmBuild): URL {
  return new URL(build === "simd" ? "../pkg-simd/lumen_bg.wasm" : "../pkg/lumen_bg.wasm", import.meta.url);
}

/**
 * Instantiates the module: with no argument (or `{ build }`), the SIMD build where it
 * is supported, else the scalar one; if the SIMD module fails to load (not deployed),
 * the scalar one. Any other argument goes to the glue's own init unchanged.
 */
export default async function init(arg?: { build?: WasmBuild } | Parameters<typeof initGlue>[0]) {
  if (arg !== undefined && !(typeof arg === "object" && arg !== null && "build" in arg)) return initGlue(arg);
  const build = (arg as { build?: WasmBuild } | undefined)?.build ?? wasmBuild;
  if (build === "simd") {
    try {
      const out = await initGlue({ module_or_path: wasmUrl("simd") });
      wasmBuild = "simd";
      return out;
    } catch (e) {
      console.warn(`lumen: the SIMD module did not load (${e}); using the scalar one`);
    }
  }
  wasmBuild = "scalar";
  return initGlue({ module_or_path: wasmUrl("scalar") });
}
