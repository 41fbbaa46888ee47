//! Lookup tables on the GPU: every table a render needs (Modality LUT, VOI LUT,
//! the three palette channels) packed into one `R16Uint` 2-D texture, 256 entries
//! per row, each table starting on a row of its own. A 2-D texture, not 1-D: WebGL2
//! has no 1-D textures, and 65536 entries would pass its 2-D side limit.

use super::gpu::Gpu;
use std::cell::RefCell;

pub(crate) const ROW: u32 = 256;

/// The packed tables and where each starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LutAtlas {
    data: Vec<u16>,
    /// First row of each table, in the order given.
    pub rows: Vec<u32>,
}

impl LutAtlas {
    pub fn new(tables: &[&[u16]]) -> LutAtlas {
        let mut data = Vec::new();
        let mut rows = Vec::with_capacity(tables.len());
        for t in tables {
            let start = data.len();
            rows.push((start / ROW as usize) as u32);
            data.extend_from_slice(t);
            data.resize((start + t.len().max(1)).next_multiple_of(ROW as usize), 0);
        }
        if data.is_empty() {
            data.resize(ROW as usize, 0);
        }
        LutAtlas { data, rows }
    }

    fn height(&self) -> u32 {
        (self.data.len() / ROW as usize) as u32
    }
}

/// The last atlas uploaded for one image or volume: W/L changes reuse it, a new
/// VOI LUT choice replaces it.
#[derive(Default)]
pub(crate) struct LutCache {
    current: RefCell<Option<(LutAtlas, wgpu::Texture, wgpu::TextureView)>>,
}

impl LutCache {
    pub fn view(&self, gpu: &Gpu, atlas: &LutAtlas) -> wgpu::TextureView {
        let mut current = self.current.borrow_mut();
        if let Some((a, _, v)) = current.as_ref() {
            if a == atlas {
                return v.clone();
            }
        }
        let size = wgpu::Extent3d {
            width: ROW,
            height: atlas.height(),
            depth_or_array_layers: 1,
        };
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("lumen luts"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::R16Uint,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let bytes: Vec<u8> = atlas.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        gpu.queue.write_texture(
            texture.as_image_copy(),
            &bytes,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(ROW * 2),
                rows_per_image: Some(size.height),
            },
            size,
        );
        let view = texture.create_view(&Default::default());
        *current = Some((atlas.clone(), texture, view.clone()));
        view
    }
}
