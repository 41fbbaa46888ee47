#!/usr/bin/env bash
# Decode benchmark: median ms per frame for every codec on a 512² CT, a 1024² MR, a
# 1760² CR and a 640×480 RGB ultrasound image, natively and in wasm under Node; then
# side by side with Cornerstone3D's decoders (scripts/bench/), in Node and in headless
# Chromium, on the same bare frames, with the wasm sizes of both; then a CT series on
# the decoder plugin's pool of Workers (scripts/bench/series.mjs).
#   npm run bench            readable tables
#   npm run bench -- --json  one JSON object per case (and per wasm module)
# Exits 1 (after printing everything) if an output differs from Cornerstone's beyond its
# tolerance.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
json=0
for a in "$@"; do [ "$a" = "--json" ] && json=1; done
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

bash scripts/setup.sh >&2
"$LUMEN_CACHE/venv/bin/python" scripts/corpus/bench_data.py >&2
"$LUMEN_CACHE/venv/bin/python" scripts/bench/frames.py >&2
bash scripts/build.sh >&2
log "cargo build --release (native CLI)"
cargo build --release -p lumen --bin lumen >&2
BENCH="$LUMEN_CACHE/bench"
mapfile -t files < <(ls "$BENCH"/*.dcm | sort)
log "${#files[@]} files; native"
"$CARGO_TARGET_DIR/release/lumen" bench "${files[@]}" >"$BENCH/native.jsonl" || true
log "wasm under Node"
node scripts/bench-wasm.mjs "${files[@]}" >"$BENCH/wasm.jsonl"
log "side by side with Cornerstone3D's decoders: Node, then headless Chromium"
side_rc=0
node scripts/bench/side-by-side.mjs --env both --out "$BENCH/side-by-side.jsonl" || side_rc=$?
log "a CT series on the decoder plugin's Worker pool (1 Worker vs one per core), headless Chromium"
node scripts/bench/series.mjs --json >"$BENCH/series.jsonl"
if [ $json = 1 ]; then
  node scripts/bench-report.mjs "$BENCH" --json
  node scripts/bench/report.mjs "$BENCH/side-by-side.jsonl" --json
  cat "$BENCH/series.jsonl"
else
  echo "## Decode, per frame: native and wasm (Part 10 file in, frame 1 out)"
  echo
  node scripts/bench-report.mjs "$BENCH"
  node scripts/bench/report.mjs "$BENCH/side-by-side.jsonl"
  echo
  echo "## A 512² CT series (48 frames) decoded on the decoder plugin's Worker pool, Chromium"
  echo
  node scripts/bench/series.mjs --table "$BENCH/series.jsonl"
fi
exit $side_rc
