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
