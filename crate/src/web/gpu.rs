//! GPU rendering of one Part 10 frame (`renderFrame`, as `lumen render` does natively)
//! and the device cache the viewer session shares: part of the viewer build.

use super::js_error;
use crate::part10::DicomFile;
use wasm_bindgen::prelude::*;

use crate::pixel::{RenderOptions, VoiLutFunction, VoiSelection, VoiWindow};
use crate::render::{BackendChoice, Gpu, GpuImage, ImageSettings, Interpolation, Target, View};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// One device per backend, made on first use and again after a loss.
    static GPUS: RefCell<Vec<(&'static str, Rc<Gpu>)>> = const { RefCell::new(Vec::new()) };
}

pub(super) async fn gpu_for(backend: &str) -> Result<Rc<Gpu>, JsError> {
    let (name, choice) = match backend {
        "webgpu" => ("webgpu", BackendChoice::WebGpu),
        "webgl2" | "gl" => ("webgl2", BackendChoice::Gl),
        "" | "auto" => ("auto", BackendChoice::Auto),
        b => {
            return Err(js_error(format!(
                "unknown backend {b:?} (webgpu, webgl2, auto)"
            )))
        }
    };
    let cached = GPUS.with(|g| {
        let mut g = g.borrow_mut();
        g.retain(|(_, gpu)| !gpu.is_lost());
        g.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, gpu)| gpu.clone())
    });
    if let Some(gpu) = cached {
        return Ok(gpu);
    }
    let gpu = Rc::new(Gpu::new(choice).await.map_err(js_error)?);
    GPUS.with(|g| g.borrow_mut().push((name, gpu.clone())));
    Ok(gpu)
}

/// What adapter `backend` (`webgpu`, `webgl2`, `auto`) gives, as JSON
/// (`{"backend":…,"adapter":…,…}`); rejects when there is none.
#[wasm_bindgen(js_name = gpuInfo)]
pub async fn gpu_info(backend: String) -> Result<String, JsError> {
    let gpu = gpu_for(&backend).await?;
    serde_json::to_string(gpu.info()).map_err(js_error)
}

#[derive(serde::Deserialize, Default)]
struct RenderJson {
    #[serde(default)]
    center: Option<f64>,
    #[serde(default)]
    width: Option<f64>,
    /// `linear` (default), `linear_exact`, `sigmoid`.
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    invert: bool,
    /// `linear` (default) or `nearest`.
    #[serde(default)]
    interpolation: Option<String>,
}

/// Renders frame `frame` (1-based) of a Part 10 file through the GPU path
/// (`crate::render`, as `lumen render` does natively) into a `width × height`
/// offscreen target on `backend` (`webgpu`, `webgl2`, `auto`) and reads it back:
/// one byte per pixel for a greyscale frame, RGB for palette and colour frames.
/// `settings`: JSON `{"center":C,"width":W,"function":"linear"|"linear_exact"|
/// "sigmoid","invert":false,"interpolation":"linear"|"nearest"}`, every key
/// optional (no window: the file's default, as natively); empty means defaults.
#[wasm_bindgen(js_name = renderFrame)]
pub async fn render_frame(
    bytes: Vec<u8>,
    frame: u32,
    backend: String,
    width: u32,
    height: u32,
    settings: String,
) -> Result<js_sys::Uint8Array, JsError> {
    let s: RenderJson = if settings.trim().is_empty() {
        RenderJson::default()
    } else {
        serde_json::from_str(&settings)
            .map_err(|e| js_error(format!("invalid render settings JSON: {e}")))?
    };
    let function = match s.function.as_deref() {
        None | Some("linear") => None,
        Some("linear_exact") => Some(VoiLutFunction::LinearExact),
        Some("sigmoid") => Some(VoiLutFunction::Sigmoid),
        Some(f) => return Err(js_error(format!("unknown VOI LUT function {f}"))),
    };
    let interpolation = match s.interpolation.as_deref() {
        None | Some("linear") => Interpolation::Linear,
        Some("nearest") => Interpolation::Nearest,
        Some(i) => return Err(js_error(format!("unknown interpolation {i}"))),
    };
    let file = DicomFile::from_bytes(&bytes).map_err(js_error)?;
    drop(bytes);
    let (index, decoded) = super::decode_part10_frame(&file, frame)?;
    let attrs = file.display.for_frame(index);
    // As `lumen render`'s --window / --voi-function.
    let voi = match (s.center.zip(s.width), function) {
        (Some((c, w)), f) => VoiSelection::Window(VoiWindow::new(c, w, f.unwrap_or_default())),
        (None, Some(f)) => match attrs.windows.first() {
            Some(w) => VoiSelection::Window(VoiWindow::new(w.center, w.width, f)),
            None => VoiSelection::Default,
        },
        (None, None) => VoiSelection::Default,
    };
    let options = RenderOptions {
        voi,
        invert: s.invert,
        ..RenderOptions::default()
    };
    let mut image_settings =
        ImageSettings::for_frame(&decoded, &attrs, &options).map_err(js_error)?;
    image_settings.interpolation = interpolation;
    image_settings.view = View {
        pixel_aspect: attrs.pixel_aspect(),
        ..View::default()
    };
    let grey = image_settings.grey.is_some();
    let gpu = gpu_for(&backend).await?;
    let image = GpuImage::upload(&gpu, &decoded, &attrs).map_err(js_error)?;
    drop(decoded);
    let target = Target::new(&gpu, width, height).map_err(js_error)?;
    image
        .render(&gpu, &image_settings, &target)
        .map_err(js_error)?;
    let rgba = target.read(&gpu).await.map_err(js_error)?;
    let out: Vec<u8> = if grey {
        rgba.chunks_exact(4).map(|p| p[0]).collect()
    } else {
        rgba.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    };
    Ok(js_sys::Uint8Array::from(&out[..]))
}
