//! `study` is an open study as the viewer sees it: its series, each series' images
//! in display order (one per frame), what each image is (instance plan, display
//! attributes, slice geometry) and whether the series forms a volume. Built from
//! QIDO-RS series rows and WADO-RS metadata. Owns no I/O, no pixels and no GPU
//! state (the `web` session holds those), so it is tested natively.

use crate::dicomweb::json::{tags, Dataset, SeriesRecord, Tag};
use crate::loader::{instance_plan, InstancePlan};
use crate::pixel::DisplayAttributes;
use crate::volume::{NotAVolume, SliceGeometry, VolumeGeometry};
use serde_json::{json, Value as Json};

/// The most frames one instance may claim (metadata is not trusted to size lists).
const MAX_FRAMES_PER_INSTANCE: u32 = 1 << 16;
const SLICE_LOCATION: Tag = Tag(0x0020, 0x1041);
const PALETTE_DATA: [Tag; 3] = [
    Tag(0x0028, 0x1201),
    Tag(0x0028, 0x1202),
    Tag(0x0028, 0x1203),
];

/// One instance of a series.
#[derive(Debug, Clone)]
pub struct InstanceModel {
    /// What to retrieve; `Err` when the metadata cannot describe the pixels (the
    /// instance's images then show that message).
    pub plan: Result<InstancePlan, String>,
    pub sop_instance_uid: String,
    pub instance_number: Option<i64>,
    pub attributes: DisplayAttributes,
    /// One per frame when the geometry is known; empty otherwise.
    pub slices: Vec<SliceGeometry>,
    pub slice_location: Option<f64>,
    pub modality: Option<String>,
}

/// One displayed image: frame `frame` (1-based) of instance `instance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef {
    pub instance: usize,
    pub frame: u32,
}

/// One series: its images in display order and its volume, if it forms one.
#[derive(Debug, Clone)]
pub struct SeriesModel {
    pub series_instance_uid: String,
    pub series_number: Option<i64>,
    pub modality: Option<String>,
    pub series_description: Option<String>,
    pub instances: Vec<InstanceModel>,
    /// Display order: Instance Number, then frame number, then SOP Instance UID.
    pub images: Vec<ImageRef>,
    pub volume: Result<VolumeGeometry, NotAVolume>,
    /// `volume_images[k]` is the image (index into `images`) at volume depth `k`.
    pub volume_images: Vec<usize>,
}

/// Metadata element values that are fetched separately (`BulkDataURI`) and that
/// display needs: the palette LUT data. The caller fetches them and calls
/// [`resolve_bulk_data`] before building the model.
pub fn bulk_data_needed(d: &Dataset) -> Vec<(Tag, String)> {
    PALETTE_DATA
        .iter()
        .filter_map(|&t| d.bulk_data_uri(t).map(|u| (t, u.to_string())))
        .collect()
}

/// Puts fetched bulk data into the data set as if it had come inline.
pub fn resolve_bulk_data(d: &mut Dataset, tag: Tag, bytes: Vec<u8>) {
    let vr = d
        .get(tag)
        .map(|e| e.vr.clone())
        .unwrap_or_else(|| "OW".into());
    d.insert(
        tag,
        crate::dicomweb::json::Element {
            vr,
            value: crate::dicomweb::json::Value::InlineBinary(bytes),
        },
    );
}

impl SeriesModel {
    /// Builds a series from its QIDO-RS row and its instances' metadata.
    pub fn from_metadata(study: &str, row: &SeriesRecord, metadata: &[Dataset]) -> SeriesModel {
        let se = &row.series_instance_uid;
        let mut instances: Vec<InstanceModel> = metadata
            .iter()
            .filter_map(|d| {
                // Number of Frames comes from the server: it sizes the image list, so
                // an implausible one fails that instance instead of allocating.
                let plan = instance_plan(study, se, d)?
                    .map_err(|e| e.to_string())
                    .and_then(|p| match p.description.number_of_frames {
                        n if n > MAX_FRAMES_PER_INSTANCE => Err(format!(
                            "Number of Frames {n} exceeds the {MAX_FRAMES_PER_INSTANCE} this viewer accepts"
                        )),
                        _ => Ok(p),
                    });
                let frames = plan
                    .as_ref()
                    .map(|p| p.description.number_of_frames)
                    .unwrap_or(1);
                let slices = SliceGeometry::from_json(d)
                    .ok()
                    .filter(|s| s.len() == frames as usize)
                    .unwrap_or_default();
                Some(InstanceModel {
                    sop_instance_uid: d.string(tags::SOP_INSTANCE_UID)?.to_string(),
                    instance_number: d.int(tags::INSTANCE_NUMBER),
                    attributes: DisplayAttributes::from_json(d),
                    slices,
                    slice_location: d.float(SLICE_LOCATION),
                    modality: d.string(tags::MODALITY).map(str::to_string),
                    plan,
                })
            })
            .collect();
        instances.sort_by(|a, b| {
            (a.instance_number.unwrap_or(i64::MAX), &a.sop_instance_uid)
                .cmp(&(b.instance_number.unwrap_or(i64::MAX), &b.sop_instance_uid))
        });
        let mut images = Vec::new();
        for (i, inst) in instances.iter().enumerate() {
            let frames = inst
                .plan
                .as_ref()
                .map(|p| p.description.number_of_frames)
                .unwrap_or(1);
            images.extend((1..=frames).map(|frame| ImageRef { instance: i, frame }));
        }
        // The volume is built from every image's slice, in display order, so that
        // `order()` maps volume depth straight to an image index.
        let slices: Option<Vec<SliceGeometry>> = images
            .iter()
            .map(|im| {
                instances[im.instance]
                    .slices
                    .get(im.frame as usize - 1)
                    .cloned()
            })
            .collect();
        let volume = match slices {
            Some(s) => VolumeGeometry::build(&s),
            None => Err(NotAVolume::MissingGeometry {
                instance: images
                    .iter()
                    .find(|im| instances[im.instance].slices.is_empty())
                    .map(|im| instances[im.instance].sop_instance_uid.clone())
                    .unwrap_or_default(),
                attribute: "Image Position/Orientation (Patient) and Pixel Spacing",
            }),
        };
        let volume_images = volume
            .as_ref()
            .map(|v| v.order().to_vec())
            .unwrap_or_default();
        SeriesModel {
            series_instance_uid: se.clone(),
            series_number: row.series_number.map(i64::from),
            modality: row
                .modality
                .clone()
                .or_else(|| instances.first().and_then(|i| i.modality.clone())),
            series_description: row.series_description.clone(),
            instances,
            images,
            volume,
            volume_images,
        }
    }

    /// The instance and frame of image `image`.
    pub fn image(&self, image: usize) -> Option<(&InstanceModel, u32)> {
        let r = self.images.get(image)?;
        Some((&self.instances[r.instance], r.frame))
    }

    /// The display attributes that apply to image `image` (per-frame groups applied).
    /// Borrowed unless a per-frame functional group changes something: this runs
    /// on every render.
    pub fn attributes(&self, image: usize) -> Option<std::borrow::Cow<'_, DisplayAttributes>> {
        let (inst, frame) = self.image(image)?;
        Some(inst.attributes.for_frame(frame - 1))
    }

    /// The series as the shell lists it (`api.ts` `SeriesInfo`).
    pub fn info(&self, index: usize) -> Json {
        let volume = self.volume.as_ref().ok().map(|v| {
            let d = v.dimensions();
            let [r, c] = v.pixel_spacing_ij();
            let dist = v.slice_distances();
            let step = if dist.len() > 1 {
                (dist[dist.len() - 1] - dist[0]).abs() / (dist.len() - 1) as f64
            } else {
                0.0
            };
            json!({
                "dimensions": d,
                "spacing_mm": [r, c, step],
                "gantry_tilt_degrees": v.gantry_tilt_degrees(),
                "notes": v.notes(),
            })
        });
        json!({
            "index": index,
            "series_instance_uid": self.series_instance_uid,
            "series_number": self.series_number,
            "modality": self.modality,
            "series_description": self.series_description,
            "images": self.images.len(),
            "volume": volume,
            "not_a_volume": self.volume.as_ref().err().map(|e| e.to_string()),
        })
    }

    /// What image `image` is (`api.ts` `ImageInfo`).
    pub fn image_info(&self, image: usize) -> Option<Json> {
        let (inst, frame) = self.image(image)?;
        let attrs = inst.attributes.for_frame(frame - 1);
        let slice = inst.slices.get(frame as usize - 1);
        let (rows, columns, pi) = match &inst.plan {
            Ok(p) => (
                p.description.rows,
                p.description.columns,
                p.description.photometric_interpretation.clone(),
            ),
            Err(_) => (0, 0, String::new()),
        };
        let ct = self.modality.as_deref() == Some("CT");
        let units = attrs
            .rescale_type
            .clone()
            .filter(|u| !u.trim().is_empty() && u.trim() != "US")
            .or_else(|| ct.then(|| "HU".to_string()));
        Some(json!({
            "sop_instance_uid": inst.sop_instance_uid,
            "frame": frame,
            "instance_number": inst.instance_number,
            "rows": rows,
            "columns": columns,
            "photometric_interpretation": pi.trim(),
            "pixel_spacing": attrs.pixel_spacing,
            "slice_location": inst.slice_location,
            "image_position": slice.map(|s| s.image_position.to_array()),
            "windows": attrs.windows.iter().map(|w| json!({
                "center": w.center, "width": w.width, "explanation": w.explanation,
            })).collect::<Vec<_>>(),
            "units": units,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(uid: &str, number: i64, z: f64) -> Dataset {
        let v = json!({
            "00080018": {"vr": "UI", "Value": [uid]},
            "00080060": {"vr": "CS", "Value": ["CT"]},
            "00200013": {"vr": "IS", "Value": [number]},
            "00200032": {"vr": "DS", "Value": [0.0, 0.0, z]},
            "00200037": {"vr": "DS", "Value": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]},
            "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
            "00280002": {"vr": "US", "Value": [1]},
            "00280004": {"vr": "CS", "Value": ["MONOCHROME2"]},
            "00280010": {"vr": "US", "Value": [4]},
            "00280011": {"vr": "US", "Value": [4]},
            "00280100": {"vr": "US", "Value": [16]},
            "00280101": {"vr": "US", "Value": [12]},
            "00280103": {"vr": "US", "Value": [1]},
            "00281050": {"vr": "DS", "Value": [40]},
            "00281051": {"vr": "DS", "Value": [400]},
            "00281052": {"vr": "DS", "Value": [-1024]},
            "00281053": {"vr": "DS", "Value": [1]},
        });
        Dataset::from_json(&v).unwrap()
    }

    fn row() -> SeriesRecord {
        let v = json!({
            "0020000E": {"vr": "UI", "Value": ["1.2.3"]},
            "00080060": {"vr": "CS", "Value": ["CT"]},
        });
        SeriesRecord::from_dataset(&Dataset::from_json(&v).unwrap()).unwrap()
    }

    #[test]
    fn images_follow_instance_numbers_and_the_volume_follows_positions() {
        // Instance numbers run opposite to z, and the metadata comes shuffled.
        let sets = vec![
            instance("1.3", 3, 0.0),
            instance("1.1", 1, 5.0),
            instance("1.2", 2, 2.5),
        ];
        let s = SeriesModel::from_metadata("9", &row(), &sets);
        let sops: Vec<_> = (0..3)
            .map(|i| s.image(i).unwrap().0.sop_instance_uid.clone())
            .collect();
        assert_eq!(sops, ["1.1", "1.2", "1.3"]);
        let v = s.volume.as_ref().expect("a volume");
        assert_eq!(v.dimensions(), [4, 4, 3]);
        // Depth k runs along the normal (+z): image 2 (z = 0) first.
        assert_eq!(s.volume_images, [2, 1, 0]);
        let info = s.image_info(0).unwrap();
        assert_eq!(info["units"], "HU");
        assert_eq!(info["windows"][0]["width"], 400.0);
        assert_eq!(info["image_position"], json!([0.0, 0.0, 5.0]));
        assert_eq!(s.info(0)["volume"]["spacing_mm"], json!([0.5, 0.5, 2.5]));
    }

    #[test]
    fn a_series_without_geometry_is_a_stack_that_says_why() {
        let mut d = instance("1.1", 1, 0.0);
        d.insert(
            Tag(0x0020, 0x0032),
            crate::dicomweb::json::Element {
                vr: "DS".into(),
                value: crate::dicomweb::json::Value::Empty,
            },
        );
        let s = SeriesModel::from_metadata("9", &row(), &[d, instance("1.2", 2, 1.0)]);
        assert_eq!(s.images.len(), 2);
        let why = s.info(0)["not_a_volume"].as_str().unwrap().to_string();
        assert!(why.contains("1.1"), "{why}");
    }

    #[test]
    fn an_instance_the_metadata_cannot_describe_keeps_its_slot_with_the_reason() {
        let mut d = instance("1.1", 1, 0.0);
        d.insert(
            tags::BITS_ALLOCATED,
            crate::dicomweb::json::Element {
                vr: "US".into(),
                value: crate::dicomweb::json::Value::Empty,
            },
        );
        let s = SeriesModel::from_metadata("9", &row(), &[d, instance("1.2", 2, 1.0)]);
        assert_eq!(s.images.len(), 2);
        let err = s.instances[0].plan.as_ref().unwrap_err();
        assert!(err.contains("Bits Allocated"), "{err}");
    }
}
