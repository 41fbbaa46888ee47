"""Print a summary of <corpus>/manifest.json; --verify: exit 1 if a listed file or ref is missing."""
from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

TS_SHORT = {
    "1.2.840.10008.1.2": "implicit-le", "1.2.840.10008.1.2.1": "explicit-le", "1.2.840.10008.1.2.2": "explicit-be",
    "1.2.840.10008.1.2.1.99": "deflated-le", "1.2.840.10008.1.2.4.50": "jpeg-baseline",
    "1.2.840.10008.1.2.4.51": "jpeg-extended", "1.2.840.10008.1.2.4.57": "jpeg-lossless",
    "1.2.840.10008.1.2.4.70": "jpeg-lossless-sv1", "1.2.840.10008.1.2.4.80": "jls-lossless",
    "1.2.840.10008.1.2.4.81": "jls-near", "1.2.840.10008.1.2.4.90": "j2k-lossless", "1.2.840.10008.1.2.4.91": "j2k",
    "1.2.840.10008.1.2.4.201": "htj2k-lossless", "1.2.840.10008.1.2.4.202": "htj2k-rpcl",
    "1.2.840.10008.1.2.4.203": "htj2k", "1.2.840.10008.1.2.5": "rle", "1.2.840.10008.1.2.8.1": "deflate-frames",
    "1.2.840.10008.1.2.4.110": "jxl-lossless", "1.2.840.10008.1.2.4.111": "jxl-jpeg", "1.2.840.10008.1.2.4.112": "jxl",
}
OK = {"equal", "n/a", "bit-exact", None}
LOSSY_TOLERANCE = 5  # grey levels; libjpeg-family decoders differ by 1-5 on lossy colour JPEG


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main() -> int:
    corpus = Path(sys.argv[1])
    verify = "--verify" in sys.argv
    m = json.loads((corpus / "manifest.json").read_text())
    files = m["files"]
    if verify:
        missing = [e["path"] for e in files if not (corpus / e["path"]).is_file()]
        missing += [e["reference"] for e in files if e.get("reference") and not (corpus / e["reference"]).is_file()]
        if missing:
            print(f"[corpus] {len(missing)} files missing, e.g. {missing[:3]}")
            return 1

    by_src = Counter(e["source"] for e in files)
    print(f"== Lumen corpus: {corpus}")
    print(f"files: {len(files)}  ({', '.join(f'{k} {v}' for k, v in sorted(by_src.items()))}); "
          f"with reference: {sum(1 for e in files if e.get('reference'))}; "
          f"expect_error: {sum(1 for e in files if e.get('expect_error'))}")
    sz_files, sz_refs = dir_size(corpus / "files"), dir_size(corpus / "refs")
    print(f"size: {(sz_files + sz_refs) / 2**20:.1f} MiB (files {sz_files / 2**20:.1f} MiB, "
          f"refs {sz_refs / 2**20:.1f} MiB in {len(list((corpus / 'refs').glob('*.raw')))} content-addressed raws)")
    if m.get("build_seconds"):
        print(f"build stages (s): {m['build_seconds']}")

    table: dict[str, Counter] = defaultdict(Counter)
    for e in files:
        table[e["transfer_syntax"]][e["kind"]] += 1
    print("\n-- files per transfer syntax x kind (all sources)")
    for ts in sorted(table, key=lambda t: [int(x) for x in t.split(".") if x.isdigit()]):
        row = ", ".join(f"{k} {n}" for k, n in sorted(table[ts].items()))
        print(f"{TS_SHORT.get(ts, ts):18s} {ts:26s} {sum(table[ts].values()):4d}: {row}")

    gen = defaultdict(set)
    for e in files:
        if e["source"] in ("generated", "invesalius") and not e["kind"].startswith("edge:"):
            gen[e["transfer_syntax"]].add(e["kind"])
    print("\n-- generated transfer syntax x kind matrix")
    kinds = ["mono8", "rgb8", "mono12", "ct16s", "multiframe"]
    print(f"{'':18s} " + " ".join(f"{k:>10s}" for k in kinds))
    for ts in sorted(gen, key=lambda t: [int(x) for x in t.split(".") if x.isdigit()]):
        print(f"{TS_SHORT.get(ts, ts):18s} " + " ".join(f"{('x' if k in gen[ts] else '-'):>10s}" for k in kinds))
    edges = Counter(e["kind"] for e in files if e["kind"].startswith("edge:"))
    print("edge kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(edges.items())))

    print(f"\n-- skipped combinations ({len(m['skipped'])})")
    for s in m["skipped"]:
        print(f"  {s['what']}: {s['why']}")

    print("\n-- cross-check disagreements")
    n_dis = 0
    lossy_diffs: dict[tuple, int] = {}
    for e in files:
        for tool, res in (e.get("cross_check") or {}).items():
            if res in OK or str(res).startswith("decoded"):
                continue
            if tool == "source_pixels" and not (e["lossless"] and e["source"] == "generated"):
                continue  # loss of a lossy encode, or a deliberate transform
            if not e["lossless"] and str(res).startswith("max_abs_diff"):
                d = int(str(res).split()[-1])
                key = (TS_SHORT.get(e["transfer_syntax"]), tool)
                lossy_diffs[key] = max(lossy_diffs.get(key, 0), d)
                if d <= LOSSY_TOLERANCE:
                    continue
            if e.get("expect_error") and str(res).startswith("error"):
                continue
            n_dis += 1
            print(f"  {e['path']} [{e['kind']}, {TS_SHORT.get(e['transfer_syntax'])}] {tool}: {res}")
    if not n_dis:
        print("  none")
    if lossy_diffs:
        print("  (lossy files, decoder vs reference, max over files: "
              + ", ".join(f"{ts}/{tool} {d}" for (ts, tool), d in sorted(lossy_diffs.items())) + ")")
    bad = [e for e in files if e["source"] == "generated" and (not e.get("reference") or "DOES NOT MATCH" in e["notes"])]
    print(f"\n-- generated files without reference or not matching their source: {len(bad)}")
    for e in bad:
        print(f"  {e['path']}: {e['notes'][-200:]}")
    broken = [e for e in files if e.get("expect_error")]
    print(f"\n-- expect_error files ({len(broken)}): " + ", ".join(os.path.basename(e["path"]) for e in broken))
    return 0


if __name__ == "__main__":
    sys.exit(main())
