"""Generate transfer-syntax variants and pixel-data edge cases with real encoders.

Encoders: dcmtk (dcmconv, dcmcjpeg, dcmcjpls, dcmcrle), gdcm (gdcmconv),
PyPI imagecodecs (OpenJPEG, OpenJPH, libjxl, libjpeg-turbo) and zlib.
pydicom only wraps the encoded frames into datasets and writes them.

Output: <corpus>/files/generated/<kind>/<ts>[-variant].dcm
        (ct16s: <corpus>/files/generated/ct16s/<ts>[-variant]/CTnnnn.dcm, 3 slices)
        <corpus>/files/generated/edge/<name>.dcm
and a list of records (one per file) + the skipped combinations.
"""
from __future__ import annotations

import copy
import shutil
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import common as C
from common import det_uid, run

import imagecodecs
import pydicom
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import convert_color_space, pack_bits

KINDS = ["mono8", "rgb8", "mono12", "ct16s", "multiframe"]
CT_SLICES = [30, 54, 80]  # subset of the 108-slice invesalius CT used for per-syntax variants



@dataclass
class Source:
    kind: str
    datasets: list  # pydicom Datasets, Explicit VR LE, one per output file
    source_files: list  # corpus-relative paths holding the same pixels
    derived_from: str
    desc: str


@dataclass
class Out:
    """One generated file's record (completed into a manifest entry later)."""
    path: str
    transfer_syntax: str
    kind: str
    encoder: str
    lossless: bool
    derived_from: str
    source_file: str | None = None
    expect_source_equal: bool = False
    reference_mode: str = "pydicom"  # pydicom | jpegxl | source
    notes: str = ""
    stream: dict = field(default_factory=dict)
    extra_checks: dict = field(default_factory=dict)


class Generator:
    def __init__(self, corpus: Path, work: Path, jobs: int = 2):
        self.corpus = corpus
        self.files = corpus / "files"
        self.gen = self.files / "generated"
        self.work = work
        self.jobs = jobs
        self.records: list[Out] = []
        self.skipped: list[dict] = []
        self.failures: list[dict] = []
        self.sources: dict[str, Source] = {}
        v = C.tool_versions()
        self.v = v

    # ------------------------------------------------------------------ utils
    def rel(self, p: Path) -> str:
        return str(p.relative_to(self.corpus))

    def skip(self, what: str, why: str) -> None:
        self.skipped.append({"what": what, "why": why})

    def prepare_inputs(self, src: Source, variant: str) -> list[Path]:
        """Write the source datasets with variant-specific UIDs (encoder input)."""
        d = self.work / src.kind / variant
        d.mkdir(parents=True, exist_ok=True)
        series_uid = det_uid("generated", src.kind, variant, "series")
        paths = []
        for i, ds0 in enumerate(src.datasets):
            ds = copy.deepcopy(ds0)
            sop = det_uid("generated", src.kind, variant, i)
            ds.SOPInstanceUID = sop
            ds.file_meta.MediaStorageSOPInstanceUID = sop
            ds.SeriesInstanceUID = series_uid
            ds.SeriesDescription = f"Lumen corpus {src.kind} [{variant}]"[:64]
            p = d / f"in{i}.dcm"
            ds.save_as(p, enforce_file_format=True)
            paths.append(p)
        return paths

    def out_paths(self, kind: str, name: str, n: int) -> list[Path]:
        if kind == "ct16s":
            base = self.gen / "ct16s" / name
            base.mkdir(parents=True, exist_ok=True)
            return [base / f"CT{k + 1:04d}.dcm" for k in CT_SLICES[:n]]
        (self.gen / kind).mkdir(parents=True, exist_ok=True)
        assert n == 1
        return [self.gen / kind / f"{name}.dcm"]

    # ------------------------------------------------------------ wrappers
    @staticmethod
    def frames_of(ds) -> list[np.ndarray]:
        """Raw stored frames of an uncompressed dataset as (rows, cols[, spp]) arrays."""
        arr = ds.pixel_array
        nf = int(ds.get("NumberOfFrames", 1) or 1)
        if nf == 1:
            arr = arr[None]
        return [np.ascontiguousarray(a) for a in arr]

    @staticmethod
    def native_frame_bytes(ds) -> list[bytes]:
        """Each frame as it would be stored natively (little endian, interleaved)."""
        nf = int(ds.get("NumberOfFrames", 1) or 1)
        data = ds.PixelData
        per = len(data) // nf if ds.BitsAllocated != 1 else None
        if per is None:
            raise ValueError("1-bit data not supported here")
        fl = ds.Rows * ds.Columns * ds.SamplesPerPixel * (ds.BitsAllocated // 8)
        return [bytes(data[i * fl:(i + 1) * fl]) for i in range(nf)]

    def wrap(self, inp: Path, out: Path, ts: str, frames: list[bytes], *, pi: str | None = None,
             lossy_method: str | None = None, extended: bool = False, has_bot: bool = True,
             extra=None) -> None:
        ds = pydicom.dcmread(inp)
        raw_len = len(ds.PixelData)
        if extended:
            px, eot, eotl = encapsulate_extended(frames)
            ds.PixelData = px
            ds.ExtendedOffsetTable = eot
            ds.ExtendedOffsetTableLengths = eotl
        else:
            ds.PixelData = encapsulate(frames, has_bot=has_bot)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = ts
        if pi:
            ds.PhotometricInterpretation = pi
        if ds.SamplesPerPixel > 1:
            ds.PlanarConfiguration = 0
        if lossy_method:
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = lossy_method
            ratio = raw_len / max(1, sum(len(f) for f in frames))
            ds.LossyImageCompressionRatio = f"{ratio:.2f}"[:16]
        if extra:
            extra(ds)
        ds.save_as(out, enforce_file_format=True)

    # ---------------------------------------------------------- sources
    def build_sources(self, ct_vol, ct_header) -> None:
        from invesalius import slice_dataset, STUDY_UID  # noqa: F401

        # mono8: real 8-bit echo (pydicom-data, JPEG lossless SV1) cropped to an odd size
        src = self.files / "pydicom-data" / "JPGLosslessP14SV1_1s_1f_8b.dcm"
        ds = pydicom.dcmread(src)
        crop = np.ascontiguousarray(ds.pixel_array[96:479, 256:765])  # 383 x 509 (odd)
        for kw in ("SequenceOfUltrasoundRegions", "LossyImageCompression", "LossyImageCompressionRatio",
                   "LossyImageCompressionMethod"):
            if kw in ds:
                del ds[kw]
        ds.set_pixel_data(crop, "MONOCHROME2", 8, generate_instance_uid=False)
        ds.SOPInstanceUID = det_uid("generated", "mono8", "source")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = det_uid("generated", "mono8", "source", "series")
        ds.ImageComments = "Lumen corpus: rows 96-478, cols 256-764 of pydicom-data JPGLosslessP14SV1_1s_1f_8b.dcm"
        p = self.gen / "sources" / "mono8-echo-crop.dcm"
        p.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(p, enforce_file_format=True)
        self.records.append(Out(self.rel(p), C.EXPLICIT, "mono8", "pydicom Dataset.set_pixel_data (crop)", True,
                                "files/pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm",
                                notes="odd-sized (383x509) crop of a real 8-bit echo; source of all mono8 variants"))
        self.sources["mono8"] = Source("mono8", [pydicom.dcmread(p)], [self.rel(p)], self.rel(p),
                                       "8-bit echo crop 383x509")

        p = self.files / "pydicom" / "examples_rgb_color.dcm"
        self.sources["rgb8"] = Source("rgb8", [pydicom.dcmread(p)], [self.rel(p)], self.rel(p),
                                      "8-bit RGB ultrasound 240x320")
        p = self.files / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
        self.sources["mono12"] = Source("mono12", [pydicom.dcmread(p)], [self.rel(p)], self.rel(p),
                                        "MR 484x484, BitsStored 12")
        p = self.files / "pydicom-data" / "emri_small.dcm"
        self.sources["multiframe"] = Source("multiframe", [pydicom.dcmread(p)], [self.rel(p)], self.rel(p),
                                            "Enhanced MR 10 frames 64x64, BitsStored 12")
        ct_paths = [self.files / "invesalius-ct" / "series" / f"CT{k + 1:04d}.dcm" for k in CT_SLICES]
        self.sources["ct16s"] = Source("ct16s", [pydicom.dcmread(p) for p in ct_paths],
                                       [self.rel(p) for p in ct_paths], "files/invesalius-ct/series",
                                       f"invesalius head CT slices {CT_SLICES} 256x256 int16 HU")

    # ---------------------------------------------------------- encoders
    def tool_variant(self, kind: str, ts: str, name: str, cmd: list[str], lossless: bool, notes: str = "",
                     label: str | None = None) -> None:
        """Run `cmd + [in, out]` on each prepared input of `kind`."""
        src = self.sources[kind]
        inputs = self.prepare_inputs(src, name)
        outs = self.out_paths(kind, name, len(inputs))
        tool = cmd[0]
        ver = self.v["gdcm"] if tool.startswith("gdcm") else self.v["dcmtk"]
        encoder = f"{' '.join(cmd)} IN OUT  ({'gdcm' if tool.startswith('gdcm') else 'dcmtk'} {ver})"
        for inp, out, sf in zip(inputs, outs, src.source_files):
            run(cmd + [str(inp), str(out)])
            got = str(pydicom.dcmread(out, stop_before_pixels=True).file_meta.TransferSyntaxUID)
            if got != ts:
                raise RuntimeError(f"{tool} wrote transfer syntax {got}, expected {ts}")
            self.records.append(Out(self.rel(out), ts, kind, label or encoder, lossless, src.derived_from,
                                    source_file=sf, expect_source_equal=lossless, notes=notes,
                                    stream=self.stream_info(out, ts)))

    def py_variant(self, kind: str, ts: str, name: str, encode, encoder: str, lossless: bool, *,
                   pi=None, lossy_method=None, notes: str = "", reference_mode: str = "pydicom",
                   extended: bool = False, has_bot: bool = True) -> None:
        """encode(frame_array, ds) -> bytes, wrapped by pydicom."""
        src = self.sources[kind]
        inputs = self.prepare_inputs(src, name)
        outs = self.out_paths(kind, name, len(inputs))
        for inp, out, sf in zip(inputs, outs, src.source_files):
            ds = pydicom.dcmread(inp)
            frames = [encode(f, ds) for f in self.frames_of(ds)]
            pi_v = pi(frames[0]) if callable(pi) else pi
            self.wrap(inp, out, ts, frames, pi=pi_v, lossy_method=lossy_method, extended=extended,
                      has_bot=has_bot)
            self.records.append(Out(self.rel(out), ts, kind, encoder, lossless, src.derived_from,
                                    source_file=sf, expect_source_equal=lossless, notes=notes,
                                    reference_mode=reference_mode, stream=self.stream_info(out, ts)))

    @staticmethod
    def stream_info(path: Path, ts: str) -> dict:
        if ts in C.UNCOMPRESSED:
            return {}
        ds = pydicom.dcmread(path)
        nf = int(ds.get("NumberOfFrames", 1) or 1)
        frags = list(pydicom.encaps.generate_fragments(ds.PixelData))
        info = {"fragments": len(frags) - 1, "bot_entries": len(frags[0]) // 4 if frags else 0}
        if "ExtendedOffsetTable" in ds:
            info["extended_offset_table"] = True
        try:
            fr = next(generate_frames(ds.PixelData, number_of_frames=nf))
        except Exception as e:  # noqa: BLE001
            return info | {"error": str(e)}
        try:
            if ts in C.JPEG_FAMILY or ts in C.JLS_FAMILY:
                j = C.jpeg_info(fr)
                keep = ("sof", "precision", "ncomp", "comp_ids", "sampling", "ss", "ilv", "app14_transform", "jfif")
                info |= {k: j[k] for k in keep if k in j}
            elif ts in C.J2K_FAMILY or ts in C.HTJ2K_FAMILY:
                j = C.parse_j2k(fr)
                keep = ("bits", "signed", "progression", "mct", "reversible", "ht", "tlm", "levels", "layers")
                info |= {k: j[k] for k in keep if k in j}
            elif ts in C.JXL_FAMILY:
                info["codestream"] = "jxl-container" if fr[:4] == b"\x00\x00\x00\x0c" else "jxl-naked"
        except Exception as e:  # noqa: BLE001
            info["parse_error"] = str(e)
        return info

    # ------------------------------------------------------------ the matrix
    def matrix_tasks(self):
        tasks = []
        v = self.v
        ic = f"imagecodecs {v['imagecodecs']}"

        def T(fn, *a, **k):
            tasks.append((fn, a, k))

        for kind in KINDS:
            src = self.sources[kind]
            ds0 = src.datasets[0]
            bs, pr, spp = int(ds0.BitsStored), int(ds0.PixelRepresentation), int(ds0.SamplesPerPixel)
            colour = spp == 3

            # --- uncompressed: dcmconv
            for ts, opt in ((C.IMPLICIT, "+ti"), (C.EXPLICIT, "+te"), (C.BIG_ENDIAN, "+tb"), (C.DEFLATED, "+td")):
                T(self.tool_variant, kind, ts, C.TS_SHORT[ts], ["dcmconv", opt], True)

            # --- JPEG baseline / extended: dcmcjpeg
            if bs <= 8:
                T(self.tool_variant, kind, C.JPEG_BASELINE, "jpeg-baseline", ["dcmcjpeg", "+eb", "+un"], False,
                  "colour: dcmcjpeg default YCbCr 4:2:2 (YBR_FULL_422), JFIF" if colour else "")
            else:
                self.skip(f"jpeg-baseline (4.50) x {kind}",
                          f"JPEG baseline is 8-bit only; {kind} has BitsStored {bs}")
            if bs <= 12 and not (pr and bs > 8):
                T(self.tool_variant, kind, C.JPEG_EXTENDED, "jpeg-extended",
                  ["dcmcjpeg", "+ee", "+rm", "+sr", "+un"], False,
                  "+rm +sr keep the stored value range (no rescaling of 12-bit input)")
            else:
                self.skip(f"jpeg-extended (4.51) x {kind}",
                          f"JPEG extended is at most 12-bit; {kind} is {bs}-bit "
                          f"{'signed' if pr else 'unsigned'} (dcmcjpeg would remap values)")

            # --- JPEG lossless: every predictor + SV1
            for sv in range(1, 8):
                T(self.tool_variant, kind, C.JPEG_LOSSLESS, f"jpeg-lossless-p{sv}",
                  ["dcmcjpeg", "+el", "+sv", str(sv)], True, f"predictor (selection value) {sv}")
            T(self.tool_variant, kind, C.JPEG_SV1, "jpeg-lossless-sv1", ["dcmcjpeg", "+e1"], True)
            if 8 < bs < 16 and not pr:
                # dcmcjpeg always codes 16-bit precision for BitsAllocated 16; real 12-bit streams too:
                T(self.py_variant, kind, C.JPEG_SV1, "jpeg-lossless-sv1-p12",
                  lambda a, ds: imagecodecs.jpeg8_encode(a, lossless=True, predictor=1,
                                                         bitspersample=int(ds.BitsStored)),
                  f"{ic} jpeg8_encode(lossless=True, predictor=1, bitspersample=BitsStored) "
                  f"(libjpeg-turbo {v.get('libjpeg-turbo')})", True,
                  notes="JPEG lossless with sample precision = BitsStored (12), not 16")
                T(self.tool_variant, kind, C.JLS_LOSSLESS, "jls-lossless-cooked", ["dcmcjpls", "+el", "+pc", "+un"],
                  True, "dcmcjpls cooked mode: JPEG-LS precision = BitsStored (12); raw mode writes 16")

            # --- JPEG-LS
            ils = (("in", "interleave none"), ("il", "interleave line"), ("is", "interleave sample")) if colour else ((None, ""),)
            for il, il_note in ils:
                suffix = f"-{il}" if il else ""
                ilopt = [f"+{il}"] if il else []
                T(self.tool_variant, kind, C.JLS_LOSSLESS, f"jls-lossless{suffix}",
                  ["dcmcjpls", "+el", "+un"] + ilopt, True, il_note)
                if pr:
                    # dcmcjpls refuses near-lossless on signed data ("Unsupported pixel representation")
                    T(self.tool_variant, kind, C.JLS_NEAR, f"jls-near{suffix}", ["gdcmconv", "-L", "-Y", "-e", "2"],
                      False, "NEAR=2 by gdcm (dcmcjpls +en refuses PixelRepresentation 1); signed values "
                             "coded as their 16-bit two's complement bit pattern")
                else:
                    T(self.tool_variant, kind, C.JLS_NEAR, f"jls-near{suffix}",
                      ["dcmcjpls", "+en", "+md", "2", "+un"] + ilopt, False, ("NEAR=2 " + il_note).strip())

            # --- JPEG 2000: gdcm (OpenJPEG inside) and imagecodecs (OpenJPEG 2.5) for MCT colour
            T(self.tool_variant, kind, C.J2K_LOSSLESS, "j2k-lossless", ["gdcmconv", "--j2k"], True,
              "gdcm writes colour without MCT (PhotometricInterpretation RGB)" if colour else "")
            T(self.tool_variant, kind, C.J2K, "j2k", ["gdcmconv", "--j2k", "--lossy", "-r", "10"], False,
              "gdcm lossy = reversible 5/3 wavelet truncated to rate 10")
            if colour:
                T(self.py_variant, kind, C.J2K_LOSSLESS, "j2k-lossless-rct",
                  lambda a, ds: imagecodecs.jpeg2k_encode(a, level=0, reversible=True, mct=True, codecformat="J2K"),
                  f"{ic} jpeg2k_encode(reversible=True, mct=True, codecformat='J2K') (OpenJPEG {v.get('openjpeg')})",
                  True, pi="YBR_RCT", notes="reversible colour transform (RCT) in the codestream")
                T(self.py_variant, kind, C.J2K, "j2k-ict",
                  lambda a, ds: imagecodecs.jpeg2k_encode(a, reversible=False, mct=True, codecformat="J2K"),
                  f"{ic} jpeg2k_encode(reversible=False, mct=True, codecformat='J2K') (OpenJPEG {v.get('openjpeg')})",
                  False, pi="YBR_ICT", lossy_method="ISO_15444_1",
                  notes="irreversible colour transform (ICT) + 9/7 wavelet")
            else:
                T(self.py_variant, kind, C.J2K, "j2k-97",
                  lambda a, ds: imagecodecs.jpeg2k_encode(a, reversible=False, codecformat="J2K",
                                                          bitspersample=int(ds.BitsStored)),
                  f"{ic} jpeg2k_encode(reversible=False, codecformat='J2K', bitspersample=BitsStored) "
                  f"(OpenJPEG {v.get('openjpeg')})", False, lossy_method="ISO_15444_1",
                  notes="irreversible 9/7 wavelet, codestream precision = BitsStored")

            # --- HTJ2K: imagecodecs (OpenJPH)
            ht_pi = (lambda rev: ("YBR_RCT" if rev else "YBR_ICT")) if colour else (lambda rev: None)
            ht_note = "codestream precision is the sample container (16 for BitsStored 12)" if 8 < bs < 16 else ""
            T(self.py_variant, kind, C.HTJ2K_LOSSLESS, "htj2k-lossless",
              lambda a, ds: imagecodecs.htj2k_encode(a, reversible=True),
              f"{ic} htj2k_encode(reversible=True) (OpenJPH {v.get('openjph')})", True, pi=ht_pi(True),
              notes=ht_note)
            T(self.py_variant, kind, C.HTJ2K_RPCL, "htj2k-rpcl",
              lambda a, ds: imagecodecs.htj2k_encode(a, reversible=True, tlm=True),
              f"{ic} htj2k_encode(reversible=True, tlm=True) (OpenJPH {v.get('openjph')})", True,
              pi=ht_pi(True), notes=("RPCL progression + TLM markers " + ht_note).strip())
            T(self.py_variant, kind, C.HTJ2K, "htj2k",
              lambda a, ds: imagecodecs.htj2k_encode(a, reversible=False),
              f"{ic} htj2k_encode(reversible=False) (OpenJPH {v.get('openjph')})", False, pi=ht_pi(False),
              lossy_method="ISO_15444_15", notes=("irreversible 9/7 " + ht_note).strip())

            # --- RLE
            T(self.tool_variant, kind, C.RLE, "rle", ["dcmcrle"], True)

            # --- Deflated Image Frame Compression: raw deflate (RFC 1951) per native LE frame
            T(self.deflate_frames_variant, kind)

            # --- JPEG XL
            jxl_note = ""
            if pr:
                jxl_note = "signed samples coded as their 16-bit two's complement bit pattern (uint16)"

            def jxl_lossless(a, ds):
                b = int(ds.BitsStored)
                if a.dtype.kind == "i":
                    a = a.view(a.dtype.str.replace("i", "u"))
                    return imagecodecs.jpegxl_encode(a, lossless=True, effort=7)
                kw = {"bitspersample": b} if 8 < b < 16 else {}
                return imagecodecs.jpegxl_encode(a, lossless=True, effort=7, **kw)

            T(self.py_variant, kind, C.JXL_LOSSLESS, "jxl-lossless", jxl_lossless,
              f"{ic} jpegxl_encode(lossless=True, effort=7[, bitspersample=BitsStored]) (libjxl {v.get('libjxl')})",
              True, reference_mode="jpegxl", notes=jxl_note)
            if pr:
                self.skip(f"jxl (4.112 lossy) x {kind}",
                          "JPEG XL has no signed samples: lossy coding of the two's complement bit pattern "
                          "gives errors of thousands of HU around 0 (measured max_abs_diff 6507)")
            else:
                def jxl_lossy(a, ds):
                    b = int(ds.BitsStored)
                    kw = {"bitspersample": b} if 8 < b < 16 else {}
                    return imagecodecs.jpegxl_encode(a, lossless=False, distance=1.0, effort=7, **kw)
                T(self.py_variant, kind, C.JXL, "jxl", jxl_lossy,
                  f"{ic} jpegxl_encode(lossless=False, distance=1.0, effort=7) (libjxl {v.get('libjxl')})",
                  False, reference_mode="jpegxl", lossy_method="ISO_18181_1")
            if bs <= 8:
                pass  # 4.111 is generated after the baseline JPEGs exist (recompression_tasks)
            else:
                self.skip(f"jxl-jpeg (4.111) x {kind}",
                          f"JPEG XL JPEG recompression needs a baseline (8-bit) JPEG; {kind} is {bs}-bit")
        return tasks

    def deflate_frames_variant(self, kind: str) -> None:
        src = self.sources[kind]
        name = "deflate-frames"
        inputs = self.prepare_inputs(src, name)
        outs = self.out_paths(kind, name, len(inputs))
        for inp, out, sf in zip(inputs, outs, src.source_files):
            ds = pydicom.dcmread(inp)
            frames = []
            for fb in self.native_frame_bytes(ds):
                co = zlib.compressobj(9, zlib.DEFLATED, -15)
                frames.append(co.compress(fb) + co.flush())
            self.wrap(inp, out, C.DEFLATE_FRAMES, frames)
            self.records.append(Out(self.rel(out), C.DEFLATE_FRAMES, kind,
                                    f"python zlib {zlib.ZLIB_RUNTIME_VERSION} compressobj(9, DEFLATED, wbits=-15) per frame",
                                    True, src.derived_from, source_file=sf, expect_source_equal=True,
                                    reference_mode="source",
                                    notes="each frame = native little-endian frame bytes, raw deflate (RFC 1951), "
                                          "one fragment per frame (odd-length fragments padded with one 0x00)"))

    def recompression_tasks(self):
        """4.111: lossless JPEG XL transcode of the baseline JPEGs made by dcmcjpeg."""
        tasks = []
        for kind in ("mono8", "rgb8"):
            base = self.gen / kind / "jpeg-baseline.dcm"
            tasks.append((self.jxl_recompress, (kind, base), {}))
        return tasks

    def jxl_recompress(self, kind: str, base: Path) -> None:
        src = self.sources[kind]
        ds = pydicom.dcmread(base)
        nf = int(ds.get("NumberOfFrames", 1) or 1)
        jpegs = [j[:j.rfind(b"\xff\xd9") + 2] for j in generate_frames(ds.PixelData, number_of_frames=nf)]
        jxls = [imagecodecs.jpegxl_encode_jpeg(j) for j in jpegs]
        recon = [imagecodecs.jpegxl_decode_jpeg(x) for x in jxls]
        ok = all(r == j for r, j in zip(recon, jpegs))
        inputs = self.prepare_inputs(src, "jxl-jpeg")
        out = self.out_paths(kind, "jxl-jpeg", 1)[0]
        self.wrap(inputs[0], out, C.JXL_JPEG, jxls, pi=ds.PhotometricInterpretation,
                  lossy_method="ISO_10918_1")
        self.records.append(Out(self.rel(out), C.JXL_JPEG, kind,
                                f"imagecodecs {self.v['imagecodecs']} jpegxl_encode_jpeg(<frames of "
                                f"{self.rel(base)}>) (libjxl {self.v.get('libjxl')})",
                                False, self.rel(base), source_file=src.source_files[0],
                                reference_mode="jpegxl",
                                notes="lossless transcode of the dcmcjpeg baseline JPEG; PhotometricInterpretation "
                                      "kept from the JPEG; pixels are lossy w.r.t. the original source",
                                extra_checks={"jpeg_reconstruction": "bit-exact" if ok else "DIFFERS",
                                              "jpeg_file": self.rel(base)},
                                stream=self.stream_info(out, C.JXL_JPEG)))

    # ------------------------------------------------------------ edge cases
    def edge_tasks(self):
        return [(f, (), {}) for f in (self.edge_fragments, self.edge_offsets, self.edge_bits_garbage,
                                     self.edge_1bit, self.edge_32bit, self.edge_colour, self.edge_jpeg_app14,
                                     self.edge_mono1, self.edge_palette8)]

    def edge_out(self, name: str) -> Path:
        d = self.gen / "edge"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{name}.dcm"

    def edge_tool(self, kind_src: str, name: str, kind: str, ts: str, cmd: list[str], lossless: bool, notes: str,
                  inp: Path | None = None, source_file: str | None = "src", derived_from: str | None = None) -> Path:
        src = self.sources[kind_src]
        inp = inp or self.prepare_inputs(src, "edge-" + name)[0]
        out = self.edge_out(name)
        run(cmd + [str(inp), str(out)])
        tool = "gdcm" if cmd[0].startswith("gdcm") else "dcmtk"
        sf = src.source_files[0] if source_file == "src" else source_file
        self.records.append(Out(self.rel(out), ts, kind, f"{' '.join(cmd)} IN OUT  ({tool} {self.v[tool]})",
                                lossless, derived_from or (self.rel(inp) if inp.is_relative_to(self.corpus) else src.derived_from),
                                source_file=sf, expect_source_equal=lossless and sf is not None, notes=notes,
                                stream=self.stream_info(out, ts)))
        return out

    def edge_fragments(self) -> None:
        self.edge_tool("mono12", "jls-fragments-8k", "edge:fragments", C.JLS_LOSSLESS,
                       ["dcmcjpls", "+el", "+fs", "8"], True,
                       "single frame split over many fragments of <= 8 KiB, Basic Offset Table present")
        self.edge_tool("multiframe", "jpeg-sv1-fragments-bot-empty", "edge:fragments", C.JPEG_SV1,
                       ["dcmcjpeg", "+e1", "+fs", "1", "-ot"], True,
                       "10 frames, each split over several 1 KiB fragments, EMPTY Basic Offset Table "
                       "(frame boundaries only from JPEG SOI/EOI markers)")
        self.edge_tool("multiframe", "jpeg-sv1-fragments-bot", "edge:fragments", C.JPEG_SV1,
                       ["dcmcjpeg", "+e1", "+fs", "1", "+ot"], True,
                       "10 frames, each split over several 1 KiB fragments, Basic Offset Table present")

    def edge_offsets(self) -> None:
        self.edge_tool("multiframe", "jls-bot-empty", "edge:bot-empty", C.JLS_LOSSLESS,
                       ["dcmcjpls", "+el", "-ot"], True, "10 frames, one fragment per frame, empty Basic Offset Table")
        self.edge_tool("multiframe", "jls-bot-present", "edge:bot-present", C.JLS_LOSSLESS,
                       ["dcmcjpls", "+el", "+ot"], True, "10 frames, one fragment per frame, Basic Offset Table present")
        src = self.sources["multiframe"]
        inp = self.prepare_inputs(src, "edge-eot")[0]
        ds = pydicom.dcmread(inp)
        frames = [imagecodecs.htj2k_encode(f, reversible=True) for f in self.frames_of(ds)]
        out = self.edge_out("htj2k-extended-offset-table")
        self.wrap(inp, out, C.HTJ2K_LOSSLESS, frames, extended=True)
        self.records.append(Out(self.rel(out), C.HTJ2K_LOSSLESS, "edge:extended-offset-table",
                                f"imagecodecs {self.v['imagecodecs']} htj2k_encode(reversible=True) + pydicom "
                                f"encapsulate_extended", True, src.derived_from, source_file=src.source_files[0],
                                expect_source_equal=True,
                                notes="10 frames, Extended Offset Table (7FE0,0001) + lengths (7FE0,0002), "
                                      "empty Basic Offset Table",
                                stream=self.stream_info(out, C.HTJ2K_LOSSLESS)))

    def edge_bits_garbage(self) -> None:
        rng = np.random.default_rng(1234)
        # unsigned: MR BitsStored 12 with random bits 12..15
        src = self.sources["mono12"]
        inp = self.prepare_inputs(src, "edge-garbage")[0]
        ds = pydicom.dcmread(inp)
        a = ds.pixel_array.astype(np.uint16)
        g = a | (rng.integers(0, 16, a.shape, dtype=np.uint16) << 12)
        ds.PixelData = g.astype("<u2").tobytes()
        out = self.edge_out("bits-stored-12-garbage-high-bits")
        ds.save_as(out, enforce_file_format=True)
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:high-bits-garbage",
                                "pydicom (numpy: random bits OR-ed into bits 12-15)", True, src.derived_from,
                                source_file=src.source_files[0], expect_source_equal=True,
                                notes="BitsAllocated 16, BitsStored 12, HighBit 11, unsigned; bits 12-15 hold random "
                                      "garbage that decoders must mask off"))
        # same, big endian and RLE, written by dcmtk from the garbage file
        for ts, cmd, nm in ((C.BIG_ENDIAN, ["dcmconv", "+tb"], "bits-stored-12-garbage-high-bits-be"),
                            (C.RLE, ["dcmcrle"], "bits-stored-12-garbage-high-bits-rle")):
            self.edge_tool("mono12", nm, "edge:high-bits-garbage", ts, cmd, True,
                           "as bits-stored-12-garbage-high-bits.dcm (garbage kept in the encoded bytes)", inp=out)
        # signed: CT HU in BitsStored 13 (two's complement), random bits 13..15
        src = self.sources["ct16s"]
        inp = self.prepare_inputs(src, "edge-garbage-signed")[0]
        ds = pydicom.dcmread(inp)
        a = ds.pixel_array.astype(np.int32)
        assert a.min() >= -4096 and a.max() <= 4095
        raw = (a & 0x1FFF).astype(np.uint16) | (rng.integers(0, 8, a.shape, dtype=np.uint16) << 13)
        ds.BitsStored = 13
        ds.HighBit = 12
        ds.PixelData = raw.astype("<u2").tobytes()
        out = self.edge_out("bits-stored-13-signed-garbage-high-bits")
        ds.save_as(out, enforce_file_format=True)
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:high-bits-garbage",
                                "pydicom (numpy: 13-bit two's complement + random bits 13-15)", True,
                                src.derived_from, source_file=src.source_files[0], expect_source_equal=True,
                                notes="CT HU, BitsAllocated 16, BitsStored 13, PixelRepresentation 1; bits 13-15 "
                                      "random: decoders must mask to 13 bits and sign-extend from bit 12"))

    def edge_1bit(self) -> None:
        src_p = self.files / "pydicom-data" / "liver.dcm"
        ds = pydicom.dcmread(src_p)
        a = ds.pixel_array  # (3, 512, 512) 0/1
        crop = np.ascontiguousarray(a[:, 200:301, 180:279])  # 101 x 99: 9999 bits per frame, not byte aligned
        if crop.sum() == 0:
            raise RuntimeError("1-bit crop is empty")
        ds.Rows, ds.Columns = crop.shape[1:]
        ds.NumberOfFrames = crop.shape[0]
        ds.PixelData = pack_bits(crop.reshape(-1))
        ds["PixelData"].VR = "OB"
        ds.SOPInstanceUID = det_uid("edge", "1bit")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if "PerFrameFunctionalGroupsSequence" in ds:
            ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:crop.shape[0]]
        out = self.edge_out("seg-1bit-101x99-3frames")
        ds.save_as(out, enforce_file_format=True)
        back = pydicom.dcmread(out).pixel_array
        if not np.array_equal(back.reshape(crop.shape), crop):
            raise RuntimeError("1-bit round trip failed")
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:1bit", "pydicom pack_bits (crop of liver.dcm SEG)",
                                True, "files/pydicom-data/liver.dcm",
                                notes="1-bit SEG, 3 frames of 101x99 = 9999 bits: frames start mid-byte "
                                      "(frame k starts at bit 9999*k of the packed stream)"))
        inp = out
        out2 = self.edge_out("seg-1bit-101x99-3frames-be")
        run(["dcmconv", "+tb", str(inp), str(out2)])
        self.records.append(Out(self.rel(out2), C.BIG_ENDIAN, "edge:1bit",
                                f"dcmconv +tb IN OUT  (dcmtk {self.v['dcmtk']})", True, self.rel(inp),
                                notes="as seg-1bit-101x99-3frames.dcm in Explicit VR Big Endian"))

    def edge_32bit(self) -> None:
        src = self.sources["ct16s"]
        inp = self.prepare_inputs(src, "edge-32bit")[0]
        ds = pydicom.dcmread(inp)
        a = ds.pixel_array.astype(np.int32) * 100000 + 7  # real structure, values beyond 16 bits, signed
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 1
        ds.RescaleSlope = "0.00001"
        ds.RescaleIntercept = "-0.00007"
        ds.PixelData = a.astype("<i4").tobytes()
        ds["PixelData"].VR = "OW"
        ds.SOPClassUID = pydicom.uid.SecondaryCaptureImageStorage  # CT IOD does not allow 32-bit
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        for kw in ("WindowCenter", "WindowWidth"):
            del ds[kw]
        out = self.edge_out("int32-signed-ct")
        ds.save_as(out, enforce_file_format=True)
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:32bit",
                                "pydicom (numpy int32: HU*100000+7)", True, src.derived_from,
                                notes="BitsAllocated/Stored 32, PixelRepresentation 1 (Secondary Capture); "
                                      "RescaleSlope 1e-5 / Intercept -7e-5 give HU back"))
        self.edge_tool("ct16s", "int32-signed-ct-rle", "edge:32bit", C.RLE, ["dcmcrle"], True,
                       "as int32-signed-ct.dcm, RLE (4 byte segments per sample)", inp=out, source_file=None)
        self.skip("explicit-be (1.2.2) x edge:32bit (generated)",
                  "ambiguous: dcmconv +tb byte-swaps 32-bit OW Pixel Data per 16-bit word, pydicom reads it as "
                  "32-bit big endian (values differ, e.g. max_abs_diff 2303030971); pydicom's own rtdose_expb*.dcm "
                  "use 32-bit order and are in the corpus (dcmtk disagrees on them)")

    def edge_colour(self) -> None:
        src = self.sources["rgb8"]
        inp = self.prepare_inputs(src, "edge-planar1")[0]
        self.edge_tool("rgb8", "rgb-planar-configuration-1", "edge:planar1", C.EXPLICIT,
                       ["gdcmconv", "--raw", "--planar-configuration", "1"], True,
                       "uncompressed RGB, PlanarConfiguration 1 (RRR..GGG..BBB per frame)", inp=inp)
        self.edge_tool("rgb8", "rgb-planar-configuration-1-be", "edge:planar1", C.BIG_ENDIAN,
                       ["dcmconv", "+tb"], True, "as rgb-planar-configuration-1.dcm, Explicit VR Big Endian",
                       inp=self.gen / "edge" / "rgb-planar-configuration-1.dcm")
        inp = self.prepare_inputs(src, "edge-ybr-full")[0]
        self.edge_tool("rgb8", "ybr-full-uncompressed", "edge:ybr_full", C.EXPLICIT,
                       ["gdcmconv", "-P", "YBR_FULL"], False,
                       "uncompressed YBR_FULL converted from RGB by gdcm; reference is the RGB conversion "
                       "pydicom makes (lossy vs. the original RGB by rounding)", inp=inp)
        # YBR_FULL_422: gdcm cannot write it; pydicom converts, numpy subsamples (average of pairs)
        ds = pydicom.dcmread(self.prepare_inputs(src, "edge-ybr-422")[0])
        rgb = ds.pixel_array
        ybr = convert_color_space(rgb, "RGB", "YBR_FULL").astype(np.int32)
        r, c = ybr.shape[:2]
        assert c % 2 == 0
        y = ybr[..., 0]
        cb = (ybr[:, 0::2, 1] + ybr[:, 1::2, 1] + 1) // 2
        cr = (ybr[:, 0::2, 2] + ybr[:, 1::2, 2] + 1) // 2
        packed = np.empty((r, c // 2, 4), np.uint8)
        packed[..., 0], packed[..., 1] = y[:, 0::2], y[:, 1::2]
        packed[..., 2], packed[..., 3] = cb, cr
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = packed.tobytes()
        out = self.edge_out("ybr-full-422-uncompressed")
        ds.save_as(out, enforce_file_format=True)
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:ybr_full_422",
                                "pydicom convert_color_space RGB->YBR_FULL + numpy 4:2:2 (Y0 Y1 Cb Cr)", False,
                                src.derived_from, source_file=src.source_files[0],
                                notes="uncompressed YBR_FULL_422 (2 Y + Cb + Cr per pixel pair); reference = "
                                      "upsampled (chroma repeated) then converted to RGB"))

    def edge_jpeg_app14(self) -> None:
        src = self.sources["rgb8"]
        inp = self.prepare_inputs(src, "edge-jpeg-rgb")[0]
        ds = pydicom.dcmread(inp)
        rgb = self.frames_of(ds)[0]
        j = imagecodecs.jpeg8_encode(rgb, level=90, colorspace="RGB", outcolorspace="RGB", subsampling="444")
        info = C.jpeg_info(j)
        if info.get("app14_transform") != 0:
            raise RuntimeError(f"expected Adobe APP14 transform 0, got {info}")
        enc = f"imagecodecs {self.v['imagecodecs']} jpeg8_encode(level=90, colorspace='RGB', outcolorspace='RGB') " \
              f"(libjpeg-turbo {self.v.get('libjpeg-turbo')})"
        out = self.edge_out("jpeg-baseline-rgb-app14-transform0")
        self.wrap(inp, out, C.JPEG_BASELINE, [j], pi="RGB", lossy_method="ISO_10918_1")
        self.records.append(Out(self.rel(out), C.JPEG_BASELINE, "edge:jpeg-app14", enc, False, src.derived_from,
                                source_file=src.source_files[0],
                                notes="RGB coded without colour transform, Adobe APP14 transform=0, component ids "
                                      "'R','G','B', PhotometricInterpretation RGB",
                                stream=self.stream_info(out, C.JPEG_BASELINE)))
        # the same stream with the APP14 segment removed
        k = j.find(b"\xff\xee")
        seg_len = int.from_bytes(j[k + 2:k + 4], "big")
        j2 = j[:k] + j[k + 2 + seg_len:]
        inp = self.prepare_inputs(src, "edge-jpeg-rgb-noapp14")[0]
        out = self.edge_out("jpeg-baseline-rgb-no-app14")
        self.wrap(inp, out, C.JPEG_BASELINE, [j2], pi="RGB", lossy_method="ISO_10918_1")
        self.records.append(Out(self.rel(out), C.JPEG_BASELINE, "edge:jpeg-no-app14",
                                enc + " then APP14 segment removed", False, src.derived_from,
                                source_file=src.source_files[0],
                                notes="RGB coded without colour transform and NO APP14/JFIF marker (component ids "
                                      "'R','G','B'); decoders must not apply YCbCr->RGB",
                                stream=self.stream_info(out, C.JPEG_BASELINE)))
        # YCbCr stream by dcmcjpeg whose JFIF APP0 is replaced by Adobe APP14 transform=1
        base = self.gen / "rgb8" / "jpeg-baseline.dcm"
        bds = pydicom.dcmread(base)
        jb = next(generate_frames(bds.PixelData, number_of_frames=1))
        app14 = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x01"
        if jb[2:4] == b"\xff\xe0":
            l0 = int.from_bytes(jb[4:6], "big")
            jy = jb[:2] + app14 + jb[4 + l0:]
        else:
            jy = jb[:2] + app14 + jb[2:]
        inp = self.prepare_inputs(src, "edge-jpeg-ybr-app14")[0]
        out = self.edge_out("jpeg-baseline-ybr422-app14-transform1")
        self.wrap(inp, out, C.JPEG_BASELINE, [jy], pi=bds.PhotometricInterpretation, lossy_method="ISO_10918_1")
        self.records.append(Out(self.rel(out), C.JPEG_BASELINE, "edge:jpeg-app14",
                                f"dcmcjpeg +eb (files/generated/rgb8/jpeg-baseline.dcm) with JFIF APP0 replaced by "
                                f"Adobe APP14 transform=1", False, self.rel(base), source_file=src.source_files[0],
                                notes="YCbCr 4:2:2 with Adobe APP14 transform=1 (YCbCr), PhotometricInterpretation "
                                      f"{bds.PhotometricInterpretation}",
                                stream=self.stream_info(out, C.JPEG_BASELINE)))

    def edge_mono1(self) -> None:
        src = self.sources["mono12"]
        inp = self.prepare_inputs(src, "edge-mono1")[0]
        ds = pydicom.dcmread(inp)
        a = ds.pixel_array.astype(np.uint16)
        ds.PixelData = (4095 - a).astype("<u2").tobytes()
        ds.PhotometricInterpretation = "MONOCHROME1"
        for kw in ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation"):
            if kw in ds:
                del ds[kw]
        out = self.edge_out("monochrome1-mr-inverted")
        ds.save_as(out, enforce_file_format=True)
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:monochrome1",
                                "pydicom (numpy: 4095 - MR values)", True, src.derived_from,
                                notes="MONOCHROME1 (min = white); stored values are 4095 - source, so it displays like "
                                      "the source MR; reference is NOT inverted"))
        self.edge_tool("mono12", "monochrome1-mr-inverted-jls", "edge:monochrome1", C.JLS_LOSSLESS,
                       ["dcmcjpls", "+el"], True, "as monochrome1-mr-inverted.dcm, JPEG-LS lossless", inp=out,
                       source_file=None)

    def edge_palette8(self) -> None:
        src_p = self.files / "pydicom" / "examples_palette.dcm"
        ds = pydicom.dcmread(src_p)
        for c in ("Red", "Green", "Blue"):
            desc = list(ds[f"{c}PaletteColorLookupTableDescriptor"].value)
            data = np.frombuffer(ds[f"{c}PaletteColorLookupTableData"].value, "<u2")
            nent = desc[0] or 65536
            lut8 = (data[:nent] >> 8).astype(np.uint8)
            ds[f"{c}PaletteColorLookupTableDescriptor"].value = [desc[0], desc[1], 8]
            ds[f"{c}PaletteColorLookupTableData"].value = lut8.tobytes()  # 8-bit entries, 2 per 16-bit word
        ds.SOPInstanceUID = det_uid("edge", "palette8")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        out = self.edge_out("palette-color-8bit-lut-entries")
        ds.save_as(out, enforce_file_format=True)
        try:
            rgb_dtype = str(pydicom.pixels.apply_color_lut(pydicom.dcmread(out).pixel_array, pydicom.dcmread(out)).dtype)
        except Exception as e:  # noqa: BLE001
            rgb_dtype = f"(pydicom apply_color_lut failed: {e})"
        self.records.append(Out(self.rel(out), C.EXPLICIT, "edge:palette-lut8",
                                "pydicom (LUT data of examples_palette.dcm reduced to 8-bit entries)", True,
                                "files/pydicom/examples_palette.dcm", source_file="files/pydicom/examples_palette.dcm",
                                expect_source_equal=True,
                                notes="PALETTE COLOR, LUT Descriptor 256\\0\\8, LUT Data OW holding 256 8-bit entries "
                                      f"(two per 16-bit word); pydicom apply_color_lut -> {rgb_dtype}; "
                                      "reference = indices (LUT not applied)"))
        self.edge_tool("rgb8", "palette-color-8bit-lut-entries-rle", "edge:palette-lut8", C.RLE, ["dcmcrle"], True,
                       "as palette-color-8bit-lut-entries.dcm, RLE", inp=out,
                       source_file="files/pydicom/examples_palette.dcm")

    # ------------------------------------------------------------ driver
    def run_tasks(self, tasks) -> None:
        def call(t):
            fn, a, k = t
            try:
                fn(*a, **k)
            except Exception as e:  # noqa: BLE001
                what = f"{fn.__name__}{tuple(x for x in a if isinstance(x, str))}"
                self.failures.append({"what": what, "why": f"{type(e).__name__}: {e}",
                                      "trace": traceback.format_exc(limit=3)})
        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as ex:
            list(ex.map(call, tasks))

    def generate(self, ct_vol, ct_header) -> None:
        self.build_sources(ct_vol, ct_header)
        self.run_tasks(self.matrix_tasks())
        self.run_tasks(self.recompression_tasks() + self.edge_tasks())
        shutil.rmtree(self.work, ignore_errors=True)
        for f in self.failures:
            self.skip(f["what"], "encoder failed: " + f["why"])
