#!/usr/bin/env bash
# Builds the wasm modules (release, wasm-bindgen, binaryen's wasm-opt), then the
# TypeScript shell:
#   www/pkg/            the viewer core, scalar (runs everywhere) + its JS glue lumen.js
#   www/pkg-simd/       the same, -C target-feature=+simd128 (shares www/pkg/lumen.js)
#   www/pkg-decoder/    the decoder alone, for plugin hosts: lumen_bg.wasm (scalar),
#                       lumen_simd_bg.wasm (simd128), one glue lumen.js
# www/src/wasm-select.ts picks the SIMD or the scalar module of a pair at run time.
#   LUMEN_BUILD_SIMD=0 skips the SIMD modules (the loaders then fall back to scalar).
#   LUMEN_BUILD_DECODER=0 keeps the decoder-only modules of an earlier build (the
#                       shell's TypeScript imports their glue: built anyway when absent).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
log() { printf '\033[1m[build]\033[0m %s\n' "$*"; }
# -O1, not -O3: on rustc's already optimised output, binaryen's -O3 made V8 run RLE
# 2.2x slower, JPEG lossless, JPEG-LS and baseline 10-20 % slower (JPEG 2000 3 %
# faster); -O1 keeps LLVM's speed and most of the size saving (BENCHMARKS.md).
OPT_FLAGS=(-O1 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals)

# module NAME TARGET_DIR GLUE_DIR WASM_OUT [cargo args…]: one wasm build → wasm-bindgen
# (with $BINDGEN_ARGS) → wasm-opt. The JS glue goes to GLUE_DIR when it has none yet; a later module sharing
# that glue must produce the same file (checked), since one loader serves both.
module() {
  local name="$1" target="$2" glue="$3" out="$4"
  shift 4
  log "cargo build --release ($name)"
  CARGO_TARGET_DIR="$target" cargo build --release --target wasm32-unknown-unknown -p lumen --lib "$@"
  local tmp
  tmp="$(mktemp -d)"
  log "wasm-bindgen ($name)"
  # shellcheck disable=SC2086 # BINDGEN_ARGS: extra flags, word-split on purpose
  wasm-bindgen --target web ${BINDGEN_ARGS:-} --out-dir "$tmp" "$target/wasm32-unknown-unknown/release/lumen.wasm"
  mkdir -p "$glue" "$(dirname "$out")"
  if [ -f "$glue/lumen.js" ]; then
    if ! cmp -s "$tmp/lumen.js" "$glue/lumen.js"; then
      echo "[build] the $name module's JS glue differs from $glue/lumen.js: one loader cannot serve both" >&2
      diff "$tmp/lumen.js" "$glue/lumen.js" | head -20 >&2
      exit 1
    fi
  else
    cp "$tmp"/lumen.js "$tmp"/lumen.d.ts "$tmp"/lumen_bg.wasm.d.ts "$glue/"
  fi
  log "wasm-opt ($name)"
  node_modules/.bin/wasm-opt "${OPT_FLAGS[@]}" $([[ "$name" == *simd* ]] && echo --enable-simd) "$tmp/lumen_bg.wasm" -o "$out"
  rm -rf "$tmp"
}

build_decoder="${LUMEN_BUILD_DECODER:-1}"
if [ "$build_decoder" = 0 ] && [ ! -f www/pkg-decoder/lumen.js ]; then
  log "no earlier www/pkg-decoder: building it despite LUMEN_BUILD_DECODER=0"
  build_decoder=1
fi
rm -rf www/pkg www/pkg-simd
[ "$build_decoder" = 0 ] || rm -rf www/pkg-decoder
# RUSTFLAGS would otherwise invalidate the scalar build's artifacts: simd128 gets its
# own target dir. The decoder-only modules (--no-default-features: codecs, Part 10,
# the stateless decode API; no DICOMweb transport, no wgpu) share the viewer's dirs.
SIMD_TARGET="$CARGO_TARGET_DIR/simd128"
module viewer "$CARGO_TARGET_DIR" www/pkg www/pkg/lumen_bg.wasm
if [ "${LUMEN_BUILD_SIMD:-1}" != 0 ]; then
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" \
    module viewer-simd "$SIMD_TARGET" www/pkg www/pkg-simd/lumen_bg.wasm
fi
if [ "$build_decoder" != 0 ]; then
  # The plugin's Workers are stateless: after a trap (a panic aborts in wasm) one
  # replaces its instance with __wbg_reset_state (decoder-worker.ts).
  export BINDGEN_ARGS="--experimental-reset-state-function"
  module decoder "$CARGO_TARGET_DIR" www/pkg-decoder www/pkg-decoder/lumen_bg.wasm --no-default-features --features jpeg-xl
  if [ "${LUMEN_BUILD_SIMD:-1}" != 0 ]; then
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" \
      module decoder-simd "$SIMD_TARGET" www/pkg-decoder www/pkg-decoder/lumen_simd_bg.wasm --no-default-features --features jpeg-xl
  fi
  unset BINDGEN_ARGS
fi
log "tsc"
node_modules/.bin/tsc -p www/tsconfig.json
for f in www/pkg/lumen_bg.wasm www/pkg-simd/lumen_bg.wasm www/pkg-decoder/lumen_bg.wasm www/pkg-decoder/lumen_simd_bg.wasm; do
  [ -f "$f" ] && ls -l "$f" | awk '{print "[build] wasm size: " $5 " bytes (" $9 ")"}'
done
