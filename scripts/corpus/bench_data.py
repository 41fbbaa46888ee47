#!/usr/bin/env python3
"""Benchmark inputs for Lumen: a few real, full-size images in every transfer
syntax that can hold them, encoded with real encoders (dcmtk, gdcm, PyPI
imagecodecs = OpenJPEG / OpenJPH / libjxl, zlib); pydicom only wraps and writes.

    $LUMEN_CACHE/bench/{source}-{transfer syntax uid}.dcm
    $LUMEN_CACHE/bench/index.json        list of entries (file, source, transfer_syntax, codec,
                                         lossless, rows, columns, samples_per_pixel, bits_stored,
                                         bytes, reference_sha256, ...)
    $LUMEN_CACHE/bench/index.meta.json   script sha256, tool versions, sources, skipped combinations

Sources come from the test corpus ($LUMEN_CACHE/corpus, built by build.py). The
lossless originals (pydicom-data *_UNCR = pixels of *_J2KR) are preferred to the
lossy *_J2KI versions; see SOURCES.

reference_sha256 = sha256 of the canonical pixel bytes of the file as decoded by
pydicom + pylibjpeg (imagecodecs for JPEG XL, zlib for Deflated Image Frame):
row-major, samples interleaved, little endian, dtype u1/i1/u2/i2 by BitsAllocated
and PixelRepresentation, masked (and sign-extended) to BitsStored, YBR -> RGB.

Idempotent: exits at once when index.meta.json records this script's sha256 and
every indexed file is present with its recorded size (--force rebuilds).
Usage: bench_data.py [--out DIR] [--jobs N] [--force] [--verify]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()


def cache_dir() -> Path:
    return Path(os.environ.get("LUMEN_CACHE") or Path.home() / ".cache" / "lumen")


def script_sha256() -> str:
    return hashlib.sha256(SCRIPT.read_bytes()).hexdigest()


def up_to_date(out: Path) -> bool:
    """Cheap check (no heavy imports): same script hash and all files present."""
    try:
        meta = json.loads((out / "index.meta.json").read_text())
        index = json.loads((out / "index.json").read_text())
    except (OSError, ValueError):
        return False
    if meta.get("script_sha256") != script_sha256() or not isinstance(index, list) or not index:
        return False
    for e in index:
        try:
            if (out / e["file"]).stat().st_size != e["bytes"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default $LUMEN_CACHE/bench)")
    ap.add_argument("--corpus", type=Path, default=None, help="corpus folder (default $LUMEN_CACHE/corpus)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--force", action="store_true", help="rebuild even if index.json is up to date")
    ap.add_argument("--verify", action="store_true",
                    help="only re-decode every indexed file and compare with reference_sha256")
    return ap.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and not ARGS.force and not ARGS.verify:
    _out = ARGS.out or cache_dir() / "bench"
    if up_to_date(_out):
        print(f"[bench] {_out}/index.json is up to date (script sha256 {script_sha256()[:12]}); nothing to do")
        sys.exit(0)

# ---------------------------------------------------------------- heavy imports
# the reference decoders (pylibjpeg + plugins) live in the project's venv: re-run under it
_VENV = cache_dir() / "venv"
if __name__ == "__main__" and (_VENV / "bin" / "python").exists() \
        and Path(sys.prefix).resolve() != _VENV.resolve():
    os.execv(str(_VENV / "bin" / "python"), [str(_VENV / "bin" / "python"), str(SCRIPT), *sys.argv[1:]])

import numpy as np  # noqa: E402

import copy  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import zlib  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

sys.path.insert(0, str(SCRIPT.parent))
import common as C  # noqa: E402  (registers the JPEG XL / Deflated Image Frame UIDs with pydicom)

import imagecodecs  # noqa: E402,F811
import pydicom  # noqa: E402,F811
from pydicom.encaps import encapsulate, generate_frames  # noqa: E402

# ------------------------------------------------------------------ sources
# name -> candidates (corpus-relative, first one in the manifest wins), description
SOURCES = {
    "ct512": (["files/pydicom-data/693_UNCR.dcm", "files/pydicom-data/693_J2KR.dcm", "files/pydicom/693_J2KI.dcm"],
              "CT 512x512 int16 (BitsStored 14, values -2000..2492), pydicom-data 693_UNCR "
              "(uncompressed original; same pixels as 693_J2KR)"),
    "mr1024": (["files/pydicom-data/MR2_UNCR.dcm", "files/pydicom-data/MR2_J2KR.dcm", "files/pydicom-data/MR2_J2KI.dcm"],
               "MR 1024x1024 uint16 (BitsStored 12), pydicom-data MR2_UNCR (lossless original of MR2_J2KI)"),
    "cr1760": (["files/pydicom-data/RG3_UNCR.dcm", "files/pydicom-data/RG3_J2KR.dcm", "files/pydicom-data/RG3_J2KI.dcm"],
               "CR 1760x1760 uint16 (BitsStored 10, MONOCHROME1), pydicom-data RG3_UNCR (lossless original of RG3_J2KI)"),
    "us640rgb": (["files/pydicom-data/US1_UNCR.dcm", "files/pydicom/examples_jpeg2k.dcm", "files/pydicom-data/US1_J2KR.dcm"],
                 "US 640x480 8-bit RGB, pydicom-data US1_UNCR (same pixels as pydicom examples_jpeg2k.dcm)"),
}

TS_ORDER = [C.EXPLICIT, C.RLE, C.DEFLATE_FRAMES, C.JPEG_BASELINE, C.JPEG_EXTENDED, C.JPEG_LOSSLESS, C.JPEG_SV1,
            C.JLS_LOSSLESS, C.JLS_NEAR, C.J2K_LOSSLESS, C.J2K, C.HTJ2K_LOSSLESS, C.HTJ2K_RPCL, C.HTJ2K,
            C.JXL_LOSSLESS, C.JXL]
CODEC = {
    C.EXPLICIT: "none", C.RLE: "RLE", C.DEFLATE_FRAMES: "Deflate", C.JPEG_BASELINE: "JPEG baseline",
    C.JPEG_EXTENDED: "JPEG extended", C.JPEG_LOSSLESS: "JPEG lossless", C.JPEG_SV1: "JPEG lossless",
    C.JLS_LOSSLESS: "JPEG-LS", C.JLS_NEAR: "JPEG-LS", C.J2K_LOSSLESS: "JPEG 2000", C.J2K: "JPEG 2000",
    C.HTJ2K_LOSSLESS: "HTJ2K", C.HTJ2K_RPCL: "HTJ2K", C.HTJ2K: "HTJ2K", C.JXL_LOSSLESS: "JPEG XL", C.JXL: "JPEG XL",
}
LOSSY_METHOD = {C.JPEG_BASELINE: "ISO_10918_1", C.JPEG_EXTENDED: "ISO_10918_1", C.JLS_NEAR: "ISO_14495_1",
                C.J2K: "ISO_15444_1", C.HTJ2K: "ISO_15444_15", C.JXL: "ISO_18181_1"}
# lossy J2K / HTJ2K: the quality knob is searched so the codestream is about this fraction of the
# reversible J2K codestream (pydicom-data's real *_J2KI files are 1/2.6 .. 1/5.2 of their *_J2KR)
LOSSY_J2K_FRACTION = 0.25
JXL_EFFORT = 7
JXL_DISTANCE = 1.0


class Src:
    def __init__(self, name: str, rel: str, desc: str, ds):
        self.name, self.rel, self.desc, self.ds = name, rel, desc, ds
        self.arr = np.ascontiguousarray(ds.pixel_array)
        self.rows, self.cols = int(ds.Rows), int(ds.Columns)
        self.spp, self.ba = int(ds.SamplesPerPixel), int(ds.BitsAllocated)
        self.bs, self.pr = int(ds.BitsStored), int(ds.PixelRepresentation)
        self.canon = canon(self.arr, self.rows, self.cols, self.spp, self.ba, self.bs, self.pr)
        self.vmin, self.vmax = int(self.canon.min()), int(self.canon.max())


def canon(arr, rows, cols, spp, ba, bs, pr) -> np.ndarray:
    return C.canonical_array(arr, 1, rows, cols, spp, ba, bs, pr)[0]


def det_uid(*parts: object) -> str:
    """Deterministic 2.25 UID (common.det_uid passes prefix=None to pydicom's generate_uid,
    which then ignores entropy_srcs and returns a random uuid4 UID)."""
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(h, 'big')}"


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


class Bench:
    def __init__(self, corpus: Path, out: Path, jobs: int):
        self.corpus, self.out, self.jobs = corpus, out, jobs
        self.work = Path(tempfile.mkdtemp(prefix=".work-", dir=out))
        self.v = C.tool_versions()
        self.sources: dict[str, Src] = {}
        self.entries: list[dict] = []
        self.skipped: list[dict] = []

    # ------------------------------------------------------------ helpers
    def fname(self, src: Src, ts: str) -> str:
        return f"{src.name}-{ts}.dcm"

    def skip(self, src: Src, ts: str, why: str) -> None:
        self.skipped.append({"source": src.name, "transfer_syntax": ts, "codec": CODEC[ts], "why": why})

    def dataset(self, src: Src, ts: str):
        """Explicit VR LE copy of the source with UIDs for this output."""
        ds = copy.deepcopy(src.ds)
        sop = det_uid("lumen-bench", src.name, ts)
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.file_meta.TransferSyntaxUID = C.EXPLICIT
        ds.StudyInstanceUID = det_uid("lumen-bench", "study")
        ds.SeriesInstanceUID = det_uid("lumen-bench", src.name, "series")
        ds.SeriesDescription = f"Lumen bench {src.name}"
        ds.ImageComments = f"Lumen bench input {src.name} from {src.rel}; transfer syntax {ts}"[:10240]
        return ds

    def input_file(self, src: Src, ts: str) -> Path:
        p = self.work / f"in-{src.name}-{ts}.dcm"
        self.dataset(src, ts).save_as(p, enforce_file_format=True)
        return p

    def wrap_save(self, src: Src, ts: str, frame: bytes, *, pi: str | None = None, ds=None) -> Path:
        ds = ds if ds is not None else self.dataset(src, ts)
        raw_len = len(ds.PixelData)
        ds.PixelData = encapsulate([frame], has_bot=True)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = ts
        if pi:
            ds.PhotometricInterpretation = pi
        if ds.SamplesPerPixel > 1:
            ds.PlanarConfiguration = 0
        if ts in LOSSY_METHOD:
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = LOSSY_METHOD[ts]
            ds.LossyImageCompressionRatio = f"{raw_len / max(1, len(frame)):.2f}"
        out = self.out / self.fname(src, ts)
        tmp = self.work / out.name
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, out)
        return out

    @staticmethod
    def bits12(ds):
        ds.BitsStored, ds.HighBit = 12, 11
        return ds

    def tool(self, src: Src, ts: str, cmd: list[str]) -> Path:
        inp = self.input_file(src, ts)
        tmp = self.work / f"tool-{src.name}-{ts}.dcm"
        C.run(cmd + [str(inp), str(tmp)])
        ds = pydicom.dcmread(tmp, stop_before_pixels=True)
        got = str(ds.file_meta.TransferSyntaxUID)
        if got != ts:
            raise RuntimeError(f"{cmd[0]} wrote transfer syntax {got}, expected {ts}")
        sop = det_uid("lumen-bench", src.name, ts)
        if str(ds.SOPInstanceUID) != sop:  # gdcm may assign a new UID for lossy output
            full = pydicom.dcmread(tmp)
            full.SOPInstanceUID = sop
            full.file_meta.MediaStorageSOPInstanceUID = sop
            full.save_as(tmp, enforce_file_format=True)
        out = self.out / self.fname(src, ts)
        os.replace(tmp, out)
        return out

    def tool_label(self, cmd: list[str]) -> str:
        t = "gdcm" if cmd[0].startswith("gdcm") else "dcmtk"
        return f"{' '.join(cmd)} IN OUT ({t} {self.v.get(t)})"

    # ------------------------------------------------------------ J2K / HTJ2K helpers
    def j2k_pi(self, src: Src, cs: bytes, reversible: bool) -> str | None:
        if src.spp != 3:
            return None
        return ("YBR_RCT" if reversible else "YBR_ICT") if C.parse_j2k(cs).get("mct") else "RGB"

    def j2k_encode(self, src: Src, level=None, reversible=True) -> bytes:
        return imagecodecs.jpeg2k_encode(src.arr, level, reversible=reversible, codecformat="J2K",
                                         bitspersample=src.bs, mct=src.spp == 3, numthreads=1)

    @staticmethod
    def search(encode, lo: float, hi: float, target: int, increasing: bool, steps: int = 12):
        """Bisect a quality knob so len(encode(k)) is close to target; returns (k, bytes)."""
        best = None
        for _ in range(steps):
            mid = (lo + hi) / 2
            b = encode(mid)
            if best is None or abs(len(b) - target) < abs(len(best[1]) - target):
                best = (mid, b)
            if abs(len(b) - target) <= 0.03 * target:
                break
            if (len(b) < target) == increasing:
                lo = mid
            else:
                hi = mid
        return best

    # ------------------------------------------------------------ the matrix
    def plan(self, src: Src):
        """[(ts, encoder label, lossless, notes, fn() -> Path)] and skips for one source."""
        v, ic = self.v, f"imagecodecs {self.v['imagecodecs']}"
        tasks = []
        bs, pr, spp = src.bs, src.pr, src.spp
        colour = spp == 3

        def T(ts, label, lossless, notes, fn):
            tasks.append((src, ts, label, lossless, notes, fn))

        # --- explicit VR little endian (pydicom writes the source pixels as they are)
        def explicit():
            out = self.out / self.fname(src, C.EXPLICIT)
            tmp = self.work / out.name
            self.dataset(src, C.EXPLICIT).save_as(tmp, enforce_file_format=True)
            os.replace(tmp, out)
            return out
        T(C.EXPLICIT, f"pydicom {pydicom.__version__} (native little-endian pixels)", True, "", explicit)

        # --- RLE
        cmd = ["dcmcrle", "+un"]
        T(C.RLE, self.tool_label(cmd), True, "", lambda: self.tool(src, C.RLE, cmd))

        # --- Deflated Image Frame Compression: raw deflate of the native frame
        def deflate_frames():
            ds = self.dataset(src, C.DEFLATE_FRAMES)
            co = zlib.compressobj(6, zlib.DEFLATED, -15)
            return self.wrap_save(src, C.DEFLATE_FRAMES, co.compress(bytes(ds.PixelData)) + co.flush(), ds=ds)
        T(C.DEFLATE_FRAMES, f"python zlib {zlib.ZLIB_RUNTIME_VERSION} compressobj(6, DEFLATED, wbits=-15)", True,
          "raw deflate (RFC 1951) of the native little-endian frame, one fragment", deflate_frames)

        # --- JPEG baseline (8-bit only)
        if bs <= 8:
            cmd_b = ["dcmcjpeg", "+eb", "+un"]
            T(C.JPEG_BASELINE, self.tool_label(cmd_b), False,
              "quality 90; colour as YCbCr 4:2:2 (YBR_FULL_422)" if colour else "quality 90",
              lambda: self.tool(src, C.JPEG_BASELINE, cmd_b))
        else:
            self.skip(src, C.JPEG_BASELINE, f"JPEG baseline is 8-bit only; {src.name} has BitsStored {bs}")

        # --- JPEG extended (12-bit DCT)
        span = src.vmax - src.vmin + 1
        if bs <= 8:
            self.skip(src, C.JPEG_EXTENDED, "8-bit source: 4.51 is benchmarked for 9-12-bit data "
                                            "(an 8-bit 4.51 stream is the 4.50 decode path)")
        elif pr:
            self.skip(src, C.JPEG_EXTENDED,
                      f"signed {bs}-bit data, values {src.vmin}..{src.vmax} ({span} levels) do not fit the 4096 "
                      "levels of a 12-bit JPEG sample; dcmcjpeg would rescale them" if span > 4096 else
                      f"signed data: lossy JPEG has no signed samples and dcmcjpeg would rescale them")
        elif bs > 12:
            self.skip(src, C.JPEG_EXTENDED, f"BitsStored {bs} > 12")
        elif bs == 12:
            cmd_e = ["dcmcjpeg", "+ee", "+rm", "+sr", "+un"]
            T(C.JPEG_EXTENDED, self.tool_label(cmd_e), False,
              "quality 90, 12-bit DCT; +rm +sr keep the stored value range (no rescaling)",
              lambda: self.tool(src, C.JPEG_EXTENDED, cmd_e))
        else:
            # dcmcjpeg +ee +rm +sr stretches 9..11-bit data to 12 bits and writes a RescaleSlope
            T(C.JPEG_EXTENDED, f"{ic} jpeg8_encode(level=90, bitspersample=12) "
                               f"(libjpeg-turbo {v.get('libjpeg-turbo')})", False,
              f"quality 90, 12-bit DCT of the {bs}-bit values unscaled (dcmcjpeg would rescale them); "
              f"BitsStored set to 12 because decoded lossy values overshoot the {bs}-bit range",
              lambda: self.wrap_save(src, C.JPEG_EXTENDED, imagecodecs.jpeg8_encode(src.arr, 90, bitspersample=12),
                                     ds=self.bits12(self.dataset(src, C.JPEG_EXTENDED))))

        # --- JPEG lossless
        cmd_l = ["dcmcjpeg", "+el", "+sv", "6"]
        T(C.JPEG_LOSSLESS, self.tool_label(cmd_l), True, "process 14, predictor 6 (dcmcjpeg's default)",
          lambda: self.tool(src, C.JPEG_LOSSLESS, cmd_l))
        cmd_1 = ["dcmcjpeg", "+e1"]
        T(C.JPEG_SV1, self.tool_label(cmd_1), True, "process 14, predictor 1",
          lambda: self.tool(src, C.JPEG_SV1, cmd_1))

        # --- JPEG-LS
        cooked = (not pr) and 8 < bs < 16
        cmd_ls = ["dcmcjpls", "+el", "+un"] + (["+pc"] if cooked else [])
        T(C.JLS_LOSSLESS, self.tool_label(cmd_ls), True,
          ("cooked mode: JPEG-LS precision = BitsStored" if cooked else "")
          + ("line interleaved" if colour else ""), lambda: self.tool(src, C.JLS_LOSSLESS, cmd_ls))
        if pr:
            cmd_n = ["gdcmconv", "-L", "-Y", "-e", "2"]
            n_note = ("NEAR=2 by gdcm (dcmcjpls +en refuses PixelRepresentation 1); signed values coded as "
                      "their two's complement bit pattern")
        else:
            cmd_n = ["dcmcjpls", "+en", "+md", "2", "+un"]
            n_note = "NEAR=2" + (", line interleaved" if colour else "")
        T(C.JLS_NEAR, self.tool_label(cmd_n), False, n_note, lambda: self.tool(src, C.JLS_NEAR, cmd_n))

        # --- JPEG 2000 (OpenJPEG via imagecodecs)
        ojp = f"(OpenJPEG {v.get('openjpeg')})"

        def j2k_lossless():
            cs = self.j2k_encode(src, None, True)
            return self.wrap_save(src, C.J2K_LOSSLESS, cs, pi=self.j2k_pi(src, cs, True))
        T(C.J2K_LOSSLESS, f"{ic} jpeg2k_encode(reversible=True, codecformat='J2K', bitspersample=BitsStored"
                          f"{', mct=True' if colour else ''}) {ojp}", True,
          "5/3 wavelet" + (", RCT (YBR_RCT)" if colour else ""), j2k_lossless)

        def j2k_lossy():
            target = int(len(self.j2k_encode(src, None, True)) * LOSSY_J2K_FRACTION)
            psnr, cs = self.search(lambda q: self.j2k_encode(src, q, False), 20.0, 120.0, target, True)
            self.notes_extra[(src.name, C.J2K)] = f"PSNR target {psnr:.2f} dB"
            return self.wrap_save(src, C.J2K, cs, pi=self.j2k_pi(src, cs, False))
        T(C.J2K, f"{ic} jpeg2k_encode(level=<PSNR dB>, reversible=False, codecformat='J2K', "
                 f"bitspersample=BitsStored) {ojp}", False,
          f"9/7 wavelet{', ICT (YBR_ICT)' if colour else ''}; PSNR chosen so the codestream is "
          f"~{LOSSY_J2K_FRACTION:g} x the reversible one", j2k_lossy)

        # --- HTJ2K (OpenJPH via imagecodecs)
        ojph = f"(OpenJPH {v.get('openjph')})"
        ht_note = "codestream precision is the 16-bit sample container" if 8 < bs < 16 else ""

        def htj2k(ts, **kw):
            cs = imagecodecs.htj2k_encode(src.arr, **kw)
            if ts == C.HTJ2K_RPCL:
                info = C.parse_j2k(cs)
                if info.get("progression") != "RPCL" or not info.get("tlm") or not info.get("reversible"):
                    raise RuntimeError(f"htj2k_encode(tlm=True) gave {info} (need RPCL + TLM + reversible)")
            return self.wrap_save(src, ts, cs, pi=self.j2k_pi(src, cs, kw.get("reversible", True)))
        T(C.HTJ2K_LOSSLESS, f"{ic} htj2k_encode(reversible=True) {ojph}", True, ht_note,
          lambda: htj2k(C.HTJ2K_LOSSLESS, reversible=True))
        T(C.HTJ2K_RPCL, f"{ic} htj2k_encode(reversible=True, tlm=True) {ojph}", True,
          ("RPCL progression + TLM " + ht_note).strip(), lambda: htj2k(C.HTJ2K_RPCL, reversible=True, tlm=True))

        def htj2k_lossy():
            target = int(len(self.j2k_encode(src, None, True)) * LOSSY_J2K_FRACTION)
            lq, cs = self.search(lambda e: imagecodecs.htj2k_encode(src.arr, 10.0 ** e, reversible=False),
                                 -7.0, 0.0, target, False)
            self.notes_extra[(src.name, C.HTJ2K)] = f"qstep {10.0 ** lq:.3g}"
            return self.wrap_save(src, C.HTJ2K, cs, pi=self.j2k_pi(src, cs, False))
        T(C.HTJ2K, f"{ic} htj2k_encode(level=<qstep>, reversible=False) {ojph}", False,
          (f"9/7 wavelet; qstep chosen so the codestream is ~{LOSSY_J2K_FRACTION:g} x the reversible J2K one "
           + ht_note).strip(), htj2k_lossy)

        # --- JPEG XL (libjxl via imagecodecs): unsigned 8..16-bit only
        jxl = f"(libjxl {v.get('libjxl')})"
        shift = (1 << (bs - 1)) if pr else 0

        def jxl_ds(ts):
            ds = self.dataset(src, ts)
            if shift:
                ds.PixelRepresentation = 0
                ds.RescaleIntercept = float(ds.get("RescaleIntercept", 0) or 0) - shift
                for kw in ("SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
                           "PixelPaddingRangeLimit", "SmallestPixelValueInSeries", "LargestPixelValueInSeries"):
                    if kw in ds:
                        del ds[kw]
            return ds

        def jxl_arr():
            if not shift:
                return src.arr
            return (src.arr.astype(np.int32) + shift).astype(np.uint16)

        def jxl_encode(ts, **kw):
            a = jxl_arr()
            if 8 < bs < 16:
                kw["bitspersample"] = bs
            cs = imagecodecs.jpegxl_encode(a, effort=JXL_EFFORT, **kw)
            return self.wrap_save(src, ts, cs, ds=jxl_ds(ts))
        shift_note = (f"signed source shifted to unsigned: stored = value + {shift}, PixelRepresentation 0, "
                      f"RescaleIntercept lowered by {shift}" if shift else "")
        if src.ba > 16:
            self.skip(src, C.JXL_LOSSLESS, "JPEG XL in DICOM holds 8-16-bit samples")
            self.skip(src, C.JXL, "JPEG XL in DICOM holds 8-16-bit samples")
        else:
            T(C.JXL_LOSSLESS, f"{ic} jpegxl_encode(lossless=True, effort={JXL_EFFORT}"
                              f"{', bitspersample=BitsStored' if 8 < bs < 16 else ''}) {jxl}", True, shift_note,
              lambda: jxl_encode(C.JXL_LOSSLESS, lossless=True))
            T(C.JXL, f"{ic} jpegxl_encode(lossless=False, distance={JXL_DISTANCE}, effort={JXL_EFFORT}"
                     f"{', bitspersample=BitsStored' if 8 < bs < 16 else ''}) {jxl}", False,
              (f"distance {JXL_DISTANCE}; " + shift_note).strip("; "),
              lambda: jxl_encode(C.JXL, lossless=False, distance=JXL_DISTANCE))
        return tasks

    # ------------------------------------------------------------ reference decode
    @staticmethod
    def decode(path: Path) -> tuple[np.ndarray, object]:
        """Canonical pixels of one single-frame file: pydicom + pylibjpeg, imagecodecs (JPEG XL), zlib (8.1)."""
        ds = pydicom.dcmread(path)
        ts = str(ds.file_meta.TransferSyntaxUID)
        rows, cols, spp = int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel)
        ba, bs, pr = int(ds.BitsAllocated), int(ds.BitsStored), int(ds.PixelRepresentation)
        if ts in C.UNCOMPRESSED:
            arr = ds.pixel_array
        elif ts == C.DEFLATE_FRAMES:
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            raw = zlib.decompressobj(-15).decompress(frame)
            dt = np.dtype(f"<{'i' if pr else 'u'}{ba // 8}")
            arr = np.frombuffer(raw[:rows * cols * spp * dt.itemsize], dt)
        elif ts in C.JXL_FAMILY:
            arr = imagecodecs.jpegxl_decode(next(generate_frames(ds.PixelData, number_of_frames=1)))
        else:
            ds.pixel_array_options(decoding_plugin="pylibjpeg")
            arr = ds.pixel_array
        return canon(arr, rows, cols, spp, ba, bs, pr), ds

    @staticmethod
    def stream_info(ds, ts: str) -> dict:
        if ts in C.UNCOMPRESSED or ts == C.DEFLATE_FRAMES:
            return {}
        fr = next(generate_frames(ds.PixelData, number_of_frames=1))
        try:
            if ts in C.JPEG_FAMILY or ts in C.JLS_FAMILY:
                j = C.jpeg_info(fr)
                keep = ("sof", "precision", "ncomp", "sampling", "ss", "ilv")
                info = {k: j[k] for k in keep if k in j}
                if ts in C.JLS_FAMILY:
                    info["near"] = info.pop("ss", None)
                elif ts in (C.JPEG_LOSSLESS, C.JPEG_SV1):
                    info["predictor"] = info.pop("ss", None)
                    info.pop("ilv", None)
                else:
                    info.pop("ss", None)
                    info.pop("ilv", None)
                return info
            if ts in C.J2K_FAMILY or ts in C.HTJ2K_FAMILY:
                j = C.parse_j2k(fr)
                keep = ("bits", "signed", "progression", "mct", "reversible", "levels", "layers", "tlm")
                return {k: j[k] for k in keep if k in j}
            if ts in C.JXL_FAMILY:
                return {"container": fr[:4] == b"\x00\x00\x00\x0c"}
        except Exception as e:  # noqa: BLE001
            return {"parse_error": str(e)}
        return {}

    # ------------------------------------------------------------ driver
    def load_sources(self) -> None:
        manifest = json.loads((self.corpus / "manifest.json").read_text())
        have = {e["path"] for e in manifest["files"]}
        for name, (cands, desc) in SOURCES.items():
            rel = next((c for c in cands if c in have and (self.corpus / c).exists()), None)
            if rel is None:
                raise SystemExit(f"[bench] none of {cands} is in {self.corpus}/manifest.json; build the corpus first")
            ds = pydicom.dcmread(self.corpus / rel)
            if rel != cands[0]:
                desc += f" [fallback: {rel}]"
            # keep the header, store the decoded pixels natively (explicit VR little endian)
            arr = ds.pixel_array
            for kw in ("LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod"):
                if kw in ds and rel == cands[0]:
                    del ds[kw]
            if str(ds.file_meta.TransferSyntaxUID) != C.EXPLICIT:
                pi = "RGB" if int(ds.SamplesPerPixel) == 3 else ds.PhotometricInterpretation
                ds.set_pixel_data(arr, pi, int(ds.BitsStored), generate_instance_uid=False)
                ds.file_meta.TransferSyntaxUID = C.EXPLICIT
            self.sources[name] = Src(name, rel, desc, ds)

    def run_one(self, task) -> None:
        src, ts, label, lossless, notes, fn = task
        t0 = time.time()
        try:
            path = fn()
            can, ds = self.decode(path)
        except Exception as e:  # noqa: BLE001
            self.skip(src, ts, f"encoder failed: {type(e).__name__}: {e}")
            traceback.print_exc()
            return
        want = src.canon
        if ts in C.JXL_FAMILY and src.pr:  # JPEG XL holds the source shifted to unsigned
            want = (src.canon.astype(np.int32) + (1 << (src.bs - 1))).astype(np.uint16)
        diff = C.diff_summary(can, want)
        # a file must describe the source's values: same BitsStored / sign / rescale (JPEG XL: shifted)
        shifted = ts in C.JXL_FAMILY and src.pr
        got = (int(ds.BitsStored), int(ds.PixelRepresentation), float(ds.get("RescaleSlope", 1) or 1))
        exp = (12 if ts == C.JPEG_EXTENDED else src.bs, 0 if shifted else src.pr,
               float(src.ds.get("RescaleSlope", 1) or 1))
        if got[:2] != exp[:2] or abs(got[2] - exp[2]) > 1e-5 * abs(exp[2]):
            path.unlink(missing_ok=True)
            self.skip(src, ts, f"encoder changed BitsStored/PixelRepresentation/RescaleSlope {exp} -> {got}; "
                               "file dropped")
            return
        if lossless and diff != "equal":
            path.unlink(missing_ok=True)
            self.skip(src, ts, f"lossless encode did not round-trip ({diff}); file dropped")
            return
        extra = self.notes_extra.get((src.name, ts))
        e = {
            "file": path.name, "source": src.name, "transfer_syntax": ts, "codec": CODEC[ts],
            "lossless": lossless, "rows": int(ds.Rows), "columns": int(ds.Columns),
            "samples_per_pixel": int(ds.SamplesPerPixel), "bits_allocated": int(ds.BitsAllocated),
            "bits_stored": int(ds.BitsStored), "pixel_representation": int(ds.PixelRepresentation),
            "photometric_interpretation": str(ds.PhotometricInterpretation),
            "bytes": path.stat().st_size,
            "pixel_data_bytes": len(ds.PixelData),
            "reference_sha256": sha(can),
            "reference_decoder": ("imagecodecs jpegxl_decode" if ts in C.JXL_FAMILY else
                                  "zlib raw inflate" if ts == C.DEFLATE_FRAMES else
                                  "pydicom (native)" if ts in C.UNCOMPRESSED else "pydicom + pylibjpeg"),
            "max_abs_diff_to_source": 0 if diff == "equal" else int(diff.split()[-1]) if diff.startswith("max") else diff,
            "encoder": label,
            "stream": self.stream_info(ds, ts),
            "notes": "; ".join(x for x in (notes, extra) if x),
            "seconds": round(time.time() - t0, 2),
        }
        self.entries.append(e)

    def build(self) -> None:
        self.notes_extra: dict = {}
        self.load_sources()
        tasks = [t for s in self.sources.values() for t in self.plan(s)]
        # the explicit-LE files first (cheap), then the rest, largest sources first
        order = {n: i for i, n in enumerate(["cr1760", "mr1024", "ct512", "us640rgb"])}
        tasks.sort(key=lambda t: (t[1] != C.EXPLICIT, order.get(t[0].name, 9), TS_ORDER.index(t[1])))
        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as ex:
            list(ex.map(self.run_one, tasks))
        rank = {n: i for i, n in enumerate(SOURCES)}
        self.entries.sort(key=lambda e: (rank[e["source"]], TS_ORDER.index(e["transfer_syntax"])))
        self.skipped.sort(key=lambda s: (rank[s["source"]], TS_ORDER.index(s["transfer_syntax"])))

    def finish(self, seconds: float) -> None:
        keep = {e["file"] for e in self.entries}
        for p in self.out.glob("*.dcm"):
            if p.name not in keep and p.name.split("-")[0] in SOURCES:
                p.unlink()
        shutil.rmtree(self.work, ignore_errors=True)
        C.write_json(self.out / "index.json", self.entries)
        meta = {
            "generated_by": "scripts/corpus/bench_data.py",
            "script_sha256": script_sha256(),
            "tools": self.v,
            "sources": {n: {"from": s.rel, "description": s.desc, "rows": s.rows, "columns": s.cols,
                            "samples_per_pixel": s.spp, "bits_stored": s.bs, "pixel_representation": s.pr,
                            "min": s.vmin, "max": s.vmax, "sha256": sha(s.canon)}
                        for n, s in self.sources.items()},
            "skipped": self.skipped,
            "build_seconds": round(seconds, 1),
        }
        C.write_json(self.out / "index.meta.json", meta)


def table(entries: list[dict], skipped: list[dict]) -> None:
    print(f"{'file':<44} {'codec':<14} {'lossless':<8} {'bytes':>9} {'ratio':>6} {'maxdiff':>7}")
    for e in entries:
        raw = e["rows"] * e["columns"] * e["samples_per_pixel"] * e["bits_allocated"] // 8
        print(f"{e['file']:<44} {e['codec']:<14} {'yes' if e['lossless'] else 'no':<8} {e['bytes']:>9} "
              f"{raw / max(1, e['pixel_data_bytes']):>6.2f} {e['max_abs_diff_to_source']!s:>7}")
    for s in skipped:
        print(f"skipped {s['source']}-{s['transfer_syntax']} ({s['codec']}): {s['why']}")


def verify(out: Path) -> int:
    index = json.loads((out / "index.json").read_text())
    bad = 0
    for e in index:
        can, _ = Bench.decode(out / e["file"])
        ok = sha(can) == e["reference_sha256"] and (out / e["file"]).stat().st_size == e["bytes"]
        bad += not ok
        if not ok:
            print(f"[bench] MISMATCH {e['file']}")
    print(f"[bench] verified {len(index) - bad}/{len(index)} files against reference_sha256")
    return 1 if bad else 0


def main() -> None:
    a = ARGS
    out = (a.out or cache_dir() / "bench").resolve()
    if a.verify:
        sys.exit(verify(out))
    corpus = (a.corpus or cache_dir() / "corpus").resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(".work-*"):
        shutil.rmtree(old, ignore_errors=True)
    t0 = time.time()
    b = Bench(corpus, out, a.jobs)
    try:
        b.build()
    finally:
        shutil.rmtree(b.work, ignore_errors=True)
    b.finish(time.time() - t0)
    table(b.entries, b.skipped)
    print(f"[bench] {len(b.entries)} files, {len(b.skipped)} skipped, in {time.time() - t0:.1f}s -> {out}/index.json")


if __name__ == "__main__":
    main()
