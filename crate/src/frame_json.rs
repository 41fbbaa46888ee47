//! The one-line JSON record that describes a decoded frame (the CLI's output, the
//! wasm API's result and the corpus tests all use it, so that native and wasm output
//! can be compared line for line).

use crate::codec::DecodedFrame;
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the canonical bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `{"frame":1,"rows":R,...,"sha256":"..."}` for 1-based `frame`.
pub fn frame_record(frame: u32, decoded: &DecodedFrame) -> serde_json::Value {
    let mut v = frame_description(frame, decoded);
    v["sha256"] = sha256_hex(&decoded.data).into();
    v
}

/// The record without the hash: what a viewer needs per frame, at no cost per pixel.
pub fn frame_description(frame: u32, decoded: &DecodedFrame) -> serde_json::Value {
    let i = &decoded.info;
    serde_json::json!({
        "frame": frame,
        "rows": i.rows,
        "columns": i.columns,
        "samples_per_pixel": i.samples_per_pixel,
        "bits_allocated": i.bits_allocated,
        "bits_stored": i.bits_stored,
        "pixel_representation": i.pixel_representation,
        "photometric_interpretation": i.photometric_interpretation,
        "transfer_syntax": i.transfer_syntax,
    })
}

/// `{"error": "...", "file": ..., "frame": ...}`.
pub fn error_record(
    file: &str,
    frame: Option<u32>,
    error: &dyn std::fmt::Display,
) -> serde_json::Value {
    let mut v = serde_json::json!({ "error": error.to_string(), "file": file });
    if let Some(f) = frame {
        v["frame"] = f.into();
    }
    v
}

/// Decodes every frame of a file into records: one per frame, stopping at the first
/// error, which becomes the last record. Shared by the CLI and the wasm API.
pub fn decode_records(
    name: &str,
    open: impl FnOnce() -> Result<crate::DicomFile, crate::DecodeError>,
) -> Vec<serde_json::Value> {
    let file = match open() {
        Ok(f) => f,
        Err(e) => return vec![error_record(name, None, &e)],
    };
    let limits = crate::DecodeLimits::default();
    let mut out = Vec::new();
    for index in 0..file.number_of_frames() {
        match file.decode_frame(index, &limits) {
            Ok(decoded) => out.push(frame_record(index + 1, &decoded)),
            Err(e) => {
                out.push(error_record(name, Some(index + 1), &e));
                break;
            }
        }
    }
    out
}
