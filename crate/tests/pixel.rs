//! The CPU display pipeline (`lumen::pixel`) on real corpus files, against DCMTK's
//! `dcmj2pnm` (3.6.7, installed with the corpus by scripts/setup-corpus.sh) given
//! the same explicit choice: `+Ww C W` windows, `+Wi n` file windows, `+Wl n` VOI
//! LUTs, `+Wm` min/max, `+Wfs` sigmoid, `+Piv`/`+Pid` presentation shapes, and
//! palette and RGB images. Overlays are switched off on DCMTK's side (`-O`): we
//! do not burn them in. Every comparison must be within 1 grey level; most are
//! exact. Where DCMTK's arithmetic differs from the standard's, the case says so.

mod common;

use common::corpus_dir;
use lumen::pixel::{
    self, DisplayAttributes, PresentationLutShape, RenderOptions, VoiLutFunction, VoiSelection,
    VoiWindow,
};
use lumen::{DecodeLimits, DicomFile};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    /// Relative to the corpus directory.
    file: &'static str,
    /// 1-based, as dcmj2pnm's `+F`.
    frame: u32,
    dcmtk: Vec<&'static str>,
    options: RenderOptions,
    colour: bool,
    /// Largest difference allowed, with the reason when it is not 0.
    tolerance: u8,
}

fn window(c: f64, w: f64) -> VoiSelection {
    VoiSelection::Window(VoiWindow::new(c, w, VoiLutFunction::Linear))
}

fn grey(file: &'static str, dcmtk: &[&'static str], voi: VoiSelection, tolerance: u8) -> Case {
    Case {
        file,
        frame: 1,
        dcmtk: dcmtk.to_vec(),
        options: RenderOptions {
            voi,
            ..RenderOptions::default()
        },
        colour: false,
        tolerance,
    }
}

fn inverted(mut case: Case) -> Case {
    case.options.presentation_lut_shape = Some(PresentationLutShape::Inverse);
    case
}

fn colour(file: &'static str) -> Case {
    Case {
        file,
        frame: 1,
        dcmtk: Vec::new(),
        options: RenderOptions::default(),
        colour: true,
        tolerance: 0,
    }
}

const CT_SMALL: &str = "files/pydicom/CT_small.dcm";
const CT_HEAD: &str = "files/invesalius-ct/series/CT0050.dcm";
const CT_DICOMDIR: &str = "files/pydicom/dicomdirtests/77654033/CT2/17106";
const MR_SMALL: &str = "files/pydicom/MR_small.dcm";
const MR_12BIT_FRACTIONAL_RESCALE: &str = "files/pydicom-data/MR2_UNCR.dcm";
const MR_12BIT_TWO_WINDOWS: &str = "files/pydicom/examples_overlay.dcm";
const MONO12: &str = "files/generated/mono12/explicit-le.dcm";
const SIGNED14: &str = "files/pydicom-data/693_UNCR.dcm";
const SIGNED16_NO_RESCALE: &str = "files/pydicom/dicomdirtests/98892003/MR700/4467";
const UNSIGNED32_DOSE: &str = "files/pydicom/rtdose.dcm";
const SIGNED32_TINY_SLOPE: &str = "files/generated/edge/int32-signed-ct.dcm";
const MONO1_RG1: &str = "files/pydicom-data/RG1_UNCR.dcm";
const MONO1_RG3: &str = "files/pydicom-data/RG3_UNCR.dcm";
const MONO1_CR_FRACTIONAL_RESCALE: &str = "files/pydicom/dicomdirtests/77654033/CR1/6154";
const MONO1_MR: &str = "files/generated/edge/monochrome1-mr-inverted.dcm";
const VOI_LUT: &str = "files/pydicom-data/vlut_04.dcm";
const MODALITY_LUT: &str = "files/pydicom-data/mlut_18.dcm";
const MULTIFRAME_MR: &str = "files/pydicom-data/emri_small.dcm";
const ENHANCED_CT: &str = "files/pydicom-data/eCT_Supplemental.dcm";
const MONO8: &str = "files/pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm";

fn cases() -> Vec<Case> {
    let mut v = vec![
        // CT with Rescale Intercept −1024 and explicit windows: LINEAR is exact.
        grey(CT_SMALL, &["+Ww", "40", "400"], window(40.0, 400.0), 0),
        grey(
            CT_SMALL,
            &["+Ww", "-600", "1500"],
            window(-600.0, 1500.0),
            0,
        ),
        grey(CT_SMALL, &["+Ww", "40", "1"], window(40.0, 1.0), 0),
        grey(CT_SMALL, &["+Ww", "40.5", "2"], window(40.5, 2.0), 0),
        grey(CT_SMALL, &["+Wm"], VoiSelection::MinMax, 0),
        grey(CT_SMALL, &["+Wm"], VoiSelection::Default, 0),
        grey(CT_HEAD, &["+Ww", "40", "80"], window(40.0, 80.0), 0),
        grey(CT_HEAD, &["+Wi", "1"], VoiSelection::FileWindow(0), 0),
        grey(CT_DICOMDIR, &["+Wi", "1"], VoiSelection::Default, 0),
        grey(
            CT_DICOMDIR,
            &["+Ww", "300", "2000"],
            window(300.0, 2000.0),
            0,
        ),
        // MR, signed 16-bit, file window.
        grey(MR_SMALL, &["+Wi", "1"], VoiSelection::FileWindow(0), 0),
        grey(MR_SMALL, &["+Ww", "500", "700"], window(500.0, 700.0), 0),
        // 12-bit MR with Rescale Slope 3.774114: dcmimgle truncates the modality
        // values to integers, we keep them exact: up to 1 level.
        grey(
            MR_12BIT_FRACTIONAL_RESCALE,
            &["+Wi", "1"],
            VoiSelection::FileWindow(0),
            1,
        ),
        grey(
            MR_12BIT_FRACTIONAL_RESCALE,
            &["+Ww", "2000", "500"],
            window(2000.0, 500.0),
            1,
        ),
        // 12-bit with two windows and their explanations.
        grey(
            MR_12BIT_TWO_WINDOWS,
            &["+Wi", "1"],
            VoiSelection::FileWindow(0),
            0,
        ),
        grey(
            MR_12BIT_TWO_WINDOWS,
            &["+Wi", "2"],
            VoiSelection::FileWindow(1),
            0,
        ),
        grey(MONO12, &["+Ww", "1000", "1500"], window(1000.0, 1500.0), 0),
        grey(MONO12, &["+Wm"], VoiSelection::MinMax, 0),
        // Signed 14-bit CT, signed 16-bit without rescale.
        grey(SIGNED14, &["+Wi", "1"], VoiSelection::FileWindow(0), 0),
        grey(SIGNED14, &["+Wm"], VoiSelection::MinMax, 0),
        grey(SIGNED16_NO_RESCALE, &["+Wm"], VoiSelection::MinMax, 0),
        grey(
            SIGNED16_NO_RESCALE,
            &["+Ww", "-200", "3000"],
            window(-200.0, 3000.0),
            0,
        ),
        grey(MONO8, &["+Wi", "1"], VoiSelection::Default, 0),
        // Explicit VR Big Endian, and 1-bit data (min/max 0..1).
        grey(
            "files/pydicom/MR_small_bigendian.dcm",
            &["+Wi", "1"],
            VoiSelection::Default,
            0,
        ),
        grey(
            "files/pydicom/liver_1frame.dcm",
            &["+Wm"],
            VoiSelection::Default,
            0,
        ),
        grey(UNSIGNED32_DOSE, &["+Wm"], VoiSelection::Default, 0),
        // Rescale Slope 1e-5: dcmimgle truncates the modality values to integers.
        grey(SIGNED32_TINY_SLOPE, &["+Wm"], VoiSelection::Default, 1),
        grey(
            SIGNED32_TINY_SLOPE,
            &["+Ww", "40", "400"],
            window(40.0, 400.0),
            0,
        ),
        // MONOCHROME1: inverted after the window.
        grey(MONO1_RG1, &["+Wi", "1"], VoiSelection::Default, 0),
        grey(
            MONO1_RG1,
            &["+Ww", "8000", "6000"],
            window(8000.0, 6000.0),
            0,
        ),
        // Window 550/1024 on 10 bits: 255·(1 − p) is an exact integer for some
        // values (85 at 720), which DCMTK's `offset + x·gradient` lands a hair
        // below and truncates to one less (2758 pixels); here it stays exact.
        grey(MONO1_RG3, &["+Wi", "1"], VoiSelection::Default, 1),
        grey(MONO1_RG3, &["+Wm"], VoiSelection::MinMax, 0),
        grey(MONO1_MR, &["+Wm"], VoiSelection::Default, 0),
        // CR, MONOCHROME1, Rescale Slope 0.684: the integer truncation again.
        grey(
            MONO1_CR_FRACTIONAL_RESCALE,
            &["+Wi", "1"],
            VoiSelection::Default,
            1,
        ),
        // VOI LUT Sequence (16-bit entries): DCMTK scales by 256/2^16, we by
        // 255/(2^16 − 1).
        grey(VOI_LUT, &["+Wl", "1"], VoiSelection::FileLut(0), 1),
        grey(VOI_LUT, &["+Wl", "1"], VoiSelection::Default, 1),
        inverted(grey(
            VOI_LUT,
            &["+Piv", "+Wl", "1"],
            VoiSelection::FileLut(0),
            1,
        )),
        // Modality LUT Sequence (signed input, first mapped −2048, 16-bit entries).
        grey(MODALITY_LUT, &["+Wm"], VoiSelection::Default, 0),
        grey(
            MODALITY_LUT,
            &["+Ww", "32768", "30000"],
            window(32768.0, 30000.0),
            0,
        ),
        // Enhanced CT: rescale and window from the Shared Functional Groups
        // (dcmimgle 3.6.7 reads the rescale there but not the window: given explicitly).
        grey(ENHANCED_CT, &["+Ww", "49", "102"], VoiSelection::Default, 0),
    ];
    // Multi-frame: the frame's own min/max, as dcmj2pnm loads only that frame.
    // Frame 10 (0..374) has exact integer grey levels (88 → 60.0) that DCMTK's
    // floating point lands a hair below and truncates (102 pixels).
    for (frame, tolerance) in [(1, 0), (5, 0), (10, 1)] {
        let mut c = grey(MULTIFRAME_MR, &["+Wm"], VoiSelection::MinMax, tolerance);
        c.frame = frame;
        v.push(c);
    }
    // SIGMOID (C.11.2.1.3.1): DCMTK's `+Wfs`.
    for (file, c, w) in [
        (CT_SMALL, 40.0, 400.0),
        (MR_SMALL, 600.0, 1600.0),
        (MONO12, 1000.0, 1500.0),
    ] {
        let mut case = grey(
            file,
            &["+Wfs"],
            VoiSelection::Window(VoiWindow::new(c, w, VoiLutFunction::Sigmoid)),
            0,
        );
        case.dcmtk = vec!["+Wfs", "+Ww", leak(c), leak(w)];
        v.push(case);
    }
    // SIGMOID inverted (Presentation LUT Shape INVERSE; MONOCHROME1).
    let sigmoid = |c, w| VoiSelection::Window(VoiWindow::new(c, w, VoiLutFunction::Sigmoid));
    let mut c = grey(
        CT_SMALL,
        &["+Wfs", "+Piv", "+Ww", "40", "400"],
        sigmoid(40.0, 400.0),
        0,
    );
    c.options.presentation_lut_shape = Some(PresentationLutShape::Inverse);
    v.push(c);
    v.push(grey(
        MONO1_RG3,
        &["+Wfs", "+Ww", "550", "1024"],
        sigmoid(550.0, 1024.0),
        0,
    ));
    // Presentation LUT Shape INVERSE on MONOCHROME2, and IDENTITY on MONOCHROME1
    // (the shape decides, as in DCMTK: not inverted).
    let mut c = grey(
        CT_SMALL,
        &["+Piv", "+Ww", "40", "400"],
        window(40.0, 400.0),
        0,
    );
    c.options.presentation_lut_shape = Some(PresentationLutShape::Inverse);
    v.push(c);
    let mut c = grey(
        MONO1_RG3,
        &["+Pid", "+Wi", "1"],
        VoiSelection::FileWindow(0),
        0,
    );
    c.options.presentation_lut_shape = Some(PresentationLutShape::Identity);
    v.push(c);
    // The user's invert on MONOCHROME1 gives DCMTK's IDENTITY rendering.
    let mut c = grey(MONO1_RG1, &["+Pid", "+Wi", "1"], VoiSelection::Default, 0);
    c.options.invert = true;
    v.push(c);
    // Palette colour: 16-bit entries (top 8 bits), 8-bit entries packed two to a
    // word, a 16-bit index, first mapped 0; and RGB of 8, 16 and 32 bits.
    v.extend(
        [
            "files/pydicom-data/OT-PAL-8-face.dcm",
            "files/pydicom/examples_palette.dcm",
            "files/pydicom-data/OBXXXX1A.dcm",
            "files/pydicom-data/OBXXXX1A_expb.dcm",
            "files/generated/edge/palette-color-8bit-lut-entries.dcm",
            "files/pydicom-data/US1_UNCR.dcm",
            "files/pydicom-data/SC_rgb.dcm",
            "files/pydicom-data/SC_rgb_16bit.dcm",
            "files/pydicom-data/SC_rgb_16bit_2frame.dcm",
        ]
        .map(colour),
    );
    // Uncompressed YBR_FULL / YBR_FULL_422: `codec` converts to RGB by PS3.3
    // C.7.6.3.1.2 (chroma offset 128, rounded); DCMTK sums separately truncated
    // table terms with an offset of 127.5 (0.7010 · 255): up to 2 levels apart.
    for file in [
        "files/generated/edge/ybr-full-uncompressed.dcm",
        "files/pydicom/SC_ybr_full_422_uncompressed.dcm",
    ] {
        let mut c = colour(file);
        c.tolerance = 2;
        v.push(c);
    }
    v
}

fn leak(v: f64) -> &'static str {
    Box::leak(v.to_string().into_boxed_str())
}

/// A binary PGM (P5) or PPM (P6) with maxval 255.
fn read_pnm(path: &Path) -> (u32, u32, usize, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i] == b'#' {
            while bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).to_string());
    }
    let channels = match fields[0].as_str() {
        "P5" => 1,
        "P6" => 3,
        other => panic!("{}: not a binary PNM ({other})", path.display()),
    };
    assert_eq!(fields[3], "255", "{}: maxval", path.display());
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let data = bytes[i + 1..].to_vec();
    assert_eq!(data.len(), (w * h) as usize * channels);
    (w, h, channels, data)
}

fn dcmj2pnm(file: &Path, frame: u32, args: &[&str], out: &Path) -> (u32, u32, usize, Vec<u8>) {
    let status = Command::new("dcmj2pnm")
        .args(["-O", "--write-raw-pnm", "+F", &frame.to_string()])
        .args(args)
        .arg(file)
        .arg(out)
        .status()
        .expect("dcmj2pnm (dcmtk) is installed by scripts/setup-corpus.sh");
    assert!(
        status.success(),
        "dcmj2pnm {args:?} {} failed",
        file.display()
    );
    read_pnm(out)
}

fn ours(file: &Path, frame: u32, case: &Case) -> (u32, u32, Vec<u8>) {
    let dicom = DicomFile::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let decoded = dicom
        .decode_frame(frame - 1, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{} frame {frame}: {e}", file.display()));
    let attrs = dicom.display.for_frame(frame - 1);
    let pixels = if case.colour {
        pixel::render_rgb8(&decoded, &attrs, &case.options)
    } else {
        pixel::render_grey8(&decoded, &attrs, &case.options)
    }
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    (decoded.info.columns, decoded.info.rows, pixels)
}

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lumen-pixel-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cpu_pipeline_matches_dcmtk_dcmj2pnm() {
    let corpus = corpus_dir();
    let scratch = scratch_dir("dcmtk");
    let mut failures = Vec::new();
    eprintln!(
        "{:<58} {:>3} {:<26} {:>4} {:>9}",
        "file", "frm", "dcmj2pnm", "max", "differing"
    );
    for (i, case) in cases().iter().enumerate() {
        let path = corpus.join(case.file);
        let out = scratch.join(format!("{i}.pnm"));
        let (w, h, channels, reference) = dcmj2pnm(&path, case.frame, &case.dcmtk, &out);
        let (cols, rows, pixels) = ours(&path, case.frame, case);
        assert_eq!((w, h), (cols, rows), "{}", case.file);
        assert_eq!(channels, if case.colour { 3 } else { 1 }, "{}", case.file);
        let diffs: Vec<u8> = pixels
            .iter()
            .zip(&reference)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let differing = diffs.iter().filter(|d| **d > 0).count();
        eprintln!(
            "{:<58} {:>3} {:<26} {:>4} {:>9}",
            case.file,
            case.frame,
            case.dcmtk.join(" "),
            max,
            differing
        );
        if max > case.tolerance {
            failures.push(format!(
                "{} frame {} ({}): max difference {max} > {} on {differing} pixels",
                case.file,
                case.frame,
                case.dcmtk.join(" "),
                case.tolerance
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// 32-bit RGB, which dcmj2pnm refuses ("PixelData has a value representation
/// other than OB ... or OW"), keeps its top 8 bits: it equals DCMTK's rendering of
/// the 8-bit original it was made from.
#[test]
fn rgb_32_bit_keeps_top_8_bits() {
    let corpus = corpus_dir();
    let scratch = scratch_dir("rgb32");
    let case = colour("files/pydicom-data/SC_rgb_32bit.dcm");
    let (_, _, ours) = ours(&corpus.join(case.file), 1, &case);
    let out = scratch.join("rgb8.pnm");
    let (_, _, _, reference) =
        dcmj2pnm(&corpus.join("files/pydicom-data/SC_rgb.dcm"), 1, &[], &out);
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(ours, reference);
}

/// Segmented palettes (0028,1221-1223) are not read (DCMTK 3.6.7 does not
/// support them either): rendering says so instead of guessing colours.
#[test]
fn segmented_palette_is_a_typed_error() {
    let path = corpus_dir().join("files/pydicom-data/gdcm-US-ALOKA-16.dcm");
    let dicom = DicomFile::open(&path).unwrap();
    let frame = dicom.decode_frame(0, &DecodeLimits::default()).unwrap();
    assert!(dicom.display.palette.is_none());
    let err = pixel::render_rgb8(&frame, &dicom.display, &RenderOptions::default()).unwrap_err();
    assert_eq!(err, pixel::PixelError::MissingPalette);
}

/// The same data set read from Part 10 and from DICOM JSON (dcmtk's `dcm2json`,
/// which sends OW LUT Data as InlineBinary and US/SS as numbers) gives the same
/// display attributes.
#[test]
fn json_and_part10_give_the_same_attributes() {
    let corpus = corpus_dir();
    for file in [
        CT_DICOMDIR,
        MR_12BIT_TWO_WINDOWS,
        MR_12BIT_FRACTIONAL_RESCALE,
        MONO1_CR_FRACTIONAL_RESCALE,
        VOI_LUT,
        MODALITY_LUT,
        ENHANCED_CT,
        MULTIFRAME_MR,
        "files/pydicom-data/OT-PAL-8-face.dcm",
        "files/pydicom/examples_palette.dcm",
        "files/generated/edge/palette-color-8bit-lut-entries.dcm",
        "files/pydicom-data/color-pl.dcm",
    ] {
        let path = corpus.join(file);
        let out = Command::new("dcm2json")
            .arg(&path)
            .output()
            .expect("dcm2json (dcmtk) is installed by scripts/setup-corpus.sh");
        assert!(out.status.success(), "dcm2json {file}");
        let text = String::from_utf8(out.stdout).unwrap();
        let ds = &lumen::dicomweb::json::Dataset::parse_array(&text).unwrap()[0];
        let from_json = DisplayAttributes::from_json(ds);
        let from_part10 = DicomFile::open(&path).unwrap().display;
        assert_eq!(from_json, from_part10, "{file}");
    }
}

#[test]
fn display_attributes_of_real_files() {
    let corpus = corpus_dir();
    let open = |f: &str| DicomFile::open(&corpus.join(f)).unwrap().display;

    let ct: DisplayAttributes = open(CT_DICOMDIR);
    assert_eq!(
        ct.modality,
        pixel::ModalityTransform::Rescale {
            slope: 1.0,
            intercept: -1024.0
        }
    );
    assert_eq!(ct.windows.len(), 1);
    assert_eq!((ct.windows[0].center, ct.windows[0].width), (30.0, 100.0));

    let two = open(MR_12BIT_TWO_WINDOWS);
    let w: Vec<_> = two
        .windows
        .iter()
        .map(|w| (w.center, w.width, w.explanation.as_deref()))
        .collect();
    assert_eq!(
        w,
        [
            (450.0, 790.0, Some("WINDOW1")),
            (200.0, 443.0, Some("WINDOW2"))
        ]
    );
    assert!((two.pixel_aspect() - 1.0).abs() < 1e-12);

    let mlut = open(MODALITY_LUT);
    match &mlut.modality {
        pixel::ModalityTransform::Lut(l) => {
            assert_eq!((l.first_mapped, l.bits, l.data.len()), (-2048, 16, 4096))
        }
        other => panic!("expected a Modality LUT, got {other:?}"),
    }

    let vlut = open(VOI_LUT);
    assert_eq!(vlut.voi_luts.len(), 1);
    assert_eq!(
        (
            vlut.voi_luts[0].first_mapped,
            vlut.voi_luts[0].bits,
            vlut.voi_luts[0].data[255]
        ),
        (0, 16, 65535)
    );

    let enhanced = open(ENHANCED_CT);
    assert_eq!(
        enhanced.modality,
        pixel::ModalityTransform::Rescale {
            slope: 1.0,
            intercept: -1024.0
        }
    );
    assert_eq!(
        (enhanced.windows[0].center, enhanced.windows[0].width),
        (49.0, 102.0)
    );
    assert_eq!(enhanced.pixel_spacing, Some([0.388672, 0.388672]));

    let pl = open("files/pydicom-data/color-pl.dcm");
    assert_eq!(pl.pixel_aspect_ratio, Some([4.0, 3.0]));
    assert!((pl.pixel_aspect() - 4.0 / 3.0).abs() < 1e-12);

    let rg1 = open(MONO1_RG1);
    assert_eq!(
        rg1.photometric_interpretation.as_deref(),
        Some("MONOCHROME1")
    );

    let pal = open("files/pydicom-data/OT-PAL-8-face.dcm");
    let p = pal.palette.expect("palette");
    assert_eq!((p.red.entries, p.red.bits_per_entry), (200, 16));
    let pal8 = open("files/generated/edge/palette-color-8bit-lut-entries.dcm")
        .palette
        .expect("palette");
    assert_eq!((pal8.red.entries, pal8.red.bits_per_entry), (256, 8));
}

#[test]
fn hu_probe_gives_rescaled_values() {
    let path = corpus_dir().join(CT_SMALL);
    let dicom = DicomFile::open(&path).unwrap();
    let frame = dicom.decode_frame(0, &DecodeLimits::default()).unwrap();
    let stored = i16::from_le_bytes([frame.data[0], frame.data[1]]) as f64;
    let hu = pixel::modality_value(&frame, &dicom.display, 0, 0).unwrap();
    assert_eq!(hu, stored - 1024.0);
    let last = frame.data.len() - 2;
    let stored = i16::from_le_bytes([frame.data[last], frame.data[last + 1]]) as f64;
    assert_eq!(
        pixel::modality_value(&frame, &dicom.display, 127, 127).unwrap(),
        stored - 1024.0
    );
    assert!(pixel::modality_value(&frame, &dicom.display, 128, 0).is_err());
    let (lo, hi) = pixel::modality_range(&frame, &dicom.display).unwrap();
    assert!(lo <= hu && hu <= hi);
}

/// Malformed or missing values in DICOM JSON degrade to the documented defaults;
/// per-frame functional groups override the shared ones for their frame.
#[test]
fn json_attributes_degrade_and_per_frame_groups_override() {
    let text = r#"{
      "00280004": {"vr": "CS", "Value": ["MONOCHROME2 "]},
      "00280101": {"vr": "US", "Value": [12]},
      "00280103": {"vr": "US", "Value": [0]},
      "00281050": {"vr": "DS", "Value": ["abc", "40"]},
      "00281051": {"vr": "DS", "Value": [400, 0]},
      "00281053": {"vr": "DS", "Value": ["0"]},
      "00281052": {"vr": "DS", "Value": ["-1024"]},
      "00281056": {"vr": "CS", "Value": ["NONSENSE"]},
      "00280030": {"vr": "DS", "Value": ["-1", "0.5"]},
      "20500020": {"vr": "CS", "Value": ["LIN OD"]},
      "00283010": {"vr": "SQ", "Value": [
        {"00283002": {"vr": "US", "Value": [4, 0]},
         "00283006": {"vr": "US", "Value": [1, 2, 3, 4]}},
        {"00283002": {"vr": "US", "Value": [4, 0, 16]},
         "00283006": {"vr": "OW", "BulkDataURI": "http://pacs/bulk/voi"}},
        {"00283002": {"vr": "US", "Value": [2, 10, 8]},
         "00283003": {"vr": "LO", "Value": ["SOFT"]},
         "00283006": {"vr": "OW", "InlineBinary": "CRQ="}}
      ]},
      "52009229": {"vr": "SQ", "Value": [{
        "00289132": {"vr": "SQ", "Value": [{
          "00281050": {"vr": "DS", "Value": [100]},
          "00281051": {"vr": "DS", "Value": [50]},
          "00281056": {"vr": "CS", "Value": ["SIGMOID"]}}]}
      }]},
      "52009230": {"vr": "SQ", "Value": [
        {},
        {"00289145": {"vr": "SQ", "Value": [{
           "00281053": {"vr": "DS", "Value": [2]},
           "00281052": {"vr": "DS", "Value": [-10]},
           "00281054": {"vr": "LO", "Value": ["HU"]}}]},
         "00289132": {"vr": "SQ", "Value": [{
           "00281050": {"vr": "DS", "Value": [7]},
           "00281051": {"vr": "DS", "Value": [0.5]},
           "00281056": {"vr": "CS", "Value": ["LINEAR_EXACT"]}}]}}
      ]}
    }"#;
    let ds = &lumen::dicomweb::json::Dataset::parse_array(text).unwrap()[0];
    let a = DisplayAttributes::from_json(ds);
    assert_eq!(a.photometric_interpretation.as_deref(), Some("MONOCHROME2"));
    // A slope of 0 drops the rescale.
    assert_eq!(a.modality, pixel::ModalityTransform::IDENTITY);
    // "abc" makes the whole Window Center unusable, so the shared functional
    // group's window applies, with its SIGMOID.
    assert_eq!(a.windows.len(), 1);
    assert_eq!(
        (
            a.windows[0].center,
            a.windows[0].width,
            a.windows[0].function
        ),
        (100.0, 50.0, VoiLutFunction::Sigmoid)
    );
    // A descriptor with two values and a bulk data reference leave one VOI LUT.
    assert_eq!(a.voi_luts.len(), 1);
    assert_eq!(
        (
            a.voi_luts[0].first_mapped,
            a.voi_luts[0].bits,
            &a.voi_luts[0].data[..]
        ),
        (10, 8, &[9u16, 20][..])
    );
    assert_eq!(a.voi_luts[0].explanation.as_deref(), Some("SOFT"));
    assert_eq!(
        a.unresolved_bulk_data,
        vec!["http://pacs/bulk/voi".to_string()]
    );
    assert_eq!(a.presentation_lut_shape, None);
    assert_eq!(a.pixel_spacing, None);
    assert_eq!(a.pixel_aspect(), 1.0);
    assert_eq!(a.stored_range(), Some((0, 4095)));

    // Frame 0 has an empty per-frame item: the shared values.
    assert!(matches!(a.for_frame(0), std::borrow::Cow::Borrowed(_)));
    let f1 = a.for_frame(1);
    assert_eq!(
        f1.modality,
        pixel::ModalityTransform::Rescale {
            slope: 2.0,
            intercept: -10.0
        }
    );
    assert_eq!(f1.rescale_type.as_deref(), Some("HU"));
    assert_eq!(
        (
            f1.windows[0].center,
            f1.windows[0].width,
            f1.windows[0].function
        ),
        (7.0, 0.5, VoiLutFunction::LinearExact)
    );
    // Past the per-frame items: the shared values.
    assert_eq!(a.for_frame(9).windows, a.windows);

    // Nothing at all: every default.
    let empty = DisplayAttributes::from_json(&lumen::dicomweb::json::Dataset::new());
    assert_eq!(empty, DisplayAttributes::default());
    assert_eq!(empty.full_range_window(), None);
}

/// Every corpus file's display attributes read without panicking, and its first
/// frame renders with the default choices: greyscale to grey and RGB, colour to
/// RGB, with the output size of the contract. Only segmented palettes (not read)
/// may refuse.
#[test]
fn every_corpus_frame_renders_with_defaults() {
    let corpus = corpus_dir();
    let mut rendered = 0;
    for entry in common::manifest().files {
        if entry.expect_error == Some(true) || entry.kind.as_deref() == Some("broken") {
            continue;
        }
        let path = corpus.join(&entry.path);
        let Ok(dicom) = DicomFile::open(&path) else {
            continue;
        };
        let Ok(frame) = dicom.decode_frame(0, &DecodeLimits::default()) else {
            continue;
        };
        let attrs = dicom.display.for_frame(0);
        let pixels = (frame.info.rows * frame.info.columns) as usize;
        match pixel::render_rgb8(&frame, &attrs, &RenderOptions::default()) {
            Ok(rgb) => assert_eq!(rgb.len(), pixels * 3, "{}", entry.path),
            Err(pixel::PixelError::MissingPalette) => {
                assert!(
                    entry.kind.as_deref().unwrap_or("").contains("palette"),
                    "{}",
                    entry.path
                );
                continue;
            }
            Err(e) => panic!("{}: {e}", entry.path),
        }
        if frame.info.samples_per_pixel == 1
            && frame.info.photometric_interpretation != "PALETTE COLOR"
        {
            let grey = pixel::render_grey8(&frame, &attrs, &RenderOptions::default()).unwrap();
            assert_eq!(grey.len(), pixels, "{}", entry.path);
        }
        rendered += 1;
    }
    assert!(rendered > 400, "only {rendered} corpus frames rendered");
}
