//! Building a volume from slice geometries, and the exact voxel ↔ patient maps.
//!
//! # The model
//! Every volume is described by one affine map and one monotone 1-D function:
//!
//! - `A`: (i, j, d) → patient, `p = a + i·Δc·r + j·Δr·c + d·(n + b)`, where `r`, `c` are
//!   the unit row/column directions of Image Orientation (Patient), `n = r × c`
//!   (unit), `Δc`/`Δr` the spacing between columns/rows, `d` the signed distance along
//!   `n` (`d = n·p`), `b` the in-plane shear per mm of `d` (zero unless the gantry was
//!   tilted) and `a` the in-plane origin. `A` is invertible, so (i, j, d) is exact in
//!   both directions.
//! - `d(k)`: slice index → distance. Uniform spacing: `d0 + k·Δk`. Irregular spacing
//!   (a missing slice included): piecewise linear through the true slice distances,
//!   extended linearly past both ends with the end gaps. So trilinear interpolation
//!   in voxel space is linear in millimetres between the two true neighbouring slices.
//!
//! Slices are ordered by ascending `d`, so `k` grows along `n` and (r, c, n) is
//! right-handed: the voxel → patient matrix has a positive determinant.

use super::math::{Mat4, Vec3};
use super::slice::SliceGeometry;
use thiserror::Error;

/// Two unit orientation vectors further apart than this (largest component
/// difference, ≈ 0.06°) are different orientations. IOP is written with a handful of
/// decimals; real series agree far better than this.
const ORIENTATION_TOLERANCE: f64 = 1e-3;
/// Slices closer than this along the normal occupy the same position.
const DUPLICATE_TOLERANCE_MM: f64 = 0.01;
/// A gap larger than this multiple of the median gap means slices are missing.
const MISSING_GAP_FACTOR: f64 = 1.5;
/// Gaps that all agree with the median within this (absolute + relative) are one
/// uniform spacing. Image Position is rounded in DS text; this is far above that
/// rounding and far below any real change of spacing.
const UNIFORM_TOLERANCE_MM: f64 = 0.005;
const UNIFORM_TOLERANCE_REL: f64 = 1e-3;
/// A shift of the slice origins within the plane smaller than this over the whole
/// stack is rounding, not gantry tilt.
const TILT_TOLERANCE_MM: f64 = 0.01;
/// Slice origins may leave the straight line fitted through them by at most this
/// fraction of the smallest pixel spacing; further and the series is not one rigid
/// volume (a table shift, two tilts concatenated).
const LINE_TOLERANCE_PIXELS: f64 = 0.1;

/// Why a series cannot be one volume. The message is meant for the viewer's user;
/// the series stays viewable as a stack of images.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NotAVolume {
    #[error("the series has no image slices")]
    NoSlices,
    #[error("the series has a single slice ({instance}); a volume needs at least two")]
    SingleSlice { instance: String },
    #[error("{instance} has no usable {attribute}")]
    MissingGeometry {
        instance: String,
        attribute: &'static str,
    },
    #[error("slice geometry could not be read: {0}")]
    Unreadable(String),
    #[error(
        "Image Orientation (Patient) of {instance} is not two orthogonal unit vectors: {detail}"
    )]
    InvalidOrientation { instance: String, detail: String },
    #[error("mixed orientations: {other} is turned {angle_degrees:.2}° from {first}")]
    MixedOrientation {
        first: String,
        other: String,
        angle_degrees: f64,
    },
    #[error(
        "mixed image sizes: {first} is {first_size:?} (rows, columns), {other} is {other_size:?}"
    )]
    MixedSize {
        first: String,
        first_size: (u32, u32),
        other: String,
        other_size: (u32, u32),
    },
    #[error(
        "mixed Pixel Spacing: {first} has {first_spacing:?} mm, {other} has {other_spacing:?} mm"
    )]
    MixedPixelSpacing {
        first: String,
        first_spacing: [f64; 2],
        other: String,
        other_spacing: [f64; 2],
    },
    #[error("mixed frames of reference: {first} is in {first_uid:?}, {other} in {other_uid:?}")]
    MixedFrameOfReference {
        first: String,
        first_uid: Option<String>,
        other: String,
        other_uid: Option<String>,
    },
    #[error("{count} slices share one position ({distance_mm:.3} mm along the normal: {first} and {other}){hint}")]
    DuplicatePosition {
        first: String,
        other: String,
        distance_mm: f64,
        count: usize,
        /// Why there may be duplicates (several acquisitions, time points or stacks),
        /// as words starting with "; ", or empty.
        hint: String,
    },
    #[error("slice origins do not lie on one line: {instance} is {deviation_mm:.3} mm off it (more than {tolerance_mm:.3} mm)")]
    PositionsNotOnALine {
        instance: String,
        deviation_mm: f64,
        tolerance_mm: f64,
    },
}

/// How the slices are spaced along the normal.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum SliceSpacing {
    /// One spacing; `d(k) = d0 + k·spacing_mm`.
    Uniform { spacing_mm: f64 },
    /// Irregular (missing slices included): the true per-slice distances are kept
    /// and `d(k)` interpolates between them.
    Irregular {
        median_mm: f64,
        min_mm: f64,
        max_mm: f64,
    },
}

/// A gap where slices seem to be missing: between slice `after` and `after + 1`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MissingSlices {
    pub after: usize,
    pub gap_mm: f64,
    pub median_spacing_mm: f64,
    /// `round(gap / median) − 1`, at least 1.
    pub estimated_missing: usize,
}

/// The geometry of a volume built from a series. See the module docs for the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VolumeGeometry {
    columns: u32,
    rows: u32,
    slices: Vec<SliceGeometry>,
    order: Vec<usize>,
    row_direction: Vec3,
    column_direction: Vec3,
    normal: Vec3,
    column_spacing: f64,
    row_spacing: f64,
    distances: Vec<f64>,
    spacing: SliceSpacing,
    shear: Vec3,
    missing: Vec<MissingSlices>,
    rescale_varies: bool,
    max_position_error_mm: f64,
    ijd_to_patient: Mat4,
    patient_to_ijd: Mat4,
}

impl VolumeGeometry {
    /// Orders `slices` along the normal and checks that they form one volume.
    /// Irregular spacing, missing slices, gantry tilt and per-slice rescale are
    /// handled and reported ([`spacing`](Self::spacing),
    /// [`missing_slices`](Self::missing_slices), [`gantry_tilt_degrees`](Self::gantry_tilt_degrees),
    /// [`rescale_varies`](Self::rescale_varies), [`notes`](Self::notes)); everything
    /// else that would make a wrong picture is refused with the reason.
    pub fn build(slices: &[SliceGeometry]) -> Result<VolumeGeometry, NotAVolume> {
        let first = slices.first().ok_or(NotAVolume::NoSlices)?;
        if slices.len() < 2 {
            return Err(NotAVolume::SingleSlice {
                instance: first.label(),
            });
        }
        let (row_direction, column_direction, normal) = unit_orientation(first)?;
        for s in &slices[1..] {
            let (r, c, _) = unit_orientation(s)?;
            let off = r
                .max_abs_diff(row_direction)
                .max(c.max_abs_diff(column_direction));
            if off > ORIENTATION_TOLERANCE {
                let angle = angle_degrees(r, row_direction).max(angle_degrees(c, column_direction));
                return Err(NotAVolume::MixedOrientation {
                    first: first.label(),
                    other: s.label(),
                    angle_degrees: angle,
                });
            }
            if (s.rows, s.columns) != (first.rows, first.columns) {
                return Err(NotAVolume::MixedSize {
                    first: first.label(),
                    first_size: (first.rows, first.columns),
                    other: s.label(),
                    other_size: (s.rows, s.columns),
                });
            }
            let spacing_differs = (0..2).any(|a| {
                (s.pixel_spacing[a] - first.pixel_spacing[a]).abs()
                    > 1e-4 * first.pixel_spacing[a].max(1e-3)
            });
            if spacing_differs {
                return Err(NotAVolume::MixedPixelSpacing {
                    first: first.label(),
                    first_spacing: first.pixel_spacing,
                    other: s.label(),
                    other_spacing: s.pixel_spacing,
                });
            }
            if s.frame_of_reference_uid != first.frame_of_reference_uid {
                return Err(NotAVolume::MixedFrameOfReference {
                    first: first.label(),
                    first_uid: first.frame_of_reference_uid.clone(),
                    other: s.label(),
                    other_uid: s.frame_of_reference_uid.clone(),
                });
            }
        }

        // Order by distance along the normal; ties keep input order so that the
        // duplicate report is deterministic.
        let raw: Vec<f64> = slices
            .iter()
            .map(|s| normal.dot(s.image_position))
            .collect();
        let mut order: Vec<usize> = (0..slices.len()).collect();
        order.sort_by(|&x, &y| raw[x].total_cmp(&raw[y]));
        let distances: Vec<f64> = order.iter().map(|&i| raw[i]).collect();
        let sorted: Vec<SliceGeometry> = order.iter().map(|&i| slices[i].clone()).collect();

        if let Some(k) = (0..distances.len() - 1)
            .find(|&k| distances[k + 1] - distances[k] < DUPLICATE_TOLERANCE_MM)
        {
            let at = distances[k];
            let same: Vec<&SliceGeometry> = sorted
                .iter()
                .zip(&distances)
                .filter(|(_, d)| (**d - at).abs() < DUPLICATE_TOLERANCE_MM)
                .map(|(s, _)| s)
                .collect();
            return Err(NotAVolume::DuplicatePosition {
                first: sorted[k].label(),
                other: sorted[k + 1].label(),
                distance_mm: at,
                count: same.len(),
                hint: duplicate_hint(&sorted),
            });
        }

        let gaps: Vec<f64> = distances.windows(2).map(|w| w[1] - w[0]).collect();
        let median = median(&gaps);
        let missing: Vec<MissingSlices> = gaps
            .iter()
            .enumerate()
            .filter(|(_, g)| **g > MISSING_GAP_FACTOR * median)
            .map(|(k, g)| MissingSlices {
                after: k,
                gap_mm: *g,
                median_spacing_mm: median,
                estimated_missing: ((g / median).round() as usize).saturating_sub(1).max(1),
            })
            .collect();
        let tolerance = UNIFORM_TOLERANCE_MM + UNIFORM_TOLERANCE_REL * median;
        let uniform = gaps.iter().all(|g| (g - median).abs() <= tolerance);
        let n = distances.len();
        let spacing = if uniform {
            SliceSpacing::Uniform {
                spacing_mm: (distances[n - 1] - distances[0]) / (n - 1) as f64,
            }
        } else {
            SliceSpacing::Irregular {
                median_mm: median,
                min_mm: gaps.iter().copied().fold(f64::INFINITY, f64::min),
                max_mm: gaps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            }
        };

        // In-plane offset of each origin, fitted as a + b·d (least squares, centred
        // for conditioning). b ≠ 0 is gantry tilt: a sheared volume, kept exact.
        let offsets: Vec<Vec3> = sorted
            .iter()
            .zip(&distances)
            .map(|(s, d)| s.image_position - normal * *d)
            .collect();
        let mean_d = distances.iter().sum::<f64>() / n as f64;
        let mean_e = offsets.iter().fold(Vec3::ZERO, |acc, e| acc + *e) / n as f64;
        let var: f64 = distances.iter().map(|d| (d - mean_d).powi(2)).sum();
        let cov = distances
            .iter()
            .zip(&offsets)
            .fold(Vec3::ZERO, |acc, (d, e)| acc + (*e - mean_e) * (d - mean_d));
        let mut shear = cov / var;
        shear = shear - normal * normal.dot(shear);
        let extent = distances[n - 1] - distances[0];
        if shear.length() * extent < TILT_TOLERANCE_MM {
            shear = Vec3::ZERO;
        }
        let origin = mean_e - shear * mean_d;
        let column_spacing = first.pixel_spacing[1];
        let row_spacing = first.pixel_spacing[0];
        let line_tolerance = LINE_TOLERANCE_PIXELS * column_spacing.min(row_spacing);
        // Name the slice furthest off the line: a least-squares fit spreads one
        // outlier's error over its neighbours.
        let (worst, deviation) = offsets
            .iter()
            .zip(&distances)
            .map(|(e, d)| (*e - (origin + shear * *d)).length())
            .enumerate()
            .fold(
                (0, 0.0),
                |best, (k, dev)| if dev > best.1 { (k, dev) } else { best },
            );
        if deviation > line_tolerance {
            return Err(NotAVolume::PositionsNotOnALine {
                instance: sorted[worst].label(),
                deviation_mm: deviation,
                tolerance_mm: line_tolerance,
            });
        }

        let ijd_to_patient = Mat4::from_columns(
            row_direction * column_spacing,
            column_direction * row_spacing,
            normal + shear,
            origin,
        );
        let patient_to_ijd =
            ijd_to_patient
                .inverse_affine()
                .ok_or_else(|| NotAVolume::InvalidOrientation {
                    instance: first.label(),
                    detail: "the voxel axes are degenerate".into(),
                })?;
        let rescale_varies = sorted.iter().any(|s| {
            s.rescale_slope != first.rescale_slope || s.rescale_intercept != first.rescale_intercept
        });
        let mut volume = VolumeGeometry {
            columns: first.columns,
            rows: first.rows,
            slices: sorted,
            order,
            row_direction,
            column_direction,
            normal,
            column_spacing,
            row_spacing,
            distances,
            spacing,
            shear,
            missing,
            rescale_varies,
            max_position_error_mm: 0.0,
            ijd_to_patient,
            patient_to_ijd,
        };
        volume.max_position_error_mm = (0..n)
            .map(|k| {
                (volume.voxel_to_patient(Vec3::new(0.0, 0.0, k as f64))
                    - volume.slices[k].image_position)
                    .length()
            })
            .fold(0.0, f64::max);
        Ok(volume)
    }

    /// (columns, rows, slices): the voxel grid size along (i, j, k).
    pub fn dimensions(&self) -> [usize; 3] {
        [self.columns as usize, self.rows as usize, self.slices.len()]
    }

    /// The slices in volume order (slice `k` at index `k`).
    pub fn slices(&self) -> &[SliceGeometry] {
        &self.slices
    }

    /// `order()[k]` is the index, in the slice list given to [`build`](Self::build),
    /// of volume slice `k`: put that slice's pixels at depth `k`.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Unit direction of increasing `i` (column index), patient space.
    pub fn row_direction(&self) -> Vec3 {
        self.row_direction
    }

    /// Unit direction of increasing `j` (row index).
    pub fn column_direction(&self) -> Vec3 {
        self.column_direction
    }

    /// Unit normal `row × column`; `k` increases along it.
    pub fn normal(&self) -> Vec3 {
        self.normal
    }

    /// Patient-space step of one `k`; for a tilted series it is not along the normal.
    /// For irregular spacing, the step at the median spacing.
    pub fn slice_step(&self) -> Vec3 {
        let mm = match self.spacing {
            SliceSpacing::Uniform { spacing_mm } => spacing_mm,
            SliceSpacing::Irregular { median_mm, .. } => median_mm,
        };
        (self.normal + self.shear) * mm
    }

    /// mm between (column, row) centres: `[Δi, Δj]`.
    pub fn pixel_spacing_ij(&self) -> [f64; 2] {
        [self.column_spacing, self.row_spacing]
    }

    /// True distance of each slice along the normal (`n · Image Position`), ascending.
    pub fn slice_distances(&self) -> &[f64] {
        &self.distances
    }

    pub fn spacing(&self) -> SliceSpacing {
        self.spacing
    }

    pub fn is_uniform(&self) -> bool {
        matches!(self.spacing, SliceSpacing::Uniform { .. })
    }

    pub fn missing_slices(&self) -> &[MissingSlices] {
        &self.missing
    }

    /// In-plane shift of the slice origin per mm along the normal (zero unless tilted).
    pub fn shear(&self) -> Vec3 {
        self.shear
    }

    /// Angle between the slice stacking direction and the normal; 0 when not tilted.
    pub fn gantry_tilt_degrees(&self) -> f64 {
        self.shear.length().atan().to_degrees()
    }

    /// Whether Rescale Slope/Intercept differ between slices: the renderer must then
    /// rescale per slice before interpolating ([`rescale`](Self::rescale)).
    pub fn rescale_varies(&self) -> bool {
        self.rescale_varies
    }

    /// `(slope, intercept)` of slice `k`.
    pub fn rescale(&self, k: usize) -> (f64, f64) {
        let s = &self.slices[k];
        (s.rescale_slope, s.rescale_intercept)
    }

    /// Largest distance between a slice's Image Position and where the model puts
    /// it (rounding of DS values; bounded by the uniform and line tolerances).
    pub fn max_position_error_mm(&self) -> f64 {
        self.max_position_error_mm
    }

    pub fn frame_of_reference_uid(&self) -> Option<&str> {
        self.slices[0].frame_of_reference_uid.as_deref()
    }

    /// What the viewer may want to tell the user about this volume, in words.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let SliceSpacing::Irregular {
            median_mm,
            min_mm,
            max_mm,
        } = self.spacing
        {
            notes.push(format!(
                "irregular slice spacing ({min_mm:.3}–{max_mm:.3} mm, median {median_mm:.3} mm); true positions kept"
            ));
        }
        for m in &self.missing {
            notes.push(format!(
                "about {} slice(s) missing between slices {} and {} (gap {:.3} mm, median spacing {:.3} mm)",
                m.estimated_missing,
                m.after,
                m.after + 1,
                m.gap_mm,
                m.median_spacing_mm
            ));
        }
        if self.shear != Vec3::ZERO {
            notes.push(format!(
                "gantry tilt {:.2}°: geometry is sheared, shown in true patient coordinates",
                self.gantry_tilt_degrees()
            ));
        }
        if self.rescale_varies {
            notes.push("Rescale Slope/Intercept differ between slices".into());
        }
        notes
    }

    /// The exact affine map (i, j, d) → patient; see the module docs.
    pub fn ijd_to_patient(&self) -> Mat4 {
        self.ijd_to_patient
    }

    /// Its inverse, patient → (i, j, d).
    pub fn patient_to_ijd(&self) -> Mat4 {
        self.patient_to_ijd
    }

    /// The voxel → patient matrix, shear included: `Some` only for uniform spacing
    /// (irregular spacing has no single matrix; use [`voxel_to_patient`](Self::voxel_to_patient)).
    pub fn voxel_to_patient_matrix(&self) -> Option<Mat4> {
        let SliceSpacing::Uniform { spacing_mm } = self.spacing else {
            return None;
        };
        let k_to_d = Mat4 {
            m: [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, spacing_mm, self.distances[0]],
                [0.0, 0.0, 0.0, 1.0],
            ],
        };
        Some(self.ijd_to_patient.mul(&k_to_d))
    }

    /// The patient → voxel matrix (uniform spacing only).
    pub fn patient_to_voxel_matrix(&self) -> Option<Mat4> {
        self.voxel_to_patient_matrix()?.inverse_affine()
    }

    /// Distance along the normal of (fractional) slice index `k`.
    pub fn distance_of_k(&self, k: f64) -> f64 {
        let d = &self.distances;
        match self.spacing {
            SliceSpacing::Uniform { spacing_mm } => d[0] + k * spacing_mm,
            SliceSpacing::Irregular { .. } => {
                let last = d.len() - 2;
                let i0 = if k <= 0.0 {
                    0
                } else {
                    (k.floor() as usize).min(last)
                };
                d[i0] + (k - i0 as f64) * (d[i0 + 1] - d[i0])
            }
        }
    }

    /// Fractional slice index at distance `d` along the normal (inverse of
    /// [`distance_of_k`](Self::distance_of_k)).
    pub fn k_of_distance(&self, dist: f64) -> f64 {
        let d = &self.distances;
        match self.spacing {
            SliceSpacing::Uniform { spacing_mm } => (dist - d[0]) / spacing_mm,
            SliceSpacing::Irregular { .. } => {
                let last = d.len() - 2;
                let i0 = d
                    .partition_point(|x| *x <= dist)
                    .saturating_sub(1)
                    .min(last);
                i0 as f64 + (dist - d[i0]) / (d[i0 + 1] - d[i0])
            }
        }
    }

    /// Voxel (i, j, k) → patient (x, y, z) mm. `i` counts columns, `j` rows, `k`
    /// slices in volume order; integer values are voxel centres.
    pub fn voxel_to_patient(&self, v: Vec3) -> Vec3 {
        self.ijd_to_patient
            .transform_point(Vec3::new(v.x, v.y, self.distance_of_k(v.z)))
    }

    /// Patient (x, y, z) mm → voxel (i, j, k), fractional.
    pub fn patient_to_voxel(&self, p: Vec3) -> Vec3 {
        let ijd = self.patient_to_ijd.transform_point(p);
        Vec3::new(ijd.x, ijd.y, self.k_of_distance(ijd.z))
    }

    /// Whether a voxel position falls inside the volume: within half a voxel of the
    /// outermost voxel centres, `[-0.5, n - 0.5)` on each axis.
    pub fn contains_voxel(&self, v: Vec3) -> bool {
        let [nx, ny, nz] = self.dimensions();
        (-0.5..nx as f64 - 0.5).contains(&v.x)
            && (-0.5..ny as f64 - 0.5).contains(&v.y)
            && (-0.5..nz as f64 - 0.5).contains(&v.z)
    }

    /// Patient position of the volume's centre voxel position `((n-1)/2, …)`.
    pub fn center(&self) -> Vec3 {
        let [nx, ny, nz] = self.dimensions();
        self.voxel_to_patient(Vec3::new(
            (nx as f64 - 1.0) / 2.0,
            (ny as f64 - 1.0) / 2.0,
            (nz as f64 - 1.0) / 2.0,
        ))
    }

    /// The 8 corners of the volume's box (voxel edges, half a voxel outside the
    /// outermost centres) in patient space. Corner `c` has `i` at the high end if bit 0
    /// of `c` is set, `j` if bit 1, `k` if bit 2. The box is a parallelepiped (sheared
    /// when tilted) even for irregular spacing, because (i, j, d) → patient is affine.
    pub fn corners(&self) -> [Vec3; 8] {
        let [nx, ny, nz] = self.dimensions();
        let d_lo = self.distance_of_k(-0.5);
        let d_hi = self.distance_of_k(nz as f64 - 0.5);
        std::array::from_fn(|c| {
            let i = if c & 1 != 0 { nx as f64 - 0.5 } else { -0.5 };
            let j = if c & 2 != 0 { ny as f64 - 0.5 } else { -0.5 };
            let d = if c & 4 != 0 { d_hi } else { d_lo };
            self.ijd_to_patient.transform_point(Vec3::new(i, j, d))
        })
    }

    /// Normalised 3-D texture coordinate of a voxel position, for a texture of
    /// `dimensions()` texels with texel (i, j, k) at `((i + 0.5)/nx, (j + 0.5)/ny,
    /// (k + 0.5)/nz)` (WebGPU/GL texel centres; x = column, y = row, z = slice).
    pub fn voxel_to_texture(&self, v: Vec3) -> Vec3 {
        let [nx, ny, nz] = self.dimensions();
        Vec3::new(
            (v.x + 0.5) / nx as f64,
            (v.y + 0.5) / ny as f64,
            (v.z + 0.5) / nz as f64,
        )
    }
}

fn unit_orientation(s: &SliceGeometry) -> Result<(Vec3, Vec3, Vec3), NotAVolume> {
    let bad = |detail: String| NotAVolume::InvalidOrientation {
        instance: s.label(),
        detail,
    };
    let (rl, cl) = (s.row_direction.length(), s.column_direction.length());
    if (rl - 1.0).abs() > 0.01 || (cl - 1.0).abs() > 0.01 {
        return Err(bad(format!("lengths {rl:.4} and {cl:.4}")));
    }
    let r = s.row_direction / rl;
    let c = s.column_direction / cl;
    let cos = r.dot(c);
    if cos.abs() > 0.01 {
        return Err(bad(format!(
            "{:.2}° apart",
            cos.clamp(-1.0, 1.0).acos().to_degrees()
        )));
    }
    let n = r
        .cross(c)
        .normalized()
        .ok_or_else(|| bad("parallel".into()))?;
    Ok((r, c, n))
}

fn angle_degrees(a: Vec3, b: Vec3) -> f64 {
    // atan2 of |a×b| and a·b stays accurate for tiny angles, where acos does not.
    a.cross(b).length().atan2(a.dot(b)).to_degrees()
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Words on why a series may hold the same position twice.
fn duplicate_hint(slices: &[SliceGeometry]) -> String {
    fn distinct<T: PartialEq + Clone>(values: impl Iterator<Item = T>) -> Vec<T> {
        let mut out: Vec<T> = Vec::new();
        for v in values {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
    let acquisitions = distinct(slices.iter().filter_map(|s| s.acquisition_number));
    let times = distinct(slices.iter().filter_map(|s| s.temporal_position_index));
    let stacks = distinct(slices.iter().filter_map(|s| s.stack_id.clone()));
    let mut hints = Vec::new();
    if acquisitions.len() > 1 {
        hints.push(format!(
            "{} acquisitions (Acquisition Number {:?})",
            acquisitions.len(),
            acquisitions
        ));
    }
    if times.len() > 1 {
        hints.push(format!(
            "{} time points (Temporal Position Index)",
            times.len()
        ));
    }
    if stacks.len() > 1 {
        hints.push(format!("{} stacks (Stack ID {:?})", stacks.len(), stacks));
    }
    if hints.is_empty() {
        String::new()
    } else {
        format!("; the series holds {}: split it by them", hints.join(", "))
    }
}
