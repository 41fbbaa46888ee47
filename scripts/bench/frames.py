#!/usr/bin/env python3
"""Frame 1's bare codestream of every encapsulated benchmark file, as WADO-RS returns it.

Reads $LUMEN_CACHE/bench/index.json (made by scripts/corpus/bench_data.py) and writes
    $LUMEN_CACHE/bench/frames/{file}.frame1   frame 1's bytes (all its fragments joined)
    $LUMEN_CACHE/bench/frames/index.json      one entry per frame: file, frame, transfer_syntax,
                                              codec, source, lossless, reference_sha256, bytes,
                                              description (the Image Pixel description, snake_case)
pydicom does the Part 10 and encapsulation parsing (Basic/Extended Offset Table, fragments).
Native (uncompressed) and Deflated data sets are left out: they have no codestream.
Idempotent: an entry is rewritten only when its source file's size or mtime changed.
Usage: frames.py [--bench DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ENCAPSULATED_NOT = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def main() -> None:
    cache = Path(os.environ.get("LUMEN_CACHE") or Path.home() / ".cache" / "lumen")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, default=cache / "bench")
    a = ap.parse_args()
    bench = a.bench.resolve()
    out = bench / "frames"
    out.mkdir(parents=True, exist_ok=True)
    index = json.loads((bench / "index.json").read_text())
    try:
        old = {e["file"]: e for e in json.loads((out / "index.json").read_text())}
    except (OSError, ValueError):
        old = {}

    import pydicom
    from pydicom.encaps import generate_frames

    entries, wrote = [], 0
    for e in index:
        ts = e["transfer_syntax"]
        if ts in ENCAPSULATED_NOT:
            continue
        src = bench / e["file"]
        st = src.stat()
        stamp = {"source_bytes": st.st_size, "source_mtime_ns": st.st_mtime_ns}
        frame_path = out / (e["file"] + ".frame1")
        prev = old.get(e["file"])
        if prev and all(prev.get(k) == v for k, v in stamp.items()) and frame_path.exists() \
                and frame_path.stat().st_size == prev["bytes"]:
            entries.append(prev)
            continue
        ds = pydicom.dcmread(src)
        if str(ds.file_meta.TransferSyntaxUID) != ts:
            sys.exit(f"[bench] {src}: transfer syntax {ds.file_meta.TransferSyntaxUID} != index {ts}")
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        frame = next(generate_frames(ds.PixelData, number_of_frames=nframes))
        frame_path.write_bytes(frame)
        wrote += 1
        desc = {
            "rows": int(ds.Rows), "columns": int(ds.Columns), "samples_per_pixel": int(ds.SamplesPerPixel),
            "bits_allocated": int(ds.BitsAllocated), "bits_stored": int(ds.BitsStored),
            "high_bit": int(ds.HighBit), "pixel_representation": int(ds.PixelRepresentation),
            "photometric_interpretation": str(ds.PhotometricInterpretation),
            "planar_configuration": int(ds.get("PlanarConfiguration", 0) or 0),
        }
        entries.append({
            "file": e["file"], "frame_file": frame_path.name, "frame": 1, "transfer_syntax": ts,
            "codec": e["codec"], "source": e["source"], "lossless": e["lossless"],
            "reference_sha256": e["reference_sha256"], "bytes": len(frame), "description": desc, **stamp,
        })
    keep = {x["frame_file"] for x in entries}
    for p in out.glob("*.frame1"):
        if p.name not in keep:
            p.unlink()
    (out / "index.json").write_text(json.dumps(entries, indent=1) + "\n")
    print(f"[bench] {len(entries)} frames in {out} ({wrote} written)", file=sys.stderr)


if __name__ == "__main__":
    main()
