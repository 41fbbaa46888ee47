//! DICOMweb for the page (QIDO-RS search, a whole study retrieved as `lumen get` does)
//! over the browser's fetch: part of the viewer build, not of the decoder alone.

use super::js_error;
use crate::codec::DecodeLimits;
use crate::frame_json::frame_record;
use wasm_bindgen::prelude::*;

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

pub(super) fn client(server: &str) -> Result<DicomWebClient<FetchTransport>, JsError> {
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
