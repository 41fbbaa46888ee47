//! Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): each frame is the native
//! frame compressed with raw Deflate (RFC 1951). A zlib-wrapped stream (RFC 1950),
//! which some writers produce, is accepted too.

use super::{native::frame_length_in_bytes, DecodeLimits, PixelDescription};
use crate::error::DecodeError;
use miniz_oxide::inflate::{decompress_to_vec_with_limit, decompress_to_vec_zlib_with_limit};

const CODEC: &str = "Deflated Image Frame";

pub(crate) fn inflate_frame(
    data: &[u8],
    desc: &PixelDescription,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let expected = frame_length_in_bytes(desc);
    if expected > limits.max_frame_bytes {
        return Err(DecodeError::TooLarge {
            bytes: expected,
            limit: limits.max_frame_bytes,
        });
    }
    // One spare byte: a frame padded to even length inflates to at most expected + 1.
    let cap = expected as usize + 1;
    let out = match decompress_to_vec_with_limit(data, cap) {
        Ok(v) => v,
        Err(raw_err) => {
            let looks_zlib = data.len() >= 2
                && data[0] & 0x0f == 8
                && u16::from_be_bytes([data[0], data[1]]) % 31 == 0;
            if !looks_zlib {
                return Err(DecodeError::codec(
                    CODEC,
                    format!("corrupt Deflate stream ({:?})", raw_err.status),
                ));
            }
            decompress_to_vec_zlib_with_limit(data, cap).map_err(|e| {
                DecodeError::codec(CODEC, format!("corrupt zlib stream ({:?})", e.status))
            })?
        }
    };
    if (out.len() as u64) < expected {
        return Err(DecodeError::codec(
            CODEC,
            format!(
                "inflated to {} bytes, the frame needs {expected}",
                out.len()
            ),
        ));
    }
    Ok(out)
}
