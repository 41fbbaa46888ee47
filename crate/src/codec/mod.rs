//! `codec` turns (transfer syntax, codestream bytes, Image Pixel description) into
//! canonical stored values. It owns the per-transfer-syntax decoders and the one
//! canonicalisation step they all share. It never does I/O, never applies a LUT and
//! keeps no state between calls: the same function serves the viewer's WADO-RS
//! frames, Part 10 files, and decoder-plugin hosts (OHIF/Cornerstone) from a Worker.
//!
//! # Output contract (the "canonical frame")
//! Row-major, samples interleaved (Planar Configuration 1 is interleaved here),
//! little-endian, each sample in 1, 2 or 4 bytes when Bits Allocated is ≤ 8, ≤ 16,
//! ≤ 32; values masked to Bits Stored and sign-extended when Pixel Representation
//! is 1; 1-bit data unpacked to one byte per pixel (0/1); YBR_FULL, YBR_FULL_422,
//! YCbCr-coded JPEG and J2K YBR_RCT/YBR_ICT output as RGB (the frame then says
//! RGB); PALETTE COLOR left as indices; MONOCHROME1 not inverted.
//!
//! # Supported transfer syntaxes
//! | UID | name | decoder |
//! |---|---|---|
//! | 1.2.840.10008.1.2 / .1.2.1 / .1.2.2 / .1.2.1.99 | Implicit/Explicit LE, Explicit BE, Deflated | `native` |
//! | 1.2.840.10008.1.2.4.50 / .51 | JPEG Baseline / Extended (12-bit) | `jpeg` (libjpeg-turbo-rs; jpeg-decoder where the colour decision cannot be expressed to it) |
//! | 1.2.840.10008.1.2.4.57 / .70 | JPEG Lossless / SV1 | `jpeg` (jpeg-decoder) |
//! | 1.2.840.10008.1.2.4.80 / .81 | JPEG-LS lossless / near-lossless | `jpegls` (our own, colour included) |
//! | 1.2.840.10008.1.2.4.90 / .91 | JPEG 2000 | `j2k` (`j2k::ht53` with the EBCOT block decoder `j2k::t1` for reversible single-tile one-layer streams, grey and RCT colour; openjp2 otherwise) |
//! | 1.2.840.10008.1.2.4.201 / .202 / .203 | HTJ2K | `j2k` (`j2k::ht53` for single-tile streams, grey and RCT/ICT colour: OpenJPH's HT block decoder (taken from openjph-core, BSD-2) in our own packet reader and 5/3 synthesis, or for irreversible streams openjp2's dequantisation, 9/7 synthesis (`j2k::dwt97`), ICT and rounding reproduced bit for bit; openjp2 otherwise) |
//! | 1.2.840.10008.1.2.5 | RLE Lossless | `rle` |
//! | 1.2.840.10008.1.2.8.1 | Deflated Image Frame Compression | `deflate` |
//! | 1.2.840.10008.1.2.4.110 / .111 / .112 | JPEG XL | `jxl` (jxl-oxide) |

mod canonical;
mod deflate;
mod interleave;
mod j2k;
mod jpeg;
pub mod jpegls;
#[cfg(feature = "jpeg-xl")]
mod jxl;
mod native;
mod rle;

use crate::error::DecodeError;
pub use canonical::ybr_full_to_rgb;
pub use native::frame_length_in_bytes;

/// A DICOM transfer syntax that Lumen decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferSyntax {
    ImplicitVrLittleEndian,
    ExplicitVrLittleEndian,
    ExplicitVrBigEndian,
    DeflatedExplicitVrLittleEndian,
    JpegBaseline,
    JpegExtended,
    JpegLossless,
    JpegLosslessSv1,
    JpegLsLossless,
    JpegLsNearLossless,
    Jpeg2000Lossless,
    Jpeg2000,
    Htj2kLossless,
    Htj2kLosslessRpcl,
    Htj2k,
    RleLossless,
    DeflatedImageFrameCompression,
    JpegXlLossless,
    JpegXlJpegRecompression,
    JpegXl,
}

/// How a transfer syntax stores pixel data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Native { big_endian: bool },
    Jpeg,
    JpegLs,
    Jpeg2000,
    Rle,
    Deflate,
    JpegXl,
}

impl TransferSyntax {
    pub const ALL: [TransferSyntax; 20] = [
        Self::ImplicitVrLittleEndian,
        Self::ExplicitVrLittleEndian,
        Self::ExplicitVrBigEndian,
        Self::DeflatedExplicitVrLittleEndian,
        Self::JpegBaseline,
        Self::JpegExtended,
        Self::JpegLossless,
        Self::JpegLosslessSv1,
        Self::JpegLsLossless,
        Self::JpegLsNearLossless,
        Self::Jpeg2000Lossless,
        Self::Jpeg2000,
        Self::Htj2kLossless,
        Self::Htj2kLosslessRpcl,
        Self::Htj2k,
        Self::RleLossless,
        Self::DeflatedImageFrameCompression,
        Self::JpegXlLossless,
        Self::JpegXlJpegRecompression,
        Self::JpegXl,
    ];

    pub fn uid(self) -> &'static str {
        match self {
            Self::ImplicitVrLittleEndian => "1.2.840.10008.1.2",
            Self::ExplicitVrLittleEndian => "1.2.840.10008.1.2.1",
            Self::ExplicitVrBigEndian => "1.2.840.10008.1.2.2",
            Self::DeflatedExplicitVrLittleEndian => "1.2.840.10008.1.2.1.99",
            Self::JpegBaseline => "1.2.840.10008.1.2.4.50",
            Self::JpegExtended => "1.2.840.10008.1.2.4.51",
            Self::JpegLossless => "1.2.840.10008.1.2.4.57",
            Self::JpegLosslessSv1 => "1.2.840.10008.1.2.4.70",
            Self::JpegLsLossless => "1.2.840.10008.1.2.4.80",
            Self::JpegLsNearLossless => "1.2.840.10008.1.2.4.81",
            Self::Jpeg2000Lossless => "1.2.840.10008.1.2.4.90",
            Self::Jpeg2000 => "1.2.840.10008.1.2.4.91",
            Self::Htj2kLossless => "1.2.840.10008.1.2.4.201",
            Self::Htj2kLosslessRpcl => "1.2.840.10008.1.2.4.202",
            Self::Htj2k => "1.2.840.10008.1.2.4.203",
            Self::RleLossless => "1.2.840.10008.1.2.5",
            Self::DeflatedImageFrameCompression => "1.2.840.10008.1.2.8.1",
            Self::JpegXlLossless => "1.2.840.10008.1.2.4.110",
            Self::JpegXlJpegRecompression => "1.2.840.10008.1.2.4.111",
            Self::JpegXl => "1.2.840.10008.1.2.4.112",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ImplicitVrLittleEndian => "Implicit VR Little Endian",
            Self::ExplicitVrLittleEndian => "Explicit VR Little Endian",
            Self::ExplicitVrBigEndian => "Explicit VR Big Endian",
            Self::DeflatedExplicitVrLittleEndian => "Deflated Explicit VR Little Endian",
            Self::JpegBaseline => "JPEG Baseline (Process 1)",
            Self::JpegExtended => "JPEG Extended (Process 2 & 4)",
            Self::JpegLossless => "JPEG Lossless, Non-Hierarchical (Process 14)",
            Self::JpegLosslessSv1 => "JPEG Lossless, First-Order Prediction (SV1)",
            Self::JpegLsLossless => "JPEG-LS Lossless",
            Self::JpegLsNearLossless => "JPEG-LS Near-Lossless",
            Self::Jpeg2000Lossless => "JPEG 2000 (Lossless Only)",
            Self::Jpeg2000 => "JPEG 2000",
            Self::Htj2kLossless => "HTJ2K (Lossless Only)",
            Self::Htj2kLosslessRpcl => "HTJ2K with RPCL Options (Lossless Only)",
            Self::Htj2k => "HTJ2K",
            Self::RleLossless => "RLE Lossless",
            Self::DeflatedImageFrameCompression => "Deflated Image Frame Compression",
            Self::JpegXlLossless => "JPEG XL Lossless",
            Self::JpegXlJpegRecompression => "JPEG XL JPEG Recompression",
            Self::JpegXl => "JPEG XL",
        }
    }

    /// Looks a UID up, tolerating the trailing NUL/space padding that DICOM values carry.
    pub fn from_uid(uid: &str) -> Result<Self, DecodeError> {
        let trimmed = uid.trim_end_matches(['\0', ' ']).trim();
        Self::ALL
            .into_iter()
            .find(|ts| ts.uid() == trimmed)
            .ok_or_else(|| DecodeError::UnsupportedTransferSyntax {
                uid: trimmed.to_string(),
            })
    }

    pub fn codec(self) -> Codec {
        match self {
            Self::ImplicitVrLittleEndian
            | Self::ExplicitVrLittleEndian
            | Self::DeflatedExplicitVrLittleEndian => Codec::Native { big_endian: false },
            Self::ExplicitVrBigEndian => Codec::Native { big_endian: true },
            Self::JpegBaseline
            | Self::JpegExtended
            | Self::JpegLossless
            | Self::JpegLosslessSv1 => Codec::Jpeg,
            Self::JpegLsLossless | Self::JpegLsNearLossless => Codec::JpegLs,
            Self::Jpeg2000Lossless
            | Self::Jpeg2000
            | Self::Htj2kLossless
            | Self::Htj2kLosslessRpcl
            | Self::Htj2k => Codec::Jpeg2000,
            Self::RleLossless => Codec::Rle,
            Self::DeflatedImageFrameCompression => Codec::Deflate,
            Self::JpegXlLossless | Self::JpegXlJpegRecompression | Self::JpegXl => Codec::JpegXl,
        }
    }

    /// True when Pixel Data is a sequence of fragments rather than one native value.
    pub fn is_encapsulated(self) -> bool {
        !matches!(self.codec(), Codec::Native { .. })
    }

    /// True when the decoded values equal what was encoded (for lossless-only syntaxes).
    pub fn is_lossless_only(self) -> bool {
        matches!(
            self,
            Self::ImplicitVrLittleEndian
                | Self::ExplicitVrLittleEndian
                | Self::ExplicitVrBigEndian
                | Self::DeflatedExplicitVrLittleEndian
                | Self::JpegLossless
                | Self::JpegLosslessSv1
                | Self::JpegLsLossless
                | Self::Jpeg2000Lossless
                | Self::Htj2kLossless
                | Self::Htj2kLosslessRpcl
                | Self::RleLossless
                | Self::DeflatedImageFrameCompression
                | Self::JpegXlLossless
                | Self::JpegXlJpegRecompression
        )
    }
}

/// The Image Pixel Module attributes a decoder needs (PS3.3 C.7.6.3), as given by a
/// Part 10 file or by WADO-RS metadata.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PixelDescription {
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    #[serde(default)]
    pub high_bit: Option<u16>,
    pub pixel_representation: u16,
    pub photometric_interpretation: String,
    #[serde(default)]
    pub planar_configuration: u16,
    #[serde(default = "one")]
    pub number_of_frames: u32,
}

fn one() -> u32 {
    1
}

/// What the caller is willing to allocate for one frame.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_frame_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 512 MiB: a 16k × 16k 16-bit grey frame fits; a lying Rows/Columns does not.
        DecodeLimits {
            max_frame_bytes: 512 << 20,
        }
    }
}

#[cfg(test)]
impl PixelDescription {
    /// For tests: one frame of unsigned MONOCHROME2, `bits_stored` bits in
    /// `bits_allocated`.
    pub(crate) fn grey(rows: u32, columns: u32, bits_allocated: u16, bits_stored: u16) -> Self {
        PixelDescription {
            rows,
            columns,
            samples_per_pixel: 1,
            bits_allocated,
            bits_stored,
            high_bit: None,
            pixel_representation: 0,
            photometric_interpretation: "MONOCHROME2".into(),
            planar_configuration: 0,
            number_of_frames: 1,
        }
    }
}

impl PixelDescription {
    pub fn photometric(&self) -> &str {
        self.photometric_interpretation
            .trim_end_matches(['\0', ' '])
            .trim()
    }

    /// Bytes of one canonical sample (1, 2 or 4).
    pub fn canonical_sample_bytes(&self) -> usize {
        match self.bits_allocated {
            0..=8 => 1,
            9..=16 => 2,
            _ => 4,
        }
    }

    /// Size of one canonical frame, checked against `limits` before anything is allocated.
    pub fn canonical_frame_bytes(&self, limits: &DecodeLimits) -> Result<usize, DecodeError> {
        let bytes = self.rows as u64
            * self.columns as u64
            * self.samples_per_pixel as u64
            * self.canonical_sample_bytes() as u64;
        if bytes > limits.max_frame_bytes || bytes > usize::MAX as u64 / 2 {
            return Err(DecodeError::TooLarge {
                bytes,
                limit: limits.max_frame_bytes,
            });
        }
        Ok(bytes as usize)
    }

    /// The PI that canonical output carries: YBR forms come out as RGB.
    pub fn canonical_photometric(&self) -> String {
        let pi = self.photometric();
        if self.samples_per_pixel == 3 && pi.starts_with("YBR") {
            "RGB".to_string()
        } else {
            pi.to_string()
        }
    }

    /// Rejects descriptions no decoder can honour, with the reason.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let bad = |m: String| Err(DecodeError::InvalidPixelDescription(m));
        if self.rows == 0 || self.columns == 0 {
            return bad(format!(
                "Rows {} × Columns {} is empty",
                self.rows, self.columns
            ));
        }
        if self.rows > 65535 || self.columns > 65535 {
            return bad(format!(
                "Rows {} × Columns {} exceeds 65535",
                self.rows, self.columns
            ));
        }
        if !(1..=4).contains(&self.samples_per_pixel) {
            return bad(format!(
                "Samples per Pixel {} (expected 1, 3 or 4)",
                self.samples_per_pixel
            ));
        }
        if !matches!(self.bits_allocated, 1 | 8 | 16 | 32) {
            return bad(format!(
                "Bits Allocated {} (expected 1, 8, 16 or 32)",
                self.bits_allocated
            ));
        }
        if self.bits_stored == 0 || self.bits_stored > self.bits_allocated {
            return bad(format!(
                "Bits Stored {} with Bits Allocated {}",
                self.bits_stored, self.bits_allocated
            ));
        }
        if self.pixel_representation > 1 {
            return bad(format!(
                "Pixel Representation {}",
                self.pixel_representation
            ));
        }
        if self.planar_configuration > 1 {
            return bad(format!(
                "Planar Configuration {}",
                self.planar_configuration
            ));
        }
        if self.bits_allocated == 1 && self.samples_per_pixel != 1 {
            return bad("1-bit data with more than one sample per pixel".to_string());
        }
        if self.number_of_frames == 0 {
            return bad("Number of Frames 0".to_string());
        }
        let pi = self.photometric();
        let needs3 = matches!(
            pi,
            "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_RCT" | "YBR_ICT"
        ) || pi.starts_with("YBR_PARTIAL");
        if needs3 && self.samples_per_pixel != 3 {
            return bad(format!(
                "{pi} with Samples per Pixel {}",
                self.samples_per_pixel
            ));
        }
        if matches!(pi, "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR")
            && self.samples_per_pixel != 1
        {
            return bad(format!(
                "{pi} with Samples per Pixel {}",
                self.samples_per_pixel
            ));
        }
        Ok(())
    }
}

/// What a decoded frame is, alongside its canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FrameInfo {
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub pixel_representation: u16,
    /// The PI of the canonical bytes (RGB for converted YBR data).
    pub photometric_interpretation: String,
    pub transfer_syntax: String,
}

/// One decoded frame in the canonical layout.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    pub info: FrameInfo,
    pub data: Vec<u8>,
}

/// Raw sample bit patterns as a codec produced them, interleaved, before masking.
pub(crate) enum SampleBuf {
    U8(Vec<u8>),
    U16(Vec<u16>),
    /// Already in the canonical layout (little-endian, 1/2/4 bytes a sample by Bits
    /// Allocated), not yet masked: handed on without another copy.
    Le(Vec<u8>),
    /// The canonical bytes: as `Le`, and already masked to Bits Stored and
    /// sign-extended where signed, by the codec's own stores (no pass over
    /// the frame after it).
    Canonical(Vec<u8>),
}

impl SampleBuf {
    /// Number of samples, given the canonical sample width for `Le`.
    pub(crate) fn len(&self, width: usize) -> usize {
        match self {
            SampleBuf::U8(v) => v.len(),
            SampleBuf::U16(v) => v.len(),
            SampleBuf::Le(v) | SampleBuf::Canonical(v) => v.len() / width,
        }
    }
}

/// Whether a codec already turned YCbCr-coded data into RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Colour {
    AsStored,
    ConvertedToRgb,
}

/// What a codec hands to the shared canonicalisation step.
pub(crate) struct CodecOutput {
    pub width: u32,
    pub height: u32,
    pub components: u16,
    pub samples: SampleBuf,
    pub colour: Colour,
}

/// Decodes one frame: `data` is the frame's codestream (encapsulated syntaxes) or the
/// frame's native bytes (native syntaxes; for 1-bit data, starting at the frame's
/// first byte, see [`decode_native_frame_at`]).
pub fn decode_frame(
    transfer_syntax: TransferSyntax,
    data: &[u8],
    desc: &PixelDescription,
    limits: &DecodeLimits,
) -> Result<DecodedFrame, DecodeError> {
    decode_native_frame_at(transfer_syntax, data, 0, desc, limits)
}

/// As [`decode_frame`], for native data given as the whole Pixel Data value plus the
/// 0-based frame index (frames of 1-bit data need not start on a byte boundary).
pub fn decode_native_frame_at(
    transfer_syntax: TransferSyntax,
    data: &[u8],
    frame_index: u32,
    desc: &PixelDescription,
    limits: &DecodeLimits,
) -> Result<DecodedFrame, DecodeError> {
    let big_endian = transfer_syntax == TransferSyntax::ExplicitVrBigEndian;
    decode_with_byte_order(transfer_syntax, data, frame_index, desc, limits, big_endian)
}

/// The one decode path. `native_big_endian` says how native bytes are ordered, which
/// for a parsed Big Endian file depends on how the parser kept the value.
pub(crate) fn decode_with_byte_order(
    transfer_syntax: TransferSyntax,
    data: &[u8],
    frame_index: u32,
    desc: &PixelDescription,
    limits: &DecodeLimits,
    native_big_endian: bool,
) -> Result<DecodedFrame, DecodeError> {
    desc.validate()?;
    let out_len = desc.canonical_frame_bytes(limits)?;
    let output = match transfer_syntax.codec() {
        Codec::Native { .. } => native::decode(data, frame_index, desc, native_big_endian)?,
        Codec::Deflate => {
            let inflated = deflate::inflate_frame(data, desc, limits)?;
            native::decode(&inflated, 0, desc, false)?
        }
        Codec::Rle => rle::decode(data, desc)?,
        Codec::Jpeg => jpeg::decode(data, desc)?,
        Codec::JpegLs => decode_jpegls(data, desc)?,
        Codec::Jpeg2000 => j2k::decode(data, desc)?,
        #[cfg(feature = "jpeg-xl")]
        Codec::JpegXl => jxl::decode(data, desc, limits)?,
        #[cfg(not(feature = "jpeg-xl"))]
        Codec::JpegXl => {
            return Err(DecodeError::codec(
                "JPEG XL",
                "this build leaves JPEG XL out (cargo feature `jpeg-xl`)",
            ))
        }
    };
    let bytes = canonical::canonicalise(output, desc, out_len)?;
    Ok(DecodedFrame {
        info: FrameInfo {
            rows: desc.rows,
            columns: desc.columns,
            samples_per_pixel: desc.samples_per_pixel,
            bits_allocated: desc.bits_allocated,
            bits_stored: desc.bits_stored,
            pixel_representation: desc.pixel_representation,
            photometric_interpretation: desc.canonical_photometric(),
            transfer_syntax: transfer_syntax.uid().to_string(),
        },
        data: bytes,
    })
}

fn decode_jpegls(data: &[u8], desc: &PixelDescription) -> Result<CodecOutput, DecodeError> {
    // The decoder's messages already start with "JPEG-LS: ".
    let jls_error = |e: jpegls::JpegLsError| {
        let text = e.to_string();
        DecodeError::codec("JPEG-LS", text.strip_prefix("JPEG-LS: ").unwrap_or(&text))
    };
    let header = jpegls::read_header(data).map_err(jls_error)?;
    check_geometry(
        "JPEG-LS",
        header.width,
        header.height,
        header.components as u16,
        desc,
    )?;
    // Straight into the canonical bytes where the container is 1 or 2 bytes wide:
    // masked and sign-extended by the decoder's output stores (no u16 buffer, no
    // second copy or pass in canonicalise).
    let samples = match desc.canonical_sample_bytes() {
        width @ (1 | 2) => {
            let layout = jpegls::SampleLayout {
                bytes: width,
                bits: u32::from(desc.bits_stored),
                signed: desc.pixel_representation == 1,
            };
            SampleBuf::Canonical(jpegls::decode_le(data, layout).map_err(jls_error)?.1)
        }
        _ => SampleBuf::U16(jpegls::decode(data).map_err(jls_error)?.samples),
    };
    Ok(CodecOutput {
        width: header.width,
        height: header.height,
        components: header.components as u16,
        samples,
        colour: Colour::AsStored,
    })
}

/// Checks a codestream's header against the description before decoding it, so that
/// a lying Rows/Columns is reported, not trusted.
pub(crate) fn check_geometry(
    codec: &'static str,
    width: u32,
    height: u32,
    components: u16,
    desc: &PixelDescription,
) -> Result<(), DecodeError> {
    if width != desc.columns || height != desc.rows || components != desc.samples_per_pixel {
        return Err(DecodeError::mismatch(
            codec,
            format!(
                "codestream is {width}×{height} with {components} component(s); \
                 the description says Columns {} × Rows {} with Samples per Pixel {}",
                desc.columns, desc.rows, desc.samples_per_pixel
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build without the `jpeg-xl` feature (a smaller plugin module) names what it
    /// left out; with it, a stream that is not JPEG XL is refused by the codec.
    #[test]
    fn jpeg_xl_without_the_feature_is_named() {
        let desc = PixelDescription::grey(1, 1, 8, 8);
        let err = decode_frame(
            TransferSyntax::JpegXl,
            b"not a JPEG XL stream",
            &desc,
            &DecodeLimits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("JPEG XL"), "{err}");
        if cfg!(feature = "jpeg-xl") {
            assert!(!err.contains("leaves JPEG XL out"), "{err}");
        } else {
            assert!(err.contains("cargo feature `jpeg-xl`"), "{err}");
        }
    }
}
