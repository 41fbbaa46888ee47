#!/usr/bin/env bash
# Sets everything up and runs every test: native Rust (unit, corpus, malformed input,
# DICOMweb against Orthanc), the wasm module under Node against the native CLI and
# Orthanc, and the shell and the wasm DICOMweb client in Chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
bash scripts/setup.sh
log() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

log "Orthanc on 127.0.0.1 (scripts/orthanc.sh)"
export LUMEN_DICOMWEB_URL="$(bash scripts/orthanc.sh start)"
# The test fixture study (scripts/corpus/samples/build.py: 10 head CT slices, the 5th
# corrupt) is on the server for the Node tests only: the native DICOMweb tests count
# the server's studies against the corpus. So it is taken off at the end, and first
# in case a previous run did not get to that.
unfixture() { bash scripts/samples.sh "$LUMEN_DICOMWEB_URL" --only corrupt --remove; }
trap 'unfixture >/dev/null || true; bash scripts/orthanc.sh stop' EXIT
unfixture

log "cargo test (native; loads the corpus into Orthanc through STOW-RS)"
cargo test -p lumen
log "cargo test --lib --no-default-features (the decoder alone, without JPEG XL: the smallest plugin build)"
cargo test -p lumen --lib --no-default-features
export LUMEN_CLI="$CARGO_TARGET_DIR/debug/lumen"
bash scripts/build.sh
log "the head CT (stored by cargo test, unless it was filtered) and the corrupt-slice fixture"
bash scripts/samples.sh "$LUMEN_DICOMWEB_URL" --only head-ct,corrupt
log "node --test (wasm under Node, browser in Chromium)"
node --test --test-concurrency=1 tests/
# tests/ load the build that the shell's loader would pick (simd128 here); the scalar
# module, which engines without SIMD get, must decode the corpus the same way.
log "node --test tests/wasm/corpus.test.mjs with the scalar wasm build"
LUMEN_WASM_BUILD=scalar node --test tests/wasm/corpus.test.mjs
# The decoder-only module (plugin hosts; the sample page's Worker pool in Chromium runs
# it in tests/browser/shell.test.mjs) is built from the same codec code without the
# viewer's parts: it must decode the corpus the same way too.
log "node --test tests/wasm/corpus.test.mjs with the decoder-only wasm build"
LUMEN_WASM_BUILD=decoder-simd node --test tests/wasm/corpus.test.mjs
