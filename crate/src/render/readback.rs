//! Offscreen targets and reading them back.

use super::gpu::Gpu;
use super::RenderError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// An offscreen render target: `Rgba8Unorm` display pixels, or `Rgba32Uint`
/// values (MPR [`MprOutput::Values`](super::MprOutput::Values)).
pub struct Target {
    pub(crate) texture: wgpu::Texture,
    pub(crate) view: wgpu::TextureView,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) format: wgpu::TextureFormat,
    /// The readback buffer, made on the first read and reused.
    staging: std::cell::RefCell<Option<wgpu::Buffer>>,
}

impl Target {
    /// A display target of `width × height` pixels.
    pub fn new(gpu: &Gpu, width: u32, height: u32) -> Result<Target, RenderError> {
        Self::with_format(gpu, width, height, wgpu::TextureFormat::Rgba8Unorm)
    }

    /// A target for float values (tests, measurements).
    pub fn new_values(gpu: &Gpu, width: u32, height: u32) -> Result<Target, RenderError> {
        Self::with_format(gpu, width, height, wgpu::TextureFormat::Rgba32Uint)
    }

    pub(crate) fn with_format(
        gpu: &Gpu,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
    ) -> Result<Target, RenderError> {
        gpu.check_2d("the output", width, height)?;
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("lumen target"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        Ok(Target {
            texture,
            view,
            width,
            height,
            format,
            staging: std::cell::RefCell::new(None),
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    fn bytes_per_pixel(&self) -> u32 {
        match self.format {
            wgpu::TextureFormat::Rgba32Uint => 16,
            _ => 4,
        }
    }

    /// The target's pixels, row-major, tightly packed: RGBA bytes for a display
    /// target, four little-endian u32 per pixel for a values target.
    ///
    /// Natively this blocks on the device until the copy is done. In the browser
    /// the future resolves when the mapping callback fires; on WebGL2 the caller
    /// must keep polling the device between yields to the event loop.
    pub async fn read(&self, gpu: &Gpu) -> Result<Vec<u8>, RenderError> {
        let bpp = self.bytes_per_pixel();
        let padded = (self.width * bpp).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = self
            .staging
            .borrow_mut()
            .get_or_insert_with(|| staging_buffer(gpu, padded as u64 * self.height as u64))
            .clone();
        read_region(
            gpu,
            &self.texture,
            [0, 0],
            [self.width, self.height],
            bpp,
            &buffer,
        )
        .await
    }
}

pub(crate) fn staging_buffer(gpu: &Gpu, size: u64) -> wgpu::Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("lumen readback"),
        size,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    })
}

/// Copies the `size` texels at `origin` of a 2-D texture (`bpp` bytes each) into
/// `buffer` (at least padded rows × height long) and returns them tightly packed.
///
/// Natively this blocks on the device until the copy is done. In the browser
/// the future resolves when the mapping callback fires; on WebGL2 the device is
/// polled between yields to the event loop (its callbacks run only when polled).
pub(crate) async fn read_region(
    gpu: &Gpu,
    texture: &wgpu::Texture,
    origin: [u32; 2],
    size: [u32; 2],
    bpp: u32,
    buffer: &wgpu::Buffer,
) -> Result<Vec<u8>, RenderError> {
    let [width, height] = size;
    let row = width * bpp;
    let padded = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d {
                x: origin[0],
                y: origin[1],
                z: 0,
            },
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    gpu.queue.submit([encoder.finish()]);
    let mapped = Mapped::default();
    let state = mapped.0.clone();
    buffer.map_async(wgpu::MapMode::Read, .., move |result| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.result = Some(result.map_err(|e| e.to_string()));
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    });
    #[cfg(not(target_arch = "wasm32"))]
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| RenderError::Gpu(e.to_string()))?;
    #[cfg(not(target_arch = "wasm32"))]
    mapped.await.map_err(RenderError::Gpu)?;
    #[cfg(target_arch = "wasm32")]
    loop {
        let done = mapped
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .result
            .take();
        if let Some(r) = done {
            r.map_err(RenderError::Gpu)?;
            break;
        }
        if gpu.is_lost() {
            return Err(RenderError::Gpu("the device was lost".into()));
        }
        let _ = gpu.device.poll(wgpu::PollType::Poll);
        yield_to_browser().await;
    }
    gpu.take_error()?;
    let data = buffer
        .get_mapped_range(..)
        .map_err(|e| RenderError::Gpu(e.to_string()))?;
    let mut out = Vec::with_capacity((row * height) as usize);
    for r in 0..height as usize {
        let start = r * padded as usize;
        out.extend_from_slice(&data[start..start + row as usize]);
    }
    drop(data);
    buffer.unmap();
    Ok(out)
}

#[derive(Default)]
struct MapState {
    result: Option<Result<(), String>>,
    waker: Option<Waker>,
}

/// Resolves when `map_async`'s callback has run.
#[derive(Default)]
struct Mapped(Arc<Mutex<MapState>>);

impl Future for Mapped {
    type Output = Result<(), String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match s.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Resolves on a later task of the browser's event loop (`setTimeout(0)`), so
/// that GPU callbacks can run; at once where there is no `setTimeout`.
#[cfg(target_arch = "wasm32")]
async fn yield_to_browser() {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = set_timeout
            .map(|f| f.call2(&global, &resolve, &0.into()).is_ok())
            .unwrap_or(false);
        if !scheduled {
            let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
