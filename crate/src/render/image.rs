//! The 2-D image pass (`shaders/image.wgsl`): one decoded frame on the GPU, drawn
//! with a view transform and the display pipeline.

use super::display::{self, Domain};
use super::gpu::{integer_sample_type, texture_entry, uniform_entry, Gpu, PipelineKey};
use super::luts::{LutAtlas, LutCache};
use super::readback::Target;
use super::uniforms::Uniforms;
use super::view::View;
use super::{Interpolation, RenderError};
use crate::codec::DecodedFrame;
use crate::part10::Palette;
use crate::pixel::{self, DisplayAttributes, GreyPipeline, PixelError, RenderOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Grey = 0,
    Palette = 1,
    Rgb = 2,
    YbrFull = 3,
}

/// A frame's stored values on the GPU, unconverted: an `R8/R16/R32` texture
/// (`Sint` when Pixel Representation is 1, else `Uint`), `Rgba*` for three
/// samples; a palette frame keeps its LUTs for the LUT atlas.
pub struct GpuImage {
    view: wgpu::TextureView,
    _texture: wgpu::Texture,
    columns: u32,
    rows: u32,
    kind: Kind,
    signed: bool,
    bits_stored: u32,
    palette: Option<Palette>,
    luts: LutCache,
    uniforms: wgpu::Buffer,
}

/// How to draw a [`GpuImage`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSettings {
    /// The resolved greyscale pipeline (required for greyscale frames, ignored
    /// for colour): [`pixel::grey_pipeline`], or [`ImageSettings::for_frame`].
    pub grey: Option<GreyPipeline>,
    pub view: View,
    pub interpolation: Interpolation,
}

impl ImageSettings {
    /// Settings for `frame` as `pixel` would render it with `options`, with the
    /// pixel aspect of `attrs`, fitted, linear interpolation.
    pub fn for_frame(
        frame: &DecodedFrame,
        attrs: &DisplayAttributes,
        options: &RenderOptions,
    ) -> Result<ImageSettings, RenderError> {
        let grey = if is_grey(frame) {
            Some(pixel::grey_pipeline(frame, attrs, options)?)
        } else {
            None
        };
        Ok(ImageSettings {
            grey,
            view: View {
                pixel_aspect: attrs.pixel_aspect(),
                ..View::default()
            },
            interpolation: Interpolation::Linear,
        })
    }
}

fn photometric(frame: &DecodedFrame) -> &str {
    frame
        .info
        .photometric_interpretation
        .trim_end_matches(['\0', ' '])
        .trim()
}

fn is_grey(frame: &DecodedFrame) -> bool {
    frame.info.samples_per_pixel == 1 && photometric(frame) != "PALETTE COLOR"
}

const UNIFORM_SIZE: usize = 15 * 16;

impl GpuImage {
    /// Uploads a canonical frame (see `codec`). Fails as `pixel::render_rgb8`
    /// does on frames it cannot display.
    pub fn upload(
        gpu: &Gpu,
        frame: &DecodedFrame,
        attrs: &DisplayAttributes,
    ) -> Result<GpuImage, RenderError> {
        let info = &frame.info;
        let bytes = match info.bits_allocated {
            0..=8 => 1usize,
            9..=16 => 2,
            _ => 4,
        };
        let spp = info.samples_per_pixel as usize;
        let expected = info.rows as usize * info.columns as usize * spp * bytes;
        if frame.data.len() != expected {
            return Err(PixelError::FrameSize {
                expected,
                actual: frame.data.len(),
            }
            .into());
        }
        let pi = photometric(frame);
        let unsupported = || PixelError::UnsupportedPhotometric {
            photometric: pi.to_string(),
            samples_per_pixel: info.samples_per_pixel,
        };
        let kind = match (pi, spp) {
            ("PALETTE COLOR", 1) => Kind::Palette,
            (_, 1) => Kind::Grey,
            ("RGB", 3) => Kind::Rgb,
            ("YBR_FULL" | "YBR_FULL_422", 3) if bytes == 1 => Kind::YbrFull,
            _ => return Err(unsupported().into()),
        };
        let palette = if kind == Kind::Palette {
            Some(attrs.palette.clone().ok_or(PixelError::MissingPalette)?)
        } else {
            None
        };
        gpu.check_2d("the frame", info.columns, info.rows)?;
        let signed = info.pixel_representation == 1;
        use wgpu::TextureFormat as F;
        let format = match (spp, bytes, signed) {
            (1, 1, false) => F::R8Uint,
            (1, 1, true) => F::R8Sint,
            (1, 2, false) => F::R16Uint,
            (1, 2, true) => F::R16Sint,
            (1, _, false) => F::R32Uint,
            (1, _, true) => F::R32Sint,
            (_, 1, false) => F::Rgba8Uint,
            (_, 1, true) => F::Rgba8Sint,
            (_, 2, false) => F::Rgba16Uint,
            (_, 2, true) => F::Rgba16Sint,
            (_, _, false) => F::Rgba32Uint,
            (_, _, true) => F::Rgba32Sint,
        };
        // Three samples go into four channels (there are no 3-channel formats).
        let padded;
        let data: &[u8] = if spp == 3 {
            let mut v = Vec::with_capacity(frame.data.len() / 3 * 4);
            for px in frame.data.chunks_exact(3 * bytes) {
                v.extend_from_slice(px);
                v.extend(std::iter::repeat_n(0u8, bytes));
            }
            padded = v;
            &padded
        } else {
            &frame.data
        };
        let size = wgpu::Extent3d {
            width: info.columns,
            height: info.rows,
            depth_or_array_layers: 1,
        };
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("lumen frame"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            // COPY_SRC: the pixel probe and volume building read values back.
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_DST
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let texel = bytes * if spp == 3 { 4 } else { 1 };
        gpu.queue.write_texture(
            texture.as_image_copy(),
            data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some((info.columns as usize * texel) as u32),
                rows_per_image: Some(info.rows),
            },
            size,
        );
        let view = texture.create_view(&Default::default());
        Ok(GpuImage {
            view,
            _texture: texture,
            columns: info.columns,
            rows: info.rows,
            kind,
            signed,
            bits_stored: info.bits_stored.clamp(1, 32) as u32,
            palette,
            luts: LutCache::default(),
            uniforms: gpu.uniform_buffer(UNIFORM_SIZE),
        })
    }

    pub fn columns(&self) -> u32 {
        self.columns
    }

    /// Bytes per texel on the GPU (three samples take four channels).
    fn texel_bytes(&self) -> u32 {
        self._texture.format().block_copy_size(None).unwrap_or(4)
    }

    /// Bytes the texture holds.
    pub fn gpu_bytes(&self) -> u64 {
        self.columns as u64 * self.rows as u64 * self.texel_bytes() as u64
    }

    /// The stored values of texel (`column`, `row`), one per sample (the pixel
    /// probe reads them back from the GPU: the frame is not kept in memory).
    pub async fn read_texel(
        &self,
        gpu: &Gpu,
        column: u32,
        row: u32,
    ) -> Result<Vec<i64>, RenderError> {
        if column >= self.columns || row >= self.rows {
            return Err(RenderError::Invalid(format!(
                "texel ({column}, {row}) is outside the {}×{} frame",
                self.columns, self.rows
            )));
        }
        let bpp = self.texel_bytes();
        let buffer =
            super::readback::staging_buffer(gpu, wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64);
        let bytes =
            super::readback::read_region(gpu, &self._texture, [column, row], [1, 1], bpp, &buffer)
                .await?;
        let channels = if self.kind == Kind::Grey || self.kind == Kind::Palette {
            1
        } else {
            3
        };
        let width = (bpp / if channels == 1 { 1 } else { 4 }) as usize;
        Ok((0..channels)
            .map(|c| super::cpu::sample_at(&bytes[c * width..(c + 1) * width], self.signed))
            .collect())
    }

    /// Every stored value of the frame, canonical layout for one sample per pixel
    /// (building a volume from frames already on the GPU).
    pub async fn read_frame(&self, gpu: &Gpu) -> Result<Vec<u8>, RenderError> {
        let bpp = self.texel_bytes();
        let padded = (self.columns * bpp).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = super::readback::staging_buffer(gpu, padded as u64 * self.rows as u64);
        super::readback::read_region(
            gpu,
            &self._texture,
            [0, 0],
            [self.columns, self.rows],
            bpp,
            &buffer,
        )
        .await
    }

    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Draws the frame into `target` (a display target). Only uniforms change
    /// between renders of the same frame, unless the LUTs do.
    pub fn render(
        &self,
        gpu: &Gpu,
        settings: &ImageSettings,
        target: &Target,
    ) -> Result<(), RenderError> {
        if target.format != wgpu::TextureFormat::Rgba8Unorm {
            return Err(RenderError::Invalid(
                "a 2-D image renders into a display target".into(),
            ));
        }
        let (atlas, display) = match (self.kind, &self.palette) {
            (Kind::Grey, _) => {
                let grey = settings.grey.as_ref().ok_or_else(|| {
                    RenderError::Invalid("a greyscale frame needs its GreyPipeline".into())
                })?;
                let (m, v) = display::tables(grey, Domain::Stored);
                let mut tables: Vec<&[u16]> = Vec::new();
                tables.extend(m.map(|l| l.data.as_slice()));
                tables.extend(v.map(|l| l.data.as_slice()));
                let atlas = LutAtlas::new(&tables);
                let row = |present: bool, i: usize| {
                    if present {
                        atlas.rows[i]
                    } else {
                        0
                    }
                };
                let voi_index = m.is_some() as usize;
                let d = display::uniform(
                    grey,
                    Domain::Stored,
                    row(m.is_some(), 0),
                    row(v.is_some(), voi_index),
                );
                (atlas, d)
            }
            (Kind::Palette, Some(p)) => {
                let atlas = LutAtlas::new(&[&p.red.data, &p.green.data, &p.blue.data]);
                (atlas, display::unused())
            }
            _ => (LutAtlas::new(&[]), display::unused()),
        };
        let m = settings
            .view
            .output_to_frame(self.columns, self.rows, target.width, target.height);
        let mut u = Uniforms::default();
        u.append(&display)
            .f4([m.m[0][0], m.m[0][1], m.m[0][3], 0.0])
            .f4([m.m[1][0], m.m[1][1], m.m[1][3], 0.0])
            .u4([
                self.columns,
                self.rows,
                self.kind as u32,
                (settings.interpolation == Interpolation::Linear) as u32,
            ])
            .u4([self.bits_stored, self.signed as u32, 0, 0]);
        for (i, channel) in ["red", "green", "blue"].iter().enumerate() {
            let v = match &self.palette {
                Some(p) => {
                    let lut = match *channel {
                        "red" => &p.red,
                        "green" => &p.green,
                        _ => &p.blue,
                    };
                    [
                        lut.first_mapped,
                        lut.data.len() as i32,
                        atlas.rows[i] as i32,
                        lut.bits_per_entry as i32,
                    ]
                }
                None => [0, 1, 0, 8],
            };
            u.i4(v);
        }
        // codec::ybr_full_to_rgb's coefficients, rounded to f32 the same way.
        u.f4([
            1.402,
            (-0.114f64 * 1.772 / 0.587) as f32 as f64,
            (-0.299f64 * 1.402 / 0.587) as f32 as f64,
            1.772,
        ]);
        gpu.queue.write_buffer(&self.uniforms, 0, u.bytes());

        let signed = self.signed;
        let layout = image_layout(gpu, signed);
        let pipeline = image_pipeline(gpu, signed, &layout, target.format);
        let luts = self.luts.view(gpu, &atlas);
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("lumen image"),
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&self.view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&luts),
                },
            ],
        });
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Gpu::draw(&mut encoder, &pipeline, &bind_group, &target.view);
        gpu.queue.submit([encoder.finish()]);
        gpu.take_error()
    }
}

/// The 2-D display pass's bind group layout for signed or unsigned stored values.
fn image_layout(gpu: &Gpu, signed: bool) -> wgpu::BindGroupLayout {
    gpu.layout("image", signed, || {
        vec![
            uniform_entry(0),
            texture_entry(
                1,
                integer_sample_type(signed),
                wgpu::TextureViewDimension::D2,
            ),
            texture_entry(
                2,
                wgpu::TextureSampleType::Uint,
                wgpu::TextureViewDimension::D2,
            ),
        ]
    })
}

fn image_pipeline(
    gpu: &Gpu,
    signed: bool,
    layout: &wgpu::BindGroupLayout,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    gpu.pipeline(
        PipelineKey {
            shader: "image",
            entry: "fs_image",
            signed,
            format,
        },
        layout,
    )
}

impl Gpu {
    /// Makes the 2-D display pipelines now rather than at the first render: a
    /// software rasteriser compiles shaders slowly, so the viewer does this while
    /// a study's metadata is still arriving.
    pub fn prewarm(&self) {
        for signed in [false, true] {
            let layout = image_layout(self, signed);
            image_pipeline(self, signed, &layout, wgpu::TextureFormat::Rgba8Unorm);
        }
    }
}
