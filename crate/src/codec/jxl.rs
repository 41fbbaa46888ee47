//! JPEG XL (1.2.840.10008.1.2.4.110/.111/.112) through jxl-oxide, pure Rust, single
//! threaded (the caller's Worker is the unit of parallelism). Integer samples come
//! back exactly for lossless (modular) streams; lossy (VarDCT/XYB) samples are
//! rounded from the decoder's float output.

use super::{check_geometry, CodecOutput, Colour, DecodeLimits, PixelDescription, SampleBuf};
use crate::error::DecodeError;
use jxl_oxide::image::BitDepth;
use jxl_oxide::JxlImage;

const CODEC: &str = "JPEG XL";

pub(crate) fn decode(
    data: &[u8],
    desc: &PixelDescription,
    limits: &DecodeLimits,
) -> Result<CodecOutput, DecodeError> {
    let is_codestream = data.starts_with(&[0xFF, 0x0A]);
    let is_container = data.starts_with(&[
        0, 0, 0, 0x0C, b'J', b'X', b'L', b' ', 0x0D, 0x0A, 0x87, 0x0A,
    ]);
    if !is_codestream && !is_container {
        return Err(DecodeError::codec(
            CODEC,
            "data is neither a JPEG XL codestream (FF0A) nor a JPEG XL container",
        ));
    }
    // The decoder's working memory (float planes, group buffers) is a few times the
    // frame; bound it so a lying header cannot exhaust memory. Saturating: on wasm32,
    // usize is 32 bits.
    let budget = limits
        .max_frame_bytes
        .saturating_mul(4)
        .min(usize::MAX as u64) as usize;
    let tracker = jxl_oxide::AllocTracker::with_limit(budget);
    let image = JxlImage::builder()
        .alloc_tracker(tracker)
        .read(data)
        .map_err(|e| DecodeError::codec(CODEC, e.to_string()))?;
    let (width, height) = (image.width(), image.height());
    if width != desc.columns || height != desc.rows {
        // Before rendering, so that a lying header allocates nothing.
        check_geometry(CODEC, width, height, desc.samples_per_pixel, desc)?;
    }
    let bits = match image.image_header().metadata.bit_depth {
        BitDepth::IntegerSample { bits_per_sample } => bits_per_sample,
        BitDepth::FloatSample { .. } => {
            return Err(DecodeError::codec(
                CODEC,
                "floating-point samples are not DICOM pixel data",
            ))
        }
    };
    if !(1..=16).contains(&bits) {
        return Err(DecodeError::codec(
            CODEC,
            format!("{bits}-bit samples are not supported"),
        ));
    }
    let render = image
        .render_frame(0)
        .map_err(|e| DecodeError::codec(CODEC, e.to_string()))?;
    let mut stream = render.stream_no_alpha();
    let channels = stream.channels() as u16;
    check_geometry(CODEC, stream.width(), stream.height(), channels, desc)?;
    let count = width as usize * height as usize * channels as usize;
    let mut floats = vec![0f32; count];
    let written = stream.write_to_buffer(&mut floats);
    if written != count {
        return Err(DecodeError::codec(
            CODEC,
            format!("decoder produced {written} samples, expected {count}"),
        ));
    }
    let max = ((1u32 << bits) - 1) as f32;
    let to_int = |f: f32| (f * max + 0.5).clamp(0.0, max) as u32;
    let samples = if bits <= 8 {
        SampleBuf::U8(floats.iter().map(|&f| to_int(f) as u8).collect())
    } else {
        SampleBuf::U16(floats.iter().map(|&f| to_int(f) as u16).collect())
    };
    Ok(CodecOutput {
        width,
        height,
        components: channels,
        samples,
        colour: Colour::ConvertedToRgb,
    })
}
