//! MPR plane math in patient coordinates: planes, the output sampling grid, slab
//! offsets, and the lines the shell draws (reference lines, crosshair, the outline
//! where a plane cuts the volume).
//!
//! # Image coordinates
//! A viewport of W×H output pixels uses continuous image coordinates (u, v): (0, 0)
//! is the top-left corner of the image, (W, H) the bottom-right corner, and pixel
//! (px, py) is sampled at its centre (px + 0.5, py + 0.5), as WebGPU/WebGL fragment
//! coordinates are. The plane's `center` is at (W/2, H/2); `right` points along +u,
//! `down` along +v, and the plane normal is `right × down` (towards the viewer's back:
//! the screen is looked at from the side opposite to the normal).

use super::geometry::VolumeGeometry;
use super::math::{Mat4, Vec3};

/// A plane in patient space with an in-plane frame for display.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MprPlane {
    /// A point of the plane (patient mm), shown at the viewport centre.
    pub center: Vec3,
    /// Unit vector along the image's +u (to the right on screen).
    pub right: Vec3,
    /// Unit vector along the image's +v (down on screen), orthogonal to `right`.
    pub down: Vec3,
}

/// The three standard orientations, in the radiological display convention
/// (patient LPS axes: x to the patient's left, y posterior, z head).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StandardView {
    /// Seen from the feet: patient left on screen right, anterior up.
    Axial,
    /// Seen from the front: patient left on screen right, head up.
    Coronal,
    /// Seen from the patient's left: anterior on screen left, head up.
    Sagittal,
}

/// An axis of the voxel grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum VolumeAxis {
    /// Columns (`i`): a plane of constant `i`.
    I,
    /// Rows (`j`): a plane of constant `j`.
    J,
    /// Slices (`k`): a plane of constant `k`, i.e. an acquired slice.
    K,
}

impl MprPlane {
    /// A standard view through `center`.
    pub fn standard(view: StandardView, center: Vec3) -> MprPlane {
        let (right, down) = match view {
            StandardView::Axial => (Vec3::X, Vec3::Y),
            StandardView::Coronal => (Vec3::X, -Vec3::Z),
            StandardView::Sagittal => (Vec3::Y, -Vec3::Z),
        };
        MprPlane {
            center,
            right,
            down,
        }
    }

    pub fn axial(center: Vec3) -> MprPlane {
        Self::standard(StandardView::Axial, center)
    }

    pub fn coronal(center: Vec3) -> MprPlane {
        Self::standard(StandardView::Coronal, center)
    }

    pub fn sagittal(center: Vec3) -> MprPlane {
        Self::standard(StandardView::Sagittal, center)
    }

    /// A plane from two in-plane axes; `down` is made orthogonal to `right` (Gram–
    /// Schmidt). `None` if they are parallel or zero.
    pub fn from_axes(center: Vec3, right: Vec3, down: Vec3) -> Option<MprPlane> {
        let right = right.normalized()?;
        let down = (down - right * right.dot(down)).normalized()?;
        Some(MprPlane {
            center,
            right,
            down,
        })
    }

    /// A plane from a point and a normal. The in-plane axes follow the standard view
    /// whose normal is closest, so that a slightly oblique plane looks like the view
    /// it came from (head up, patient left on the right); the plane's
    /// [`normal`](Self::normal) is `±normal`, the sign agreeing with that view's.
    pub fn from_normal(center: Vec3, normal: Vec3) -> Option<MprPlane> {
        let n = normal.normalized()?;
        let view = [
            StandardView::Axial,
            StandardView::Coronal,
            StandardView::Sagittal,
        ]
        .into_iter()
        .max_by(|a, b| {
            let na = MprPlane::standard(*a, center).normal().dot(n).abs();
            let nb = MprPlane::standard(*b, center).normal().dot(n).abs();
            na.total_cmp(&nb)
        })?;
        let reference = MprPlane::standard(view, center);
        let n = if n.dot(reference.normal()) < 0.0 {
            -n
        } else {
            n
        };
        let right = (reference.right - n * n.dot(reference.right))
            .normalized()
            .or_else(|| (reference.down.cross(n)).normalized())?;
        let down = n.cross(right);
        Some(MprPlane {
            center,
            right,
            down,
        })
    }

    /// The plane of constant `index` along `axis` of the voxel grid, centred on the
    /// volume. For a tilted series a constant-`i` or constant-`j` plane contains the
    /// (sheared) slice stacking direction; `k` increases upwards on screen.
    pub fn volume_slice(volume: &VolumeGeometry, axis: VolumeAxis, index: f64) -> MprPlane {
        let [nx, ny, nz] = volume.dimensions();
        let mut c = Vec3::new(
            (nx as f64 - 1.0) / 2.0,
            (ny as f64 - 1.0) / 2.0,
            (nz as f64 - 1.0) / 2.0,
        );
        let stack = (volume.normal() + volume.shear())
            .normalized()
            .unwrap_or(volume.normal());
        let (right, down) = match axis {
            VolumeAxis::K => {
                c.z = index;
                (volume.row_direction(), volume.column_direction())
            }
            VolumeAxis::J => {
                c.y = index;
                (volume.row_direction(), -stack)
            }
            VolumeAxis::I => {
                c.x = index;
                (volume.column_direction(), -stack)
            }
        };
        let center = volume.voxel_to_patient(c);
        // Orientation vectors of a valid volume are never parallel to the stack.
        MprPlane::from_axes(center, right, down).unwrap_or(MprPlane {
            center,
            right,
            down,
        })
    }

    /// Unit normal `right × down`.
    pub fn normal(&self) -> Vec3 {
        self.right.cross(self.down)
    }

    /// Signed distance of `p` from the plane along the normal, mm.
    pub fn signed_distance(&self, p: Vec3) -> f64 {
        self.normal().dot(p - self.center)
    }

    /// The same plane moved `mm` along its normal (slab boundaries, scrolling).
    pub fn shifted(&self, mm: f64) -> MprPlane {
        MprPlane {
            center: self.center + self.normal() * mm,
            ..*self
        }
    }

    /// The plane rotated by `angle_radians` about `axis` through its centre (right-
    /// hand rule), for free oblique rotation in the shell.
    pub fn rotated(&self, axis: Vec3, angle_radians: f64) -> MprPlane {
        let Some(k) = axis.normalized() else {
            return *self;
        };
        let (s, c) = angle_radians.sin_cos();
        // Rodrigues' rotation formula.
        let rot = |v: Vec3| v * c + k.cross(v) * s + k * (k.dot(v) * (1.0 - c));
        MprPlane {
            center: self.center,
            right: rot(self.right),
            down: rot(self.down),
        }
    }
}

/// The output sampling grid of one viewport: W×H pixels over a plane.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PlaneGrid {
    pub plane: MprPlane,
    pub width: u32,
    pub height: u32,
    /// mm per output pixel along u and v (usually equal).
    pub spacing: [f64; 2],
}

impl PlaneGrid {
    /// Square output pixels of `mm_per_pixel`.
    pub fn new(plane: MprPlane, width: u32, height: u32, mm_per_pixel: f64) -> PlaneGrid {
        PlaneGrid {
            plane,
            width,
            height,
            spacing: [mm_per_pixel, mm_per_pixel],
        }
    }

    /// The grid a viewport shows of `plane`: `mm_per_pixel` when given (finite,
    /// positive), else the zoom at which the volume's whole box, projected on the
    /// plane and centred on the plane's centre, fits `width × height` (so scrolling
    /// through the volume never changes the zoom); then panned by `pan` output
    /// pixels (the content moves right and down). The viewer and `lumen render
    /// --mpr` both frame with this.
    pub fn framed(
        plane: MprPlane,
        volume: &VolumeGeometry,
        width: u32,
        height: u32,
        mm_per_pixel: Option<f64>,
        pan: [f64; 2],
    ) -> PlaneGrid {
        let mm = match mm_per_pixel.filter(|v| v.is_finite() && *v > 0.0) {
            Some(mm) => mm,
            None => {
                let (mut u, mut v) = (0f64, 0f64);
                for c in volume.corners() {
                    u = u.max((c - plane.center).dot(plane.right).abs());
                    v = v.max((c - plane.center).dot(plane.down).abs());
                }
                (2.0 * u / width.max(1) as f64)
                    .max(2.0 * v / height.max(1) as f64)
                    .max(1e-3)
            }
        };
        let plane = MprPlane {
            center: plane.center - plane.right * (pan[0] * mm) - plane.down * (pan[1] * mm),
            ..plane
        };
        PlaneGrid::new(plane, width, height, mm)
    }

    /// Image coordinates (u, v) → patient; see the module docs.
    pub fn image_to_patient(&self, u: f64, v: f64) -> Vec3 {
        let p = &self.plane;
        p.center
            + p.right * ((u - self.width as f64 / 2.0) * self.spacing[0])
            + p.down * ((v - self.height as f64 / 2.0) * self.spacing[1])
    }

    /// The patient position sampled for output pixel (px, py).
    pub fn pixel_center(&self, px: u32, py: u32) -> Vec3 {
        self.image_to_patient(px as f64 + 0.5, py as f64 + 0.5)
    }

    /// Patient → image coordinates of the point's projection onto the plane.
    pub fn patient_to_image(&self, p: Vec3) -> [f64; 2] {
        let rel = p - self.plane.center;
        [
            rel.dot(self.plane.right) / self.spacing[0] + self.width as f64 / 2.0,
            rel.dot(self.plane.down) / self.spacing[1] + self.height as f64 / 2.0,
        ]
    }

    /// The affine map (u, v, w) → patient, with w the offset along the plane normal
    /// in mm (slab samples).
    pub fn image_to_patient_matrix(&self) -> Mat4 {
        let p = &self.plane;
        let right = p.right * self.spacing[0];
        let down = p.down * self.spacing[1];
        let origin =
            p.center - right * (self.width as f64 / 2.0) - down * (self.height as f64 / 2.0);
        Mat4::from_columns(right, down, p.normal(), origin)
    }

    /// The affine map (u, v, w) → (i, j, d) of `volume` (always exact); the GPU
    /// finishes with `k = volume.k_of_distance(d)` when spacing is irregular.
    pub fn image_to_ijd_matrix(&self, volume: &VolumeGeometry) -> Mat4 {
        volume.patient_to_ijd().mul(&self.image_to_patient_matrix())
    }

    /// The affine map (u, v, w) → voxel (i, j, k); `Some` for uniform spacing only.
    pub fn image_to_voxel_matrix(&self, volume: &VolumeGeometry) -> Option<Mat4> {
        Some(
            volume
                .patient_to_voxel_matrix()?
                .mul(&self.image_to_patient_matrix()),
        )
    }

    /// Patient positions of every output pixel centre, row-major.
    pub fn patient_positions(&self) -> Vec<Vec3> {
        (0..self.height)
            .flat_map(|py| (0..self.width).map(move |px| (px, py)))
            .map(|(px, py)| self.pixel_center(px, py))
            .collect()
    }

    /// Voxel positions (i, j, k) of every output pixel centre, row-major.
    pub fn voxel_positions(&self, volume: &VolumeGeometry) -> Vec<Vec3> {
        self.patient_positions()
            .into_iter()
            .map(|p| volume.patient_to_voxel(p))
            .collect()
    }

    /// The line `line` (assumed to lie in this plane) clipped to the viewport
    /// rectangle [0, W] × [0, H], in image coordinates; `None` if it misses.
    pub fn clip_line(&self, line: &Line3) -> Option<[[f64; 2]; 2]> {
        let a = self.patient_to_image(line.point);
        let b = self.patient_to_image(line.point + line.direction);
        let d = [b[0] - a[0], b[1] - a[1]];
        // Liang–Barsky on an infinite line.
        let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
        for (axis, hi) in [(0, self.width as f64), (1, self.height as f64)] {
            if d[axis].abs() < 1e-12 {
                if a[axis] < 0.0 || a[axis] > hi {
                    return None;
                }
                continue;
            }
            let ta = (0.0 - a[axis]) / d[axis];
            let tb = (hi - a[axis]) / d[axis];
            t0 = t0.max(ta.min(tb));
            t1 = t1.min(ta.max(tb));
        }
        if t0 > t1 || !t0.is_finite() || !t1.is_finite() {
            return None;
        }
        let at = |t: f64| [a[0] + t * d[0], a[1] + t * d[1]];
        Some([at(t0), at(t1)])
    }

    /// Where `other` crosses this viewport (the reference line), in image
    /// coordinates; `None` if the planes are parallel or the line misses.
    pub fn reference_line(&self, other: &MprPlane) -> Option<[[f64; 2]; 2]> {
        self.clip_line(&plane_intersection(&self.plane, other)?)
    }

    /// The outline of the volume on this viewport: the polygon where the plane cuts
    /// the volume's box, in image coordinates (empty if it misses the volume).
    pub fn volume_outline(&self, volume: &VolumeGeometry) -> Vec<[f64; 2]> {
        plane_box_intersection(&self.plane, volume)
            .into_iter()
            .map(|p| self.patient_to_image(p))
            .collect()
    }
}

/// A line in patient space.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Line3 {
    pub point: Vec3,
    /// Unit direction.
    pub direction: Vec3,
}

/// The line where two planes meet; `None` if they are parallel (within 1e-9 rad).
/// The point given is the one closest to `a.center`.
pub fn plane_intersection(a: &MprPlane, b: &MprPlane) -> Option<Line3> {
    let (n1, n2) = (a.normal(), b.normal());
    let u = n1.cross(n2);
    let len2 = u.dot(u);
    if len2 < 1e-18 {
        return None;
    }
    // Planes n1·x = 0 and n2·x = h2 relative to a.center; the point (h2 (u × n1))/|u|²
    // lies on both and is the one nearest to a.center.
    let h2 = n2.dot(b.center - a.center);
    let point = a.center + u.cross(n1) * (h2 / len2);
    Some(Line3 {
        point,
        direction: u / len2.sqrt(),
    })
}

/// The point common to three planes (the crosshair centre); `None` if two are
/// parallel or the three share a line.
pub fn three_plane_point(a: &MprPlane, b: &MprPlane, c: &MprPlane) -> Option<Vec3> {
    let (n1, n2, n3) = (a.normal(), b.normal(), c.normal());
    let det = n1.dot(n2.cross(n3));
    if det.abs() < 1e-12 {
        return None;
    }
    let (h1, h2, h3) = (n1.dot(a.center), n2.dot(b.center), n3.dot(c.center));
    Some((n2.cross(n3) * h1 + n3.cross(n1) * h2 + n1.cross(n2) * h3) / det)
}

/// The polygon where `plane` cuts the volume's box (voxel edges), in patient
/// space, its vertices ordered around the centroid by increasing atan2(v, u) of the
/// plane's (right, down) frame, i.e. clockwise on screen. Empty if the plane misses
/// the volume.
pub fn plane_box_intersection(plane: &MprPlane, volume: &VolumeGeometry) -> Vec<Vec3> {
    let corners = volume.corners();
    let s: Vec<f64> = corners.iter().map(|c| plane.signed_distance(*c)).collect();
    let mut points: Vec<Vec3> = Vec::new();
    for a in 0..8usize {
        for bit in [1usize, 2, 4] {
            let b = a | bit;
            if b == a {
                continue;
            }
            let (sa, sb) = (s[a], s[b]);
            let p = if sa == 0.0 {
                corners[a]
            } else if sb == 0.0 {
                corners[b]
            } else if (sa < 0.0) != (sb < 0.0) {
                corners[a].lerp(corners[b], sa / (sa - sb))
            } else {
                continue;
            };
            if !points.iter().any(|q| q.max_abs_diff(p) < 1e-9) {
                points.push(p);
            }
        }
    }
    if points.len() < 3 {
        return Vec::new();
    }
    let centroid = points.iter().fold(Vec3::ZERO, |acc, p| acc + *p) / points.len() as f64;
    let angle = |p: &Vec3| {
        let r = *p - centroid;
        r.dot(plane.down).atan2(r.dot(plane.right))
    };
    points.sort_by(|a, b| angle(a).total_cmp(&angle(b)));
    points
}

/// How a slab combines its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SlabMode {
    /// Maximum intensity projection.
    Mip,
    /// Minimum intensity projection.
    MinIp,
    /// Mean of the samples inside the volume.
    Average,
}

/// A slab: `thickness_mm` centred on the plane, sampled every `step_mm` at most.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Slab {
    pub thickness_mm: f64,
    pub mode: SlabMode,
    pub step_mm: f64,
}

impl Slab {
    /// A slab with the default step: half the smallest voxel spacing of `volume`,
    /// so that no voxel is stepped over.
    pub fn new(thickness_mm: f64, mode: SlabMode, volume: &VolumeGeometry) -> Slab {
        let [di, dj] = volume.pixel_spacing_ij();
        let dk = volume
            .slice_distances()
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        Slab {
            thickness_mm,
            mode,
            step_mm: di.min(dj).min(dk) / 2.0,
        }
    }

    /// Offsets along the plane normal, mm: the closed interval [−T/2, +T/2] in
    /// `N = ceil(T/step) + 1` equal steps, both ends included; `[0.0]` for T ≤ 0.
    pub fn offsets_mm(&self) -> Vec<f64> {
        let t = self.thickness_mm;
        // Written so that NaN also gives the single sample.
        if t.is_nan() || t <= 0.0 || self.step_mm.is_nan() || self.step_mm <= 0.0 {
            return vec![0.0];
        }
        // The small allowance keeps T/step that is an integer up to rounding from
        // gaining a sample.
        let steps = ((t / self.step_mm) - 1e-9).ceil().max(1.0) as usize;
        (0..=steps)
            .map(|m| -t / 2.0 + t * m as f64 / steps as f64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_offsets_are_symmetric_and_include_both_ends() {
        let slab = |t: f64, step: f64| Slab {
            thickness_mm: t,
            mode: SlabMode::Mip,
            step_mm: step,
        };
        assert_eq!(slab(0.0, 0.5).offsets_mm(), vec![0.0]);
        assert_eq!(slab(2.0, 1.0).offsets_mm(), vec![-1.0, 0.0, 1.0]);
        // 3 mm at most 0.7 mm apart: 5 steps of 0.6 mm.
        let o = slab(3.0, 0.7).offsets_mm();
        assert_eq!(o.len(), 6);
        assert!((o[1] - o[0] - 0.6).abs() < 1e-12 && o[5] == 1.5);
    }

    #[test]
    fn standard_views_follow_the_radiological_convention() {
        assert_eq!(MprPlane::axial(Vec3::ZERO).normal(), Vec3::Z);
        assert_eq!(MprPlane::coronal(Vec3::ZERO).normal(), Vec3::Y);
        assert_eq!(MprPlane::sagittal(Vec3::ZERO).normal(), -Vec3::X);
        let p = MprPlane::from_normal(Vec3::ZERO, Vec3::new(0.1, 0.0, 1.0)).unwrap();
        assert!(p.right.x > 0.99 && p.down.y > 0.99, "{p:?}");
        // A sagittal normal given either way up still shows the head at the top.
        for n in [Vec3::X, -Vec3::X] {
            let p = MprPlane::from_normal(Vec3::ZERO, n).unwrap();
            assert_eq!((p.right, p.down), (Vec3::Y, -Vec3::Z));
        }
        assert!(
            (p.normal()
                .dot(Vec3::new(0.1, 0.0, 1.0).normalized().unwrap())
                - 1.0)
                .abs()
                < 1e-12
        );
    }
}
