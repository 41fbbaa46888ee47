//! The MPR pass (`shaders/mpr.wgsl`): a volume on the GPU once, as 3-D integer
//! textures (bricks when it is larger than the device allows), resampled on a
//! `volume::PlaneGrid` with optional slab, then displayed.

use super::display::{self, Domain};
use super::gpu::{integer_sample_type, texture_entry, uniform_entry, Gpu, PipelineKey};
use super::luts::{LutAtlas, LutCache};
use super::readback::Target;
use super::uniforms::Uniforms;
use super::{Interpolation, RenderError};
use crate::pixel::GreyPipeline;
use crate::volume::{PlaneGrid, Slab, SlabMode, VolumeGeometry, VoxelData};
use std::cell::RefCell;

/// One brick: voxels `origin .. origin + size` of the volume; it owns the voxel
/// indices / interpolation cells `origin .. owned_end` (see mpr.wgsl).
struct Brick {
    _texture: wgpu::Texture,
    view: wgpu::TextureView,
    origin: [u32; 3],
    owned_end: [u32; 3],
    uniforms: wgpu::Buffer,
}

/// What an MPR render writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MprOutput {
    /// Grey levels after the display pipeline (a display [`Target`]).
    #[default]
    Grey,
    /// The resampled values themselves (a values [`Target`], `Rgba32Uint`): R =
    /// the f32 bits of the value (stored values, or modality values when the
    /// rescale varies per slice), G = 1 where any sample was inside the volume,
    /// 0 where none was. Integer, not float, targets: GL does not render to
    /// 32-bit float textures without an extension.
    Values,
}

/// How to draw one MPR view.
#[derive(Debug, Clone, PartialEq)]
pub struct MprSettings {
    /// The plane and the output grid; its width and height must be the target's.
    pub grid: PlaneGrid,
    pub interpolation: Interpolation,
    pub slab: Option<Slab>,
    /// The display pipeline: Modality (ignored when the rescale varies per
    /// slice: values are then rescaled per tap), VOI, inversion.
    pub grey: GreyPipeline,
}

/// A volume's voxels on the GPU, stored once: `R8/R16/R32` `Sint`/`Uint` 3-D
/// textures holding the stored values as they are (a CT is `R16Sint`), split
/// into bricks of at most the device's 3-D texture side, overlapping by one
/// voxel. A per-slice table holds Rescale Slope/Intercept and the true slice
/// distances (irregular spacing).
pub struct GpuVolume {
    geometry: VolumeGeometry,
    signed: bool,
    bricks: Vec<Brick>,
    _slices: wgpu::Texture,
    slices_view: wgpu::TextureView,
    _empty: wgpu::Texture,
    empty_view: wgpu::TextureView,
    luts: LutCache,
    accumulators: RefCell<Option<Accumulators>>,
}

/// The two ping-pong accumulation targets of a bricked render, for one size.
struct Accumulators {
    size: (u32, u32),
    _textures: [wgpu::Texture; 2],
    views: [wgpu::TextureView; 2],
}

const UNIFORM_SIZE: usize = 7 * 16 + 64 + 5 * 16;

/// Brick starts and lengths along one axis of `n` voxels, at most `max` long,
/// overlapping by one voxel.
fn split(n: u32, max: u32) -> Vec<(u32, u32)> {
    if n <= max {
        return vec![(0, n)];
    }
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        if start + max >= n {
            out.push((start, n - start));
            return out;
        }
        out.push((start, max));
        start += max - 1;
    }
}

impl GpuVolume {
    /// Uploads the voxels of `geometry` (see `VoxelData::from_decoded_frames`).
    /// Bricks are copied straight out of `voxels`; no second copy is made, so the
    /// caller can drop `voxels` afterwards.
    pub fn upload(
        gpu: &Gpu,
        geometry: &VolumeGeometry,
        voxels: &VoxelData,
    ) -> Result<GpuVolume, RenderError> {
        use wgpu::TextureFormat as F;
        let (format, signed, bytes, data, dims): (F, bool, usize, &[u8], [usize; 3]) = match voxels
        {
            VoxelData::U8(v) => (
                F::R8Uint,
                false,
                1,
                bytemuck::cast_slice(v.data()),
                v.dimensions(),
            ),
            VoxelData::I8(v) => (
                F::R8Sint,
                true,
                1,
                bytemuck::cast_slice(v.data()),
                v.dimensions(),
            ),
            VoxelData::U16(v) => (
                F::R16Uint,
                false,
                2,
                bytemuck::cast_slice(v.data()),
                v.dimensions(),
            ),
            VoxelData::I16(v) => (
                F::R16Sint,
                true,
                2,
                bytemuck::cast_slice(v.data()),
                v.dimensions(),
            ),
            VoxelData::U32(v) => (
                F::R32Uint,
                false,
                4,
                bytemuck::cast_slice(v.data()),
                v.dimensions(),
            ),
            VoxelData::I32(v) => (
                F::R32Sint,
                true,
                4,
                bytemuck::cast_slice(v.data()),
                v.dimensions(),
            ),
        };
        let expect = geometry.dimensions();
        if dims != expect {
            return Err(crate::volume::VolumeDataError::WrongLength {
                dims: expect,
                needed: expect.iter().product(),
                found: dims.iter().product(),
            }
            .into());
        }
        let [nx, ny, nz] = dims.map(|d| d as u32);
        let max = gpu.max_brick();
        let mut bricks = Vec::new();
        let (sx, sy, sz) = (split(nx, max), split(ny, max), split(nz, max));
        for &(oz, lz) in &sz {
            for &(oy, ly) in &sy {
                for &(ox, lx) in &sx {
                    let size = wgpu::Extent3d {
                        width: lx,
                        height: ly,
                        depth_or_array_layers: lz,
                    };
                    let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
                        label: Some("lumen volume brick"),
                        size,
                        mip_level_count: 1,
                        sample_count: 1,
                        dimension: wgpu::TextureDimension::D3,
                        format,
                        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                        view_formats: &[],
                    });
                    let offset = ((oz as usize * ny as usize + oy as usize) * nx as usize
                        + ox as usize)
                        * bytes;
                    let end = offset
                        + (((lz as usize - 1) * ny as usize + (ly as usize - 1)) * nx as usize
                            + lx as usize)
                            * bytes;
                    gpu.queue.write_texture(
                        texture.as_image_copy(),
                        &data[..end],
                        wgpu::TexelCopyBufferLayout {
                            offset: offset as u64,
                            bytes_per_row: Some(nx * bytes as u32),
                            rows_per_image: Some(ny),
                        },
                        size,
                    );
                    let owned = |o: u32, l: u32, n: u32| if o + l >= n { n } else { o + l - 1 };
                    bricks.push(Brick {
                        view: texture.create_view(&Default::default()),
                        _texture: texture,
                        origin: [ox, oy, oz],
                        owned_end: [owned(ox, lx, nx), owned(oy, ly, ny), owned(oz, lz, nz)],
                        uniforms: gpu.uniform_buffer(UNIFORM_SIZE),
                    });
                }
            }
        }

        // Per-slice table: slope, intercept, distance − d0; 256 slices per row.
        let d0 = geometry.slice_distances()[0];
        let rows = nz.div_ceil(256);
        let mut table = vec![0f32; 256 * rows as usize * 4];
        for k in 0..nz as usize {
            let (slope, intercept) = geometry.rescale(k);
            table[k * 4] = slope as f32;
            table[k * 4 + 1] = intercept as f32;
            table[k * 4 + 2] = (geometry.slice_distances()[k] - d0) as f32;
        }
        let slices = table_texture(
            gpu,
            wgpu::TextureFormat::Rgba32Float,
            256,
            rows,
            bytemuck::cast_slice(&table),
        );
        let empty = table_texture(gpu, wgpu::TextureFormat::Rgba32Uint, 1, 1, &[0u8; 16]);
        gpu.take_error()?;
        Ok(GpuVolume {
            geometry: geometry.clone(),
            signed,
            bricks,
            slices_view: slices.create_view(&Default::default()),
            _slices: slices,
            empty_view: empty.create_view(&Default::default()),
            _empty: empty,
            luts: LutCache::default(),
            accumulators: RefCell::new(None),
        })
    }

    pub fn geometry(&self) -> &VolumeGeometry {
        &self.geometry
    }

    /// How many bricks the volume was split into (1 when it fits).
    pub fn brick_count(&self) -> usize {
        self.bricks.len()
    }

    /// Draws one MPR view into `target`: grey levels into a display target,
    /// values into a values target.
    pub fn render(
        &self,
        gpu: &Gpu,
        settings: &MprSettings,
        target: &Target,
    ) -> Result<(), RenderError> {
        let grid = &settings.grid;
        if (grid.width, grid.height) != (target.width, target.height) {
            return Err(RenderError::Invalid(format!(
                "the plane grid is {}×{}, the target {}×{}",
                grid.width, grid.height, target.width, target.height
            )));
        }
        let output = match target.format {
            wgpu::TextureFormat::Rgba32Uint => MprOutput::Values,
            _ => MprOutput::Grey,
        };
        let geometry = &self.geometry;
        let domain = if geometry.rescale_varies() {
            Domain::Modality
        } else {
            Domain::Stored
        };
        let (m, v) = display::tables(&settings.grey, domain);
        let mut tables: Vec<&[u16]> = Vec::new();
        tables.extend(m.map(|l| l.data.as_slice()));
        tables.extend(v.map(|l| l.data.as_slice()));
        let atlas = LutAtlas::new(&tables);
        let voi_row = atlas.rows.get(m.is_some() as usize).copied().unwrap_or(0);
        let display = display::uniform(
            &settings.grey,
            domain,
            atlas.rows.first().copied().unwrap_or(0),
            voi_row,
        );
        let luts = self.luts.view(gpu, &atlas);

        let irregular = !geometry.is_uniform();
        let matrix = if irregular {
            let mut m = grid.image_to_ijd_matrix(geometry);
            m.m[2][3] -= geometry.slice_distances()[0];
            m
        } else {
            grid.image_to_voxel_matrix(geometry)
                .unwrap_or_else(|| grid.image_to_ijd_matrix(geometry))
        };
        let (steps, thickness, mode) = match settings.slab {
            Some(s) => (
                s.offsets_mm().len() as u32 - 1,
                s.thickness_mm,
                match s.mode {
                    SlabMode::Mip => 0,
                    SlabMode::MinIp => 1,
                    SlabMode::Average => 2,
                },
            ),
            None => (0, 0.0, 0),
        };
        let [nx, ny, nz] = geometry.dimensions().map(|d| d as i32);

        let signed = self.signed;
        let layout = gpu.layout("mpr", signed, || {
            let float = wgpu::TextureSampleType::Float { filterable: false };
            vec![
                uniform_entry(0),
                texture_entry(
                    1,
                    integer_sample_type(signed),
                    wgpu::TextureViewDimension::D3,
                ),
                texture_entry(
                    2,
                    wgpu::TextureSampleType::Uint,
                    wgpu::TextureViewDimension::D2,
                ),
                texture_entry(3, float, wgpu::TextureViewDimension::D2),
                texture_entry(
                    4,
                    wgpu::TextureSampleType::Uint,
                    wgpu::TextureViewDimension::D2,
                ),
            ]
        });
        let pipeline = |entry: &'static str, format| {
            gpu.pipeline(
                PipelineKey {
                    shader: "mpr",
                    entry,
                    signed,
                    format,
                },
                &layout,
            )
        };
        let bind = |brick: &Brick, previous: &wgpu::TextureView| {
            gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("lumen mpr"),
                layout: &layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: brick.uniforms.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::TextureView(&brick.view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: wgpu::BindingResource::TextureView(&luts),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: wgpu::BindingResource::TextureView(&self.slices_view),
                    },
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: wgpu::BindingResource::TextureView(previous),
                    },
                ],
            })
        };
        for brick in &self.bricks {
            let mut u = Uniforms::default();
            u.append(&display)
                .mat4(matrix.to_cols_f32())
                .i4([nx, ny, nz, irregular as i32])
                .i4([
                    brick.origin[0] as i32,
                    brick.origin[1] as i32,
                    brick.origin[2] as i32,
                    (domain == Domain::Modality) as i32,
                ])
                .i4([
                    brick.owned_end[0] as i32,
                    brick.owned_end[1] as i32,
                    brick.owned_end[2] as i32,
                    0,
                ])
                .u4([
                    (settings.interpolation == Interpolation::Linear) as u32,
                    mode,
                    steps,
                    0,
                ])
                .f4([thickness, 0.0, 0.0, 0.0]);
            gpu.queue.write_buffer(&brick.uniforms, 0, u.bytes());
        }

        let values = output == MprOutput::Values;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if let [brick] = self.bricks.as_slice() {
            let entry = if values {
                "fs_direct_values"
            } else {
                "fs_direct"
            };
            let p = pipeline(entry, target.format);
            Gpu::draw(
                &mut encoder,
                &p,
                &bind(brick, &self.empty_view),
                &target.view,
            );
        } else {
            let acc = self.accumulators(gpu, target.width, target.height);
            let p = pipeline("fs_accumulate", wgpu::TextureFormat::Rgba32Uint);
            // acc[1] starts cleared (nothing accumulated); brick b writes
            // acc[b % 2] from acc[(b + 1) % 2].
            clear(&mut encoder, &acc[1]);
            for (b, brick) in self.bricks.iter().enumerate() {
                let bg = bind(brick, &acc[(b + 1) % 2]);
                Gpu::draw(&mut encoder, &p, &bg, &acc[b % 2]);
            }
            let last = (self.bricks.len() - 1) % 2;
            let entry = if values {
                "fs_resolve_values"
            } else {
                "fs_resolve"
            };
            let p = pipeline(entry, target.format);
            Gpu::draw(
                &mut encoder,
                &p,
                &bind(&self.bricks[0], &acc[last]),
                &target.view,
            );
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.take_error()
    }

    fn accumulators(&self, gpu: &Gpu, width: u32, height: u32) -> [wgpu::TextureView; 2] {
        let mut slot = self.accumulators.borrow_mut();
        if let Some(a) = slot.as_ref() {
            if a.size == (width, height) {
                return a.views.clone();
            }
        }
        let make = || {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("lumen mpr accumulator"),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Uint,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                    | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            })
        };
        let textures = [make(), make()];
        let views = [
            textures[0].create_view(&Default::default()),
            textures[1].create_view(&Default::default()),
        ];
        *slot = Some(Accumulators {
            size: (width, height),
            _textures: textures,
            views: views.clone(),
        });
        views
    }
}

fn clear(encoder: &mut wgpu::CommandEncoder, view: &wgpu::TextureView) {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some("lumen clear"),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    });
}

fn table_texture(
    gpu: &Gpu,
    format: wgpu::TextureFormat,
    width: u32,
    height: u32,
    data: &[u8],
) -> wgpu::Texture {
    let size = wgpu::Extent3d {
        width,
        height,
        depth_or_array_layers: 1,
    };
    let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("lumen table"),
        size,
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    gpu.queue.write_texture(
        texture.as_image_copy(),
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(width * 16),
            rows_per_image: Some(height),
        },
        size,
    );
    texture
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn bricks_overlap_by_one_voxel_and_cover_the_axis() {
        assert_eq!(split(100, 256), vec![(0, 100)]);
        assert_eq!(split(256, 256), vec![(0, 256)]);
        // 600 voxels, 256 per brick: 0..256, 255..511, 510..600.
        assert_eq!(split(600, 256), vec![(0, 256), (255, 256), (510, 90)]);
        assert_eq!(split(5, 2), vec![(0, 2), (1, 2), (2, 2), (3, 2)]);
    }
}
