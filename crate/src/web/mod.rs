//! The wasm-bindgen API: what the TypeScript shell and decoder-plugin hosts call.
//! Stateless: bytes + transfer syntax + pixel description in, frame + info out, so
//! it can run in any number of Web Workers.

use crate::codec::{self, DecodeLimits, PixelDescription, TransferSyntax};
use crate::frame_json::{frame_description, sha256_hex};
use crate::part10::DicomFile;
use wasm_bindgen::prelude::*;

/// A decoded frame: `info` is the frame's JSON record, `data` its canonical bytes.
#[wasm_bindgen]
pub struct Frame {
    info: String,
    data: Vec<u8>,
}

#[wasm_bindgen]
impl Frame {
    /// JSON: frame, rows, columns, samples_per_pixel, bits_allocated, bits_stored,
    /// pixel_representation, photometric_interpretation, transfer_syntax. (No hash:
    /// hashing costs more than decoding fast codecs; ask `sha256` when needed.)
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> String {
        self.info.clone()
    }
    /// SHA-256 of the canonical bytes, hex, computed on request.
    #[wasm_bindgen(getter)]
    pub fn sha256(&self) -> String {
        sha256_hex(&self.data)
    }
    /// The canonical bytes (a copy into a new Uint8Array).
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(&self.data[..])
    }
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// The transfer syntaxes this build decodes, as JSON `[{"uid":..,"name":..}]`.
#[wasm_bindgen(js_name = supportedTransferSyntaxes)]
pub fn supported_transfer_syntaxes() -> String {
    let list: Vec<_> = TransferSyntax::ALL
        .iter()
        .map(|ts| serde_json::json!({"uid": ts.uid(), "name": ts.name()}))
        .collect();
    serde_json::Value::from(list).to_string()
}

/// Decodes one frame of a bare codestream (a WADO-RS frame): `description` is the
/// Image Pixel description as JSON (snake_case keys, e.g. `{"rows":512,...}`).
#[wasm_bindgen(js_name = decodeFrame)]
pub fn decode_frame(
    transfer_syntax_uid: &str,
    bytes: &[u8],
    description: &str,
) -> Result<Frame, JsError> {
    let ts = TransferSyntax::from_uid(transfer_syntax_uid).map_err(js_error)?;
    let desc: PixelDescription = serde_json::from_str(description)
        .map_err(|e| js_error(format!("invalid pixel description JSON: {e}")))?;
    let decoded =
        codec::decode_frame(ts, bytes, &desc, &DecodeLimits::default()).map_err(js_error)?;
    Ok(Frame {
        info: frame_description(1, &decoded).to_string(),
        data: decoded.data,
    })
}

/// Frame `frame` (1-based) of a parsed Part 10 file, decoded; with its 0-based index.
fn decode_part10_frame(
    file: &DicomFile,
    frame: u32,
) -> Result<(u32, crate::DecodedFrame), JsError> {
    let index = frame
        .checked_sub(1)
        .ok_or_else(|| js_error("frame numbers start at 1"))?;
    let decoded = file
        .decode_frame(index, &DecodeLimits::default())
        .map_err(js_error)?;
    Ok((index, decoded))
}

/// Decodes frame `frame` (1-based) of a Part 10 file.
#[wasm_bindgen(js_name = decodeFile)]
pub fn decode_file(bytes: &[u8], frame: u32) -> Result<Frame, JsError> {
    let file = DicomFile::from_bytes(bytes).map_err(js_error)?;
    let (_, decoded) = decode_part10_frame(&file, frame)?;
    Ok(Frame {
        info: frame_description(frame, &decoded).to_string(),
        data: decoded.data,
    })
}

/// Decodes every frame of a Part 10 file and returns the CLI's JSON lines (one
/// record per frame, or one error record), without keeping the pixels.
#[wasm_bindgen(js_name = decodeFileRecords)]
pub fn decode_file_records(bytes: &[u8], name: &str) -> String {
    crate::frame_json::decode_records(name, || DicomFile::from_bytes(bytes))
        .iter()
        .map(|v| v.to_string() + "\n")
        .collect()
}

/// SHA-256 of bytes, hex (for tests and the plugin harness).
#[wasm_bindgen]
pub fn sha256(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

#[cfg(feature = "viewer")]
mod gpu;
#[cfg(feature = "viewer")]
mod retrieve;
#[cfg(feature = "viewer")]
mod services;
#[cfg(feature = "viewer")]
mod session;
#[cfg(feature = "viewer")]
use gpu::gpu_for;
#[cfg(feature = "viewer")]
use services::client;
