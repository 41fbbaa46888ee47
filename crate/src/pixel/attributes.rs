//! [`DisplayAttributes`]: what a data set says about displaying its pixels, read
//! from a Part 10 data set or a DICOM JSON data set by the same code.

use super::lut::{Lut, LutData};
use super::source::{RawLutData, Source, TagPair};
use super::voi::{VoiLutFunction, VoiWindow};
use crate::dicomweb::json::Dataset;
use crate::part10::{Palette, PaletteLut};
use dicom_object::InMemDicomObject;
use serde::Serialize;
use std::borrow::Cow;

mod tag {
    use super::TagPair;
    pub const IMAGER_PIXEL_SPACING: TagPair = (0x0018, 0x1164);
    pub const PHOTOMETRIC_INTERPRETATION: TagPair = (0x0028, 0x0004);
    pub const PIXEL_SPACING: TagPair = (0x0028, 0x0030);
    pub const PIXEL_ASPECT_RATIO: TagPair = (0x0028, 0x0034);
    pub const BITS_STORED: TagPair = (0x0028, 0x0101);
    pub const PIXEL_REPRESENTATION: TagPair = (0x0028, 0x0103);
    pub const WINDOW_CENTER: TagPair = (0x0028, 0x1050);
    pub const WINDOW_WIDTH: TagPair = (0x0028, 0x1051);
    pub const RESCALE_INTERCEPT: TagPair = (0x0028, 0x1052);
    pub const RESCALE_SLOPE: TagPair = (0x0028, 0x1053);
    pub const RESCALE_TYPE: TagPair = (0x0028, 0x1054);
    pub const WINDOW_EXPLANATION: TagPair = (0x0028, 0x1055);
    pub const VOI_LUT_FUNCTION: TagPair = (0x0028, 0x1056);
    pub const PALETTE_DESCRIPTOR: [TagPair; 3] =
        [(0x0028, 0x1101), (0x0028, 0x1102), (0x0028, 0x1103)];
    pub const PALETTE_DATA: [TagPair; 3] = [(0x0028, 0x1201), (0x0028, 0x1202), (0x0028, 0x1203)];
    pub const MODALITY_LUT_SEQUENCE: TagPair = (0x0028, 0x3000);
    pub const LUT_DESCRIPTOR: TagPair = (0x0028, 0x3002);
    pub const LUT_EXPLANATION: TagPair = (0x0028, 0x3003);
    pub const MODALITY_LUT_TYPE: TagPair = (0x0028, 0x3004);
    pub const LUT_DATA: TagPair = (0x0028, 0x3006);
    pub const VOI_LUT_SEQUENCE: TagPair = (0x0028, 0x3010);
    pub const PIXEL_MEASURES_SEQUENCE: TagPair = (0x0028, 0x9110);
    pub const FRAME_VOI_LUT_SEQUENCE: TagPair = (0x0028, 0x9132);
    pub const PIXEL_VALUE_TRANSFORMATION_SEQUENCE: TagPair = (0x0028, 0x9145);
    pub const PRESENTATION_LUT_SHAPE: TagPair = (0x2050, 0x0020);
    pub const SHARED_FUNCTIONAL_GROUPS_SEQUENCE: TagPair = (0x5200, 0x9229);
    pub const PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE: TagPair = (0x5200, 0x9230);
}

/// The Modality LUT stage (PS3.3 C.11.1): stored values → modality values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ModalityTransform {
    /// `stored · slope + intercept` (Rescale Slope (0028,1053), Rescale Intercept
    /// (0028,1052)); the identity is slope 1, intercept 0.
    Rescale { slope: f64, intercept: f64 },
    /// Modality LUT Sequence (0028,3000), first item.
    Lut(Lut),
}

impl ModalityTransform {
    pub const IDENTITY: ModalityTransform = ModalityTransform::Rescale {
        slope: 1.0,
        intercept: 0.0,
    };

    /// The modality value of a stored value.
    pub fn apply(&self, stored: f64) -> f64 {
        match self {
            Self::Rescale { slope, intercept } => stored * slope + intercept,
            Self::Lut(lut) => lut.lookup(stored) as f64,
        }
    }

    /// The modality value of an integer stored value.
    pub fn apply_int(&self, stored: i64) -> f64 {
        match self {
            Self::Rescale { slope, intercept } => stored as f64 * slope + intercept,
            Self::Lut(lut) => lut.lookup_int(stored) as f64,
        }
    }

    /// The smallest and largest modality values of stored values in `lo..=hi`.
    pub fn range(&self, lo: i64, hi: i64) -> (f64, f64) {
        match self {
            Self::Rescale { .. } => {
                let (a, b) = (self.apply_int(lo), self.apply_int(hi));
                (a.min(b), a.max(b))
            }
            Self::Lut(lut) => {
                let lo = lo.clamp(lut.first_mapped, lut.last_mapped());
                let hi = hi.clamp(lut.first_mapped, lut.last_mapped());
                (lo..=hi)
                    .map(|v| lut.lookup_int(v) as f64)
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                        (a.min(v), b.max(v))
                    })
            }
        }
    }
}

/// Presentation LUT Shape (2050,0020), PS3.3 C.11.6.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PresentationLutShape {
    Identity,
    Inverse,
}

impl PresentationLutShape {
    /// `IDENTITY` or `INVERSE` (padding and case tolerated); `None` otherwise
    /// (LIN OD, which only print presentation states use, included).
    pub fn from_defined_term(s: &str) -> Option<Self> {
        match s
            .trim_end_matches(['\0', ' '])
            .trim()
            .to_ascii_uppercase()
            .as_str()
        {
            "IDENTITY" => Some(Self::Identity),
            "INVERSE" => Some(Self::Inverse),
            _ => None,
        }
    }
}

/// Display attributes a per-frame functional group overrides (Enhanced CT/MR/XA…).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FrameDisplayAttributes {
    /// Pixel Value Transformation Sequence (0028,9145) of this frame.
    pub modality: Option<ModalityTransform>,
    pub rescale_type: Option<String>,
    /// Frame VOI LUT Sequence (0028,9132) of this frame.
    pub windows: Option<Vec<VoiWindow>>,
    /// Pixel Measures Sequence (0028,9110) of this frame.
    pub pixel_spacing: Option<[f64; 2]>,
}

/// Everything a data set says about displaying its pixels (PS3.3 C.11, C.7.6.3),
/// read leniently: a missing or malformed value gives the default named on its
/// field, never an error or a panic.
///
/// Values from the Shared Functional Groups Sequence (5200,9229) are used where
/// the top level lacks them; those of the Per-Frame Functional Groups Sequence
/// (5200,9230) are kept in [`frames`](Self::frames) and applied by
/// [`for_frame`](Self::for_frame).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisplayAttributes {
    /// Photometric Interpretation (0028,0004) as stored (the decoded frame's own,
    /// canonical one is what rendering uses). Default: none.
    pub photometric_interpretation: Option<String>,
    /// Bits Stored (0028,0101), 1..=32. Default: none.
    pub bits_stored: Option<u16>,
    /// Pixel Representation (0028,0103), 0 or 1. Default: none.
    pub pixel_representation: Option<u16>,
    /// The Modality LUT stage. Default: identity. The Modality LUT Sequence wins
    /// over Rescale Slope/Intercept (the standard allows only one); a slope of 0 or
    /// a non-numeric slope or intercept drops the rescale (identity).
    pub modality: ModalityTransform,
    /// Rescale Type (0028,1054) or Modality LUT Type (0028,3004), e.g. `HU`.
    pub rescale_type: Option<String>,
    /// The windows of Window Center (0028,1050) / Window Width (0028,1051), paired
    /// in order up to the shorter list, each with its Window Center & Width
    /// Explanation (0028,1055) and the VOI LUT Function (0028,1056, default
    /// LINEAR). Windows whose center is not finite or whose width is invalid for
    /// the function (< 1 for LINEAR, ≤ 0 otherwise) are left out. Default: none.
    pub windows: Vec<VoiWindow>,
    /// The items of the VOI LUT Sequence (0028,3010), in order; unusable items
    /// (no descriptor, no data) are left out. Default: none.
    pub voi_luts: Vec<Lut>,
    /// Presentation LUT Shape (2050,0020). Default: none, which means IDENTITY for
    /// MONOCHROME2 and INVERSE for MONOCHROME1.
    pub presentation_lut_shape: Option<PresentationLutShape>,
    /// Red/Green/Blue Palette Color LUTs (0028,1101-1103 and 1201-1203). Default:
    /// none; segmented palettes (0028,1221-1223) are not read.
    pub palette: Option<Palette>,
    /// Pixel Spacing (0028,0030) as (row spacing, column spacing) in mm, else
    /// the Pixel Measures Sequence's, else Imager Pixel Spacing (0018,1164).
    /// Default: none. Values ≤ 0 or not finite are ignored.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Pixel Aspect Ratio (0028,0034) as (vertical, horizontal). Default: none.
    pub pixel_aspect_ratio: Option<[f64; 2]>,
    /// Per-frame overrides, one per item of the Per-Frame Functional Groups
    /// Sequence. Default: none.
    pub frames: Vec<FrameDisplayAttributes>,
    /// `BulkDataURI`s of LUT Data that DICOM JSON referenced instead of including:
    /// those LUTs are missing until the caller fetches the bytes, puts them into
    /// the data set as `InlineBinary` and reads it again.
    pub unresolved_bulk_data: Vec<String>,
}

impl Default for DisplayAttributes {
    fn default() -> Self {
        DisplayAttributes {
            photometric_interpretation: None,
            bits_stored: None,
            pixel_representation: None,
            modality: ModalityTransform::IDENTITY,
            rescale_type: None,
            windows: Vec::new(),
            voi_luts: Vec::new(),
            presentation_lut_shape: None,
            palette: None,
            pixel_spacing: None,
            pixel_aspect_ratio: None,
            frames: Vec::new(),
            unresolved_bulk_data: Vec::new(),
        }
    }
}

impl DisplayAttributes {
    /// Reads a DICOM JSON data set (WADO-RS metadata).
    pub fn from_json(ds: &Dataset) -> Self {
        parse(ds)
    }

    /// Reads a Part 10 data set.
    pub fn from_part10(obj: &InMemDicomObject) -> Self {
        parse(obj)
    }

    /// The attributes that apply to frame `index` (0-based): the per-frame
    /// functional group's values where it has them. Borrowed when nothing differs.
    pub fn for_frame(&self, index: u32) -> Cow<'_, DisplayAttributes> {
        let Some(f) = self.frames.get(index as usize) else {
            return Cow::Borrowed(self);
        };
        if f.modality.is_none() && f.windows.is_none() && f.pixel_spacing.is_none() {
            return Cow::Borrowed(self);
        }
        let mut a = self.clone();
        a.frames = Vec::new();
        if let Some(m) = &f.modality {
            a.modality = m.clone();
            a.rescale_type = f.rescale_type.clone();
        }
        if let Some(w) = &f.windows {
            a.windows = w.clone();
        }
        if let Some(s) = f.pixel_spacing {
            a.pixel_spacing = Some(s);
        }
        Cow::Owned(a)
    }

    /// The height of a pixel divided by its width: from Pixel Spacing (row spacing /
    /// column spacing), else Pixel Aspect Ratio (vertical / horizontal), else 1.
    pub fn pixel_aspect(&self) -> f64 {
        self.pixel_spacing
            .or(self.pixel_aspect_ratio)
            .map(|[v, h]| v / h)
            .filter(|r| r.is_finite() && *r > 0.0)
            .unwrap_or(1.0)
    }

    /// The stored value range that Bits Stored and Pixel Representation allow.
    pub fn stored_range(&self) -> Option<(i64, i64)> {
        let bits = self.bits_stored.filter(|b| (1..=32).contains(b))? as u32;
        Some(if self.pixel_representation == Some(1) {
            (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
        } else {
            (0, (1i64 << bits) - 1)
        })
    }

    /// A LINEAR window spanning every modality value the stored range allows: the
    /// fallback when neither the data set nor the pixels are at hand.
    pub fn full_range_window(&self) -> Option<VoiWindow> {
        let (lo, hi) = self.stored_range()?;
        let (min, max) = self.modality.range(lo, hi);
        min_max_window(min, max)
    }
}

/// The min/max window (what DCMTK's `+Wm` computes): LINEAR with center
/// `(min + max + 1) / 2` and width `max − min + 1`, which maps `min` to 0 and
/// `max` to 1 (C.11.2.1.2.1 with `c − 0.5 = (min + max)/2`, `w − 1 = max − min`).
pub fn min_max_window(min: f64, max: f64) -> Option<VoiWindow> {
    if !(min.is_finite() && max.is_finite() && max >= min) {
        return None;
    }
    let mut w = VoiWindow::new(
        (min + max + 1.0) / 2.0,
        max - min + 1.0,
        VoiLutFunction::Linear,
    );
    w.explanation = Some("MIN-MAX".to_string());
    Some(w)
}

fn first_number<S: Source>(s: &S, t: TagPair) -> Option<f64> {
    s.numbers(t)?.first().copied().filter(|v| v.is_finite())
}

fn first_text<S: Source>(s: &S, t: TagPair) -> Option<String> {
    s.texts(t).into_iter().next().filter(|v| !v.is_empty())
}

fn pair<S: Source>(s: &S, t: TagPair) -> Option<[f64; 2]> {
    let v = s.numbers(t)?;
    (v.len() >= 2 && v[..2].iter().all(|x| x.is_finite() && *x > 0.0)).then(|| [v[0], v[1]])
}

fn lut_from_item<S: Source>(
    item: &S,
    signed_input: bool,
    unresolved: &mut Vec<String>,
) -> Option<Lut> {
    let descriptor = item.numbers(tag::LUT_DESCRIPTOR)?;
    let explanation = first_text(item, tag::LUT_EXPLANATION);
    match item.lut_data(tag::LUT_DATA)? {
        RawLutData::Words(w) => {
            Lut::from_descriptor(&descriptor, LutData::Words(&w), signed_input, explanation)
        }
        RawLutData::Bytes(b) => {
            Lut::from_descriptor(&descriptor, LutData::Bytes(&b), signed_input, explanation)
        }
        RawLutData::BulkData(uri) => {
            unresolved.push(uri);
            None
        }
    }
}

/// The Modality LUT stage of one data set or functional group item, if it has one.
fn modality_of<S: Source>(
    s: &S,
    signed_stored: bool,
    unresolved: &mut Vec<String>,
) -> Option<(ModalityTransform, Option<String>)> {
    if let Some(item) = s.items(tag::MODALITY_LUT_SEQUENCE).first() {
        if let Some(lut) = lut_from_item(*item, signed_stored, unresolved) {
            return Some((
                ModalityTransform::Lut(lut),
                first_text(*item, tag::MODALITY_LUT_TYPE),
            ));
        }
    }
    let slope = s.numbers(tag::RESCALE_SLOPE);
    let intercept = s.numbers(tag::RESCALE_INTERCEPT);
    if slope.is_none() && intercept.is_none() {
        return None;
    }
    let slope = slope.map_or(Some(1.0), |v| v.first().copied());
    let intercept = intercept.map_or(Some(0.0), |v| v.first().copied());
    let rescale_type = first_text(s, tag::RESCALE_TYPE);
    match (slope, intercept) {
        (Some(slope), Some(intercept))
            if slope.is_finite() && slope != 0.0 && intercept.is_finite() =>
        {
            Some((
                ModalityTransform::Rescale { slope, intercept },
                rescale_type,
            ))
        }
        _ => Some((ModalityTransform::IDENTITY, None)),
    }
}

/// The valid windows of one data set or Frame VOI LUT item; `None` if it has none.
fn windows_of<S: Source>(s: &S) -> Option<Vec<VoiWindow>> {
    let centers = s.numbers(tag::WINDOW_CENTER)?;
    let widths = s.numbers(tag::WINDOW_WIDTH)?;
    let explanations = s.texts(tag::WINDOW_EXPLANATION);
    let function = first_text(s, tag::VOI_LUT_FUNCTION)
        .and_then(|t| VoiLutFunction::from_defined_term(&t))
        .unwrap_or_default();
    let windows: Vec<VoiWindow> = centers
        .iter()
        .zip(&widths)
        .enumerate()
        .map(|(i, (&center, &width))| VoiWindow {
            center,
            width,
            function,
            explanation: explanations.get(i).filter(|e| !e.is_empty()).cloned(),
        })
        .filter(VoiWindow::is_valid)
        .collect();
    (!windows.is_empty()).then_some(windows)
}

fn palette_of<S: Source>(
    s: &S,
    signed_stored: bool,
    unresolved: &mut Vec<String>,
) -> Option<Palette> {
    let mut channels = Vec::with_capacity(3);
    for (d, t) in tag::PALETTE_DESCRIPTOR.iter().zip(tag::PALETTE_DATA) {
        let descriptor = s.numbers(*d)?;
        let lut = match s.lut_data(t)? {
            RawLutData::Words(w) => {
                Lut::from_descriptor(&descriptor, LutData::Words(&w), signed_stored, None)
            }
            RawLutData::Bytes(b) => {
                Lut::from_descriptor(&descriptor, LutData::Bytes(&b), signed_stored, None)
            }
            RawLutData::BulkData(uri) => {
                unresolved.push(uri);
                None
            }
        }?;
        channels.push(PaletteLut {
            entries: lut.data.len() as u32,
            first_mapped: lut.first_mapped.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            bits_per_entry: lut.bits,
            data: lut.data,
        });
    }
    let blue = channels.pop()?;
    let green = channels.pop()?;
    let red = channels.pop()?;
    Some(Palette { red, green, blue })
}

/// Whether a transform can give negative modality values from stored values.
fn modality_can_be_negative(
    m: &ModalityTransform,
    range: Option<(i64, i64)>,
    signed: bool,
) -> bool {
    match (m, range) {
        (ModalityTransform::Lut(_), _) => false,
        (_, Some((lo, hi))) => m.range(lo, hi).0 < 0.0,
        (ModalityTransform::Rescale { slope, intercept }, None) => {
            signed || *slope < 0.0 || *intercept < 0.0
        }
    }
}

fn parse<S: Source>(top: &S) -> DisplayAttributes {
    let mut a = DisplayAttributes {
        photometric_interpretation: first_text(top, tag::PHOTOMETRIC_INTERPRETATION),
        bits_stored: first_number(top, tag::BITS_STORED)
            .filter(|v| (1.0..=32.0).contains(v))
            .map(|v| v as u16),
        pixel_representation: first_number(top, tag::PIXEL_REPRESENTATION)
            .filter(|v| *v == 0.0 || *v == 1.0)
            .map(|v| v as u16),
        ..DisplayAttributes::default()
    };
    let signed_stored = a.pixel_representation == Some(1);
    let shared = top
        .items(tag::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .first()
        .copied();
    let shared_item = |seq: TagPair| shared.and_then(|s| s.items(seq).first().copied());
    let mut unresolved = Vec::new();

    let modality = modality_of(top, signed_stored, &mut unresolved).or_else(|| {
        shared_item(tag::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
            .and_then(|i| modality_of(i, signed_stored, &mut unresolved))
    });
    if let Some((m, t)) = modality {
        a.modality = m;
        a.rescale_type = t;
    }
    a.windows = windows_of(top)
        .or_else(|| shared_item(tag::FRAME_VOI_LUT_SEQUENCE).and_then(windows_of))
        .unwrap_or_default();

    let signed_modality = modality_can_be_negative(&a.modality, a.stored_range(), signed_stored);
    a.voi_luts = top
        .items(tag::VOI_LUT_SEQUENCE)
        .into_iter()
        .filter_map(|item| lut_from_item(item, signed_modality, &mut unresolved))
        .collect();
    a.presentation_lut_shape = first_text(top, tag::PRESENTATION_LUT_SHAPE)
        .and_then(|t| PresentationLutShape::from_defined_term(&t));
    a.palette = palette_of(top, signed_stored, &mut unresolved);
    a.pixel_spacing = pair(top, tag::PIXEL_SPACING)
        .or_else(|| {
            shared_item(tag::PIXEL_MEASURES_SEQUENCE).and_then(|i| pair(i, tag::PIXEL_SPACING))
        })
        .or_else(|| pair(top, tag::IMAGER_PIXEL_SPACING));
    a.pixel_aspect_ratio = pair(top, tag::PIXEL_ASPECT_RATIO);

    let per_frame = top.items(tag::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let frames: Vec<FrameDisplayAttributes> = per_frame
        .into_iter()
        .map(|item| {
            let first = |seq: TagPair| item.items(seq).first().copied();
            let modality = first(tag::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
                .and_then(|i| modality_of(i, signed_stored, &mut unresolved));
            FrameDisplayAttributes {
                rescale_type: modality.as_ref().and_then(|m| m.1.clone()),
                modality: modality.map(|m| m.0),
                windows: first(tag::FRAME_VOI_LUT_SEQUENCE).and_then(windows_of),
                pixel_spacing: first(tag::PIXEL_MEASURES_SEQUENCE)
                    .and_then(|i| pair(i, tag::PIXEL_SPACING)),
            }
        })
        .collect();
    if frames
        .iter()
        .any(|f| *f != FrameDisplayAttributes::default())
    {
        a.frames = frames;
    }
    a.unresolved_bulk_data = unresolved;
    a
}
