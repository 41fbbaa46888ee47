//! Lumen: a DICOMweb viewer core. This crate holds the parts that build and test
//! natively and in wasm alike; see `DESIGN.md` in the shared notes for the data path
//! (dicomweb → codec → pixel → volume → render).
//!
//! - [`codec`]: transfer syntax + codestream + pixel description → canonical frame.
//! - [`part10`]: DICOM Part 10 files → pixel description, palette, frames.
//! - [`pixel`]: display arithmetic (Modality/VOI/Presentation LUTs, palette) → 8-bit pixels.
//! - [`render`]: the GPU renderer (wgpu): 2-D images and MPR, tested against `pixel` and `volume`.
//! - [`dicomweb`]: QIDO-RS, WADO-RS, WADO-URI, STOW-RS over a transport interface.
//! - [`loader`]: what to fetch, and WADO-RS frames → decoded frames.
//! - `web` (wasm32 only): the wasm-bindgen API for the TypeScript shell and for
//!   decoder-plugin hosts.

pub mod codec;
pub mod dicomweb;
pub mod error;
pub mod frame_json;
pub mod loader;
pub mod part10;
pub mod pixel;
#[cfg(feature = "viewer")]
pub mod render;
pub mod study;
pub mod volume;

#[cfg(target_arch = "wasm32")]
mod wasm_libc;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use codec::{
    decode_frame, DecodeLimits, DecodedFrame, FrameInfo, PixelDescription, TransferSyntax,
};
pub use error::DecodeError;
pub use part10::{DicomFile, MAX_SEQUENCE_NESTING};

/// The crate version, shown by the shell.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
