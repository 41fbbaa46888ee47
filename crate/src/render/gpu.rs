//! The one place that picks a backend, and the device every render uses.

use super::RenderError;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Which backend to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The fallback chain: natively `WGPU_BACKEND` (`vulkan`, `gl`, …) when set,
    /// else Vulkan, then GL; in the browser WebGPU, then WebGL2.
    #[default]
    Auto,
    /// Vulkan only (lavapipe on Mesa).
    Vulkan,
    /// GL only: EGL (surfaceless llvmpipe on Mesa) natively, WebGL2 in the browser.
    Gl,
    /// The browser's WebGPU only.
    WebGpu,
}

impl BackendChoice {
    /// The backends to try, in order.
    fn chain(self) -> Vec<wgpu::Backends> {
        match self {
            Self::Vulkan => vec![wgpu::Backends::VULKAN],
            Self::Gl => vec![wgpu::Backends::GL],
            Self::WebGpu => vec![wgpu::Backends::BROWSER_WEBGPU],
            Self::Auto => {
                #[cfg(not(target_arch = "wasm32"))]
                {
                    if let Some(from_env) = wgpu::Backends::from_env() {
                        return vec![from_env];
                    }
                    vec![wgpu::Backends::VULKAN, wgpu::Backends::GL]
                }
                #[cfg(target_arch = "wasm32")]
                {
                    vec![wgpu::Backends::BROWSER_WEBGPU, wgpu::Backends::GL]
                }
            }
        }
    }
}

/// What the chosen adapter is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GpuInfo {
    /// `vulkan`, `gl`, `webgpu`, …
    pub backend: String,
    /// The adapter's name (`llvmpipe (LLVM 15.0.6, 256 bits)`, …).
    pub adapter: String,
    pub driver: String,
    pub max_texture_2d: u32,
    pub max_texture_3d: u32,
}

/// A device and queue with the renderer's shader pipelines.
///
/// Limits are wgpu's WebGL2-safe downlevel defaults except for texture sizes,
/// which take the adapter's own (a large frame or volume is otherwise refused or
/// needlessly bricked). Validation errors do not panic: they are kept and turn
/// into [`RenderError::Gpu`] at the end of the render that caused them.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: GpuInfo,
    error: Arc<Mutex<Option<String>>>,
    lost: Arc<AtomicBool>,
    pub(crate) pipelines: RefCell<HashMap<PipelineKey, wgpu::RenderPipeline>>,
    pub(crate) layouts: RefCell<HashMap<(&'static str, bool), wgpu::BindGroupLayout>>,
    /// The largest 3-D texture side used for a volume brick (tests lower it to
    /// exercise bricking).
    max_brick: std::cell::Cell<u32>,
    /// The WebGL2 context's surface (browser GL only), alive as long as the device.
    _surface: Option<wgpu::Surface<'static>>,
}

const DISPLAY_WGSL: &str = include_str!("../../../shaders/display.wgsl");
const IMAGE_WGSL: &str = include_str!("../../../shaders/image.wgsl");
const MPR_WGSL: &str = include_str!("../../../shaders/mpr.wgsl");

/// Identifies one compiled pipeline: shader, entry point, texel type, target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PipelineKey {
    pub shader: &'static str,
    pub entry: &'static str,
    pub signed: bool,
    pub format: wgpu::TextureFormat,
}

impl Gpu {
    /// Opens a device on the first backend of `choice`'s chain that has an adapter.
    pub async fn new(choice: BackendChoice) -> Result<Gpu, RenderError> {
        let mut failures = Vec::new();
        for backends in choice.chain() {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
            desc.backends = backends;
            #[cfg(not(target_arch = "wasm32"))]
            {
                desc.flags = wgpu::InstanceFlags::default().with_env();
            }
            let instance = wgpu::Instance::new(desc);
            // WebGL2 has no adapter without a context: wgpu makes it from a
            // compatible surface, here a 1×1 OffscreenCanvas kept with the device.
            #[cfg(target_arch = "wasm32")]
            let surface = if backends == wgpu::Backends::GL {
                match web_sys::OffscreenCanvas::new(1, 1)
                    .map_err(|e| format!("{e:?}"))
                    .and_then(|c| {
                        instance
                            .create_surface(wgpu::SurfaceTarget::OffscreenCanvas(c))
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        failures.push(format!("{backends:?}: no WebGL2 context: {e}"));
                        continue;
                    }
                }
            } else {
                None
            };
            #[cfg(not(target_arch = "wasm32"))]
            let surface: Option<wgpu::Surface<'static>> = None;
            let options = wgpu::RequestAdapterOptions {
                compatible_surface: surface.as_ref(),
                ..Default::default()
            };
            let adapter = match instance.request_adapter(&options).await {
                Ok(a) => a,
                Err(e) => {
                    failures.push(format!("{backends:?}: {e}"));
                    continue;
                }
            };
            match Self::open(adapter).await {
                Ok(mut gpu) => {
                    gpu._surface = surface;
                    return Ok(gpu);
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(RenderError::NoAdapter(failures.join("; ")))
    }

    async fn open(adapter: wgpu::Adapter) -> Result<Gpu, RenderError> {
        let ai = adapter.get_info();
        let limits = wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits());
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("lumen"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| RenderError::Device {
                backend: ai.backend.to_string(),
                adapter: ai.name.clone(),
                message: e.to_string(),
            })?;
        let error = Arc::new(Mutex::new(None::<String>));
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        device.set_device_lost_callback(move |_reason, _message| {
            flag.store(true, Ordering::SeqCst);
        });
        let info = GpuInfo {
            backend: ai.backend.to_string(),
            adapter: ai.name.clone(),
            driver: format!("{} {}", ai.driver, ai.driver_info)
                .trim()
                .to_string(),
            max_texture_2d: limits.max_texture_dimension_2d,
            max_texture_3d: limits.max_texture_dimension_3d,
        };
        Ok(Gpu {
            device,
            queue,
            max_brick: std::cell::Cell::new(info.max_texture_3d),
            info,
            error,
            lost,
            pipelines: RefCell::new(HashMap::new()),
            layouts: RefCell::new(HashMap::new()),
            _surface: None,
        })
    }

    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// True once the device is lost: the caller recreates the [`Gpu`] and uploads
    /// again (in the browser: a GPU process crash, a driver reset).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Destroys the device, as a driver reset or a GPU process crash would: fault
    /// injection for tests of device-loss recovery. [`Gpu::is_lost`] turns true
    /// once the backend reports the loss (asynchronously in the browser).
    pub fn destroy(&self) {
        self.device.destroy();
        // wgpu's GL backend reports no loss for a destroyed device (WebGPU does,
        // through its lost callback): say so here, as the callback would.
        if self.info.backend == wgpu::Backend::Gl.to_string() {
            self.lost.store(true, Ordering::SeqCst);
        }
    }

    /// Caps the side of a volume brick below the device's 3-D limit (at least 2).
    pub fn set_max_brick(&self, side: u32) {
        self.max_brick
            .set(side.clamp(2, self.info.max_texture_3d.max(2)));
    }

    pub(crate) fn max_brick(&self) -> u32 {
        self.max_brick.get()
    }

    /// The first validation error since the last call, as a [`RenderError`].
    pub(crate) fn take_error(&self) -> Result<(), RenderError> {
        if self.is_lost() {
            return Err(RenderError::Gpu("the device was lost".into()));
        }
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(e) => Err(RenderError::Gpu(e)),
            None => Ok(()),
        }
    }

    pub(crate) fn check_2d(
        &self,
        what: &'static str,
        width: u32,
        height: u32,
    ) -> Result<(), RenderError> {
        let max = self.info.max_texture_2d;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(RenderError::TooLarge {
                what,
                width,
                height,
                max,
            });
        }
        Ok(())
    }

    /// The bind group layout `name` for signed or unsigned texels, made once.
    pub(crate) fn layout(
        &self,
        name: &'static str,
        signed: bool,
        entries: impl FnOnce() -> Vec<wgpu::BindGroupLayoutEntry>,
    ) -> wgpu::BindGroupLayout {
        self.layouts
            .borrow_mut()
            .entry((name, signed))
            .or_insert_with(|| {
                self.device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: Some(name),
                        entries: &entries(),
                    })
            })
            .clone()
    }

    /// The pipeline for `key`, compiled once: display.wgsl + the pass's shader,
    /// with `Texel` the texture's sample type.
    pub(crate) fn pipeline(
        &self,
        key: PipelineKey,
        layout: &wgpu::BindGroupLayout,
    ) -> wgpu::RenderPipeline {
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return p.clone();
        }
        let body = match key.shader {
            "image" => IMAGE_WGSL,
            _ => MPR_WGSL,
        };
        let texel = if key.signed { "i32" } else { "u32" };
        let source = format!("alias Texel = {texel};\n{DISPLAY_WGSL}\n{body}");
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key.shader),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(key.shader),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(key.entry),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some(key.entry),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: key.format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            });
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        pipeline
    }

    /// One full-target pass of `pipeline` into `target`.
    pub(crate) fn draw(
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::RenderPipeline,
        bind_group: &wgpu::BindGroup,
        target: &wgpu::TextureView,
    ) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: None,
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.draw(0..3, 0..1);
    }

    /// A uniform buffer of `size` bytes.
    pub(crate) fn uniform_buffer(&self, size: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("lumen uniforms"),
            size: size.next_multiple_of(16) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

/// Layout entry helpers.
pub(crate) fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

pub(crate) fn texture_entry(
    binding: u32,
    sample_type: wgpu::TextureSampleType,
    dimension: wgpu::TextureViewDimension,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type,
            view_dimension: dimension,
            multisampled: false,
        },
        count: None,
    }
}

/// `Sint` for signed texels, `Uint` otherwise.
pub(crate) fn integer_sample_type(signed: bool) -> wgpu::TextureSampleType {
    if signed {
        wgpu::TextureSampleType::Sint
    } else {
        wgpu::TextureSampleType::Uint
    }
}
