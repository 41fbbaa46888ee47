//! The CPU renderer: canonical frame + display attributes + options → 8-bit pixels.

use super::attributes::{
    min_max_window, DisplayAttributes, ModalityTransform, PresentationLutShape,
};
use super::lut::Lut;
use super::voi::{quantise_8, VoiLutFunction, VoiWindow};
use super::PixelError;
use crate::codec::{ybr_full_to_rgb, DecodedFrame, FrameInfo};
use crate::part10::PaletteLut;
use serde::Serialize;

/// Which VOI transform to use.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum VoiSelection {
    /// The data set's first window; else its first VOI LUT; else [`MinMax`](Self::MinMax).
    #[default]
    Default,
    /// The data set's window `n` (0-based, in [`DisplayAttributes::windows`]).
    FileWindow(usize),
    /// The data set's VOI LUT `n` (0-based, in [`DisplayAttributes::voi_luts`]).
    FileLut(usize),
    /// An explicit window (a user's W/L). A width below the function's minimum is
    /// raised to it (1 for LINEAR, the smallest positive number otherwise); a
    /// center or width that is not finite is an error.
    Window(VoiWindow),
    /// LINEAR from the smallest to the largest modality value of this frame, as
    /// DCMTK's `+Wm` (see [`min_max_window`]).
    MinMax,
}

/// How to render a greyscale frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenderOptions {
    pub voi: VoiSelection,
    /// Overrides the data set's Presentation LUT Shape (2050,0020).
    pub presentation_lut_shape: Option<PresentationLutShape>,
    /// The user's invert toggle, applied after everything else.
    pub invert: bool,
}

/// The VOI LUT stage (PS3.3 C.11.2): modality values → `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum VoiTransform {
    Window(VoiWindow),
    /// A VOI LUT: output `v` maps to `v / (2^bits − 1)`.
    Lut(Lut),
}

impl VoiTransform {
    pub fn apply(&self, modality_value: f64) -> f64 {
        match self {
            Self::Window(w) => w.apply(modality_value),
            Self::Lut(lut) => lut.lookup(modality_value) as f64 / lut.max_output(),
        }
    }
}

/// The whole greyscale pipeline for one frame, every choice resolved: what the GPU
/// path receives as uniforms and must reproduce.
///
/// `grey8(stored) = quantise_8(p)` with `p = voi(modality(stored))`, or `1 − p`
/// when `invert` (Presentation LUT Shape INVERSE, MONOCHROME1, or the user's
/// toggle; an even number of them cancels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreyPipeline {
    pub modality: ModalityTransform,
    pub voi: VoiTransform,
    pub invert: bool,
}

impl GreyPipeline {
    /// The P-value of a stored value, in `[0, 1]`.
    pub fn presentation_value(&self, stored: f64) -> f64 {
        let p = self.voi.apply(self.modality.apply(stored));
        if self.invert {
            1.0 - p
        } else {
            p
        }
    }

    /// The 8-bit grey level of a stored value.
    pub fn grey8(&self, stored: f64) -> u8 {
        quantise_8(self.presentation_value(stored))
    }

    fn grey8_int(&self, stored: i64) -> u8 {
        let m = self.modality.apply_int(stored);
        let p = self.voi.apply(m);
        quantise_8(if self.invert { 1.0 - p } else { p })
    }
}

/// Reads canonical samples (little-endian, 1/2/4 bytes, sign-extended when signed).
struct Samples<'a> {
    data: &'a [u8],
    bytes: usize,
    signed: bool,
}

impl<'a> Samples<'a> {
    fn of(frame: &'a DecodedFrame) -> Result<Self, PixelError> {
        let info = &frame.info;
        let bytes = match info.bits_allocated {
            0..=8 => 1,
            9..=16 => 2,
            _ => 4,
        };
        let expected =
            info.rows as usize * info.columns as usize * info.samples_per_pixel as usize * bytes;
        if frame.data.len() != expected {
            return Err(PixelError::FrameSize {
                expected,
                actual: frame.data.len(),
            });
        }
        Ok(Samples {
            data: &frame.data,
            bytes,
            signed: info.pixel_representation == 1,
        })
    }

    fn len(&self) -> usize {
        self.data.len() / self.bytes
    }

    /// Sample `i` from its raw little-endian bit pattern.
    fn value_of_raw(&self, raw: u32) -> i64 {
        match (self.bytes, self.signed) {
            (1, true) => raw as u8 as i8 as i64,
            (1, false) => raw as u8 as i64,
            (2, true) => raw as u16 as i16 as i64,
            (2, false) => raw as u16 as i64,
            (_, true) => raw as i32 as i64,
            (_, false) => raw as i64,
        }
    }

    fn raw(&self, i: usize) -> u32 {
        let o = i * self.bytes;
        match self.bytes {
            1 => self.data[o] as u32,
            2 => u16::from_le_bytes([self.data[o], self.data[o + 1]]) as u32,
            _ => u32::from_le_bytes([
                self.data[o],
                self.data[o + 1],
                self.data[o + 2],
                self.data[o + 3],
            ]),
        }
    }

    fn get(&self, i: usize) -> i64 {
        self.value_of_raw(self.raw(i))
    }

    /// Maps every sample through `f`, via a table of every bit pattern when the
    /// samples are at most 16 bits and the frame is large enough to repay it; the
    /// results are the same either way.
    fn map<T: Copy>(&self, f: impl Fn(i64) -> T) -> Vec<T> {
        let n = self.len();
        if self.bytes <= 2 && n >= (1usize << (8 * self.bytes)) / 4 {
            let table: Vec<T> = (0..1u32 << (8 * self.bytes))
                .map(|raw| f(self.value_of_raw(raw)))
                .collect();
            (0..n).map(|i| table[self.raw(i) as usize]).collect()
        } else {
            (0..n).map(|i| f(self.get(i))).collect()
        }
    }

    fn min_max(&self) -> Option<(i64, i64)> {
        (0..self.len())
            .map(|i| self.get(i))
            .fold(None, |acc, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }
}

fn photometric(info: &FrameInfo) -> &str {
    info.photometric_interpretation
        .trim_end_matches(['\0', ' '])
        .trim()
}

fn is_grey(info: &FrameInfo) -> bool {
    info.samples_per_pixel == 1 && photometric(info) != "PALETTE COLOR"
}

fn require_grey(info: &FrameInfo) -> Result<(), PixelError> {
    if is_grey(info) {
        Ok(())
    } else {
        Err(PixelError::NotGreyscale {
            photometric: photometric(info).to_string(),
            samples_per_pixel: info.samples_per_pixel,
        })
    }
}

/// The smallest and largest modality values in a greyscale frame.
pub fn modality_range(
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
) -> Result<(f64, f64), PixelError> {
    require_grey(&frame.info)?;
    let s = Samples::of(frame)?;
    let (lo, hi) = s.min_max().ok_or(PixelError::FrameSize {
        expected: 1,
        actual: 0,
    })?;
    Ok(match &attrs.modality {
        // Monotonic: the ends of the stored range give the ends of the modality range.
        m @ ModalityTransform::Rescale { .. } => m.range(lo, hi),
        // A LUT need not be monotonic, and the frame need not use all of it.
        m @ ModalityTransform::Lut(_) => s
            .map(|v| m.apply_int(v))
            .into_iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            }),
    })
}

/// The modality value (e.g. HU) of the pixel at (`column`, `row`), 0-based.
pub fn modality_value(
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
    column: u32,
    row: u32,
) -> Result<f64, PixelError> {
    require_grey(&frame.info)?;
    let info = &frame.info;
    if column >= info.columns || row >= info.rows {
        return Err(PixelError::OutsideFrame {
            column,
            row,
            columns: info.columns,
            rows: info.rows,
        });
    }
    let s = Samples::of(frame)?;
    Ok(attrs
        .modality
        .apply_int(s.get(row as usize * info.columns as usize + column as usize)))
}

/// Resolves every choice for a greyscale frame into a [`GreyPipeline`].
pub fn grey_pipeline(
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
    options: &RenderOptions,
) -> Result<GreyPipeline, PixelError> {
    grey_pipeline_for(&frame.info, attrs, options, || modality_range(frame, attrs))
}

/// [`grey_pipeline`] for a frame whose pixels are elsewhere (on the GPU): `range`
/// gives its modality range ([`modality_range`], computed when it arrived) and is
/// called only when the window comes from the pixels.
pub fn grey_pipeline_for(
    info: &FrameInfo,
    attrs: &DisplayAttributes,
    options: &RenderOptions,
    range: impl FnOnce() -> Result<(f64, f64), PixelError>,
) -> Result<GreyPipeline, PixelError> {
    require_grey(info)?;
    let min_max = || -> Result<VoiTransform, PixelError> {
        let (lo, hi) = range()?;
        Ok(VoiTransform::Window(min_max_window(lo, hi).ok_or(
            PixelError::FrameSize {
                expected: 1,
                actual: 0,
            },
        )?))
    };
    let voi = match &options.voi {
        VoiSelection::Default => {
            if let Some(w) = attrs.windows.first() {
                VoiTransform::Window(w.clone())
            } else if let Some(l) = attrs.voi_luts.first() {
                VoiTransform::Lut(l.clone())
            } else {
                min_max()?
            }
        }
        VoiSelection::FileWindow(n) => VoiTransform::Window(attrs.windows.get(*n).cloned().ok_or(
            PixelError::NoSuchWindow {
                index: *n,
                count: attrs.windows.len(),
            },
        )?),
        VoiSelection::FileLut(n) => VoiTransform::Lut(attrs.voi_luts.get(*n).cloned().ok_or(
            PixelError::NoSuchVoiLut {
                index: *n,
                count: attrs.voi_luts.len(),
            },
        )?),
        VoiSelection::Window(w) => {
            if !(w.center.is_finite() && w.width.is_finite()) {
                return Err(PixelError::InvalidWindow {
                    center: w.center,
                    width: w.width,
                });
            }
            let min = match w.function {
                VoiLutFunction::Linear => 1.0,
                _ => f64::MIN_POSITIVE,
            };
            let mut w = w.clone();
            w.width = w.width.max(min);
            VoiTransform::Window(w)
        }
        VoiSelection::MinMax => min_max()?,
    };
    let shape = options
        .presentation_lut_shape
        .or(attrs.presentation_lut_shape);
    let inverse = match shape {
        Some(PresentationLutShape::Inverse) => true,
        Some(PresentationLutShape::Identity) => false,
        None => photometric(info) == "MONOCHROME1",
    };
    Ok(GreyPipeline {
        modality: attrs.modality.clone(),
        voi,
        invert: inverse != options.invert,
    })
}

/// Renders a greyscale frame (MONOCHROME1/2) to 8-bit grey: `rows × columns`
/// bytes, row-major, 0 black, 255 white.
pub fn render_grey8(
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
    options: &RenderOptions,
) -> Result<Vec<u8>, PixelError> {
    let pipeline = grey_pipeline(frame, attrs, options)?;
    let s = Samples::of(frame)?;
    Ok(s.map(|v| pipeline.grey8_int(v)))
}

/// Renders any frame to 8-bit RGB: `rows × columns × 3` bytes, row-major, R G B
/// interleaved. Greyscale goes through [`render_grey8`] (R = G = B); PALETTE COLOR
/// through the palette; RGB samples pass through scaled to 8 bits; 8-bit YBR_FULL
/// and YBR_FULL_422 frames (canonical frames are RGB already) are converted.
/// `options` only affects greyscale frames.
pub fn render_rgb8(
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
    options: &RenderOptions,
) -> Result<Vec<u8>, PixelError> {
    let info = &frame.info;
    if is_grey(info) {
        let grey = render_grey8(frame, attrs, options)?;
        return Ok(grey.iter().flat_map(|&g| [g, g, g]).collect());
    }
    let pi = photometric(info);
    let s = Samples::of(frame)?;
    match (pi, info.samples_per_pixel) {
        ("PALETTE COLOR", 1) => {
            let palette = attrs.palette.as_ref().ok_or(PixelError::MissingPalette)?;
            let channels = [&palette.red, &palette.green, &palette.blue];
            let rgb: Vec<[u8; 3]> = s.map(|v| channels.map(|c| palette_8(c, v)));
            Ok(rgb.into_iter().flatten().collect())
        }
        ("RGB", 3) => {
            let bits = info.bits_stored.clamp(1, 32) as u32;
            if s.bytes == 1 && bits == 8 && !s.signed {
                return Ok(frame.data.clone());
            }
            let signed = s.signed;
            Ok(s.map(|v| colour_8(v, bits, signed)))
        }
        ("YBR_FULL" | "YBR_FULL_422", 3) if s.bytes == 1 => {
            let mut v = frame.data.clone();
            ybr_full_to_rgb(&mut v);
            Ok(v)
        }
        _ => Err(PixelError::UnsupportedPhotometric {
            photometric: pi.to_string(),
            samples_per_pixel: info.samples_per_pixel,
        }),
    }
}

/// A palette entry for index `v` (clamped to the first/last entry) reduced to 8
/// bits: the top 8 bits of a 16-bit entry (as DCMTK does), an 8-bit entry as is.
pub fn palette_8(lut: &PaletteLut, v: i64) -> u8 {
    if lut.data.is_empty() {
        return 0;
    }
    let i = (v - lut.first_mapped as i64).clamp(0, lut.data.len() as i64 - 1) as usize;
    let e = lut.data[i];
    if lut.bits_per_entry > 8 {
        (e >> (lut.bits_per_entry.min(16) - 8)) as u8
    } else {
        e as u8
    }
}

/// A colour sample of `bits` bits reduced to 8: signed samples are offset by
/// 2^(bits−1) first; more than 8 bits keep the top 8, fewer are scaled up.
fn colour_8(v: i64, bits: u32, signed: bool) -> u8 {
    let max = (1i64 << bits) - 1;
    let u = if signed { v + (1i64 << (bits - 1)) } else { v }.clamp(0, max);
    if bits >= 8 {
        (u >> (bits - 8)) as u8
    } else {
        (u * 255 / max) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixel::VoiLutFunction;

    fn frame(
        pi: &str,
        spp: u16,
        bits_allocated: u16,
        bits_stored: u16,
        signed: bool,
        values: &[i64],
    ) -> DecodedFrame {
        let bytes = match bits_allocated {
            0..=8 => 1,
            9..=16 => 2,
            _ => 4,
        };
        let data = values
            .iter()
            .flat_map(|&v| (v as u32).to_le_bytes()[..bytes].to_vec())
            .collect();
        DecodedFrame {
            info: FrameInfo {
                rows: 1,
                columns: (values.len() / spp as usize) as u32,
                samples_per_pixel: spp,
                bits_allocated,
                bits_stored,
                pixel_representation: signed as u16,
                photometric_interpretation: pi.to_string(),
                transfer_syntax: "1.2.840.10008.1.2.1".to_string(),
            },
            data,
        }
    }

    fn window(c: f64, w: f64) -> RenderOptions {
        RenderOptions {
            voi: VoiSelection::Window(VoiWindow::new(c, w, VoiLutFunction::Linear)),
            ..RenderOptions::default()
        }
    }

    #[test]
    fn monochrome1_inverts_and_the_shape_decides() {
        let values = [0, 64, 128, 255];
        let m2 = frame("MONOCHROME2", 1, 8, 8, false, &values);
        let m1 = frame("MONOCHROME1", 1, 8, 8, false, &values);
        let attrs = DisplayAttributes::default();
        let opts = window(128.0, 256.0);
        let plain = render_grey8(&m2, &attrs, &opts).unwrap();
        assert_eq!(plain, vec![0, 64, 128, 255]);
        let inverted = render_grey8(&m1, &attrs, &opts).unwrap();
        assert_eq!(inverted, vec![255, 191, 127, 0]);
        // MONOCHROME1 with INVERSE in the data set is inverted once, not twice.
        let mut inverse = attrs.clone();
        inverse.presentation_lut_shape = Some(PresentationLutShape::Inverse);
        assert_eq!(render_grey8(&m1, &inverse, &opts).unwrap(), inverted);
        assert_eq!(render_grey8(&m2, &inverse, &opts).unwrap(), inverted);
        // IDENTITY on MONOCHROME1 is not inverted (as DCMTK).
        let mut identity = attrs.clone();
        identity.presentation_lut_shape = Some(PresentationLutShape::Identity);
        assert_eq!(render_grey8(&m1, &identity, &opts).unwrap(), plain);
        // The user's toggle flips whatever the data set says.
        let toggled = RenderOptions {
            invert: true,
            ..opts
        };
        assert_eq!(render_grey8(&m1, &attrs, &toggled).unwrap(), plain);
        assert_eq!(render_grey8(&m2, &attrs, &toggled).unwrap(), inverted);
    }

    #[test]
    fn table_and_direct_paths_agree() {
        // 16-bit signed: 70000 samples take the table path, 7 the direct one.
        let values: Vec<i64> = (0..70000).map(|i| (i * 7919 % 65536) - 32768).collect();
        let big = frame("MONOCHROME2", 1, 16, 16, true, &values);
        let attrs = DisplayAttributes {
            modality: ModalityTransform::Rescale {
                slope: 0.5,
                intercept: -3.25,
            },
            ..DisplayAttributes::default()
        };
        let opts = RenderOptions {
            voi: VoiSelection::Window(VoiWindow::new(100.0, 3000.0, VoiLutFunction::Sigmoid)),
            ..RenderOptions::default()
        };
        let all = render_grey8(&big, &attrs, &opts).unwrap();
        let pipeline = grey_pipeline(&big, &attrs, &opts).unwrap();
        for (i, &v) in values.iter().enumerate().step_by(997) {
            assert_eq!(all[i], pipeline.grey8(v as f64), "sample {i}");
            let small = frame("MONOCHROME2", 1, 16, 16, true, &[v]);
            assert_eq!(render_grey8(&small, &attrs, &opts).unwrap(), vec![all[i]]);
        }
    }

    #[test]
    fn min_max_default_and_window_choice() {
        let f = frame("MONOCHROME2", 1, 16, 12, false, &[100, 200, 300]);
        let mut attrs = DisplayAttributes::default();
        // No window, no VOI LUT: min/max, 100 → 0, 300 → 255.
        assert_eq!(
            render_grey8(&f, &attrs, &RenderOptions::default()).unwrap(),
            vec![0, 127, 255]
        );
        attrs
            .windows
            .push(VoiWindow::new(200.0, 101.0, VoiLutFunction::Linear));
        attrs
            .voi_luts
            .push(Lut::new(0, 8, vec![9; 4096], None).unwrap());
        // The first window wins over the VOI LUT.
        assert_eq!(
            render_grey8(&f, &attrs, &RenderOptions::default()).unwrap(),
            vec![0, 128, 255]
        );
        let lut = RenderOptions {
            voi: VoiSelection::FileLut(0),
            ..RenderOptions::default()
        };
        assert_eq!(render_grey8(&f, &attrs, &lut).unwrap(), vec![9, 9, 9]);
        let missing = RenderOptions {
            voi: VoiSelection::FileWindow(1),
            ..RenderOptions::default()
        };
        assert_eq!(
            render_grey8(&f, &attrs, &missing),
            Err(PixelError::NoSuchWindow { index: 1, count: 1 })
        );
        // An explicit LINEAR width below 1 is raised to 1: a threshold at c − 0.5.
        assert_eq!(
            render_grey8(&f, &attrs, &window(200.5, 0.25)).unwrap(),
            vec![0, 0, 255]
        );
        assert!(matches!(
            render_grey8(&f, &attrs, &window(f64::NAN, 10.0)),
            Err(PixelError::InvalidWindow { .. })
        ));
        // A flat frame: width 1 at the single value, everything black (as DCMTK).
        let flat = frame("MONOCHROME2", 1, 16, 12, false, &[7, 7]);
        assert_eq!(
            render_grey8(
                &flat,
                &DisplayAttributes::default(),
                &RenderOptions::default()
            )
            .unwrap(),
            vec![0, 0]
        );
    }

    #[test]
    fn palette_16_bit_index_clamps_and_keeps_top_bits() {
        let lut = |data: Vec<u16>, bits| PaletteLut {
            entries: data.len() as u32,
            first_mapped: 1000,
            bits_per_entry: bits,
            data,
        };
        let attrs = DisplayAttributes {
            palette: Some(crate::part10::Palette {
                red: lut(vec![0x0000, 0x1234, 0xFFFF], 16),
                green: lut(vec![1, 2, 3], 8),
                blue: lut(vec![0xFF00, 0x8000, 0x00FF], 16),
            }),
            ..DisplayAttributes::default()
        };
        let f = frame(
            "PALETTE COLOR",
            1,
            16,
            16,
            false,
            &[0, 1000, 1001, 1002, 60000],
        );
        let rgb = render_rgb8(&f, &attrs, &RenderOptions::default()).unwrap();
        assert_eq!(
            rgb,
            vec![0, 1, 0xFF, 0, 1, 0xFF, 0x12, 2, 0x80, 0xFF, 3, 0, 0xFF, 3, 0]
        );
        assert_eq!(
            render_grey8(&f, &attrs, &RenderOptions::default()),
            Err(PixelError::NotGreyscale {
                photometric: "PALETTE COLOR".into(),
                samples_per_pixel: 1
            })
        );
        assert_eq!(
            render_rgb8(&f, &DisplayAttributes::default(), &RenderOptions::default()),
            Err(PixelError::MissingPalette)
        );
    }

    #[test]
    fn rgb_samples_scale_to_8_bits() {
        let attrs = DisplayAttributes::default();
        let opts = RenderOptions::default();
        let f = frame("RGB", 3, 16, 12, false, &[0, 0x800, 0xFFF]);
        assert_eq!(render_rgb8(&f, &attrs, &opts).unwrap(), vec![0, 0x80, 0xFF]);
        let f = frame("RGB", 3, 16, 16, true, &[-32768, 0, 32767]);
        assert_eq!(render_rgb8(&f, &attrs, &opts).unwrap(), vec![0, 0x80, 0xFF]);
        let f = frame("RGB", 3, 8, 6, false, &[0, 32, 63]);
        assert_eq!(render_rgb8(&f, &attrs, &opts).unwrap(), vec![0, 129, 255]);
        let grey = frame("MONOCHROME2", 1, 8, 8, false, &[0, 255]);
        assert_eq!(
            render_rgb8(&grey, &attrs, &window(128.0, 256.0)).unwrap(),
            vec![0, 0, 0, 255, 255, 255]
        );
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let mut f = frame("MONOCHROME2", 1, 16, 16, false, &[1, 2, 3]);
        f.data.pop();
        assert_eq!(
            render_grey8(&f, &DisplayAttributes::default(), &RenderOptions::default()),
            Err(PixelError::FrameSize {
                expected: 6,
                actual: 5
            })
        );
        let f = frame("YBR_PARTIAL_420", 3, 8, 8, false, &[1, 2, 3]);
        assert!(matches!(
            render_rgb8(&f, &DisplayAttributes::default(), &RenderOptions::default()),
            Err(PixelError::UnsupportedPhotometric { .. })
        ));
        let f = frame("MONOCHROME2", 1, 8, 8, false, &[1, 2]);
        assert!(matches!(
            modality_value(&f, &DisplayAttributes::default(), 2, 0),
            Err(PixelError::OutsideFrame { .. })
        ));
    }

    #[test]
    fn voi_lut_output_scales_by_its_bit_depth() {
        let f = frame("MONOCHROME2", 1, 16, 16, true, &[-5, -1, 0, 1, 5]);
        let attrs = DisplayAttributes {
            voi_luts: vec![Lut::new(-1, 12, vec![0, 2048, 4095], None).unwrap()],
            ..DisplayAttributes::default()
        };
        // Below first mapped → first entry; past last → last; 2048/4095 · 255 = 127.53.
        assert_eq!(
            render_grey8(&f, &attrs, &RenderOptions::default()).unwrap(),
            vec![0, 0, 127, 255, 255]
        );
    }
}
