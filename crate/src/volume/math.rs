//! Small f64 vector and matrix types for patient-space geometry. Plain arithmetic,
//! no SIMD, no external crate: the volume math must be exact and easy to audit,
//! and it is nowhere near a hot loop that would justify more.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A point or direction in patient space (LPS, millimetres) or in voxel space.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Vec3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl Vec3 {
    pub const ZERO: Vec3 = Vec3::new(0.0, 0.0, 0.0);
    pub const X: Vec3 = Vec3::new(1.0, 0.0, 0.0);
    pub const Y: Vec3 = Vec3::new(0.0, 1.0, 0.0);
    pub const Z: Vec3 = Vec3::new(0.0, 0.0, 1.0);

    pub const fn new(x: f64, y: f64, z: f64) -> Self {
        Vec3 { x, y, z }
    }

    /// From the first three values of a slice; `None` if there are fewer than three
    /// or one is not finite.
    pub fn from_slice(v: &[f64]) -> Option<Self> {
        match v {
            [x, y, z, ..] if x.is_finite() && y.is_finite() && z.is_finite() => {
                Some(Vec3::new(*x, *y, *z))
            }
            _ => None,
        }
    }

    pub fn to_array(self) -> [f64; 3] {
        [self.x, self.y, self.z]
    }

    pub fn dot(self, o: Vec3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    pub fn cross(self, o: Vec3) -> Vec3 {
        Vec3::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    pub fn length(self) -> f64 {
        self.dot(self).sqrt()
    }

    /// The unit vector in this direction; `None` for a (near) zero vector.
    pub fn normalized(self) -> Option<Vec3> {
        let len = self.length();
        (len > 1e-12 && len.is_finite()).then(|| self / len)
    }

    /// Largest absolute component difference.
    pub fn max_abs_diff(self, o: Vec3) -> f64 {
        (self.x - o.x)
            .abs()
            .max((self.y - o.y).abs())
            .max((self.z - o.z).abs())
    }

    pub fn lerp(self, o: Vec3, t: f64) -> Vec3 {
        self + (o - self) * t
    }
}

impl Add for Vec3 {
    type Output = Vec3;
    fn add(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl AddAssign for Vec3 {
    fn add_assign(&mut self, o: Vec3) {
        *self = *self + o;
    }
}
impl Sub for Vec3 {
    type Output = Vec3;
    fn sub(self, o: Vec3) -> Vec3 {
        Vec3::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f64> for Vec3 {
    type Output = Vec3;
    fn mul(self, s: f64) -> Vec3 {
        Vec3::new(self.x * s, self.y * s, self.z * s)
    }
}
impl Div<f64> for Vec3 {
    type Output = Vec3;
    fn div(self, s: f64) -> Vec3 {
        Vec3::new(self.x / s, self.y / s, self.z / s)
    }
}
impl Neg for Vec3 {
    type Output = Vec3;
    fn neg(self) -> Vec3 {
        Vec3::new(-self.x, -self.y, -self.z)
    }
}

/// An affine 4×4 matrix, row-major, acting on column vectors: `p' = M · (x, y, z, 1)`.
/// The last row is always (0, 0, 0, 1) for the matrices this module builds.
///
/// For WGSL (`mat4x4<f32>` is column-major) upload [`Mat4::to_cols_f32`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Mat4 {
    pub m: [[f64; 4]; 4],
}

impl Mat4 {
    pub const IDENTITY: Mat4 = Mat4 {
        m: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
    };

    /// The affine map `p ↦ a·x + b·y + c·z + t` (a, b, c are the matrix columns).
    pub fn from_columns(a: Vec3, b: Vec3, c: Vec3, t: Vec3) -> Mat4 {
        Mat4 {
            m: [
                [a.x, b.x, c.x, t.x],
                [a.y, b.y, c.y, t.y],
                [a.z, b.z, c.z, t.z],
                [0.0, 0.0, 0.0, 1.0],
            ],
        }
    }

    /// Column `c` (0..4) as a vector (the w component dropped).
    pub fn column(&self, c: usize) -> Vec3 {
        Vec3::new(self.m[0][c], self.m[1][c], self.m[2][c])
    }

    pub fn transform_point(&self, p: Vec3) -> Vec3 {
        let m = &self.m;
        Vec3::new(
            m[0][0] * p.x + m[0][1] * p.y + m[0][2] * p.z + m[0][3],
            m[1][0] * p.x + m[1][1] * p.y + m[1][2] * p.z + m[1][3],
            m[2][0] * p.x + m[2][1] * p.y + m[2][2] * p.z + m[2][3],
        )
    }

    /// The linear part only (no translation).
    pub fn transform_vector(&self, v: Vec3) -> Vec3 {
        let m = &self.m;
        Vec3::new(
            m[0][0] * v.x + m[0][1] * v.y + m[0][2] * v.z,
            m[1][0] * v.x + m[1][1] * v.y + m[1][2] * v.z,
            m[2][0] * v.x + m[2][1] * v.y + m[2][2] * v.z,
        )
    }

    /// `self · o` (apply `o` first).
    pub fn mul(&self, o: &Mat4) -> Mat4 {
        let mut r = [[0.0; 4]; 4];
        for (i, row) in r.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = (0..4).map(|k| self.m[i][k] * o.m[k][j]).sum();
            }
        }
        Mat4 { m: r }
    }

    /// The inverse of an affine matrix (last row 0 0 0 1); `None` if singular.
    pub fn inverse_affine(&self) -> Option<Mat4> {
        let a = self.column(0);
        let b = self.column(1);
        let c = self.column(2);
        let t = self.column(3);
        let det = a.dot(b.cross(c));
        if !det.is_finite() || det.abs() < 1e-300 {
            return None;
        }
        // Rows of the inverse of [a b c] are the reciprocal basis.
        let r0 = b.cross(c) / det;
        let r1 = c.cross(a) / det;
        let r2 = a.cross(b) / det;
        Some(Mat4 {
            m: [
                [r0.x, r0.y, r0.z, -r0.dot(t)],
                [r1.x, r1.y, r1.z, -r1.dot(t)],
                [r2.x, r2.y, r2.z, -r2.dot(t)],
                [0.0, 0.0, 0.0, 1.0],
            ],
        })
    }

    /// Column-major f32, the layout of WGSL `mat4x4<f32>` in a uniform buffer.
    pub fn to_cols_f32(&self) -> [f32; 16] {
        let mut out = [0.0f32; 16];
        for c in 0..4 {
            for r in 0..4 {
                out[c * 4 + r] = self.m[r][c] as f32;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_inverse_undoes_a_sheared_map() {
        let m = Mat4::from_columns(
            Vec3::new(0.5, 0.1, 0.0),
            Vec3::new(0.0, 0.7, 0.2),
            Vec3::new(0.0, 0.3, 1.5),
            Vec3::new(-100.0, 20.0, 7.0),
        );
        let inv = m.inverse_affine().unwrap();
        let p = Vec3::new(3.0, -4.0, 12.5);
        assert!(inv.transform_point(m.transform_point(p)).max_abs_diff(p) < 1e-12);
        let id = m.mul(&inv);
        for r in 0..4 {
            for c in 0..4 {
                assert!((id.m[r][c] - Mat4::IDENTITY.m[r][c]).abs() < 1e-12);
            }
        }
        let singular = Mat4::from_columns(Vec3::X, Vec3::X, Vec3::Z, Vec3::ZERO);
        assert!(singular.inverse_affine().is_none());
    }

    #[test]
    fn wgsl_layout_is_column_major() {
        let m = Mat4::from_columns(Vec3::X, Vec3::Y, Vec3::Z, Vec3::new(1.0, 2.0, 3.0));
        assert_eq!(&m.to_cols_f32()[12..16], &[1.0, 2.0, 3.0, 1.0]);
    }
}
