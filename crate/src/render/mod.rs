//! `render` is the GPU renderer: the only module that knows wgpu. It draws what
//! `pixel` computes on the CPU — Modality LUT, VOI (LINEAR, LINEAR_EXACT, SIGMOID,
//! VOI LUT), Presentation LUT / MONOCHROME1 inversion, palette and RGB — and
//! what `volume` resamples — MPR planes with nearest or trilinear interpolation
//! and MIP/MinIP/average slabs — in WGSL shaders (`shaders/*.wgsl`), and is
//! tested against both (`crate/tests/render.rs`).
//!
//! Owns: choosing a backend ([`Gpu::new`], the one place with the fallback
//! chain), uploading stored values unconverted, turning a resolved
//! [`GreyPipeline`](crate::pixel::GreyPipeline) into shader uniforms, the 2-D
//! view transform ([`View`]: zoom, pan, rotation, flips, pixel aspect), bricking
//! volumes larger than the device's 3-D texture limit, offscreen targets and
//! readback. Never touches: files or the network (callers hand it decoded frames
//! and geometry), decoding, the display arithmetic's definitions (they live in
//! `pixel`; the shaders mirror them), MPR plane math (it lives in `volume`).
//! Nothing here uses threads or `std::fs`, so the same code serves wasm.
//!
//! # Exactness
//! - Stored values go to the GPU as they are, in integer textures: `R8/R16/R32`
//!   `Sint` for signed grey data, `Uint` otherwise (RGB as `Rgba*Uint`), 3-D
//!   `R16Sint` for a CT volume. No normalised or float conversion happens on upload,
//!   so a 16-bit pixel costs 2 bytes on the GPU. Interpolation (bilinear display,
//!   trilinear MPR) is done in the shader from `textureLoad`s, with the same
//!   clamping and weights as `volume`'s CPU resampler: browsers have no 16-bit
//!   normalised formats and software rasterisers filter with fixed-point weights.
//! - The shaders work in f32, `pixel` in f64. Values are centred on an integer
//!   near the window (`x − x0`, computed exactly from the integer texel) before
//!   any float arithmetic, and a window's `255 · p` is one multiply-add with 255
//!   folded into its coefficients, which keeps its f32 error below 5e-5 (and
//!   makes it exact where it is an integer for the usual windows). The
//!   quantisation is `floor(255 · p + 1e-4)` (the CPU's `floor(255 · p + 1e-9)`),
//!   so a grey level differs from `pixel`'s only where `255 · p` lies within
//!   1e-4 below an integer: by one level, on a handful of pixels. The integer is
//!   written to an `Rgba8Unorm` target as `g / 255`, which the unorm conversion
//!   maps back to `g` exactly.
//! - Palette and RGB outputs are integer arithmetic in the shader: exact. YBR_FULL
//!   (only when a canonical frame still says so) mirrors `codec`'s f32 formula.
//!
//! # Coordinates
//! Output pixel (px, py) is shaded at its centre (px + 0.5, py + 0.5), origin top
//! left, on every backend (wgpu's GL backend flips clip space so that offscreen
//! targets and `@builtin(position)` agree with WebGPU). 2-D images: pixel (i, j)
//! of the frame covers [i, i + 1) × [j, j + 1) (see [`View`]). MPR: the image
//! coordinates of `volume::mpr` with [`PlaneGrid::image_to_voxel_matrix`](crate::volume::PlaneGrid::image_to_voxel_matrix).

pub mod cpu;
mod display;
mod gpu;
mod image;
mod luts;
mod mpr;
mod readback;
mod uniforms;
mod view;

pub use gpu::{BackendChoice, Gpu, GpuInfo};
pub use image::{GpuImage, ImageSettings};
pub use mpr::{GpuVolume, MprOutput, MprSettings};
pub use readback::Target;
pub use view::{View, Zoom};

use thiserror::Error;

/// How samples between texel/voxel centres are valued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Interpolation {
    /// The texel the sample falls in (2-D) / the nearest voxel centre (MPR).
    Nearest,
    /// Bilinear (2-D display) or trilinear (MPR), computed in the shader.
    #[default]
    Linear,
}

/// Why the GPU path could not render.
#[derive(Debug, Error)]
pub enum RenderError {
    /// No adapter on any backend of the fallback chain.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The adapter refused the device (limits, features, driver).
    #[error("the {backend} adapter {adapter:?} refused a device: {message}")]
    Device {
        backend: String,
        adapter: String,
        message: String,
    },
    /// The frame cannot be displayed (same reasons as the CPU path).
    #[error(transparent)]
    Pixel(#[from] crate::pixel::PixelError),
    /// The voxels do not fit the volume.
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeDataError),
    /// A frame or target larger than the device's 2-D texture limit.
    #[error("{what} is {width}×{height}; this device's 2-D textures stop at {max}")]
    TooLarge {
        what: &'static str,
        width: u32,
        height: u32,
        max: u32,
    },
    /// Settings that do not fit what is being rendered.
    #[error("{0}")]
    Invalid(String),
    /// A validation error, a lost device, or a failed readback.
    #[error("GPU error: {0}")]
    Gpu(String),
}
