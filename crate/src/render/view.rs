//! The 2-D view transform: where a frame lands in a W×H output.
//!
//! Frame coordinates (x, y): pixel (i, j) covers [i, i + 1) × [j, j + 1), its
//! centre at (i + 0.5, j + 0.5). The frame is first made physical — centred and
//! its rows stretched by the pixel aspect (row spacing / column spacing), so a
//! pixel is `1 × aspect` units — then rotated clockwise on screen by
//! `rotation_degrees`, mirrored along the screen axes (flips act on what the
//! user sees, whatever the rotation), scaled by the zoom (output pixels per
//! column width) and put at the output centre plus `pan` (output pixels).

use crate::volume::Mat4;

/// How large the frame is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub enum Zoom {
    /// As large as fits the output whole (after rotation).
    #[default]
    Fit,
    /// Output pixels per frame column width.
    Factor(f64),
}

/// Zoom, pan, rotation, flips and pixel aspect of a 2-D view. The default is the
/// frame fitted to the output with square pixels; [`View::identity`] maps frame
/// pixel (i, j) to output pixel (i, j).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct View {
    pub zoom: Zoom,
    /// Output pixels, right and down.
    pub pan: [f64; 2],
    /// Clockwise on screen; any angle (90° steps are exact).
    pub rotation_degrees: f64,
    pub flip_horizontal: bool,
    pub flip_vertical: bool,
    /// Height / width of a frame pixel: `DisplayAttributes::pixel_aspect()`.
    pub pixel_aspect: f64,
}

impl Default for View {
    fn default() -> Self {
        View {
            zoom: Zoom::Fit,
            pan: [0.0, 0.0],
            rotation_degrees: 0.0,
            flip_horizontal: false,
            flip_vertical: false,
            pixel_aspect: 1.0,
        }
    }
}

impl View {
    /// Frame pixel (i, j) on output pixel (i, j): zoom 1, square pixels, no
    /// rotation, the output as large as the frame.
    pub fn identity() -> View {
        View {
            zoom: Zoom::Factor(1.0),
            ..View::default()
        }
    }

    /// Back to the default (fit, no pan, rotation, flips), keeping the aspect.
    pub fn reset(&mut self) {
        *self = View {
            pixel_aspect: self.pixel_aspect,
            ..View::default()
        };
    }

    /// cos and sin of the rotation, exact for multiples of 90°.
    fn cos_sin(&self) -> (f64, f64) {
        let r = self.rotation_degrees.rem_euclid(360.0);
        if r % 90.0 == 0.0 {
            match (r / 90.0) as u32 {
                0 => (1.0, 0.0),
                1 => (0.0, 1.0),
                2 => (-1.0, 0.0),
                _ => (0.0, -1.0),
            }
        } else {
            let (s, c) = r.to_radians().sin_cos();
            (c, s)
        }
    }

    fn aspect(&self) -> f64 {
        if self.pixel_aspect.is_finite() && self.pixel_aspect > 0.0 {
            self.pixel_aspect
        } else {
            1.0
        }
    }

    /// The zoom factor used for a frame of `columns × rows` in a `width × height`
    /// output.
    pub fn zoom_factor(&self, columns: u32, rows: u32, width: u32, height: u32) -> f64 {
        match self.zoom {
            Zoom::Factor(z) if z.is_finite() && z > 0.0 => z,
            _ => {
                let (c, s) = self.cos_sin();
                let (w, h) = (columns as f64, rows as f64 * self.aspect());
                let bw = c.abs() * w + s.abs() * h;
                let bh = s.abs() * w + c.abs() * h;
                (width as f64 / bw).min(height as f64 / bh)
            }
        }
    }

    /// The affine map frame (x, y) → output (ox, oy).
    pub fn frame_to_output(&self, columns: u32, rows: u32, width: u32, height: u32) -> Mat4 {
        let z = self.zoom_factor(columns, rows, width, height);
        let (c, s) = self.cos_sin();
        let a = self.aspect();
        let fx = if self.flip_horizontal { -1.0 } else { 1.0 };
        let fy = if self.flip_vertical { -1.0 } else { 1.0 };
        // o = F·R·S·(x − columns/2, y − rows/2)·z + centre + pan, S = diag(1, aspect).
        let m = [[fx * c * z, -fx * s * a * z], [fy * s * z, fy * c * a * z]];
        let (cx, cy) = (columns as f64 / 2.0, rows as f64 / 2.0);
        let tx = width as f64 / 2.0 + self.pan[0] - (m[0][0] * cx + m[0][1] * cy);
        let ty = height as f64 / 2.0 + self.pan[1] - (m[1][0] * cx + m[1][1] * cy);
        Mat4 {
            m: [
                [m[0][0], m[0][1], 0.0, tx],
                [m[1][0], m[1][1], 0.0, ty],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        }
    }

    /// The inverse map, output → frame, which the shader evaluates per pixel.
    pub fn output_to_frame(&self, columns: u32, rows: u32, width: u32, height: u32) -> Mat4 {
        self.frame_to_output(columns, rows, width, height)
            .inverse_affine()
            .unwrap_or(Mat4::IDENTITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Vec3;

    fn at(m: &Mat4, x: f64, y: f64) -> [f64; 2] {
        let p = m.transform_point(Vec3::new(x, y, 0.0));
        [p.x, p.y]
    }

    #[test]
    fn identity_is_exact() {
        let m = View::identity().output_to_frame(7, 5, 7, 5);
        assert_eq!(at(&m, 3.5, 2.5), [3.5, 2.5]);
        assert_eq!(at(&m, 0.5, 0.5), [0.5, 0.5]);
    }

    #[test]
    fn rotation_and_flips_move_corners_where_the_user_expects() {
        // 4×2 frame, rotated 90° clockwise into a 2×4 output: the top-left pixel
        // goes to the top-right.
        let v = View {
            rotation_degrees: 90.0,
            ..View::identity()
        };
        let m = v.frame_to_output(4, 2, 2, 4);
        assert_eq!(at(&m, 0.5, 0.5), [1.5, 0.5]);
        // Flipped horizontally after the rotation: back on the left.
        let v = View {
            flip_horizontal: true,
            ..v
        };
        assert_eq!(at(&v.frame_to_output(4, 2, 2, 4), 0.5, 0.5), [0.5, 0.5]);
        // Fit with a pixel aspect of 2: a 4×2 frame is 4×4 units, fits 8×8 at zoom 2.
        let v = View {
            pixel_aspect: 2.0,
            ..View::default()
        };
        assert_eq!(v.zoom_factor(4, 2, 8, 8), 2.0);
        assert_eq!(at(&v.frame_to_output(4, 2, 8, 8), 4.0, 2.0), [8.0, 8.0]);
    }
}
