//! The Worker side of the viewer's loader: retrieve frames over WADO-RS (one
//! frame, or a frame list of one multi-frame instance) and decode them, off the
//! main thread. Tasks come from the main thread's
//! [`StudySession`](super::session::StudySession) as JSON; the reply is a
//! [`Frame`](super::Frame) whose bytes are transferred back.

use super::{client, js_error, Frame};
use crate::codec::{DecodeLimits, PixelDescription, TransferSyntax};
use crate::dicomweb::transport::CancelToken;
use crate::frame_json::frame_description;
use crate::loader::{retrieve_frame_list, InstancePlan};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

/// Frames of one instance to retrieve in one request: what the main thread hands
/// a Worker.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct FrameTask {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
    pub description: PixelDescription,
    pub stored_transfer_syntax: Option<String>,
    /// 1-based, in the order the frames are wanted.
    pub frames: Vec<u32>,
}

impl FrameTask {
    pub(crate) fn new(plan: &InstancePlan, frames: Vec<u32>) -> FrameTask {
        FrameTask {
            study_instance_uid: plan.study_instance_uid.clone(),
            series_instance_uid: plan.series_instance_uid.clone(),
            sop_instance_uid: plan.sop_instance_uid.clone(),
            description: plan.description.clone(),
            stored_transfer_syntax: plan.stored_transfer_syntax.map(|t| t.uid().to_string()),
            frames,
        }
    }
}

thread_local! {
    static CANCELS: RefCell<HashMap<u32, CancelToken>> = RefCell::new(HashMap::new());
}

/// Retrieves and decodes the frames of `task` (JSON from the main thread's
/// `nextTasks`) in one request. Each frame, as it decodes, goes to
/// `on_frame(number, frame, undefined)`, or `on_frame(number, undefined, message)`
/// when that frame alone failed to decode. Resolves to JSON `{"delivered":n,
/// "requested":m}` (n < m: the server answered a frame list with fewer frames;
/// ask for the rest one by one). `id` names the request for [`cancel_retrieval`].
/// Rejects, for every frame not delivered, with a message starting `transient:`
/// when a retry may succeed (5xx, 429, dropped connection, timeout; the error's
/// `retryAfterMs` carries the server's Retry-After) and `cancelled:` when cancelled.
#[wasm_bindgen(js_name = retrieveFrames)]
pub async fn retrieve_frames_task(
    server: String,
    task: String,
    id: u32,
    on_frame: js_sys::Function,
) -> Result<String, JsValue> {
    let c = client(&server).map_err(JsValue::from)?;
    let t: FrameTask = serde_json::from_str(&task)
        .map_err(|e| JsValue::from(js_error(format!("invalid frame task: {e}"))))?;
    if t.frames.is_empty() {
        return Err(js_error("a frame task with no frames").into());
    }
    let plan = InstancePlan {
        study_instance_uid: t.study_instance_uid,
        series_instance_uid: t.series_instance_uid,
        sop_instance_uid: t.sop_instance_uid,
        instance_number: None,
        description: t.description,
        stored_transfer_syntax: t
            .stored_transfer_syntax
            .and_then(|u| TransferSyntax::from_uid(&u).ok()),
    };
    let cancel = CancelToken::new();
    CANCELS.with(|c| c.borrow_mut().insert(id, cancel.clone()));
    let limits = DecodeLimits::default();
    let result = retrieve_frame_list(&c, &plan, &t.frames, &limits, Some(&cancel), |n, r| {
        let (frame, error) = match r {
            Ok(decoded) => (
                JsValue::from(Frame {
                    info: frame_description(n, &decoded).to_string(),
                    data: decoded.data,
                }),
                JsValue::UNDEFINED,
            ),
            Err(e) => (JsValue::UNDEFINED, JsValue::from_str(&e.to_string())),
        };
        let _ = on_frame.call3(&JsValue::NULL, &n.into(), &frame, &error);
    })
    .await;
    CANCELS.with(|c| c.borrow_mut().remove(&id));
    match result {
        Ok(delivered) => Ok(format!(
            "{{\"delivered\":{delivered},\"requested\":{}}}",
            t.frames.len()
        )),
        Err(_) if cancel.is_cancelled() => Err(js_error("cancelled: no longer wanted").into()),
        Err(e) if e.is_transient() => {
            let error = js_sys::Error::new(&format!("transient: {e}"));
            if let Some(ms) = e.retry_after_ms() {
                let _ = js_sys::Reflect::set(&error, &"retryAfterMs".into(), &(ms as f64).into());
            }
            Err(error.into())
        }
        Err(e) => Err(js_error(e).into()),
    }
}

/// Cancels retrieval `id` (its promise rejects with `cancelled:`).
#[wasm_bindgen(js_name = cancelRetrieval)]
pub fn cancel_retrieval(id: u32) {
    CANCELS.with(|c| {
        if let Some(t) = c.borrow().get(&id) {
            t.cancel();
        }
    });
}
