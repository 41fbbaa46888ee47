//! The browser transport: `fetch` with a streaming body (ReadableStream), usable from
//! a page or a Worker. Cancellation and timeouts go through an AbortController.

use super::error::DicomWebError;
use super::transport::{BodyStream, HttpRequest, HttpResponse, Transport};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStreamDefaultReader, Request, RequestInit, Response,
};

#[derive(Default)]
pub struct FetchTransport {
    /// Milliseconds before a request is aborted (0: never).
    pub timeout_ms: u32,
}

pub struct FetchBody {
    reader: Option<ReadableStreamDefaultReader>,
    url: String,
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            Reflect::get(v, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{v:?}"))
}

impl BodyStream for FetchBody {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, DicomWebError> {
        let Some(reader) = &self.reader else {
            return Ok(None);
        };
        let result = JsFuture::from(reader.read())
            .await
            .map_err(|e| DicomWebError::Transport {
                method: "GET".into(),
                url: self.url.clone(),
                message: format!("body: {}", js_text(&e)),
            })?;
        let done = Reflect::get(&result, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            self.reader = None;
            return Ok(None);
        }
        let value = Reflect::get(&result, &"value".into()).unwrap_or(JsValue::UNDEFINED);
        Ok(Some(Uint8Array::new(&value).to_vec()))
    }
}

/// `fetch` from whatever global this runs in: a window, a Worker, or Node (18+).
fn global_fetch(request: &Request) -> Result<js_sys::Promise, JsValue> {
    let global = js_sys::global();
    let fetch: js_sys::Function = Reflect::get(&global, &"fetch".into())?.dyn_into()?;
    fetch.call1(&global, request)?.dyn_into()
}

impl Transport for FetchTransport {
    type Body = FetchBody;

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse<FetchBody>, DicomWebError> {
        let method = request.method.as_str();
        let url = request.url.clone();
        let fail = |what: &str, e: JsValue| DicomWebError::Transport {
            method: method.into(),
            url: url.clone(),
            message: format!("{what}: {}", js_text(&e)),
        };
        let init = RequestInit::new();
        init.set_method(method);
        let headers = Headers::new().map_err(|e| fail("headers", e))?;
        for (k, v) in &request.headers {
            headers.append(k, v).map_err(|e| fail("header", e))?;
        }
        init.set_headers(&headers);
        if let Some(body) = &request.body {
            init.set_body(&Uint8Array::from(&body[..]));
        }
        let timeout = request
            .timeout
            .map(|d| d.as_millis() as u32)
            .unwrap_or(self.timeout_ms);
        if timeout > 0 {
            let controller = AbortController::new().map_err(|e| fail("AbortController", e))?;
            init.set_signal(Some(&controller.signal()));
            let abort = wasm_bindgen::closure::Closure::once_into_js(move || controller.abort());
            let _ = Reflect::get(&js_sys::global(), &"setTimeout".into())
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
                .map(|f| f.call2(&JsValue::NULL, &abort, &JsValue::from(timeout)));
        }
        let req = Request::new_with_str_and_init(&url, &init).map_err(|e| fail("request", e))?;
        let promise = global_fetch(&req).map_err(|e| fail("fetch", e))?;
        let response: Response = JsFuture::from(promise)
            .await
            .map_err(|e| {
                let text = js_text(&e);
                if text.contains("abort") {
                    DicomWebError::Timeout {
                        method: method.into(),
                        url: url.clone(),
                        seconds: (timeout as u64).div_ceil(1000),
                    }
                } else {
                    DicomWebError::Transport {
                        method: method.into(),
                        url: url.clone(),
                        message: text,
                    }
                }
            })?
            .dyn_into()
            .map_err(|e| fail("response", e))?;
        let mut out_headers = Vec::new();
        if let Ok(Some(iter)) = js_sys::try_iter(&response.headers()) {
            for entry in iter.flatten() {
                let pair = js_sys::Array::from(&entry);
                out_headers.push((
                    pair.get(0).as_string().unwrap_or_default(),
                    pair.get(1).as_string().unwrap_or_default(),
                ));
            }
        }
        let reader = response.body().map(|stream| {
            stream
                .get_reader()
                .unchecked_into::<ReadableStreamDefaultReader>()
        });
        Ok(HttpResponse {
            status: response.status(),
            headers: out_headers,
            body: FetchBody { reader, url },
        })
    }
}
