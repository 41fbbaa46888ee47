//! Typed errors for decoding. Every message names what was wrong with the input
//! (which element, which frame, which transfer syntax) so that a user, a log, or
//! the JavaScript shell can act on it without a debugger.

use thiserror::Error;

/// Why a frame or a file could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The transfer syntax UID is not one Lumen knows.
    #[error("unsupported transfer syntax {uid:?}")]
    UnsupportedTransferSyntax { uid: String },

    /// The Image Pixel description is inconsistent or out of range.
    #[error("invalid pixel description: {0}")]
    InvalidPixelDescription(String),

    /// A required attribute is missing from the data set.
    #[error("missing attribute {keyword} {tag}")]
    MissingAttribute {
        keyword: &'static str,
        tag: &'static str,
    },

    /// The data set could not be parsed as DICOM.
    #[error("not a readable DICOM file: {0}")]
    Parse(String),

    /// The data set has no Pixel Data (7FE0,0010).
    #[error("no Pixel Data (7FE0,0010) in the data set")]
    NoPixelData,

    /// A frame number past the end.
    #[error("frame {frame} requested but the object has {frames} frame(s)")]
    FrameOutOfRange { frame: u32, frames: u32 },

    /// The stored bytes are fewer than the description needs.
    #[error("pixel data too short for frame {frame}: need {needed} bytes, have {available}")]
    TruncatedPixelData {
        frame: u32,
        needed: u64,
        available: u64,
    },

    /// Encapsulated fragments could not be assigned to frames.
    #[error("encapsulated pixel data: {0}")]
    Encapsulation(String),

    /// A frame would be larger than the configured ceiling.
    #[error("frame of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge { bytes: u64, limit: u64 },

    /// The codestream is corrupt or not of the announced kind.
    #[error("{codec}: {message}")]
    Codec {
        codec: &'static str,
        message: String,
    },

    /// The codestream decoded, but disagrees with the DICOM description in a way that
    /// cannot be reconciled (e.g. a different size).
    #[error("{codec} codestream does not match the pixel description: {message}")]
    Mismatch {
        codec: &'static str,
        message: String,
    },
}

impl DecodeError {
    pub(crate) fn codec(codec: &'static str, message: impl Into<String>) -> Self {
        DecodeError::Codec {
            codec,
            message: message.into(),
        }
    }
    pub(crate) fn mismatch(codec: &'static str, message: impl Into<String>) -> Self {
        DecodeError::Mismatch {
            codec,
            message: message.into(),
        }
    }
}
