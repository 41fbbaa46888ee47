#!/usr/bin/env bash
# Builds the wasm module (release, wasm-bindgen, binaryen's wasm-opt) and the
# TypeScript shell.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
log() { printf '\033[1m[build]\033[0m %s\n' "$*"; }

log "cargo build --release (wasm32)"
cargo build --release --target wasm32-unknown-unknown -p lumen --lib
log "wasm-bindgen"
rm -rf www/pkg
wasm-bindgen --target web --out-dir www/pkg "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/lumen.wasm"
log "wasm-opt"
node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  www/pkg/lumen_bg.wasm -o www/pkg/lumen_bg.opt.wasm
mv www/pkg/lumen_bg.opt.wasm www/pkg/lumen_bg.wasm
log "tsc"
node_modules/.bin/tsc -p www/tsconfig.json
ls -l www/pkg/lumen_bg.wasm | awk '{print "[build] wasm size: " $5 " bytes"}'
