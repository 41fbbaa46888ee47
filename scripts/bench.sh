#!/usr/bin/env bash
# Decode benchmark: median ms per frame for every codec on a 512² CT, a 1024² MR, a
# 1760² CR and a 640×480 RGB ultrasound image, natively and in wasm under Node.
#   npm run bench            readable table
#   npm run bench -- --json  one JSON object per case
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LUMEN_ROOT"
json=0
for a in "$@"; do [ "$a" = "--json" ] && json=1; done
log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }

bash scripts/setup.sh >&2
"$LUMEN_CACHE/venv/bin/python" scripts/corpus/bench_data.py >&2
bash scripts/build.sh >&2
log "cargo build --release (native CLI)"
cargo build --release -p lumen --bin lumen >&2
BENCH="$LUMEN_CACHE/bench"
mapfile -t files < <(ls "$BENCH"/*.dcm | sort)
log "${#files[@]} files; native"
"$CARGO_TARGET_DIR/release/lumen" bench "${files[@]}" >"$BENCH/native.jsonl" || true
log "wasm under Node"
node scripts/bench-wasm.mjs "${files[@]}" >"$BENCH/wasm.jsonl"
node scripts/bench-report.mjs "$BENCH" $([ $json = 1 ] && echo --json)
