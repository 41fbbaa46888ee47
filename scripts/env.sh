# Shared environment for Lumen's scripts: sourced, not run.
# Caches live outside the clone so that CI on the same machine reuses them; a fresh
# machine simply starts them empty.
export LUMEN_CACHE="${LUMEN_CACHE:-$HOME/.cache/lumen}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$LUMEN_CACHE/target}"
export LUMEN_CORPUS="${LUMEN_CORPUS:-$LUMEN_CACHE/corpus}"
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_VERSION=0.2.130
# Two cores on CI: never ask cargo for more jobs than there are.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-$(nproc)}"
LUMEN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LUMEN_ROOT
mkdir -p "$LUMEN_CACHE"
