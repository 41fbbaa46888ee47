// Picking between the two builds of a wasm module: scripts/build.sh makes each module
// twice from the same Rust code, a scalar one (runs on any WebAssembly engine) and one
// built with simd128, that share one JS glue file. No glue is imported here, so the
// viewer core's loader (wasm-select.ts) and the decoder's (decoder-wasm.ts) each pull
// in only their own.
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

type Glue<R> = (arg?: { module_or_path: URL } | any) => Promise<R>;

/** A loader for one pair of modules that share `glue`: `urls[build]` is where each is. */
export function selectingInit<R>(glue: Glue<R>, urls: Record<WasmBuild, URL>) {
  const state = { build: (simdSupported() ? "simd" : "scalar") as WasmBuild };
  /**
   * Instantiates the module: with no argument (or `{ build }`), the SIMD build where it
   * is supported, else the scalar one; if the SIMD module fails to load (not deployed),
   * the scalar one. Any other argument goes to the glue's own init unchanged.
   */
  async function init(arg?: { build?: WasmBuild } | Parameters<Glue<R>>[0]): Promise<R> {
    if (arg !== undefined && !(typeof arg === "object" && arg !== null && "build" in arg)) return glue(arg);
    const build = (arg as { build?: WasmBuild } | undefined)?.build ?? state.build;
    if (build === "simd") {
      try {
        const out = await glue({ module_or_path: urls.simd });
        state.build = "simd";
        return out;
      } catch (e) {
        console.warn(`lumen: the SIMD module did not load (${e}); using the scalar one`);
      }
    }
    state.build = "scalar";
    return glue({ module_or_path: urls.scalar });
  }
  return { init, state };
}
