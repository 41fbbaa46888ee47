"""Reference pixels + cross-checks -> <corpus>/manifest.json.

Primary reference: pydicom 3 + pylibjpeg (+libjpeg, +openjpeg, +rle).
JPEG XL: imagecodecs.jpegxl_decode (libjxl). Deflated Image Frame
Compression: the uncompressed source pixels (plus an independent zlib inflate).
Cross-checks: dcmtk (dcmconv/dcmdjpeg/dcmdjpls/dcmdrle), gdcm (gdcmconv --raw),
OpenJPH (imagecodecs.htj2k_decode) for HTJ2K.

Reference files are content-addressed: refs/<sha256 of the bytes>.raw holds the
canonical bytes of all frames concatenated, so identical lossless decodes share one file.
"""
from __future__ import annotations

import os
import tempfile
import zlib
from multiprocessing import Pool
from pathlib import Path

import numpy as np

import common as C

import imagecodecs
import pydicom
from pydicom.encaps import generate_frames
from pydicom.pixels import get_decoder

V = C.tool_versions()
CORPUS: Path = Path(".")

# the pydicom test files that are broken on purpose (reason shown when pydicom fails on them)
KNOWN_BROKEN = {
    "JPEG-lossy.dcm": "deliberately damaged JPEG (pydicom test file; libjpeg reports a misplaced marker)",
    "JPEG2000-embedded-sequence-delimiter.dcm": "J2K fragment contains an embedded sequence delimiter (test file)",
    "MR_truncated.dcm": "pixel data truncated (test file)",
    "badVR.dcm": "invalid VR / NumberOfFrames '1A' (test file)",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "file truncated inside the encapsulated pixel data (test file)",
    "meta_missing_tsyntax.dcm": "no Transfer Syntax UID and no image pixel module (test file)",
    "nested_priv_SQ.dcm": "PixelData without an image pixel module (test file)",
    "no_meta.dcm": "no preamble/meta and one stray byte before the data set: parsers read garbage tags (test file)",
}


def plugin_for(ts: str) -> tuple[str, str]:
    base = f"pydicom {V['pydicom']}"
    if ts in C.JPEG_FAMILY or ts in C.JLS_FAMILY:
        return "pylibjpeg", f"{base} + pylibjpeg {V['pylibjpeg']} + pylibjpeg-libjpeg {V['pylibjpeg-libjpeg']}"
    if ts in C.J2K_FAMILY or ts in C.HTJ2K_FAMILY:
        return "pylibjpeg", f"{base} + pylibjpeg {V['pylibjpeg']} + pylibjpeg-openjpeg {V['pylibjpeg-openjpeg']}"
    if ts == C.RLE:
        return "pylibjpeg", f"{base} + pylibjpeg {V['pylibjpeg']} + pylibjpeg-rle {V['pylibjpeg-rle']}"
    if ts == C.DEFLATED:
        return "", f"{base} (native, zlib inflate of the dataset)"
    return "", f"{base} (native)"


def inferred_ts(ds) -> str:
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts:
        return str(ts)
    implicit, little = getattr(ds, "original_encoding", (True, True))
    return C.IMPLICIT if implicit else (C.EXPLICIT if little else C.BIG_ENDIAN)


def geometry(ds) -> dict:
    nf = ds.get("NumberOfFrames", 1)
    try:
        nf = int(nf or 1)
    except (TypeError, ValueError):
        nf = None
    g = lambda k: int(ds[k].value) if k in ds and ds[k].value not in (None, "") else None  # noqa: E731
    return {"frames": nf, "rows": g("Rows"), "columns": g("Columns"), "samples_per_pixel": g("SamplesPerPixel"),
            "bits_allocated": g("BitsAllocated"), "bits_stored": g("BitsStored"),
            "pixel_representation": g("PixelRepresentation")}


def canon_from(arr: np.ndarray, geo: dict) -> np.ndarray:
    return C.canonical_array(arr, geo["frames"], geo["rows"], geo["columns"], geo["samples_per_pixel"],
                             geo["bits_allocated"], geo["bits_stored"], geo["pixel_representation"])


def pydicom_decode(ds, ts: str):
    plugin, name = plugin_for(ts)
    kw = {"decoding_plugin": plugin} if plugin else {}
    arr, meta = get_decoder(ts).as_array(ds, as_rgb=True, **kw)
    return arr, str(meta.get("photometric_interpretation", ds.PhotometricInterpretation)), name


def decode_file_canon(path: Path) -> tuple[np.ndarray, str, dict]:
    ds = pydicom.dcmread(path, force=True)
    ts = inferred_ts(ds)
    ds.file_meta.TransferSyntaxUID = ts
    arr, pi, _ = pydicom_decode(ds, ts)
    geo = geometry(ds)
    return canon_from(arr, geo), pi, geo


def jxl_reference(ds, geo) -> tuple[np.ndarray, str]:
    frames = list(generate_frames(ds.PixelData, number_of_frames=geo["frames"]))
    arrs = [imagecodecs.jpegxl_decode(f) for f in frames]
    pi = str(ds.PhotometricInterpretation)
    if geo["samples_per_pixel"] == 3:
        pi = "RGB"  # libjxl returns RGB for both RGB and (recompressed) YCbCr JPEG data
    return np.stack(arrs), pi


# ------------------------------------------------------------------ cross-checks
def dcmtk_cmd(ts: str) -> list[str] | None:
    if ts in C.UNCOMPRESSED:
        return ["dcmconv", "+te"]
    if ts in C.JPEG_FAMILY:
        return ["dcmdjpeg"]
    if ts in C.JLS_FAMILY:
        return ["dcmdjpls"]
    if ts == C.RLE:
        return ["dcmdrle"]
    return None


def gdcm_cmd(ts: str) -> list[str] | None:
    if ts in C.JPEG_FAMILY or ts in C.JLS_FAMILY or ts in C.J2K_FAMILY or ts == C.RLE:
        return ["gdcmconv", "--raw"]
    return None


def tool_check(cmd: list[str] | None, path: Path, ref: np.ndarray | None, tmp: Path) -> str:
    if cmd is None:
        return "n/a"
    out = tmp / "x.dcm"
    if out.exists():
        out.unlink()
    try:
        import subprocess
        pr = subprocess.run(cmd + [str(path), str(out)], capture_output=True, timeout=300)
        if pr.returncode != 0 or not out.exists():
            err = (pr.stderr or pr.stdout or b"").decode(errors="replace").strip().replace(str(path), "IN")
            err = err.replace(str(out), "OUT").splitlines()
            return f"error: {cmd[0]} rc {pr.returncode}: {err[-1][-160:] if err else 'no output'}"
        c, _, _ = decode_file_canon(out)
    except Exception as e:  # noqa: BLE001
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"error: {msg[-160:]}"
    if ref is None:
        return "decoded (no reference to compare)"
    return C.diff_summary(ref, c)


# ------------------------------------------------------------------ per file
def classify(ds, geo: dict, ts: str) -> str:
    pi = str(ds.get("PhotometricInterpretation", ""))
    ba, bs, pr, spp = geo["bits_allocated"], geo["bits_stored"], geo["pixel_representation"], geo["samples_per_pixel"]
    if ba == 1:
        return "edge:1bit"
    if pi == "PALETTE COLOR":
        desc = ds.get("RedPaletteColorLookupTableDescriptor")
        bits = desc[2] if desc is not None and len(desc) > 2 else "?"
        return f"edge:palette-lut{bits}" + ("-index16" if ba == 16 else "")
    if pi == "MONOCHROME1":
        return "edge:monochrome1"
    if ba == 32:
        return "edge:32bit"
    if ts in C.UNCOMPRESSED and pi in ("YBR_FULL", "YBR_FULL_422"):
        return f"edge:{pi.lower()}"
    if spp == 3 and ds.get("PlanarConfiguration", 0) == 1 and ts in C.UNCOMPRESSED:
        return "edge:planar1"
    if (geo["frames"] or 1) > 1:
        return "multiframe"
    if spp == 3:
        return "rgb8" if ba == 8 else f"rgb{ba}"
    if ba == 8:
        return "mono8"
    if pr:
        return "ct16s" if (str(ds.get("Modality", "")) == "CT" and bs == 16) else f"mono{bs}s"
    return "mono12" if bs <= 12 else f"mono{bs}"


def process(task: dict) -> dict:
    path = CORPUS / task["path"]
    e = {"path": task["path"], "source": task["source"]}
    for k in ("derived_from", "encoder"):
        if task.get(k):
            e[k] = task[k]
    tmp = Path(tempfile.mkdtemp(prefix="lumen-xc-"))
    try:
        return _process(task, path, e, tmp)
    except Exception as ex:  # noqa: BLE001  (never lose the whole manifest to one odd file)
        import traceback
        e.update({"transfer_syntax": task.get("transfer_syntax", "?"), "kind": task.get("kind", "?"),
                  "lossless": task.get("lossless"), "reference": None, "frame_sha256": [], "cross_check": {},
                  "notes": f"MANIFEST ERROR {type(ex).__name__}: {ex} {traceback.format_exc(limit=2)}"})
        return e
    finally:
        for p in tmp.glob("*"):
            p.unlink()
        tmp.rmdir()


def _process(task: dict, path: Path, e: dict, tmp: Path) -> dict:
    notes = [task["notes"]] if task.get("notes") else []
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as ex:  # noqa: BLE001
        ds = None
        read_err = f"{type(ex).__name__}: {ex}"
    ts = inferred_ts(ds) if ds is not None else task.get("transfer_syntax", "?")
    if ds is not None and not ds.file_meta.get("TransferSyntaxUID"):
        notes.append(f"no (0002,0010) in the file; transfer syntax inferred from the data set encoding ({ts})")
        ds.file_meta.TransferSyntaxUID = ts
    e["transfer_syntax"] = ts
    if task.get("transfer_syntax") and task["transfer_syntax"] != ts:
        notes.append(f"TRANSFER SYNTAX MISMATCH: generator said {task['transfer_syntax']}")
    geo = geometry(ds) if ds is not None else {}
    e["kind"] = task.get("kind") or (classify(ds, geo, ts) if ds is not None and geo.get("bits_allocated") else "broken")
    e.update({k: geo.get(k) for k in ("frames", "rows", "columns", "samples_per_pixel", "bits_allocated",
                                       "bits_stored", "pixel_representation")})
    e["photometric_interpretation"] = str(ds.get("PhotometricInterpretation", "")) if ds is not None else None
    e["lossless"] = task.get("lossless", ts not in C.LOSSY_TS)
    mode = task.get("reference_mode", "pydicom")
    ref = None
    try:
        if ds is None:
            raise RuntimeError(read_err)
        if "PixelData" not in ds:
            raise RuntimeError("pydicom finds no (7FE0,0010) element (file ends inside it)")
        if mode == "pydicom":
            arr, pi, name = pydicom_decode(ds, ts)
        elif mode == "jpegxl":
            arr, pi = jxl_reference(ds, geo)
            name = f"imagecodecs {V['imagecodecs']} jpegxl_decode (libjxl {V.get('libjxl')})"
        elif mode == "source":
            sc, pi, _ = decode_file_canon(CORPUS / task["source_file"])
            arr = sc
            name = (f"source pixels: pydicom {V['pydicom']} native decode of {task['source_file']} "
                    f"(no decoder for this transfer syntax)")
        else:
            raise ValueError(mode)
        ref = canon_from(arr, geo)
        e["photometric_interpretation"] = pi
        e["reference_decoder"] = name
    except Exception as ex:  # noqa: BLE001
        msg = f"{type(ex).__name__}: {str(ex).strip().splitlines()[0] if str(ex).strip() else ''}"
        e["reference_decoder"] = plugin_for(ts)[1] if mode == "pydicom" else mode
        e["reference"] = None
        e["frame_sha256"] = []
        if task["source"] in ("pydicom", "pydicom-data"):
            e["expect_error"] = True
            why = KNOWN_BROKEN.get(path.name, "")
            notes.append(f"reference decoder fails: {msg[:300]}" + (f" -- {why}" if why else ""))
        else:
            notes.append(f"REFERENCE DECODE FAILED: {msg[:300]}")
    if ref is not None:
        b = np.ascontiguousarray(ref).tobytes()
        h = C.sha256_bytes(b)
        rp = CORPUS / "refs" / f"{h}.raw"
        if not rp.exists():
            tmpf = rp.with_suffix(f".{os.getpid()}.tmp")
            tmpf.write_bytes(b)
            os.replace(tmpf, rp)
        e["reference"] = f"refs/{h}.raw"
        e["reference_dtype"] = ref.dtype.str
        e["frame_sha256"] = C.frame_hashes(ref)

    # cross-checks
    xc = {"dcmtk": tool_check(dcmtk_cmd(ts), path, ref, tmp),
          "gdcm": tool_check(gdcm_cmd(ts), path, ref, tmp)}
    if ts in C.HTJ2K_FAMILY and ds is not None and ref is not None:
        try:
            fr = list(generate_frames(ds.PixelData, number_of_frames=geo["frames"]))
            arr = np.stack([imagecodecs.htj2k_decode(f) for f in fr])
            xc["openjph"] = C.diff_summary(ref, canon_from(arr, geo))
        except Exception as ex:  # noqa: BLE001
            xc["openjph"] = f"error: {ex}"
    if ts == C.DEFLATE_FRAMES and ds is not None and ref is not None:
        try:
            fr = list(generate_frames(ds.PixelData, number_of_frames=geo["frames"]))
            dt = ref.dtype
            arr = np.stack([np.frombuffer(zlib.decompressobj(-15).decompress(f)[:ref[0].nbytes],
                                          dt.newbyteorder("<")) for f in fr])
            xc["zlib_inflate"] = C.diff_summary(ref, canon_from(arr, geo))
        except Exception as ex:  # noqa: BLE001
            xc["zlib_inflate"] = f"error: {ex}"
    if ts == C.JXL_JPEG and task.get("extra_checks"):
        x = task["extra_checks"]
        xc["jpeg_reconstruction"] = x.get("jpeg_reconstruction")
        try:
            jc, _, _ = decode_file_canon(CORPUS / x["jpeg_file"])
            xc["pydicom_on_original_jpeg"] = C.diff_summary(ref, jc) if ref is not None else "n/a"
        except Exception as ex:  # noqa: BLE001
            xc["pydicom_on_original_jpeg"] = f"error: {ex}"
    if task.get("source_file") and ref is not None:
        try:
            sc, _, _ = decode_file_canon(CORPUS / task["source_file"])
            xc["source_pixels"] = C.diff_summary(ref, sc)
        except Exception as ex:  # noqa: BLE001
            xc["source_pixels"] = f"error: {ex}"
    e["cross_check"] = xc
    if task.get("stream"):
        e["stream"] = task["stream"]
    e["bytes"] = path.stat().st_size
    e["notes"] = "; ".join(n for n in notes if n)
    if task.get("expect_source_equal") and xc.get("source_pixels") not in ("equal", None):
        e["notes"] += f"; LOSSLESS ENCODE DOES NOT MATCH SOURCE ({xc.get('source_pixels')})"
    return e


def has_pixel_data(path: Path) -> bool:
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=False, specific_tags=None)
        if "PixelData" in ds:
            return True
        if any(k in ds for k in ("FloatPixelData", "DoubleFloatPixelData")):
            return False
    except Exception:  # noqa: BLE001
        pass
    # pydicom could not parse the file: look for an explicit-VR Pixel Data header in the bytes
    raw = path.read_bytes()
    return any(t in raw for t in (b"\xe0\x7f\x10\x00OB", b"\xe0\x7f\x10\x00OW",
                                  b"\x7f\xe0\x00\x10OB", b"\x7f\xe0\x00\x10OW"))


def init_worker(corpus: str) -> None:
    global CORPUS
    CORPUS = Path(corpus)


def build(corpus: Path, gen_records: list[dict], skipped: list[dict], jobs: int) -> dict:
    init_worker(str(corpus))
    (corpus / "refs").mkdir(exist_ok=True)
    tasks: list[dict] = []
    for src in ("pydicom", "pydicom-data"):
        for p in sorted((corpus / "files" / src).rglob("*")):
            if p.is_file() and has_pixel_data(p):
                tasks.append({"path": str(p.relative_to(corpus)), "source": src})
    for p in sorted((corpus / "files" / "invesalius-ct").rglob("*.dcm")):
        tasks.append({"path": str(p.relative_to(corpus)), "source": "invesalius", "kind": "ct16s",
                      "derived_from": "Debian invesalius-examples Cranium.inv3 (matrix.dat + main.plist)",
                      "encoder": f"pydicom {V['pydicom']} (scripts/corpus/invesalius.py)", "lossless": True})
    for r in gen_records:
        t = dict(r)
        t["source"] = "generated"
        tasks.append(t)
    # biggest first for a balanced pool
    tasks.sort(key=lambda t: -(corpus / t["path"]).stat().st_size)
    with Pool(max(1, jobs), initializer=init_worker, initargs=(str(corpus),)) as pool:
        entries = pool.map(process, tasks, chunksize=1)
    order = {"pydicom": 0, "pydicom-data": 1, "invesalius": 2, "generated": 3}
    entries.sort(key=lambda e: (order[e["source"]], e["path"]))
    return {"version": 1, "generated_by": "scripts/corpus/build.py (scripts/setup-corpus.sh)",
            "tools": V, "files": entries, "skipped": skipped}
