//! The viewer's study session on the main thread: the open study (`study`), the
//! loader's scheduler (`loader::schedule`), the decoded frames as GPU textures
//! and the volumes built from them, and rendering of 2-D and MPR viewports.
//! Network and decoding happen in Workers (`retrieve`); the shell moves tasks
//! and results between them (`www/src/core.ts`).
//!
//! Every method takes `&self` and borrows the state only between awaits, so the
//! shell may call `delivered` while a render is waiting on the GPU.

use super::{client, gpu_for, js_error};
use crate::codec::{DecodedFrame, FrameInfo};

use crate::dicomweb::fetch::FetchTransport;
use crate::dicomweb::json::StudyRecord;
use crate::dicomweb::{DicomWebClient, QidoQuery};
use crate::loader::schedule::{Outcome, Policy, Scheduler, Slot, Work};
use futures_util::future::{join, join_all};

/// Frames of one instance asked for in one WADO-RS request, at most.
const FRAMES_PER_REQUEST: usize = 8;
use crate::pixel::{
    self, DisplayAttributes, GreyPipeline, RenderOptions, VoiLutFunction, VoiSelection,
    VoiTransform, VoiWindow,
};
use crate::render::Gpu;
use crate::render::{
    cpu, GpuImage, GpuVolume, ImageSettings, Interpolation, MprSettings, Target, View, Zoom,
};
use crate::study::{bulk_data_needed, resolve_bulk_data, SeriesModel};
use crate::volume::{
    MprPlane, PlaneGrid, Slab, SlabMode, StandardView, Vec3, VoxelData, VoxelStacker,
};
use serde_json::{json, Value as Json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[derive(serde::Deserialize, Default)]
struct OpenOptions {
    #[serde(default)]
    budget_bytes: Option<f64>,
    /// `auto` (WebGPU, WebGL2, then the CPU), `webgpu`, `webgl2`, `cpu`.
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    max_in_flight: Option<usize>,
}

#[derive(Clone)]
enum Pixels {
    Gpu(Rc<GpuImage>),
    /// The CPU fallback keeps the frame (there is no GPU to hold it); so does a
    /// GPU study for a frame that arrives while a lost device is being replaced.
    Cpu(Rc<DecodedFrame>),
}

struct Resident {
    pixels: Pixels,
    info: FrameInfo,
    /// Modality value range, for the min/max window when the file has none.
    range: Option<(f64, f64)>,
}

struct Inner {
    study: Json,
    series: Vec<SeriesModel>,
    scheduler: Scheduler,
    backend: String,
    gpu: Option<Rc<Gpu>>,
    slots: HashMap<(usize, usize), Resident>,
    volumes: HashMap<usize, Rc<GpuVolume>>,
    gpu_bytes: u64,
    volume_bytes: u64,
    /// GPU devices lost and replaced so far.
    device_losses: u32,
    /// Whether frames of one instance are asked for in one request (until the
    /// server shows it does not honour frame lists).
    frame_lists: bool,
    budget: u64,
    /// Offscreen targets not in use, reused by size (a W/L drag renders the same
    /// size again and again; making a texture and a staging buffer each time costs).
    spare_targets: Vec<Rc<Target>>,
}

/// An open study: see the module docs. Made by [`open_study`].
#[wasm_bindgen]
pub struct StudySession {
    inner: Rc<RefCell<Inner>>,
}

/// The study's QIDO-RS row and its series, each built from its WADO-RS metadata
/// (one request per series, all at once; palette LUT bulk data fetched), in
/// Series Number order; series without images are left out.
async fn study_models(
    c: &DicomWebClient<FetchTransport>,
    study: &str,
) -> Result<(StudyRecord, Vec<SeriesModel>), JsError> {
    let row = c
        .search_studies(
            &QidoQuery::new()
                .matching("StudyInstanceUID", study)
                .include("StudyDescription")
                .include("AccessionNumber"),
        )
        .await
        .map_err(js_error)?
        .into_iter()
        .find(|s| s.study_instance_uid == study)
        .ok_or_else(|| js_error(format!("the server has no study {study}")))?;
    let mut rows = c
        .search_series(Some(study), &QidoQuery::new())
        .await
        .map_err(js_error)?;
    rows.sort_by_key(|r| {
        (
            r.series_number.unwrap_or(i32::MAX),
            r.series_instance_uid.clone(),
        )
    });
    let models = join_all(rows.iter().map(|r| async move {
        let mut sets = c
            .metadata(study, Some(&r.series_instance_uid), None)
            .await
            .map_err(js_error)?;
        for d in &mut sets {
            for (tag, uri) in bulk_data_needed(d) {
                // A LUT that cannot be fetched leaves the palette missing: those
                // images then fail with that reason, the rest load.
                if let Ok(bytes) = c.bulk_data(&uri).await {
                    resolve_bulk_data(d, tag, bytes);
                }
            }
        }
        Ok::<_, JsError>(SeriesModel::from_metadata(study, r, &sets))
    }))
    .await;
    let mut series = Vec::new();
    for m in models {
        let m = m?;
        if !m.images.is_empty() {
            series.push(m);
        }
    }
    Ok((row, series))
}

/// Opens a study for viewing: QIDO-RS series, then each series' WADO-RS metadata
/// (palette LUT bulk data fetched), and a renderer on `options.backend`.
/// `options`: JSON `{"budget_bytes":…, "backend":"auto|webgpu|webgl2|cpu",
/// "max_in_flight":6}`.
#[wasm_bindgen(js_name = openStudy)]
pub async fn open_study(
    server: String,
    study: String,
    options: String,
) -> Result<StudySession, JsError> {
    let o: OpenOptions = if options.trim().is_empty() {
        OpenOptions::default()
    } else {
        serde_json::from_str(&options).map_err(|e| js_error(format!("invalid options: {e}")))?
    };
    let c = client(&server)?;
    let backend = o.backend.unwrap_or_else(|| "auto".into());
    // The GPU device opens while the metadata arrives (on a software rasteriser
    // making a device takes longer than the metadata).
    let gpu_init = async {
        let gpu = match backend.as_str() {
            "cpu" => Ok(None),
            "auto" | "" => Ok(gpu_for("auto").await.ok()),
            b => gpu_for(b).await.map(Some),
        };
        if let Ok(Some(g)) = &gpu {
            g.prewarm();
        }
        gpu
    };
    let (gpu, loaded) = join(gpu_init, study_models(&c, &study)).await;
    let (row, series) = loaded?;
    let gpu = gpu?;
    let budget = o
        .budget_bytes
        .filter(|b| b.is_finite() && *b > 0.0)
        .map(|b| b as u64)
        .unwrap_or(1 << 30);
    let mut scheduler = Scheduler::new(Policy {
        max_in_flight: o.max_in_flight.unwrap_or(6).clamp(1, 64),
        budget_bytes: budget,
        ..Policy::default()
    });
    for (si, s) in series.iter().enumerate() {
        let index = scheduler.add_known_series(s.images.len());
        debug_assert_eq!(index, si);
        for (ii, im) in s.images.iter().enumerate() {
            if let Err(e) = &s.instances[im.instance].plan {
                scheduler.mark_failed(si, ii, e.clone());
            }
        }
    }
    let name = row.patient_name.as_ref().and_then(|p| p.alphabetic.clone());
    let info = json!({
        "study_instance_uid": study,
        "patient_name": name,
        "patient_id": row.patient_id,
        "study_date": row.study_date,
        "study_description": row.study_description,
        "accession_number": row.accession_number,
    });
    Ok(StudySession {
        inner: Rc::new(RefCell::new(Inner {
            study: info,
            series,
            scheduler,
            backend: if gpu.is_some() { backend } else { "cpu".into() },
            gpu,
            slots: HashMap::new(),
            volumes: HashMap::new(),
            gpu_bytes: 0,
            volume_bytes: 0,
            device_losses: 0,
            frame_lists: true,
            budget,
            spare_targets: Vec::new(),
        })),
    })
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ZoomJson {
    Factor(f64),
    /// `"fit"` (anything not a number fits).
    Word(serde::de::IgnoredAny),
}

#[derive(serde::Deserialize)]
struct WindowJson {
    center: f64,
    width: f64,
}

/// `api.ts` `ViewportState`.
#[derive(serde::Deserialize)]
struct ViewportJson {
    series: usize,
    image: usize,
    width: u32,
    height: u32,
    #[serde(default)]
    window: Option<WindowJson>,
    #[serde(default)]
    voi_function: Option<String>,
    #[serde(default)]
    invert: bool,
    #[serde(default)]
    zoom: Option<ZoomJson>,
    #[serde(default)]
    pan: Option<[f64; 2]>,
    #[serde(default)]
    rotation: f64,
    #[serde(default)]
    flip_horizontal: bool,
    #[serde(default)]
    flip_vertical: bool,
    #[serde(default)]
    interpolation: Option<String>,
}

/// `api.ts` `MprState`.
#[derive(serde::Deserialize)]
struct MprJson {
    series: usize,
    view: String,
    center: [f64; 3],
    width: u32,
    height: u32,
    #[serde(default)]
    window: Option<WindowJson>,
    #[serde(default)]
    invert: bool,
    #[serde(default)]
    mm_per_pixel: Option<f64>,
    #[serde(default)]
    pan: Option<[f64; 2]>,
    #[serde(default)]
    slab_mm: Option<f64>,
    #[serde(default)]
    slab_mode: Option<String>,
    #[serde(default)]
    interpolation: Option<String>,
    /// The plane's normal for `view: "oblique"` (patient axes; need not be unit).
    #[serde(default)]
    normal: Option<[f64; 3]>,
    /// Or, for `view: "oblique"`, the plane's in-plane axes: screen right and down
    /// (patient axes; `down` is made orthogonal to `right`).
    #[serde(default)]
    right: Option<[f64; 3]>,
    #[serde(default)]
    down: Option<[f64; 3]>,
    /// The planes whose reference lines the overlay draws (the other viewports'),
    /// by name; without it, the standard planes other than this view through the
    /// centre.
    #[serde(default)]
    others: Option<Vec<OtherPlaneJson>>,
}

#[derive(serde::Deserialize)]
struct OtherPlaneJson {
    /// A label (the viewport's view name), returned with its line.
    view: String,
    right: [f64; 3],
    down: [f64; 3],
}

fn vec3(v: [f64; 3]) -> Vec3 {
    Vec3::new(v[0], v[1], v[2])
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, JsError> {
    serde_json::from_str(s).map_err(|e| js_error(format!("invalid {what}: {e}")))
}

fn interpolation(s: &Option<String>) -> Result<Interpolation, JsError> {
    match s.as_deref() {
        None | Some("linear") => Ok(Interpolation::Linear),
        Some("nearest") => Ok(Interpolation::Nearest),
        Some(i) => Err(js_error(format!("unknown interpolation {i}"))),
    }
}

fn voi_function(s: &Option<String>) -> Result<VoiLutFunction, JsError> {
    match s.as_deref() {
        None | Some("linear") => Ok(VoiLutFunction::Linear),
        Some("linear_exact") => Ok(VoiLutFunction::LinearExact),
        Some("sigmoid") => Ok(VoiLutFunction::Sigmoid),
        Some(f) => Err(js_error(format!("unknown VOI LUT function {f}"))),
    }
}

fn check_size(width: u32, height: u32) -> Result<(), JsError> {
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        return Err(js_error(format!(
            "viewport size {width}×{height} is outside 1…8192"
        )));
    }
    Ok(())
}

impl ViewportJson {
    fn view(&self, attrs: &DisplayAttributes) -> View {
        View {
            zoom: match self.zoom {
                Some(ZoomJson::Factor(z)) if z.is_finite() && z > 0.0 => Zoom::Factor(z),
                _ => Zoom::Fit,
            },
            pan: self.pan.unwrap_or([0.0, 0.0]),
            rotation_degrees: if self.rotation.is_finite() {
                self.rotation
            } else {
                0.0
            },
            flip_horizontal: self.flip_horizontal,
            flip_vertical: self.flip_vertical,
            pixel_aspect: attrs.pixel_aspect(),
        }
    }

    fn options(&self, attrs: &DisplayAttributes) -> Result<RenderOptions, JsError> {
        let function = voi_function(&self.voi_function)?;
        let voi = match (&self.window, &self.voi_function) {
            (Some(w), _) => VoiSelection::Window(VoiWindow::new(w.center, w.width, function)),
            (None, Some(_)) => match attrs.windows.first() {
                Some(w) => VoiSelection::Window(VoiWindow::new(w.center, w.width, function)),
                None => VoiSelection::Default,
            },
            (None, None) => VoiSelection::Default,
        };
        Ok(RenderOptions {
            voi,
            invert: self.invert,
            ..RenderOptions::default()
        })
    }
}

fn is_grey(info: &FrameInfo) -> bool {
    info.samples_per_pixel == 1 && info.photometric_interpretation.trim() != "PALETTE COLOR"
}

fn frame_info(v: &Json) -> Result<FrameInfo, JsError> {
    let n = |k: &str| -> Result<u64, JsError> {
        v[k].as_u64()
            .ok_or_else(|| js_error(format!("frame info has no {k}")))
    };
    Ok(FrameInfo {
        rows: n("rows")? as u32,
        columns: n("columns")? as u32,
        samples_per_pixel: n("samples_per_pixel")? as u16,
        bits_allocated: n("bits_allocated")? as u16,
        bits_stored: n("bits_stored")? as u16,
        pixel_representation: n("pixel_representation")? as u16,
        photometric_interpretation: v["photometric_interpretation"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        transfer_syntax: v["transfer_syntax"].as_str().unwrap_or("").to_string(),
    })
}

impl Inner {
    /// A free target of this size (taken out of the spares until given back).
    fn target(&mut self, gpu: &Gpu, width: u32, height: u32) -> Result<Rc<Target>, JsError> {
        match self
            .spare_targets
            .iter()
            .position(|t| t.width() == width && t.height() == height)
        {
            Some(i) => Ok(self.spare_targets.swap_remove(i)),
            None => Ok(Rc::new(Target::new(gpu, width, height).map_err(js_error)?)),
        }
    }

    /// Keeps `target` for reuse, unless the device it was made on (`gpu`) is no
    /// longer this study's (lost and replaced meanwhile).
    fn give_back(&mut self, gpu: &Rc<Gpu>, target: Rc<Target>) {
        if !self.gpu.as_ref().is_some_and(|g| Rc::ptr_eq(g, gpu)) || gpu.is_lost() {
            return;
        }
        self.spare_targets.push(target);
        if self.spare_targets.len() > 6 {
            self.spare_targets.remove(0);
        }
    }

    fn series(&self, s: usize) -> Result<&SeriesModel, JsError> {
        self.series
            .get(s)
            .ok_or_else(|| js_error(format!("no series {s} in this study")))
    }

    fn attributes(
        &self,
        s: usize,
        i: usize,
    ) -> Result<std::borrow::Cow<'_, DisplayAttributes>, JsError> {
        self.series(s)?
            .attributes(i)
            .ok_or_else(|| js_error(format!("series {s} has no image {i}")))
    }

    fn resident(&self, s: usize, i: usize) -> Result<&Resident, JsError> {
        if let Some(r) = self.slots.get(&(s, i)) {
            return Ok(r);
        }
        Err(js_error(match self.scheduler.slot(s, i) {
            Some(Slot::Failed(m)) => m.clone(),
            Some(_) => format!("image {} of series {s} is still loading", i + 1),
            None => format!("series {s} has no image {i}"),
        }))
    }

    fn evict(&mut self, evicted: &[(usize, usize)]) {
        for k in evicted {
            if let Some(r) = self.slots.remove(k) {
                if let Pixels::Gpu(img) = &r.pixels {
                    self.gpu_bytes -= img.gpu_bytes();
                }
            }
        }
    }

    /// The grey pipeline for image (s, i) as `options` ask.
    fn grey(
        &self,
        s: usize,
        i: usize,
        r: &Resident,
        options: &RenderOptions,
    ) -> Result<Option<GreyPipeline>, JsError> {
        if !is_grey(&r.info) {
            return Ok(None);
        }
        let attrs = self.attributes(s, i)?;
        let range = r.range;
        pixel::grey_pipeline_for(&r.info, &attrs, options, || {
            range.ok_or(pixel::PixelError::FrameSize {
                expected: 1,
                actual: 0,
            })
        })
        .map(Some)
        .map_err(js_error)
    }

    fn mpr_grid(&self, m: &MprJson) -> Result<(PlaneGrid, Option<StandardView>), JsError> {
        check_size(m.width, m.height)?;
        let s = self.series(m.series)?;
        let volume = s.volume.as_ref().map_err(js_error)?;
        let center = Vec3::new(m.center[0], m.center[1], m.center[2]);
        if !m.center.iter().all(|v| v.is_finite()) {
            return Err(js_error("the MPR centre is not a finite position"));
        }
        let (plane, view) = match m.view.as_str() {
            "axial" => (
                MprPlane::standard(StandardView::Axial, center),
                Some(StandardView::Axial),
            ),
            "coronal" => (
                MprPlane::standard(StandardView::Coronal, center),
                Some(StandardView::Coronal),
            ),
            "sagittal" => (
                MprPlane::standard(StandardView::Sagittal, center),
                Some(StandardView::Sagittal),
            ),
            "oblique" => {
                let plane = match (m.right, m.down, m.normal) {
                    (Some(r), Some(d), _) => MprPlane::from_axes(center, vec3(r), vec3(d))
                        .ok_or_else(|| js_error("the oblique MPR axes are zero or parallel"))?,
                    (_, _, Some(n)) => MprPlane::from_normal(center, vec3(n))
                        .ok_or_else(|| js_error("the oblique MPR normal is zero or not finite"))?,
                    _ => {
                        return Err(js_error(
                            "an oblique MPR view needs a normal [x,y,z] or right and down axes",
                        ))
                    }
                };
                (plane, None)
            }
            v => {
                return Err(js_error(format!(
                    "unknown MPR view {v} (axial, coronal, sagittal, oblique)"
                )))
            }
        };
        let pan = m.pan.unwrap_or([0.0, 0.0]);
        if !pan.iter().all(|v| v.is_finite()) {
            return Err(js_error("the MPR pan is not a finite offset"));
        }
        let grid = PlaneGrid::framed(plane, volume, m.width, m.height, m.mm_per_pixel, pan);
        Ok((grid, view))
    }
}

/// Why a render was refused after the GPU device was lost.
const DEVICE_LOST: &str = "the GPU device was lost; the images are loading again";

#[wasm_bindgen]
impl StudySession {
    /// `api.ts` `StudyInfo` as JSON.
    pub fn info(&self) -> String {
        let g = self.inner.borrow();
        let mut info = g.study.clone();
        info["series"] = g
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| s.info(i))
            .collect::<Vec<_>>()
            .into();
        info["backend"] = g.backend.clone().into();
        info.to_string()
    }

    /// `api.ts` `ImageInfo` as JSON.
    #[wasm_bindgen(js_name = imageInfo)]
    pub fn image_info(&self, series: usize, image: usize) -> Result<String, JsError> {
        let g = self.inner.borrow();
        let mut info = g
            .series(series)?
            .image_info(image)
            .ok_or_else(|| js_error(format!("series {series} has no image {image}")))?;
        // The window `render` uses when none is given: the file's first, else the
        // frame's min/max (known once the frame is resident).
        let first = info["windows"].get(0).cloned();
        info["default_window"] = match first {
            Some(w) => json!({"center": w["center"], "width": w["width"]}),
            None => g
                .slots
                .get(&(series, image))
                .and_then(|r| r.range)
                .and_then(|(lo, hi)| pixel::min_max_window(lo, hi))
                .map(|w| json!({"center": w.center, "width": w.width}))
                .unwrap_or(Json::Null),
        };
        Ok(info.to_string())
    }

    /// The image in view. Returns JSON `[[series, image], …]`: requests in flight
    /// that are no longer wanted (the shell cancels them).
    #[wasm_bindgen(js_name = setFocus)]
    pub fn set_focus(&self, series: usize, image: usize) -> String {
        let cancel = self.inner.borrow_mut().scheduler.set_focus(series, image);
        let out: Vec<[usize; 2]> = cancel
            .into_iter()
            .filter_map(|w| match w {
                Work::Image { series, image } => Some([series, image]),
                _ => None,
            })
            .collect();
        serde_json::to_string(&out).unwrap_or_default()
    }

    /// The requests to start now (`now_ms`: the page's clock), as JSON
    /// `[{"images":[[series,image],…],"task":{…,"frames":[…]}}]`: hand each `task`
    /// to a Worker's `retrieveFrames`; `images[k]` is `task.frames[k]`. Frames of
    /// one multi-frame instance share a request (a WADO-RS frame list) unless the
    /// server was found not to honour lists.
    #[wasm_bindgen(js_name = nextTasks)]
    pub fn next_tasks(&self, now_ms: f64) -> String {
        let mut g = self.inner.borrow_mut();
        let g = &mut *g;
        let max_batch = if g.frame_lists { FRAMES_PER_REQUEST } else { 1 };
        let series = &g.series;
        // Images of one instance (one multi-frame object) can share a request.
        let instance_of = |w: &Work| match *w {
            Work::Image { series: s, image } => series
                .get(s)
                .and_then(|m| m.image(image))
                .map(|(inst, _)| (s, inst as *const _)),
            _ => None,
        };
        let batches = g.scheduler.next_batched(now_ms, max_batch, instance_of);
        let mut out = Vec::new();
        for batch in batches {
            let mut images = Vec::new();
            let mut frames = Vec::new();
            let mut plan = None;
            for w in batch {
                let Work::Image { series, image } = w else {
                    continue;
                };
                let p = g.series[series]
                    .image(image)
                    .and_then(|(inst, frame)| inst.plan.as_ref().ok().map(|p| (p, frame)));
                match p {
                    Some((p, frame)) => {
                        plan.get_or_insert(p);
                        images.push([series, image]);
                        frames.push(frame);
                    }
                    None => {
                        g.scheduler.complete(
                            w,
                            Outcome::Permanent("the metadata does not describe this image".into()),
                            now_ms,
                        );
                    }
                }
            }
            if let Some(p) = plan {
                let task = super::retrieve::FrameTask::new(p, frames);
                out.push(json!({"images": images, "task": task}));
            }
        }
        Json::from(out).to_string()
    }

    /// The server answered a frame list with fewer frames than asked: from now on
    /// this study asks for one frame per request.
    #[wasm_bindgen(js_name = frameListsUnsupported)]
    pub fn frame_lists_unsupported(&self) {
        self.inner.borrow_mut().frame_lists = false;
    }

    /// A Worker decoded image (series, image): `info` is the frame's JSON, `data`
    /// its canonical bytes. Uploads it and returns JSON `{"evicted":[[s,i],…],
    /// "error":null|"…"}` (an upload failure marks only this image; one on a lost
    /// device marks none, and the image is fetched again).
    pub fn delivered(
        &self,
        series: usize,
        image: usize,
        info: String,
        data: Vec<u8>,
        now_ms: f64,
    ) -> String {
        let mut g = self.inner.borrow_mut();
        let work = Work::Image { series, image };
        let result = (|| -> Result<(Resident, u64), JsError> {
            let v: Json = parse("frame info", &info)?;
            let frame = DecodedFrame {
                info: frame_info(&v)?,
                data,
            };
            let attrs = g.attributes(series, image)?;
            let range = if is_grey(&frame.info) {
                pixel::modality_range(&frame, &attrs).ok()
            } else {
                None
            };
            let info = frame.info.clone();
            match &g.gpu {
                Some(gpu) => {
                    let img = GpuImage::upload(gpu, &frame, &attrs).map_err(js_error)?;
                    let bytes = img.gpu_bytes();
                    Ok((
                        Resident {
                            pixels: Pixels::Gpu(Rc::new(img)),
                            info,
                            range,
                        },
                        bytes,
                    ))
                }
                None => {
                    // Checked now, so that a frame the CPU cannot show fails here.
                    if !is_grey(&info) {
                        pixel::render_rgb8(&frame, &attrs, &RenderOptions::default())
                            .map_err(js_error)?;
                    }
                    let bytes = frame.data.len() as u64;
                    Ok((
                        Resident {
                            pixels: Pixels::Cpu(Rc::new(frame)),
                            info,
                            range,
                        },
                        bytes,
                    ))
                }
            }
        })();
        match result {
            Ok((resident, bytes)) => {
                if let Pixels::Gpu(_) = resident.pixels {
                    g.gpu_bytes += bytes;
                }
                g.slots.insert((series, image), resident);
                let evicted = g
                    .scheduler
                    .complete(work, Outcome::Decoded { bytes }, now_ms);
                g.evict(&evicted);
                json!({"evicted": evicted, "error": null}).to_string()
            }
            Err(_) if g.gpu.as_ref().is_some_and(|gpu| gpu.is_lost()) => {
                // Not the image's fault: the device was lost before the upload.
                // The image goes back in the queue, for the device the recovery
                // makes (the next render or the shell's watch starts it).
                g.scheduler.complete(work, Outcome::Cancelled, now_ms);
                json!({"evicted": [], "error": null}).to_string()
            }
            Err(e) => {
                let message = JsValue::from(e)
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_else(|| "the frame could not be shown".into());
                g.scheduler
                    .complete(work, Outcome::Permanent(message.clone()), now_ms);
                json!({"evicted": [], "error": message}).to_string()
            }
        }
    }

    /// A Worker could not deliver image (series, image): `message` as it rejected
    /// (`transient:` retries with backoff, after `retry_after_ms` when the server
    /// said; `cancelled:` re-queues; anything else marks the image failed with
    /// that message).
    pub fn failed(
        &self,
        series: usize,
        image: usize,
        message: String,
        retry_after_ms: Option<f64>,
        now_ms: f64,
    ) {
        let outcome = if message.starts_with("transient:") {
            Outcome::Transient { retry_after_ms }
        } else if message.starts_with("cancelled:") {
            Outcome::Cancelled
        } else {
            Outcome::Permanent(message)
        };
        self.inner
            .borrow_mut()
            .scheduler
            .complete(Work::Image { series, image }, outcome, now_ms);
    }

    /// The most requests to keep in flight (the shell sets it from the connection:
    /// about 6 on HTTP/1.1, more on HTTP/2); the loader adapts below it.
    #[wasm_bindgen(js_name = setMaxInFlight)]
    pub fn set_max_in_flight(&self, n: usize) {
        self.inner
            .borrow_mut()
            .scheduler
            .set_max_in_flight(n.clamp(1, 64));
    }

    /// `api.ts` `SlotState` as JSON.
    #[wasm_bindgen(js_name = slotState)]
    pub fn slot_state(&self, series: usize, image: usize) -> String {
        let g = self.inner.borrow();
        match g.scheduler.slot(series, image) {
            Some(Slot::Resident { .. }) => json!({"state": "resident"}),
            Some(Slot::InFlight) => json!({"state": "loading"}),
            Some(Slot::Queued | Slot::Backoff { .. }) => json!({"state": "queued"}),
            Some(Slot::Failed(m)) => json!({"state": "failed", "error": m}),
            Some(Slot::Missing) | None => json!({"state": "missing"}),
        }
        .to_string()
    }

    /// `api.ts` `Progress` as JSON.
    pub fn progress(&self, series: usize) -> String {
        let (resident, failed, total) = self.inner.borrow().scheduler.progress(series);
        json!({"series": series, "resident": resident, "failed": failed, "total": total})
            .to_string()
    }

    /// `{"gpu_bytes":…,"frame_bytes":…,"volume_bytes":…,"heap_bytes":…,"budget_bytes":…,
    /// "backend":…,"device_losses":…}`.
    pub fn memory(&self) -> String {
        let g = self.inner.borrow();
        let heap = (core::arch::wasm32::memory_size(0) * 65536) as u64;
        json!({
            "gpu_bytes": g.gpu_bytes + g.volume_bytes,
            "frame_bytes": g.scheduler.resident_bytes(),
            "volume_bytes": g.volume_bytes,
            "reserved_bytes": g.scheduler.reserved_bytes(),
            "window": g.scheduler.window(),
            "heap_bytes": heap,
            "budget_bytes": g.budget,
            "backend": g.backend,
            "device_losses": g.device_losses,
        })
        .to_string()
    }

    /// Whether the GPU device was lost; if so, forgets what it held (the images
    /// are fetched again) and opens a new device on the next render.
    fn recover(&self) -> bool {
        let mut g = self.inner.borrow_mut();
        if !g.gpu.as_ref().is_some_and(|gpu| gpu.is_lost()) {
            return false;
        }
        g.gpu = None;
        g.device_losses += 1;
        g.spare_targets.clear();
        g.slots.clear();
        g.volumes.clear();
        g.gpu_bytes = 0;
        g.volume_bytes = 0;
        g.scheduler.drop_resident();
        let _ = g.scheduler.reserve(0);
        true
    }

    async fn ensure_gpu(&self) -> Result<(), JsError> {
        let (needed, backend) = {
            let g = self.inner.borrow();
            (g.gpu.is_none() && g.backend != "cpu", g.backend.clone())
        };
        if needed {
            let gpu = gpu_for(&backend).await?;
            self.inner.borrow_mut().gpu = Some(gpu);
        }
        Ok(())
    }

    /// Renders a 2-D viewport (`api.ts` `ViewportState` JSON) and resolves to its
    /// RGBA pixels (`width × height × 4`). Rejects when the image is not resident
    /// (still loading, or failed: with the reason).
    pub async fn render(&self, viewport: String) -> Result<js_sys::Uint8Array, JsError> {
        if self.recover_device().await? {
            return Err(js_error(DEVICE_LOST));
        }
        let r = self.render_image(viewport).await;
        self.unless_lost(r).await
    }

    /// Renders an MPR viewport (`api.ts` `MprState` JSON) to RGBA pixels. The
    /// volume is built on first use; rejects until every slice is resident.
    #[wasm_bindgen(js_name = renderMpr)]
    pub async fn render_mpr(&self, state: String) -> Result<js_sys::Uint8Array, JsError> {
        if self.recover_device().await? {
            return Err(js_error(DEVICE_LOST));
        }
        let r = self.render_volume(state).await;
        self.unless_lost(r).await
    }

    /// `render`'s work, once the device is known not lost.
    async fn render_image(&self, viewport: String) -> Result<js_sys::Uint8Array, JsError> {
        let v: ViewportJson = parse("viewport", &viewport)?;
        check_size(v.width, v.height)?;
        let (gpu, target) = {
            let mut g = self.inner.borrow_mut();
            let g = &mut *g;
            let r = g.resident(v.series, v.image)?;
            let attrs = g.attributes(v.series, v.image)?;
            let options = v.options(&attrs)?;
            let settings = ImageSettings {
                grey: g.grey(v.series, v.image, r, &options)?,
                view: v.view(&attrs),
                interpolation: interpolation(&v.interpolation)?,
            };
            match (&r.pixels, &g.gpu) {
                (Pixels::Gpu(img), Some(gpu)) => {
                    let (img, gpu) = (img.clone(), gpu.clone());
                    let target = g.target(&gpu, v.width, v.height)?;
                    img.render(&gpu, &settings, &target).map_err(js_error)?;
                    (gpu, target)
                }
                (Pixels::Cpu(frame), _) => {
                    let rgba = cpu::render_rgba(frame, &attrs, &settings, v.width, v.height)
                        .map_err(js_error)?;
                    return Ok(js_sys::Uint8Array::from(&rgba[..]));
                }
                (Pixels::Gpu(_), None) => return Err(js_error("no GPU device")),
            }
        };
        let rgba = target.read(&gpu).await;
        self.inner.borrow_mut().give_back(&gpu, target);
        Ok(js_sys::Uint8Array::from(&rgba.map_err(js_error)?[..]))
    }

    /// The pixel under canvas point (x, y) of a viewport: `api.ts` `Probe` JSON.
    pub async fn probe(&self, viewport: String, x: f64, y: f64) -> Result<String, JsError> {
        let v: ViewportJson = parse("viewport", &viewport)?;
        let (pixels, attrs, info, position) = {
            let g = self.inner.borrow();
            let r = g.resident(v.series, v.image)?;
            let attrs = g.attributes(v.series, v.image)?.into_owned();
            let m = v
                .view(&attrs)
                .output_to_frame(r.info.columns, r.info.rows, v.width, v.height);
            let p = m.transform_point(Vec3::new(x, y, 0.0));
            let pixels = match &r.pixels {
                Pixels::Gpu(i) => Pixels::Gpu(i.clone()),
                Pixels::Cpu(f) => Pixels::Cpu(f.clone()),
            };
            let slice = g.series[v.series]
                .image(v.image)
                .and_then(|(inst, f)| inst.slices.get(f as usize - 1).cloned());
            (pixels, attrs, r.info.clone(), (p.x, p.y, slice))
        };
        let (fx, fy, slice) = position;
        let inside = fx >= 0.0 && fy >= 0.0 && fx < info.columns as f64 && fy < info.rows as f64;
        let (col, row) = (fx.floor(), fy.floor());
        if !inside {
            return Ok(
                json!({"column": col, "row": row, "inside": false, "stored": null,
                "modality_value": null, "units": null, "patient": null})
                .to_string(),
            );
        }
        let (c, r) = (col as u32, row as u32);
        let stored: Vec<i64> = match pixels {
            Pixels::Gpu(img) => {
                let gpu = self
                    .inner
                    .borrow()
                    .gpu
                    .clone()
                    .ok_or_else(|| js_error("no GPU device"))?;
                img.read_texel(&gpu, c, r).await.map_err(js_error)?
            }
            Pixels::Cpu(frame) => {
                let spp = info.samples_per_pixel as usize;
                let bytes = match info.bits_allocated {
                    0..=8 => 1,
                    9..=16 => 2,
                    _ => 4,
                };
                let at = (r as usize * info.columns as usize + c as usize) * spp;
                (0..spp)
                    .map(|k| {
                        let b = frame.data.get((at + k) * bytes..(at + k + 1) * bytes);
                        b.map_or(0, |b| cpu::sample_at(b, info.pixel_representation == 1))
                    })
                    .collect()
            }
        };
        let grey = is_grey(&info);
        let modality_value = grey.then(|| attrs.modality.apply_int(stored[0]));
        let units = if grey {
            let g = self.inner.borrow();
            g.series[v.series]
                .image_info(v.image)
                .and_then(|i| i["units"].as_str().map(str::to_string))
        } else {
            None
        };
        let patient = slice.map(|s| {
            let p = s.image_position
                + s.row_direction * (col * s.pixel_spacing[1])
                + s.column_direction * (row * s.pixel_spacing[0]);
            p.to_array()
        });
        Ok(json!({
            "column": col, "row": row, "inside": true, "stored": stored,
            "modality_value": modality_value, "units": units, "patient": patient,
        })
        .to_string())
    }

    /// The length between two canvas points of a viewport, JSON
    /// `{"value":…,"units":"mm"|"px"}` (mm from Pixel Spacing when known).
    pub fn measure(
        &self,
        viewport: String,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    ) -> Result<String, JsError> {
        let v: ViewportJson = parse("viewport", &viewport)?;
        let g = self.inner.borrow();
        let s = g.series(v.series)?;
        let (inst, frame) = s
            .image(v.image)
            .ok_or_else(|| js_error(format!("series {} has no image {}", v.series, v.image)))?;
        let attrs = inst.attributes.for_frame(frame - 1);
        let (cols, rows) = inst
            .plan
            .as_ref()
            .map(|p| (p.description.columns, p.description.rows))
            .map_err(js_error)?;
        let m = v
            .view(&attrs)
            .output_to_frame(cols, rows, v.width, v.height);
        let a = m.transform_point(Vec3::new(x0, y0, 0.0));
        let b = m.transform_point(Vec3::new(x1, y1, 0.0));
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        Ok(match attrs.pixel_spacing {
            Some([row_mm, col_mm]) => {
                json!({"value": ((dx * col_mm).powi(2) + (dy * row_mm).powi(2)).sqrt(), "units": "mm"})
            }
            None => json!({"value": (dx * dx + dy * dy).sqrt(), "units": "px"}),
        }
        .to_string())
    }

    /// The centre of a series' volume (patient mm), JSON `[x,y,z]`.
    #[wasm_bindgen(js_name = volumeCenter)]
    pub fn volume_center(&self, series: usize) -> Result<String, JsError> {
        let g = self.inner.borrow();
        let v = g.series(series)?.volume.as_ref().map_err(js_error)?;
        Ok(serde_json::to_string(&v.center().to_array()).unwrap_or_default())
    }

    /// Builds a series' volume on the GPU from its frames (read back from their
    /// textures, assembled, uploaded once, and the copy dropped).
    async fn volume(&self, series: usize) -> Result<Rc<GpuVolume>, JsError> {
        let (images, geometry, gpu) = {
            let g = self.inner.borrow();
            if let Some(v) = g.volumes.get(&series) {
                return Ok(v.clone());
            }
            let s = g.series(series)?;
            let geometry = s.volume.clone().map_err(js_error)?;
            let gpu = g
                .gpu
                .clone()
                .ok_or_else(|| js_error("MPR needs WebGPU or WebGL2; this browser has neither"))?;
            let mut images = Vec::with_capacity(s.images.len());
            for i in 0..s.images.len() {
                let r = g.resident(series, i).map_err(|e| {
                    let m = JsValue::from(e)
                        .dyn_ref::<js_sys::Error>()
                        .map(|e| String::from(e.message()))
                        .unwrap_or_default();
                    js_error(format!("the volume needs every slice: {m}"))
                })?;
                images.push((r.pixels.clone(), r.info.clone()));
            }
            (images, geometry, gpu)
        };
        // One frame at a time into the voxels (volume order), so that the heap
        // never holds every frame and the voxels together.
        let mut stacker = VoxelStacker::new(&geometry);
        for &n in geometry.order() {
            let (pixels, info) = &images[n];
            // Frames that arrived while a lost device was being replaced are held
            // on the CPU; the rest are read back from their textures.
            let frame = match pixels {
                Pixels::Gpu(img) => DecodedFrame {
                    info: info.clone(),
                    data: img.read_frame(&gpu).await.map_err(js_error)?,
                },
                Pixels::Cpu(frame) => (**frame).clone(),
            };
            stacker.push(n, &frame).map_err(js_error)?;
        }
        drop(images);
        let voxels = stacker.finish().map_err(js_error)?;
        let bytes = match &voxels {
            VoxelData::U8(v) => v.data().len() as u64,
            VoxelData::I8(v) => v.data().len() as u64,
            VoxelData::U16(v) => v.data().len() as u64 * 2,
            VoxelData::I16(v) => v.data().len() as u64 * 2,
            VoxelData::U32(v) => v.data().len() as u64 * 4,
            VoxelData::I32(v) => v.data().len() as u64 * 4,
        };
        // The volume counts against the memory budget: make room (frames farthest
        // from the view go) before it is uploaded, or refuse it.
        {
            let mut g = self.inner.borrow_mut();
            let want = g.volume_bytes + bytes;
            let evicted = g
                .scheduler
                .reserve(want)
                .map_err(|e| js_error(format!("MPR is not available: the volume's {e}")))?;
            g.evict(&evicted);
        }
        let volume = match GpuVolume::upload(&gpu, &geometry, &voxels) {
            Ok(v) => Rc::new(v),
            Err(e) => {
                let mut g = self.inner.borrow_mut();
                let held = g.volume_bytes;
                let _ = g.scheduler.reserve(held);
                return Err(js_error(e));
            }
        };
        drop(voxels);
        let mut g = self.inner.borrow_mut();
        g.volume_bytes += bytes;
        g.volumes.insert(series, volume.clone());
        Ok(volume)
    }

    /// `render_mpr`'s work, once the device is known not lost.
    async fn render_volume(&self, state: String) -> Result<js_sys::Uint8Array, JsError> {
        let m: MprJson = parse("MPR state", &state)?;
        let volume = self.volume(m.series).await?;
        let (gpu, target) = {
            let g = self.inner.borrow();
            let (grid, _) = g.mpr_grid(&m)?;
            let s = g.series(m.series)?;
            // The display pipeline of the series' first slice, with the user's window.
            let first = s.volume_images.first().copied().unwrap_or(0);
            let attrs = g.attributes(m.series, first)?;
            let window = match &m.window {
                Some(w) => Some(VoiWindow::new(w.center, w.width, VoiLutFunction::Linear)),
                None => attrs.windows.first().cloned().or_else(|| {
                    g.slots
                        .get(&(m.series, first))
                        .and_then(|r| r.range)
                        .and_then(|(lo, hi)| pixel::min_max_window(lo, hi))
                }),
            }
            .ok_or_else(|| js_error("no window for this volume"))?;
            let mono1 = g
                .slots
                .get(&(m.series, first))
                .is_some_and(|r| r.info.photometric_interpretation.trim() == "MONOCHROME1");
            let slab = m.slab_mm.filter(|t| *t > 0.0).map(|t| {
                let mode = match m.slab_mode.as_deref() {
                    Some("minip") => SlabMode::MinIp,
                    Some("avg" | "average") => SlabMode::Average,
                    _ => SlabMode::Mip,
                };
                Slab::new(t, mode, volume.geometry())
            });
            let settings = MprSettings {
                grid,
                interpolation: interpolation(&m.interpolation)?,
                slab,
                grey: GreyPipeline {
                    modality: attrs.modality.clone(),
                    voi: VoiTransform::Window(window),
                    invert: mono1 != m.invert,
                },
            };
            let gpu = g.gpu.clone().ok_or_else(|| js_error("no GPU device"))?;
            drop(g);
            let target = self.inner.borrow_mut().target(&gpu, m.width, m.height)?;
            volume.render(&gpu, &settings, &target).map_err(js_error)?;
            (gpu, target)
        };
        let rgba = target.read(&gpu).await;
        self.inner.borrow_mut().give_back(&gpu, target);
        Ok(js_sys::Uint8Array::from(&rgba.map_err(js_error)?[..]))
    }

    /// Reference lines of the other two standard planes and the crosshair centre
    /// in an MPR viewport: `api.ts` `MprOverlay` JSON.
    #[wasm_bindgen(js_name = mprOverlay)]
    pub fn mpr_overlay(&self, state: String) -> Result<String, JsError> {
        let m: MprJson = parse("MPR state", &state)?;
        let g = self.inner.borrow();
        let (grid, view) = g.mpr_grid(&m)?;
        let center = Vec3::new(m.center[0], m.center[1], m.center[2]);
        let others: Vec<(String, MprPlane)> = match &m.others {
            Some(others) => others
                .iter()
                .filter_map(|o| {
                    let plane = MprPlane::from_axes(center, vec3(o.right), vec3(o.down))?;
                    Some((o.view.clone(), plane))
                })
                .collect(),
            None => [
                ("axial", StandardView::Axial),
                ("coronal", StandardView::Coronal),
                ("sagittal", StandardView::Sagittal),
            ]
            .into_iter()
            .filter(|(_, other)| Some(*other) != view)
            .map(|(name, other)| (name.to_string(), MprPlane::standard(other, center)))
            .collect(),
        };
        let mut lines = Vec::new();
        for (name, plane) in others {
            if let Some([a, b]) = grid.reference_line(&plane) {
                lines.push(json!({"view": name, "from": a, "to": b}));
            }
        }
        Ok(json!({
            "lines": lines,
            "center": grid.patient_to_image(center),
            "mm_per_pixel": grid.spacing[0],
        })
        .to_string())
    }

    /// Canvas point (x, y) of an MPR viewport → patient position, JSON `[x,y,z]`.
    #[wasm_bindgen(js_name = mprPoint)]
    pub fn mpr_point(&self, state: String, x: f64, y: f64) -> Result<String, JsError> {
        let m: MprJson = parse("MPR state", &state)?;
        let g = self.inner.borrow();
        let (grid, _) = g.mpr_grid(&m)?;
        Ok(serde_json::to_string(&grid.image_to_patient(x, y).to_array()).unwrap_or_default())
    }

    /// Fault injection (tests, hardening): destroys this study's GPU device as a
    /// driver reset would. The next render notices the loss, opens a new device,
    /// fetches the images again and rejects until they are back.
    #[wasm_bindgen(js_name = loseDevice)]
    pub fn lose_device(&self) {
        if let Some(gpu) = &self.inner.borrow().gpu {
            gpu.destroy();
        }
    }

    /// If this study's GPU device is lost: forgets what it held, opens a new one
    /// and re-queues every image (the shell's loader then fetches them again).
    /// Resolves to whether it was lost. The shell calls this when
    /// [`deviceLost`](Self::device_lost) turns true; a render does it too.
    #[wasm_bindgen(js_name = recoverDevice)]
    pub async fn recover_device(&self) -> Result<bool, JsError> {
        if !self.recover() {
            return Ok(false);
        }
        self.ensure_gpu().await?;
        Ok(true)
    }

    /// A render's result, unless the device was lost during it (WebGPU reports a
    /// loss asynchronously, so `render` may start on a device already gone): then
    /// the render's error would blame the image, so the study recovers instead (its
    /// images load again and the viewport waits for them) and says so.
    async fn unless_lost(
        &self,
        r: Result<js_sys::Uint8Array, JsError>,
    ) -> Result<js_sys::Uint8Array, JsError> {
        if r.is_err() && self.recover_device().await? {
            return Err(js_error(DEVICE_LOST));
        }
        r
    }

    /// Whether this study's GPU device is lost (recovery starts at the next render).
    #[wasm_bindgen(js_name = deviceLost)]
    pub fn device_lost(&self) -> bool {
        self.inner
            .borrow()
            .gpu
            .as_ref()
            .is_some_and(|g| g.is_lost())
    }

    /// Drops every texture and volume of this study.
    pub fn close(&self) {
        let mut g = self.inner.borrow_mut();
        g.slots.clear();
        g.volumes.clear();
        g.gpu_bytes = 0;
        g.volume_bytes = 0;
        let _ = g.scheduler.reserve(0);
    }
}
