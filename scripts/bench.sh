#!/usr/bin/env bash
# Decode benchmark: median ms per frame for every codec on a 512² CT, a 1024² MR, a
# 1760² CR and a 640×480 RGB ultrasound image, natively and in wasm under Node; then
# side by side with Cornerstone3D's decoders (scripts/bench/), in Node and in headless
# Chromium, on the same bare frames, with the wasm sizes of both.
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
if [ $json = 1 ]; then
  node scripts/bench-report.mjs "$BENCH" --json
  node scripts/bench/report.mjs "$BENCH/side-by-side.jsonl" --json
else
  echo "## Decode, per frame: native and wasm (Part 10 file in, frame 1 out)"
  echo
  node scripts/bench-report.mjs "$BENCH"
  node scripts/bench/report.mjs "$BENCH/side-by-side.jsonl"
fi
exit $side_rc
