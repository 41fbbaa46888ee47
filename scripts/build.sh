#!/usr/bin/env bash
# Builds the wasm module twice (release, wasm-bindgen, binaryen's wasm-opt): www/pkg/
# (scalar, runs everywhere) and www/pkg-simd/lumen_bg.wasm (-C target-feature=+simd128,
# own target dir), then the TypeScript shell. Both modules share www/pkg/lumen.js (the
# glue is the same: checked below); www/src/wasm-select.ts picks one at run time.
#   LUMEN_BUILD_SIMD=0 skips the SIMD module (the loader then falls back to scalar).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
log() { printf '\033[1m[build]\033[0m %s\n' "$*"; }
# -O1, not -O3: on rustc's already optimised output, binaryen's -O3 made V8 run RLE
# 2.2x slower, JPEG lossless, JPEG-LS and baseline 10-20 % slower (JPEG 2000 3 %
# faster); -O1 keeps LLVM's speed and most of the size saving (BENCHMARKS.md).
OPT_FLAGS=(-O1 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals)

log "cargo build --release (wasm32)"
cargo build --release --target wasm32-unknown-unknown -p lumen --lib
log "wasm-bindgen"
rm -rf www/pkg www/pkg-simd
wasm-bindgen --target web --out-dir www/pkg "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/lumen.wasm"
log "wasm-opt"
node_modules/.bin/wasm-opt "${OPT_FLAGS[@]}" www/pkg/lumen_bg.wasm -o www/pkg/lumen_bg.opt.wasm
mv www/pkg/lumen_bg.opt.wasm www/pkg/lumen_bg.wasm

if [ "${LUMEN_BUILD_SIMD:-1}" != 0 ]; then
  # RUSTFLAGS would otherwise invalidate the scalar build's artifacts: its own target dir.
  SIMD_TARGET="$CARGO_TARGET_DIR/simd128"
  log "cargo build --release (wasm32 + simd128)"
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" CARGO_TARGET_DIR="$SIMD_TARGET" \
    cargo build --release --target wasm32-unknown-unknown -p lumen --lib
  log "wasm-bindgen (simd128)"
  tmp="$(mktemp -d)"
  wasm-bindgen --target web --out-dir "$tmp" "$SIMD_TARGET/wasm32-unknown-unknown/release/lumen.wasm"
  if ! cmp -s "$tmp/lumen.js" www/pkg/lumen.js; then
    echo "[build] the simd128 module's JS glue differs from the scalar one's: wasm-select.ts cannot share it" >&2
    diff "$tmp/lumen.js" www/pkg/lumen.js | head -20 >&2
    exit 1
  fi
  mkdir -p www/pkg-simd
  log "wasm-opt (simd128)"
  node_modules/.bin/wasm-opt "${OPT_FLAGS[@]}" --enable-simd "$tmp/lumen_bg.wasm" -o www/pkg-simd/lumen_bg.wasm
  rm -rf "$tmp"
fi
log "tsc"
node_modules/.bin/tsc -p www/tsconfig.json
for f in www/pkg/lumen_bg.wasm www/pkg-simd/lumen_bg.wasm; do
  [ -f "$f" ] && ls -l "$f" | awk '{print "[build] wasm size: " $5 " bytes (" $9 ")"}'
done
