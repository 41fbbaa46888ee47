//! The last renderer of the fallback chain (WebGPU → WebGL2 → CPU): the same
//! view transform, taps and interpolation as `shaders/image.wgsl`, computed on
//! the CPU from `pixel`'s arithmetic, for a browser with neither WebGPU nor
//! WebGL2. It keeps the decoded frame in memory (no GPU to hold it).

use super::{ImageSettings, Interpolation, RenderError};
use crate::codec::DecodedFrame;
use crate::pixel::{self, DisplayAttributes, RenderOptions};

/// Renders `frame` with `settings` into `width × height` RGBA bytes, as
/// [`GpuImage::render`](super::GpuImage::render) does on a display target.
pub fn render_rgba(
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
    settings: &ImageSettings,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, RenderError> {
    let info = &frame.info;
    let (columns, rows) = (info.columns as usize, info.rows as usize);
    let m = settings
        .view
        .output_to_frame(info.columns, info.rows, width, height);
    // Per texel: the stored value (grey) or the 8-bit RGB the shader's colour_tap gives.
    enum Taps {
        Grey(Vec<f64>, pixel::GreyPipeline),
        Rgb(Vec<u8>),
    }
    let taps = match &settings.grey {
        Some(p) => Taps::Grey(stored_values(frame)?, p.clone()),
        None => Taps::Rgb(pixel::render_rgb8(frame, attrs, &RenderOptions::default())?),
    };
    let mut out = vec![0u8; width as usize * height as usize * 4];
    for py in 0..height as usize {
        for px in 0..width as usize {
            let o = &mut out[(py * width as usize + px) * 4..][..4];
            o[3] = 255;
            let p = m.transform_point(crate::volume::Vec3::new(
                px as f64 + 0.5,
                py as f64 + 0.5,
                0.0,
            ));
            let (x, y) = (p.x, p.y);
            if !(x >= 0.0 && y >= 0.0 && x < columns as f64 && y < rows as f64) {
                continue;
            }
            let (i0, i1, fx, j0, j1, fy) = match settings.interpolation {
                Interpolation::Nearest => {
                    let (i, j) = (x.floor() as usize, y.floor() as usize);
                    (i, i, 0.0, j, j, 0.0)
                }
                Interpolation::Linear => {
                    let (i0, i1, fx) = axis(x - 0.5, columns);
                    let (j0, j1, fy) = axis(y - 0.5, rows);
                    (i0, i1, fx, j0, j1, fy)
                }
            };
            match &taps {
                Taps::Grey(v, pipeline) => {
                    let at = |i: usize, j: usize| v[j * columns + i];
                    let top = at(i0, j0) + (at(i1, j0) - at(i0, j0)) * fx;
                    let bottom = at(i0, j1) + (at(i1, j1) - at(i0, j1)) * fx;
                    let g = pipeline.grey8(top + (bottom - top) * fy);
                    o[..3].fill(g);
                }
                Taps::Rgb(rgb) => {
                    for c in 0..3 {
                        let at = |i: usize, j: usize| rgb[(j * columns + i) * 3 + c] as f64;
                        let top = at(i0, j0) + (at(i1, j0) - at(i0, j0)) * fx;
                        let bottom = at(i0, j1) + (at(i1, j1) - at(i0, j1)) * fx;
                        o[c] = (top + (bottom - top) * fy + 0.5).floor().clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The shader's `interpolation_axis`: the two texels around `c` (clamped to
/// the edge) and the weight of the second.
fn axis(c: f64, n: usize) -> (usize, usize, f64) {
    if n <= 1 {
        return (0, 0, 0.0);
    }
    let x = c.clamp(0.0, (n - 1) as f64);
    let i0 = x.floor().min((n - 2) as f64);
    (i0 as usize, i0 as usize + 1, x - i0)
}

/// The stored values of a one-sample frame, from its canonical bytes.
pub fn stored_values(frame: &DecodedFrame) -> Result<Vec<f64>, RenderError> {
    let info = &frame.info;
    let signed = info.pixel_representation == 1;
    let n = info.rows as usize * info.columns as usize;
    let bytes = match info.bits_allocated {
        0..=8 => 1,
        9..=16 => 2,
        _ => 4,
    };
    if frame.data.len() < n * bytes {
        return Err(pixel::PixelError::FrameSize {
            expected: n * bytes,
            actual: frame.data.len(),
        }
        .into());
    }
    Ok(frame.data[..n * bytes]
        .chunks_exact(bytes)
        .map(|b| sample_at(b, signed) as f64)
        .collect())
}

/// One little-endian sample of 1, 2 or 4 bytes (the canonical layout, and the
/// GPU's integer texels).
pub(crate) fn sample_at(b: &[u8], signed: bool) -> i64 {
    match (b.len(), signed) {
        (1, false) => b[0] as i64,
        (1, true) => b[0] as i8 as i64,
        (2, false) => u16::from_le_bytes([b[0], b[1]]) as i64,
        (2, true) => i16::from_le_bytes([b[0], b[1]]) as i64,
        (_, false) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
        (_, true) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
    }
}
