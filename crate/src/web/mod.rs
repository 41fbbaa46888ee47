//! The wasm-bindgen API: what the TypeScript shell and decoder-plugin hosts call.
//! Stateless: bytes + transfer syntax + pixel description in, frame + info out, so
//! it can run in any number of Web Workers.

use crate::codec::{self, DecodeLimits, PixelDescription, TransferSyntax};
use crate::frame_json::{frame_description, frame_record, sha256_hex};
use crate::part10::DicomFile;
use wasm_bindgen::prelude::*;

/// A decoded frame: `info` is the frame's JSON record, `data` its canonical bytes.
#[wasm_bindgen]
pub struct Frame {
    info: String,
    data: Vec<u8>,
}

#[wasm_bindgen]
impl Frame {
    /// JSON: frame, rows, columns, samples_per_pixel, bits_allocated, bits_stored,
    /// pixel_representation, photometric_interpretation, transfer_syntax. (No hash:
    /// hashing costs more than decoding fast codecs; ask `sha256` when needed.)
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> String {
        self.info.clone()
    }
    /// SHA-256 of the canonical bytes, hex, computed on request.
    #[wasm_bindgen(getter)]
    pub fn sha256(&self) -> String {
        sha256_hex(&self.data)
    }
    /// The canonical bytes (a copy into a new Uint8Array).
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> js_sys::Uint8Array {
        js_sys::Uint8Array::from(&self.data[..])
    }
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// The transfer syntaxes this build decodes, as JSON `[{"uid":..,"name":..}]`.
#[wasm_bindgen(js_name = supportedTransferSyntaxes)]
pub fn supported_transfer_syntaxes() -> String {
    let list: Vec<_> = TransferSyntax::ALL
        .iter()
        .map(|ts| serde_json::json!({"uid": ts.uid(), "name": ts.name()}))
        .collect();
    serde_json::Value::from(list).to_string()
}

/// Decodes one frame of a bare codestream (a WADO-RS frame): `description` is the
/// Image Pixel description as JSON (snake_case keys, e.g. `{"rows":512,...}`).
#[wasm_bindgen(js_name = decodeFrame)]
pub fn decode_frame(
    transfer_syntax_uid: &str,
    bytes: &[u8],
    description: &str,
) -> Result<Frame, JsError> {
    let ts = TransferSyntax::from_uid(transfer_syntax_uid).map_err(js_error)?;
    let desc: PixelDescription = serde_json::from_str(description)
        .map_err(|e| js_error(format!("invalid pixel description JSON: {e}")))?;
    let decoded =
        codec::decode_frame(ts, bytes, &desc, &DecodeLimits::default()).map_err(js_error)?;
    Ok(Frame {
        info: frame_description(1, &decoded).to_string(),
        data: decoded.data,
    })
}

/// Decodes frame `frame` (1-based) of a Part 10 file.
#[wasm_bindgen(js_name = decodeFile)]
pub fn decode_file(bytes: &[u8], frame: u32) -> Result<Frame, JsError> {
    let file = DicomFile::from_bytes(bytes).map_err(js_error)?;
    let index = frame
        .checked_sub(1)
        .ok_or_else(|| js_error("frame numbers start at 1"))?;
    let decoded = file
        .decode_frame(index, &DecodeLimits::default())
        .map_err(js_error)?;
    Ok(Frame {
        info: frame_description(frame, &decoded).to_string(),
        data: decoded.data,
    })
}

/// Decodes every frame of a Part 10 file and returns the CLI's JSON lines (one
/// record per frame, or one error record), without keeping the pixels.
#[wasm_bindgen(js_name = decodeFileRecords)]
pub fn decode_file_records(bytes: &[u8], name: &str) -> String {
    crate::frame_json::decode_records(name, || DicomFile::from_bytes(bytes))
        .iter()
        .map(|v| v.to_string() + "\n")
        .collect()
}

/// SHA-256 of bytes, hex (for tests and the plugin harness).
#[wasm_bindgen]
pub fn sha256(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

// ---- DICOMweb --------------------------------------------------------------------

use crate::dicomweb::fetch::FetchTransport;
use crate::dicomweb::{DicomWebClient, QidoQuery, ServerConfig};

#[derive(serde::Deserialize)]
struct ServerJson {
    base_url: String,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    wado_uri_url: Option<String>,
    #[serde(default)]
    timeout_ms: u32,
    #[serde(default)]
    max_part_bytes: Option<u64>,
}

fn client(server: &str) -> Result<DicomWebClient<FetchTransport>, JsError> {
    let s: ServerJson =
        serde_json::from_str(server).map_err(|e| js_error(format!("invalid server JSON: {e}")))?;
    let config = ServerConfig {
        base_url: s.base_url,
        bearer_token: s.bearer_token,
        headers: s.headers,
        wado_uri_url: s.wado_uri_url,
        max_part_bytes: s.max_part_bytes,
    };
    DicomWebClient::new(
        config,
        FetchTransport {
            timeout_ms: s.timeout_ms,
        },
    )
    .map_err(js_error)
}

fn query(params: &str) -> Result<QidoQuery, JsError> {
    let pairs: Vec<(String, String)> = if params.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(params).map_err(|e| {
            js_error(format!(
                "invalid query JSON (expected [[key, value], …]): {e}"
            ))
        })?
    };
    Ok(pairs
        .into_iter()
        .fold(QidoQuery::new(), |q, (k, v)| match k.as_str() {
            "includefield" => q.include(&v),
            _ => q.matching(&k, &v),
        }))
}

/// QIDO-RS studies. `server`: `{"base_url":…,"bearer_token":…,"headers":[[k,v]]}`;
/// `params`: `[["PatientID","12*"],["limit","10"]]`. Resolves to a JSON array of study
/// records; rejects with the error's message (401/403 say "authentication failed").
#[wasm_bindgen(js_name = searchStudies)]
pub async fn search_studies(server: String, params: String) -> Result<String, JsError> {
    let c = client(&server)?;
    let studies = c.search_studies(&query(&params)?).await.map_err(js_error)?;
    let out: Vec<_> = studies
        .iter()
        .map(|s| {
            serde_json::json!({
                "study_instance_uid": s.study_instance_uid,
                "patient_name": s.patient_name.as_ref().and_then(|p| p.alphabetic.clone()),
                "patient_id": s.patient_id,
                "study_date": s.study_date,
                "accession_number": s.accession_number,
                "study_description": s.study_description,
                "modalities_in_study": s.modalities_in_study,
                "number_of_series": s.number_of_series,
                "number_of_instances": s.number_of_instances,
            })
        })
        .collect();
    Ok(serde_json::Value::from(out).to_string())
}

/// Retrieves every frame of a study (or one series) through WADO-RS exactly as the
/// viewer does and decodes it: resolves to the same JSON lines as `lumen get`.
#[wasm_bindgen(js_name = retrieveStudyRecords)]
pub async fn retrieve_study_records(
    server: String,
    study: String,
    series: Option<String>,
) -> Result<String, JsError> {
    let c = client(&server)?;
    let limits = DecodeLimits::default();
    let mut out = String::new();
    let plans = crate::loader::plan(&c, &study, series.as_deref())
        .await
        .map_err(js_error)?;
    for plan in plans {
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                out.push_str(&crate::frame_json::error_record(&study, None, &e).to_string());
                out.push('\n');
                continue;
            }
        };
        let sop = plan.sop_instance_uid.clone();
        let r = crate::loader::retrieve_instance(&c, &plan, &limits, |frame, decoded| {
            let mut record = match decoded {
                Ok(d) => frame_record(frame, &d),
                Err(e) => crate::frame_json::error_record(&sop, Some(frame), &e),
            };
            record["sop_instance_uid"] = sop.clone().into();
            out.push_str(&record.to_string());
            out.push('\n');
        })
        .await;
        if let Err(e) = r {
            let mut record = crate::frame_json::error_record(&sop, None, &e);
            record["sop_instance_uid"] = sop.clone().into();
            out.push_str(&record.to_string());
            out.push('\n');
        }
    }
    Ok(out)
}

// ---- GPU rendering ---------------------------------------------------------------

use crate::pixel::{RenderOptions, VoiLutFunction, VoiSelection, VoiWindow};
use crate::render::{BackendChoice, Gpu, GpuImage, ImageSettings, Interpolation, Target, View};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// One device per backend, made on first use and again after a loss.
    static GPUS: RefCell<Vec<(&'static str, Rc<Gpu>)>> = const { RefCell::new(Vec::new()) };
}

async fn gpu_for(backend: &str) -> Result<Rc<Gpu>, JsError> {
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
    let index = frame
        .checked_sub(1)
        .ok_or_else(|| js_error("frame numbers start at 1"))?;
    let decoded = file
        .decode_frame(index, &DecodeLimits::default())
        .map_err(js_error)?;
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

mod retrieve;
mod session;
