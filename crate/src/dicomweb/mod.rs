//! `dicomweb` knows HTTP and DICOM JSON, nothing about pixels (see DESIGN.md): QIDO-RS,
//! WADO-RS, WADO-URI and STOW-RS over one small [`transport::Transport`] interface, a
//! streaming multipart/related parser, the DICOM JSON model, magic-byte sniffing of
//! frames that servers mislabel, and the PACS compatibility probe.

pub mod client;
pub mod error;
pub mod json;
pub mod multipart;
pub mod probe;
pub mod sniff;
pub mod transport;

#[cfg(all(feature = "viewer", not(target_arch = "wasm32")))]
pub mod native;

#[cfg(all(feature = "viewer", target_arch = "wasm32"))]
pub mod fetch;

pub use client::{DicomWebClient, QidoQuery, RetrievedFrame, ServerConfig, StoreOutcome};
pub use error::DicomWebError;
