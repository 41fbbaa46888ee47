//! One slice's geometry, read from a Part 10 file (through dicom-object), from DICOM
//! JSON metadata, or from one frame of an Enhanced CT/MR multi-frame object (Per-Frame
//! and Shared Functional Groups). Both sources go through the same small attribute
//! trait so that the two readings cannot drift apart.

use super::math::Vec3;
use super::NotAVolume;
use crate::dicomweb::json;
use dicom_object::{InMemDicomObject, OpenFileOptions};

type TagPair = (u16, u16);

const SOP_INSTANCE_UID: TagPair = (0x0008, 0x0018);
const SLICE_THICKNESS: TagPair = (0x0018, 0x0050);
const SPACING_BETWEEN_SLICES: TagPair = (0x0018, 0x0088);
const ACQUISITION_NUMBER: TagPair = (0x0020, 0x0012);
const IMAGE_POSITION_PATIENT: TagPair = (0x0020, 0x0032);
const IMAGE_ORIENTATION_PATIENT: TagPair = (0x0020, 0x0037);
const FRAME_OF_REFERENCE_UID: TagPair = (0x0020, 0x0052);
const STACK_ID: TagPair = (0x0020, 0x9056);
const TEMPORAL_POSITION_INDEX: TagPair = (0x0020, 0x9128);
const FRAME_CONTENT_SEQUENCE: TagPair = (0x0020, 0x9111);
const PLANE_POSITION_SEQUENCE: TagPair = (0x0020, 0x9113);
const PLANE_ORIENTATION_SEQUENCE: TagPair = (0x0020, 0x9116);
const NUMBER_OF_FRAMES: TagPair = (0x0028, 0x0008);
const ROWS: TagPair = (0x0028, 0x0010);
const COLUMNS: TagPair = (0x0028, 0x0011);
const PIXEL_SPACING: TagPair = (0x0028, 0x0030);
const RESCALE_INTERCEPT: TagPair = (0x0028, 0x1052);
const RESCALE_SLOPE: TagPair = (0x0028, 0x1053);
const PIXEL_MEASURES_SEQUENCE: TagPair = (0x0028, 0x9110);
const PIXEL_VALUE_TRANSFORMATION_SEQUENCE: TagPair = (0x0028, 0x9145);
const SHARED_FUNCTIONAL_GROUPS_SEQUENCE: TagPair = (0x5200, 0x9229);
const PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE: TagPair = (0x5200, 0x9230);
const PIXEL_DATA: TagPair = (0x7FE0, 0x0010);

/// A ceiling on Number of Frames read from outside, before it sizes a Vec.
const MAX_FRAMES: u64 = 1 << 20;

/// The geometry of one slice (one single-frame instance, or one frame of a
/// multi-frame instance), as the volume builder needs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SliceGeometry {
    pub sop_instance_uid: String,
    /// 1-based frame number within a multi-frame instance; `None` for single-frame.
    pub frame_number: Option<u32>,
    /// Image Position (Patient): the centre of the first transmitted pixel, mm.
    pub image_position: Vec3,
    /// First triplet of Image Orientation (Patient): the direction in which the
    /// column index increases (along a row), as stored (not normalised).
    pub row_direction: Vec3,
    /// Second triplet: the direction in which the row index increases.
    pub column_direction: Vec3,
    /// Pixel Spacing as stored: `[between rows, between columns]` in mm.
    pub pixel_spacing: [f64; 2],
    pub slice_thickness: Option<f64>,
    pub spacing_between_slices: Option<f64>,
    pub rows: u32,
    pub columns: u32,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    pub frame_of_reference_uid: Option<String>,
    pub acquisition_number: Option<i64>,
    /// Enhanced MR/CT: Stack ID and Temporal Position Index of the frame, so that a
    /// caller can split a multi-stack or dynamic object into volumes.
    pub stack_id: Option<String>,
    pub temporal_position_index: Option<i64>,
}

impl SliceGeometry {
    /// The slices of a Part 10 file: one for a single-frame image, one per frame for
    /// a multi-frame image. Pixel Data is not read.
    pub fn from_part10(bytes: &[u8]) -> Result<Vec<SliceGeometry>, NotAVolume> {
        let obj = read_part10_header(bytes)?;
        slices_from(&obj)
    }

    /// The slices described by one instance's DICOM JSON metadata (WADO-RS
    /// `/metadata`), multi-frame included.
    pub fn from_json(ds: &json::Dataset) -> Result<Vec<SliceGeometry>, NotAVolume> {
        slices_from(ds)
    }

    /// The unit normal `row × column` (`None` if the orientation is degenerate).
    pub fn normal(&self) -> Option<Vec3> {
        self.row_direction.cross(self.column_direction).normalized()
    }

    /// Where this slice is in the input, for messages.
    pub fn label(&self) -> String {
        match self.frame_number {
            Some(f) => format!("{} frame {f}", self.sop_instance_uid),
            None => self.sop_instance_uid.clone(),
        }
    }
}

fn read_part10_header(bytes: &[u8]) -> Result<InMemDicomObject, NotAVolume> {
    let tag = dicom_core::Tag(PIXEL_DATA.0, PIXEL_DATA.1);
    match OpenFileOptions::new()
        .read_until(tag)
        .from_reader(std::io::Cursor::new(bytes))
    {
        Ok(obj) => Ok(obj.into_inner()),
        Err(strict) => {
            // A bare data set with no meta group: try the two native encodings.
            let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
                return Err(NotAVolume::Unreadable(strict.to_string()));
            } else {
                bytes
            };
            use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
            for uid in ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"] {
                let Some(ts) = TransferSyntaxRegistry.get(uid) else {
                    continue;
                };
                if let Ok(obj) = InMemDicomObject::read_dataset_with_ts(body, ts) {
                    if obj.get(dicom_core::Tag(0x0008, 0x0018)).is_some() {
                        return Ok(obj);
                    }
                }
            }
            Err(NotAVolume::Unreadable(strict.to_string()))
        }
    }
}

/// What the slice reader needs from a data set, whichever way it was encoded.
trait Attributes: Sized {
    /// Every value as a number; empty when absent or not numeric.
    fn numbers(&self, tag: TagPair) -> Vec<f64>;
    /// The first value as trimmed text.
    fn text(&self, tag: TagPair) -> Option<String>;
    /// The items of a sequence; empty when absent.
    fn items(&self, tag: TagPair) -> &[Self];

    fn number(&self, tag: TagPair) -> Option<f64> {
        self.numbers(tag).first().copied()
    }
}

impl Attributes for json::Dataset {
    fn numbers(&self, tag: TagPair) -> Vec<f64> {
        self.floats(json::Tag(tag.0, tag.1))
    }
    fn text(&self, tag: TagPair) -> Option<String> {
        self.string(json::Tag(tag.0, tag.1))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }
    fn items(&self, tag: TagPair) -> &[Self] {
        self.sequence(json::Tag(tag.0, tag.1)).unwrap_or(&[])
    }
}

impl Attributes for InMemDicomObject {
    fn numbers(&self, tag: TagPair) -> Vec<f64> {
        self.get(dicom_core::Tag(tag.0, tag.1))
            .and_then(|e| e.value().to_multi_float64().ok())
            .map(|v| v.into_iter().filter(|x| x.is_finite()).collect())
            .unwrap_or_default()
    }
    fn text(&self, tag: TagPair) -> Option<String> {
        self.get(dicom_core::Tag(tag.0, tag.1))
            .and_then(|e| e.value().to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
            .filter(|s| !s.is_empty())
    }
    fn items(&self, tag: TagPair) -> &[Self] {
        self.get(dicom_core::Tag(tag.0, tag.1))
            .and_then(|e| e.value().items())
            .unwrap_or(&[])
    }
}

/// Looks an attribute up in a functional group macro: the per-frame item first,
/// then the shared item, then (for files that carry it at the top level, as
/// classic images do) the data set itself.
struct Lookup<'a, A: Attributes> {
    top: &'a A,
    per_frame: Option<&'a A>,
    shared: Option<&'a A>,
}

impl<'a, A: Attributes> Lookup<'a, A> {
    fn group_item(&self, group: TagPair) -> impl Iterator<Item = &'a A> {
        let per = self.per_frame.and_then(|f| f.items(group).first());
        let shared = self.shared.and_then(|s| s.items(group).first());
        per.into_iter().chain(shared)
    }

    fn numbers(&self, group: TagPair, tag: TagPair) -> Vec<f64> {
        self.group_item(group)
            .map(|item| item.numbers(tag))
            .find(|v| !v.is_empty())
            .unwrap_or_else(|| self.top.numbers(tag))
    }

    fn text(&self, group: TagPair, tag: TagPair) -> Option<String> {
        self.group_item(group)
            .find_map(|item| item.text(tag))
            .or_else(|| self.top.text(tag))
    }
}

fn slices_from<A: Attributes>(ds: &A) -> Result<Vec<SliceGeometry>, NotAVolume> {
    let sop = ds
        .text(SOP_INSTANCE_UID)
        .unwrap_or_else(|| "(no SOP Instance UID)".to_string());
    let frames = ds.number(NUMBER_OF_FRAMES).unwrap_or(1.0);
    if !(frames >= 1.0 && frames <= MAX_FRAMES as f64 && frames.fract() == 0.0) {
        return Err(NotAVolume::Unreadable(format!(
            "{sop}: Number of Frames {frames} is not a frame count"
        )));
    }
    let frames = frames as u32;
    let per_frame = ds.items(PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let shared = ds.items(SHARED_FUNCTIONAL_GROUPS_SEQUENCE).first();
    if !per_frame.is_empty() && per_frame.len() != frames as usize {
        return Err(NotAVolume::Unreadable(format!(
            "{sop}: Per-Frame Functional Groups Sequence has {} items for {frames} frames",
            per_frame.len()
        )));
    }
    (0..frames)
        .map(|f| {
            let lookup = Lookup {
                top: ds,
                per_frame: per_frame.get(f as usize),
                shared,
            };
            let frame_number = (frames > 1).then_some(f + 1);
            one_slice(ds, &lookup, sop.clone(), frame_number)
        })
        .collect()
}

fn one_slice<A: Attributes>(
    ds: &A,
    at: &Lookup<'_, A>,
    sop_instance_uid: String,
    frame_number: Option<u32>,
) -> Result<SliceGeometry, NotAVolume> {
    let missing = |attribute: &'static str| NotAVolume::MissingGeometry {
        instance: match frame_number {
            Some(f) => format!("{sop_instance_uid} frame {f}"),
            None => sop_instance_uid.clone(),
        },
        attribute,
    };
    let position = at.numbers(PLANE_POSITION_SEQUENCE, IMAGE_POSITION_PATIENT);
    let image_position =
        Vec3::from_slice(&position).ok_or_else(|| missing("Image Position (Patient)"))?;
    let orientation = at.numbers(PLANE_ORIENTATION_SEQUENCE, IMAGE_ORIENTATION_PATIENT);
    if orientation.len() < 6 {
        return Err(missing("Image Orientation (Patient)"));
    }
    let row_direction = Vec3::from_slice(&orientation[0..3])
        .ok_or_else(|| missing("Image Orientation (Patient)"))?;
    let column_direction = Vec3::from_slice(&orientation[3..6])
        .ok_or_else(|| missing("Image Orientation (Patient)"))?;
    let spacing = at.numbers(PIXEL_MEASURES_SEQUENCE, PIXEL_SPACING);
    let pixel_spacing = match spacing[..] {
        [r, c, ..] if r > 0.0 && c > 0.0 => [r, c],
        _ => return Err(missing("Pixel Spacing")),
    };
    let positive = |v: Vec<f64>| v.first().copied().filter(|x| *x > 0.0);
    let slice_thickness = positive(at.numbers(PIXEL_MEASURES_SEQUENCE, SLICE_THICKNESS));
    let spacing_between_slices =
        positive(at.numbers(PIXEL_MEASURES_SEQUENCE, SPACING_BETWEEN_SLICES));
    let dimension = |tag, name| {
        ds.number(tag)
            .filter(|v| *v >= 1.0 && *v <= 65535.0 && v.fract() == 0.0)
            .map(|v| v as u32)
            .ok_or_else(|| missing(name))
    };
    let rows = dimension(ROWS, "Rows")?;
    let columns = dimension(COLUMNS, "Columns")?;
    let rescale_slope = at
        .numbers(PIXEL_VALUE_TRANSFORMATION_SEQUENCE, RESCALE_SLOPE)
        .first()
        .copied()
        .filter(|s| *s != 0.0)
        .unwrap_or(1.0);
    let rescale_intercept = at
        .numbers(PIXEL_VALUE_TRANSFORMATION_SEQUENCE, RESCALE_INTERCEPT)
        .first()
        .copied()
        .unwrap_or(0.0);
    let integer = |v: Option<f64>| v.filter(|x| x.fract() == 0.0).map(|x| x as i64);
    Ok(SliceGeometry {
        sop_instance_uid,
        frame_number,
        image_position,
        row_direction,
        column_direction,
        pixel_spacing,
        slice_thickness,
        spacing_between_slices,
        rows,
        columns,
        rescale_slope,
        rescale_intercept,
        frame_of_reference_uid: ds.text(FRAME_OF_REFERENCE_UID),
        acquisition_number: integer(ds.number(ACQUISITION_NUMBER)),
        stack_id: at.text(FRAME_CONTENT_SEQUENCE, STACK_ID),
        temporal_position_index: integer(
            at.numbers(FRAME_CONTENT_SEQUENCE, TEMPORAL_POSITION_INDEX)
                .first()
                .copied(),
        ),
    })
}
