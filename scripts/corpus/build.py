"""Build the Lumen test corpus (called by scripts/setup-corpus.sh).

Stages: unpack pydicom wheels -> invesalius CT series -> generated variants
-> manifest with reference pixels and cross-checks. Everything is built in
<cache>/corpus.new and swapped into <cache>/corpus only when complete.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as C  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("--downloads", required=True, type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    final = a.cache / "corpus"
    new = a.cache / "corpus.new"
    work = a.cache / "corpus.work"
    for d in (new, work):
        shutil.rmtree(d, ignore_errors=True)
    (new / "files").mkdir(parents=True)
    times = {}

    t = time.time()
    import fetch
    counts = fetch.unpack(a.downloads, new / "files")
    times["unpack"] = time.time() - t
    print(f"[corpus] unpacked {counts} in {times['unpack']:.1f}s", flush=True)

    t = time.time()
    import invesalius
    vol, hdr = invesalius.load_volume()
    n = len(invesalius.write_series(new / "files" / "invesalius-ct" / "series", vol, hdr))
    times["invesalius"] = time.time() - t
    print(f"[corpus] invesalius CT: {n} slices from {hdr['_source']} in {times['invesalius']:.1f}s", flush=True)

    t = time.time()
    import generate
    g = generate.Generator(new, work, a.jobs)
    g.generate(vol, hdr)
    times["generate"] = time.time() - t
    print(f"[corpus] generated {len(g.records)} files ({len(g.failures)} encoder failures) "
          f"in {times['generate']:.1f}s", flush=True)
    for f in g.failures:
        print(f"[corpus]   ENCODER FAILURE {f['what']}: {f['why']}", flush=True)

    t = time.time()
    import manifest
    recs = [dict(r.__dict__) for r in g.records]
    m = manifest.build(new, recs, g.skipped, a.jobs)
    m["build_seconds"] = {k: round(v, 1) for k, v in (times | {"manifest": time.time() - t}).items()}
    C.write_json(new / "manifest.json", m)
    times["manifest"] = time.time() - t
    print(f"[corpus] manifest: {len(m['files'])} files in {times['manifest']:.1f}s", flush=True)

    old = a.cache / "corpus.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
