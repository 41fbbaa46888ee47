//! Bad input gets a typed error naming what was wrong: never a panic, a hang, or an
//! allocation sized by an unchecked element. Inputs are real corpus files, cut short,
//! corrupted and lied about, one file for every transfer syntax.

mod common;

use common::{corpus_dir, manifest, Entry};
use lumen::codec::{decode_frame, DecodeLimits, PixelDescription, TransferSyntax};
use lumen::{DecodeError, DicomFile};
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

// Fields are read through Debug in the failure messages.
#[allow(dead_code)]
#[derive(Debug)]
enum Outcome {
    Decoded,
    Failed(String),
    Panicked(String),
    Hung,
}

/// Runs `f` on its own thread: a panic or a run past 20 s is reported, not fatal.
fn guarded(f: impl FnOnce() -> Result<(), DecodeError> + Send + 'static) -> Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(match r {
            Ok(Ok(())) => Outcome::Decoded,
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(p) => Outcome::Panicked(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            ),
        });
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or(Outcome::Hung)
}

/// One decodable single-frame file per transfer syntax (the smallest).
fn one_per_syntax() -> Vec<(Entry, Vec<u8>)> {
    let mut picks: BTreeMap<String, Entry> = BTreeMap::new();
    for e in manifest().files {
        if e.reference.is_none() || e.frames != Some(1) {
            continue;
        }
        let size = |x: &Entry| x.rows.unwrap_or(0) * x.columns.unwrap_or(0);
        match picks.get(&e.transfer_syntax) {
            Some(p) if size(p) <= size(&e) => {}
            _ => {
                picks.insert(e.transfer_syntax.clone(), e);
            }
        }
    }
    assert!(
        picks.len() >= 18,
        "the corpus covers only {} transfer syntaxes",
        picks.len()
    );
    picks
        .into_values()
        .map(|e| {
            let bytes = std::fs::read(corpus_dir().join(&e.path)).expect("corpus file");
            (e, bytes)
        })
        .collect()
}

fn decode_all(bytes: Vec<u8>) -> Result<(), DecodeError> {
    let file = DicomFile::from_bytes(&bytes)?;
    for i in 0..file.number_of_frames() {
        file.decode_frame(i, &DecodeLimits::default())?;
    }
    Ok(())
}

#[test]
fn truncated_files_fail_cleanly() {
    let mut bad = Vec::new();
    for (entry, bytes) in one_per_syntax() {
        for fraction in [0.05, 0.3, 0.6, 0.9] {
            let cut = bytes[..(bytes.len() as f64 * fraction) as usize].to_vec();
            match guarded(move || decode_all(cut)) {
                Outcome::Failed(msg) => assert!(!msg.is_empty()),
                other => bad.push(format!(
                    "{} cut to {:.0}%: {other:?}",
                    entry.path,
                    fraction * 100.0
                )),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn truncated_codestreams_are_errors_not_pictures() {
    let mut bad = Vec::new();
    for (entry, bytes) in one_per_syntax() {
        let ts = TransferSyntax::from_uid(&entry.transfer_syntax).unwrap();
        if !ts.is_encapsulated() {
            continue;
        }
        let file = DicomFile::from_bytes(&bytes).unwrap();
        let frame = file.frame_bytes(0).unwrap().into_owned();
        let desc = file.description.clone();
        for keep in [0usize, 2, frame.len() / 3, frame.len() / 2] {
            let cut = frame[..keep].to_vec();
            let d = desc.clone();
            match guarded(move || decode_frame(ts, &cut, &d, &DecodeLimits::default()).map(|_| ()))
            {
                Outcome::Failed(_) => {}
                other => bad.push(format!(
                    "{} ({}) frame cut to {keep} of {} bytes: {other:?}",
                    entry.path,
                    ts.name(),
                    frame.len()
                )),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn corrupted_codestreams_never_panic_or_hang() {
    let mut bad = Vec::new();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (entry, bytes) in one_per_syntax() {
        let ts = TransferSyntax::from_uid(&entry.transfer_syntax).unwrap();
        let file = DicomFile::from_bytes(&bytes).unwrap();
        let frame = file.frame_bytes(0).unwrap().into_owned();
        if frame.len() < 16 {
            continue;
        }
        for round in 0..24 {
            let mut data = frame.clone();
            let flips = 1 + round % 8;
            for _ in 0..flips {
                let at = (next() as usize) % data.len();
                data[at] ^= (next() as u8) | 1;
            }
            let d = file.description.clone();
            match guarded(move || decode_frame(ts, &data, &d, &DecodeLimits::default()).map(|_| ()))
            {
                Outcome::Decoded | Outcome::Failed(_) => {}
                other => bad.push(format!(
                    "{} ({}) round {round}: {other:?}",
                    entry.path,
                    ts.name()
                )),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn lying_rows_and_columns_are_caught() {
    let mut bad = Vec::new();
    for (entry, bytes) in one_per_syntax() {
        let ts = TransferSyntax::from_uid(&entry.transfer_syntax).unwrap();
        let file = DicomFile::from_bytes(&bytes).unwrap();
        let frame = file.frame_bytes(0).unwrap().into_owned();
        for (rows, columns) in [
            (file.description.rows + 1, file.description.columns),
            (file.description.rows, file.description.columns * 2),
        ] {
            let d = PixelDescription {
                rows,
                columns,
                ..file.description.clone()
            };
            let data = frame.clone();
            match guarded(move || decode_frame(ts, &data, &d, &DecodeLimits::default()).map(|_| ()))
            {
                Outcome::Failed(msg) => {
                    if !(msg.contains("Rows")
                        || msg.contains("too short")
                        || msg.contains("inflated")
                        || msg.contains("decoded"))
                    {
                        bad.push(format!(
                            "{} ({}) {rows}×{columns}: unclear error {msg:?}",
                            entry.path,
                            ts.name()
                        ));
                    }
                }
                other => bad.push(format!(
                    "{} ({}) {rows}×{columns}: {other:?}",
                    entry.path,
                    ts.name()
                )),
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn huge_dimensions_are_refused_before_allocating() {
    let desc = PixelDescription {
        rows: 65535,
        columns: 65535,
        samples_per_pixel: 4,
        bits_allocated: 32,
        bits_stored: 32,
        high_bit: None,
        pixel_representation: 0,
        photometric_interpretation: "ARGB".into(),
        planar_configuration: 0,
        number_of_frames: 1,
    };
    for ts in TransferSyntax::ALL {
        let err = decode_frame(ts, &[0u8; 64], &desc, &DecodeLimits::default()).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { .. }),
            "{}: {err}",
            ts.name()
        );
    }
    let small = DecodeLimits {
        max_frame_bytes: 1000,
    };
    let desc = PixelDescription {
        rows: 512,
        columns: 512,
        samples_per_pixel: 1,
        bits_allocated: 16,
        bits_stored: 12,
        photometric_interpretation: "MONOCHROME2".into(),
        ..desc
    };
    let err = decode_frame(
        TransferSyntax::ExplicitVrLittleEndian,
        &vec![0u8; 512 * 512 * 2],
        &desc,
        &small,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame of 524288 bytes exceeds the limit of 1000 bytes"
    );
}

#[test]
fn unknown_transfer_syntax_is_named() {
    let err = TransferSyntax::from_uid("1.2.840.10008.1.2.4.999\0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported transfer syntax \"1.2.840.10008.1.2.4.999\""
    );
    // A real file whose meta group names a transfer syntax nobody knows.
    let (_, bytes) = one_per_syntax()
        .into_iter()
        .find(|(e, _)| e.transfer_syntax == "1.2.840.10008.1.2.1")
        .unwrap();
    let uid = b"1.2.840.10008.1.2.1\0";
    let at = bytes
        .windows(uid.len())
        .position(|w| w == uid)
        .expect("transfer syntax in meta");
    let mut patched = bytes.clone();
    patched[at..at + uid.len()].copy_from_slice(b"1.2.840.10008.9.9.9\0");
    let err = DicomFile::from_bytes(&patched).err().expect("must fail");
    assert!(
        matches!(err, DecodeError::UnsupportedTransferSyntax { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("1.2.840.10008.9.9.9"), "{err}");
}

#[test]
fn not_dicom_at_all_is_a_parse_error() {
    for bytes in [
        Vec::new(),
        b"hello".to_vec(),
        vec![0u8; 4096],
        vec![0xFFu8; 300],
    ] {
        let err = DicomFile::from_bytes(&bytes).err().expect("must fail");
        assert!(matches!(err, DecodeError::Parse(_)), "{err}");
    }
}

/// A Part 10 file (2×2 8-bit grey) whose Content Sequence nests `depth` levels deep,
/// in explicit VR (the meta group says so) or implicit VR little endian.
fn nested_file(depth: usize, explicit: bool) -> Vec<u8> {
    nested_file_with(depth, explicit, &[])
}

/// The same, with `extra` (encoded elements of group 0029) before the sequence.
fn nested_file_with(depth: usize, explicit: bool, extra: &[u8]) -> Vec<u8> {
    fn el(out: &mut Vec<u8>, explicit: bool, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) {
        out.extend_from_slice(&tag.0.to_le_bytes());
        out.extend_from_slice(&tag.1.to_le_bytes());
        if !explicit {
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            out.extend_from_slice(vr);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(vr);
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }
    let ts: &[u8] = if explicit {
        b"1.2.840.10008.1.2.1\0"
    } else {
        b"1.2.840.10008.1.2\0"
    };
    let mut meta = Vec::new();
    el(&mut meta, true, (2, 1), b"OB", &[0, 1]);
    el(
        &mut meta,
        true,
        (2, 2),
        b"UI",
        b"1.2.840.10008.5.1.4.1.1.7\0",
    );
    el(&mut meta, true, (2, 3), b"UI", b"1.2.3.4\0");
    el(&mut meta, true, (2, 0x10), b"UI", ts);
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    el(
        &mut file,
        true,
        (2, 0),
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
    );
    file.extend_from_slice(&meta);
    let us = |v: u16| v.to_le_bytes();
    el(&mut file, explicit, (0x28, 2), b"US", &us(1));
    el(&mut file, explicit, (0x28, 4), b"CS", b"MONOCHROME2 ");
    el(&mut file, explicit, (0x28, 0x10), b"US", &us(2));
    el(&mut file, explicit, (0x28, 0x11), b"US", &us(2));
    el(&mut file, explicit, (0x28, 0x100), b"US", &us(8));
    el(&mut file, explicit, (0x28, 0x101), b"US", &us(8));
    el(&mut file, explicit, (0x28, 0x102), b"US", &us(7));
    el(&mut file, explicit, (0x28, 0x103), b"US", &us(0));
    file.extend_from_slice(extra);
    let undefined = 0xFFFF_FFFFu32.to_le_bytes();
    for _ in 0..depth {
        // Content Sequence (0040,A730), undefined length, then an item of undefined length.
        file.extend_from_slice(&[0x40, 0x00, 0x30, 0xA7]);
        if explicit {
            file.extend_from_slice(b"SQ\0\0");
        }
        file.extend_from_slice(&undefined);
        file.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        file.extend_from_slice(&undefined);
    }
    for _ in 0..depth {
        file.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]); // item end
        file.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]); // sequence end
    }
    el(&mut file, explicit, (0x7FE0, 0x10), b"OB", &[1, 2, 3, 4]);
    file
}

/// dicom-object reads nested sequences recursively: a file nested 100,000 levels deep
/// (1.6 MB) overflowed the stack (an abort natively, a trap in wasm). It is refused
/// by name; the deepest nesting allowed still decodes.
#[test]
fn deeply_nested_sequences_are_refused_not_a_stack_overflow() {
    for explicit in [true, false] {
        let max = lumen::MAX_SEQUENCE_NESTING;
        let ok = DicomFile::from_bytes(&nested_file(max, explicit))
            .and_then(|f| f.decode_frame(0, &DecodeLimits::default()));
        assert_eq!(ok.expect("nesting at the limit decodes").data, [1, 2, 3, 4]);
        for depth in [max + 1, 100_000] {
            let file = nested_file(depth, explicit);
            let outcome = guarded(move || DicomFile::from_bytes(&file).map(|_| ()));
            match outcome {
                Outcome::Failed(msg) => assert!(
                    msg.contains(&format!("nest more than {max} levels")),
                    "depth {depth}: {msg}"
                ),
                other => panic!("depth {depth} (explicit {explicit}): {other:?}"),
            }
        }
    }
}

/// dicom-object reserves an element's declared length before reading it: a 300-byte
/// file declaring a 4 GB private element took 4.2 GB and 13 s natively. Refused by
/// name, before any such allocation; the rest of the file is fine.
#[test]
fn a_length_past_the_end_of_the_file_is_refused_by_name() {
    for explicit in [true, false] {
        let mut lying = vec![0x29, 0x00, 0x10, 0x10];
        if explicit {
            lying.extend_from_slice(b"UN\0\0");
        }
        lying.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        lying.extend_from_slice(b"abcd");
        let file = nested_file_with(1, explicit, &lying);
        let started = std::time::Instant::now();
        let outcome = guarded(move || DicomFile::from_bytes(&file).map(|_| ()));
        match outcome {
            Outcome::Failed(msg) => assert!(
                msg.contains("element (0029,1010)") && msg.contains("declares 4294967280 bytes"),
                "explicit {explicit}: {msg}"
            ),
            other => panic!("explicit {explicit}: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "explicit {explicit}"
        );
    }
}
