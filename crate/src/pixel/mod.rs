//! `pixel` is the display arithmetic of PS3.3 C.11 and PS3.14 on the CPU: stored
//! values → Modality LUT → VOI LUT → Presentation LUT → 8-bit grey, and palette /
//! RGB → 8-bit RGB. It is the reference the GPU path (`render`, `shaders/*.wgsl`)
//! is tested against, and the last-resort renderer when no GPU backend exists.
//!
//! Owns: reading the display attributes of a data set ([`DisplayAttributes`], from
//! Part 10 or DICOM JSON), the formulas of C.11.1 (Rescale, Modality LUT),
//! C.11.2 (LINEAR, LINEAR_EXACT, SIGMOID windows, VOI LUT Sequence), C.11.6
//! (Presentation LUT Shape) and MONOCHROME1, palette colour lookup, and the one
//! quantisation to 8 bits. Never touches: I/O of any kind (bulk data is the
//! caller's to fetch), the GPU, decoding (its input is a canonical
//! [`DecodedFrame`](crate::codec::DecodedFrame) from `codec`), geometry beyond
//! the pixel aspect ratio, overlays, shutters, presentation states, and display
//! calibration (no GSDF: the output is P-values scaled linearly to 0..=255).
//!
//! # Output contract
//! - [`render_grey8`]: MONOCHROME1/2 frames only; `rows × columns` bytes,
//!   row-major, 0 black, 255 white. Each byte is `floor(255 · p)` (see
//!   [`quantise_8`]) where `p ∈ [0, 1]` is
//!   - LINEAR / LINEAR_EXACT / SIGMOID: the formulas of C.11.2.1.2.1,
//!     C.11.2.1.3.2, C.11.2.1.3.1 with `ymin = 0`, `ymax = 1`, applied to the
//!     modality value `stored · slope + intercept` (exact, in `f64`) or the
//!     Modality LUT output;
//!   - a VOI LUT: `LUT(x) / (2^bits − 1)`, where `x` below the first mapped
//!     value gives the first entry and `x` past the last gives the last, and
//!     `bits` is the descriptor's third value (when outside 8..=16: the bits its
//!     largest entry needs);
//!
//!   then `p ← 1 − p` when inverted: Presentation LUT Shape INVERSE; or no
//!   shape and MONOCHROME1 (a shape present decides, as in DCMTK: a MONOCHROME1
//!   image with INVERSE is inverted once); and the user's `invert` toggles that.
//! - [`render_rgb8`]: any frame; `rows × columns × 3` bytes, R G B interleaved.
//!   Grey frames as above with R = G = B. PALETTE COLOR: each channel's entry for
//!   the stored index (clamped to the first/last entry), 16-bit entries reduced
//!   to their top 8 bits, 8-bit entries as they are (as DCMTK). RGB: 8-bit samples
//!   pass through; `n`-bit samples (`n > 8`) keep their top 8 bits; signed
//!   samples are offset by 2^(n−1) first.
//! - [`modality_value`]: the modality value (HU for CT) of one pixel, in `f64`.
//! - [`grey_pipeline`] gives the resolved [`GreyPipeline`] (modality transform,
//!   VOI transform, inversion) that the GPU shaders receive as uniforms.
//!
//! Every function takes the attributes of the frame being rendered: for
//! multi-frame objects with per-frame functional groups, pass
//! [`DisplayAttributes::for_frame`].
//!
//! # VOI choice
//! [`VoiSelection::Default`]: the data set's first window, else its first VOI LUT,
//! else the min/max window of the frame's modality values: LINEAR with center
//! `(min + max + 1) / 2`, width `max − min + 1`, which is what DCMTK's
//! `dcmj2pnm +Wm` computes (its min/max over the frame, padding values
//! included). Explicit windows override everything ([`VoiSelection::Window`]).
//!
//! # Where DCMTK (dcmj2pnm 3.6.7) differs
//! `crate/tests/pixel.rs` compares with `dcmj2pnm` on corpus files; most cases are
//! identical. The differences, none above one grey level in this module's output:
//! - dcmimgle keeps modality values as integers, truncating `stored · slope +
//!   intercept` toward zero; here they are exact, so files with a non-integer
//!   rescale (Rescale Slope 3.774114, 0.684, 1e-5) differ by one level here and
//!   there.
//! - Where `255 · p` is an exact integer, DCMTK's `offset + x · gradient` can land
//!   a hair below it and truncate to one less; here the result stays exact.
//! - An inverted VOI LUT (INVERSE, MONOCHROME1) spans 255..1 in DCMTK (its output
//!   range is `high − low + 1 = −254`), 255..0 here.
//! - Not this module: DCMTK converts YBR_FULL with separately truncated table
//!   terms and a chroma offset of 127.5, `codec` by C.7.6.3.1.2 (offset 128,
//!   rounded): up to 2 levels apart on RGB from uncompressed YBR_FULL(_422).
//! - DCMTK 3.6.7 reads the rescale from the Shared Functional Groups but not the
//!   window; has no LINEAR_EXACT; refuses 32-bit colour; neither it nor this
//!   module reads segmented palettes ([`PixelError::MissingPalette`]).

mod attributes;
mod lut;
mod render;
mod source;
mod voi;

pub use attributes::{
    min_max_window, DisplayAttributes, FrameDisplayAttributes, ModalityTransform,
    PresentationLutShape,
};
pub use lut::{Lut, LutData};
pub use render::{
    grey_pipeline, grey_pipeline_for, modality_range, modality_value, palette_8, render_grey8,
    render_rgb8, GreyPipeline, RenderOptions, VoiSelection, VoiTransform,
};
pub use voi::{linear, linear_exact, quantise_8, sigmoid, VoiLutFunction, VoiWindow};

use thiserror::Error;

/// Why a frame could not be rendered.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PixelError {
    /// The frame's bytes do not match its description.
    #[error(
        "frame holds {actual} bytes; its rows, columns, samples and bits allocated need {expected}"
    )]
    FrameSize { expected: usize, actual: usize },

    /// A greyscale operation on a colour frame.
    #[error("{photometric} with {samples_per_pixel} sample(s) per pixel is not greyscale")]
    NotGreyscale {
        photometric: String,
        samples_per_pixel: u16,
    },

    /// A photometric interpretation this module cannot display.
    #[error("cannot display photometric interpretation {photometric:?} with {samples_per_pixel} sample(s) per pixel")]
    UnsupportedPhotometric {
        photometric: String,
        samples_per_pixel: u16,
    },

    /// PALETTE COLOR without usable Red/Green/Blue Palette Color LUTs.
    #[error(
        "PALETTE COLOR frame without usable palette colour LUTs (0028,1101-1103, 0028,1201-1203)"
    )]
    MissingPalette,

    /// A window index past the data set's windows.
    #[error("window {index} requested (0-based); the data set has {count} valid window(s)")]
    NoSuchWindow { index: usize, count: usize },

    /// A VOI LUT index past the data set's VOI LUT Sequence.
    #[error("VOI LUT {index} requested (0-based); the data set has {count} usable VOI LUT(s)")]
    NoSuchVoiLut { index: usize, count: usize },

    /// An explicit window with a center or width that is not a finite number.
    #[error("window center {center} / width {width} is not a finite window")]
    InvalidWindow { center: f64, width: f64 },

    /// A pixel position outside the frame.
    #[error("pixel ({column}, {row}) is outside the {columns}×{rows} frame")]
    OutsideFrame {
        column: u32,
        row: u32,
        columns: u32,
        rows: u32,
    },
}
