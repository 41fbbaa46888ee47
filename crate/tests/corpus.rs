//! Every corpus file with pixel data decodes natively; lossless syntaxes equal the
//! reference decoder's canonical bytes exactly, lossy ones stay within the documented
//! tolerance of it (see `tolerance`). The manifest comes from real files (PyPI pydicom
//! and pydicom-data, Debian invesalius-examples) and variants made by dcmtk, gdcm and
//! imagecodecs; references from pydicom + pylibjpeg (libjxl for JPEG XL).

mod common;

use common::{corpus_dir, manifest, Entry};
use lumen::frame_json::sha256_hex;
use lumen::{DecodeLimits, DicomFile};
use std::collections::BTreeMap;

/// Largest absolute difference allowed from the reference for a lossy transfer syntax.
/// Lossless syntaxes get 0. Why each bound is what it is:
/// - JPEG baseline/extended: T.81 defines decoders by accuracy, not bits, and real
///   decoders differ in IDCT and chroma upsampling. Grey: 2. Colour with chroma
///   subsampling: 10, because the reference (pydicom + pylibjpeg-libjpeg, Thomas
///   Richter's libjpeg) upsamples differently from libjpeg-turbo: the manifest's
///   cross-checks show dcmtk and gdcm differing from it by the same 10 on those files,
///   while ours stays within 3 of libjpeg-turbo (imagecodecs) there.
/// - JPEG XL: libjxl and jxl-oxide compute VarDCT (and the pixels of a recompressed
///   JPEG, 4.111) in float with different operation order: 1 level of rounding.
/// - JPEG 2000 / HTJ2K lossy: both sides are OpenJPEG 2.5 (C in the reference,
///   openjp2's Rust port here), which agree exactly: 0.
/// - JPEG-LS near-lossless: decoding is deterministic (T.87): 0.
fn tolerance(entry: &Entry) -> u32 {
    let colour = entry.samples_per_pixel.unwrap_or(1) > 1;
    match entry.transfer_syntax.as_str() {
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" if colour => 10,
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => 2,
        "1.2.840.10008.1.2.4.111" | "1.2.840.10008.1.2.4.112" => 1,
        _ => 0,
    }
}

fn sample_bytes(bits_allocated: u16) -> usize {
    match bits_allocated {
        0..=8 => 1,
        9..=16 => 2,
        _ => 4,
    }
}

fn max_abs_diff(a: &[u8], b: &[u8], bytes: usize, signed: bool) -> u64 {
    let value = |c: &[u8]| -> i64 {
        match (bytes, signed) {
            (1, false) => c[0] as i64,
            (1, true) => c[0] as i8 as i64,
            (2, false) => u16::from_le_bytes([c[0], c[1]]) as i64,
            (2, true) => i16::from_le_bytes([c[0], c[1]]) as i64,
            (_, false) => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            (_, true) => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
        }
    };
    a.chunks_exact(bytes)
        .zip(b.chunks_exact(bytes))
        .map(|(x, y)| value(x).abs_diff(value(y)))
        .max()
        .unwrap_or(0)
}

#[derive(Default)]
struct Stats {
    files: usize,
    frames: usize,
    exact: usize,
    max_diff: u64,
}

#[test]
fn corpus_decodes_to_reference_pixels() {
    let m = manifest();
    let dir = corpus_dir();
    let limits = DecodeLimits::default();
    let mut failures = Vec::new();
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    let mut checked = 0;
    for entry in &m.files {
        let path = dir.join(&entry.path);
        let opened = DicomFile::open(&path);
        if entry.expect_error == Some(true) && entry.reference.is_none() {
            // Deliberately broken files: any outcome but a panic is acceptable, and
            // an error must name its cause.
            if let Err(e) = &opened {
                assert!(!e.to_string().is_empty());
            }
            continue;
        }
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{}: {e}", entry.path));
                continue;
            }
        };
        let Some(reference) = &entry.reference else {
            // No reference pixels: must still decode every frame or fail cleanly.
            for i in 0..file.number_of_frames() {
                let _ = file.decode_frame(i, &limits);
            }
            continue;
        };
        let reference = match std::fs::read(dir.join(reference)) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: reference {reference}: {e}", entry.path));
                continue;
            }
        };
        let colour = if entry.samples_per_pixel.unwrap_or(1) > 1 {
            " colour"
        } else {
            " grey"
        };
        let s = stats
            .entry(format!("{}{colour}", entry.transfer_syntax))
            .or_default();
        s.files += 1;
        let tol = tolerance(entry);
        let mut offset = 0usize;
        for i in 0..file.number_of_frames() {
            let frame = match file.decode_frame(i, &limits) {
                Ok(f) => f,
                Err(e) => {
                    failures.push(format!("{} frame {}: {e}", entry.path, i + 1));
                    break;
                }
            };
            s.frames += 1;
            checked += 1;
            let end = offset + frame.data.len();
            let Some(want) = reference.get(offset..end) else {
                failures.push(format!(
                    "{} frame {}: reference has {} bytes, frame ends at {end}",
                    entry.path,
                    i + 1,
                    reference.len()
                ));
                break;
            };
            offset = end;
            if frame.info.photometric_interpretation
                != entry.photometric_interpretation.clone().unwrap_or_default()
                && entry.photometric_interpretation.is_some()
            {
                failures.push(format!(
                    "{} frame {}: photometric {} but reference says {:?}",
                    entry.path,
                    i + 1,
                    frame.info.photometric_interpretation,
                    entry.photometric_interpretation
                ));
            }
            if let Some(h) = entry.frame_sha256.as_ref().and_then(|v| v.get(i as usize)) {
                if *h == sha256_hex(&frame.data) {
                    s.exact += 1;
                    continue;
                }
            }
            let diff = max_abs_diff(
                &frame.data,
                want,
                sample_bytes(frame.info.bits_allocated),
                frame.info.pixel_representation == 1,
            );
            s.max_diff = s.max_diff.max(diff);
            if diff > tol as u64 {
                failures.push(format!(
                    "{} frame {} ({}): max difference {diff} from the reference, tolerance {tol}",
                    entry.path,
                    i + 1,
                    entry.transfer_syntax
                ));
            }
        }
    }
    let mut report =
        String::from("transfer syntax                       files  frames  exact  max|diff|\n");
    for (ts, s) in &stats {
        report.push_str(&format!(
            "{ts:<36} {:>6} {:>7} {:>6} {:>9}\n",
            s.files, s.frames, s.exact, s.max_diff
        ));
    }
    let report_path = dir.join("native-report.txt");
    let _ = std::fs::write(&report_path, &report);
    println!("{report}");
    assert!(
        checked > 100,
        "only {checked} frames checked: is the corpus complete?"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}\n\n{report}",
        failures.len(),
        failures.join("\n")
    );
}
