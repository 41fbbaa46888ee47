//! Volume geometry and MPR: ordering, spacing, tilt, transforms, plane math and the
//! CPU reference resampler, on the real head CT of the corpus (InVesalius, 108
//! slices of 256×256) and on synthetic volumes whose geometry and values are known
//! analytically.
//!
//! Tolerances, and why:
//! - Nearest-neighbour reslices of the real CT along its own axes: exact (0), because
//!   every output pixel centre is a voxel centre and nearest picks that voxel.
//! - Trilinear samples of a field that is linear in patient coordinates
//!   (f = x + 2y + 3z): 1e-6 on values of a few hundred. Trilinear interpolation
//!   reproduces a function that is affine within each voxel cell exactly, and f is
//!   affine in (i, j, k) within a cell even when sheared or irregularly spaced, so
//!   the only error is f64 rounding (~1e-12); voxel values are stored as f64.
//! - Sphere in a tilted series: radius within 1 % (the brief's bound). The field is
//!   the distance to the centre, whose trilinear error is about h²/(8r) ≈ 0.01 mm at
//!   r = 20 mm with 1 mm voxels, 0.05 %; ignoring a 15° tilt would move the
//!   surface by up to r·tan 15° ≈ 5 mm and fail by far.
//! - Geometry round trips (voxel → patient → voxel): 1e-9 voxel.

mod common;

use lumen::volume::*;
use lumen::{DecodeLimits, DicomFile};
use std::path::PathBuf;

// ---------------------------------------------------------------- helpers

fn head_ct_files() -> Vec<PathBuf> {
    let dir = common::corpus_dir().join("files/invesalius-ct/series");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "no head CT at {} ({e}): run `bash scripts/setup-corpus.sh`",
                dir.display()
            )
        })
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 108, "the InVesalius head CT has 108 slices");
    files
}

/// A deterministic shuffle (xorshift), so a failure reproduces.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

struct HeadCt {
    volume: VolumeGeometry,
    voxels: VoxelVolume<i16>,
}

fn load_head_ct(seed: u64) -> HeadCt {
    let mut files = head_ct_files();
    shuffle(&mut files, seed);
    let mut slices = Vec::new();
    let mut frames = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).expect("read slice");
        let mut geometry = SliceGeometry::from_part10(&bytes).expect("slice geometry");
        assert_eq!(geometry.len(), 1);
        slices.push(geometry.remove(0));
        frames.push(
            DicomFile::from_bytes(&bytes)
                .and_then(|f| f.decode_frame(0, &DecodeLimits::default()))
                .expect("decode slice"),
        );
    }
    let volume = VolumeGeometry::build(&slices).expect("the head CT is a volume");
    let frame_refs: Vec<_> = frames.iter().collect();
    let voxels = match VoxelData::from_decoded_frames(&volume, &frame_refs).expect("stack") {
        VoxelData::I16(v) => v,
        other => panic!(
            "the head CT is signed 16-bit, got {:?}",
            std::mem::discriminant(&other)
        ),
    };
    HeadCt { volume, voxels }
}

/// One synthetic slice.
fn slice(
    uid: &str,
    position: Vec3,
    row: Vec3,
    col: Vec3,
    spacing: [f64; 2],
    size: (u32, u32),
) -> SliceGeometry {
    SliceGeometry {
        sop_instance_uid: uid.to_string(),
        frame_number: None,
        image_position: position,
        row_direction: row,
        column_direction: col,
        pixel_spacing: spacing,
        slice_thickness: None,
        spacing_between_slices: None,
        rows: size.0,
        columns: size.1,
        rescale_slope: 1.0,
        rescale_intercept: 0.0,
        frame_of_reference_uid: Some("1.2.3.4".into()),
        acquisition_number: Some(1),
        stack_id: None,
        temporal_position_index: None,
    }
}

/// A synthetic series: slices in true (ascending) order plus the voxel values of a
/// field `f` at each voxel centre, computed with the DICOM formula (PS3.3
/// C.7.6.2.1.1) from the slices themselves, independently of the module.
struct Synthetic {
    slices: Vec<SliceGeometry>,
    dims: [usize; 3],
}

impl Synthetic {
    fn new(
        positions: &[Vec3],
        row: Vec3,
        col: Vec3,
        spacing: [f64; 2],
        size: (u32, u32),
    ) -> Synthetic {
        let slices = positions
            .iter()
            .enumerate()
            .map(|(k, p)| slice(&format!("1.2.826.0.1.{k}"), *p, row, col, spacing, size))
            .collect();
        Synthetic {
            slices,
            dims: [size.1 as usize, size.0 as usize, positions.len()],
        }
    }

    fn patient(&self, i: usize, j: usize, k: usize) -> Vec3 {
        let s = &self.slices[k];
        s.image_position
            + s.row_direction * (i as f64 * s.pixel_spacing[1])
            + s.column_direction * (j as f64 * s.pixel_spacing[0])
    }

    fn voxels(&self, f: impl Fn(Vec3) -> f64) -> VoxelVolume<f64> {
        let [nx, ny, nz] = self.dims;
        let mut data = Vec::with_capacity(nx * ny * nz);
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    data.push(f(self.patient(i, j, k)));
                }
            }
        }
        VoxelVolume::new(self.dims, data).expect("dims")
    }

    /// Builds from the slices shuffled, and checks the order came back.
    fn build(&self) -> VolumeGeometry {
        let mut shuffled: Vec<(usize, SliceGeometry)> =
            self.slices.iter().cloned().enumerate().collect();
        shuffle(&mut shuffled, 0x5eed);
        let only: Vec<SliceGeometry> = shuffled.iter().map(|(_, s)| s.clone()).collect();
        let volume = VolumeGeometry::build(&only).expect("synthetic volume");
        let true_order: Vec<usize> = volume.order().iter().map(|&n| shuffled[n].0).collect();
        assert_eq!(true_order, (0..self.slices.len()).collect::<Vec<_>>());
        volume
    }
}

fn linear(p: Vec3) -> f64 {
    p.x + 2.0 * p.y + 3.0 * p.z
}

fn rotation(axis: Vec3, degrees: f64) -> impl Fn(Vec3) -> Vec3 {
    let k = axis.normalized().expect("axis");
    let (s, c) = degrees.to_radians().sin_cos();
    move |v: Vec3| v * c + k.cross(v) * s + k * (k.dot(v) * (1.0 - c))
}

/// An obliquely acquired volume: orientation turned 30° about z then 20° about a
/// tilted axis; 40 columns × 36 rows × 30 slices, 0.8 × 0.9 × 1.25 mm.
fn oblique() -> Synthetic {
    let r1 = rotation(Vec3::Z, 30.0);
    let r2 = rotation(Vec3::new(1.0, 1.0, 0.0), 20.0);
    let row = r2(r1(Vec3::X));
    let col = r2(r1(Vec3::Y));
    let normal = row.cross(col);
    let origin = Vec3::new(-12.0, 7.0, 40.0);
    let positions: Vec<Vec3> = (0..30)
        .map(|k| origin + normal * (1.25 * k as f64))
        .collect();
    Synthetic::new(&positions, row, col, [0.9, 0.8], (36, 40))
}

/// An axial series with 15° gantry tilt: each slice origin moves 2 mm in z and
/// 2·tan 15° mm in y. 64 × 64 × 40, 1 mm pixels.
fn tilted() -> Synthetic {
    let shift = 15f64.to_radians().tan() * 2.0;
    let positions: Vec<Vec3> = (0..40)
        .map(|k| Vec3::new(-32.0, -40.0 + shift * k as f64, -40.0 + 2.0 * k as f64))
        .collect();
    Synthetic::new(&positions, Vec3::X, Vec3::Y, [1.0, 1.0], (64, 64))
}

/// Compares a trilinear MPR of the linear field with the field itself, over the
/// pixels whose sample lies inside the voxel-centre box (where no clamping
/// happens). Returns how many pixels were compared.
fn check_linear_mpr(
    volume: &VolumeGeometry,
    voxels: &VoxelVolume<f64>,
    grid: &PlaneGrid,
    expected: impl Fn(Vec3) -> f64,
    slab: Option<Slab>,
) -> usize {
    let image = resample(
        volume,
        voxels,
        grid,
        &ResampleOptions {
            interpolation: Interpolation::Trilinear,
            slab,
            values: ValueSpace::Stored,
            background: f64::NAN,
        },
    )
    .expect("resample");
    let [nx, ny, nz] = volume.dimensions();
    let margin = slab.map(|s| s.thickness_mm / 2.0).unwrap_or(0.0);
    let normal = grid.plane.normal();
    let core = |p: Vec3| {
        let v = volume.patient_to_voxel(p);
        v.x >= 0.0
            && v.y >= 0.0
            && v.z >= 0.0
            && v.x <= (nx - 1) as f64
            && v.y <= (ny - 1) as f64
            && v.z <= (nz - 1) as f64
    };
    let mut compared = 0;
    for py in 0..grid.height {
        for px in 0..grid.width {
            let p = grid.pixel_center(px, py);
            if !(core(p + normal * margin) && core(p - normal * margin) && core(p)) {
                continue;
            }
            let got = image.get(px, py);
            let want = expected(p);
            assert!(
                (got - want).abs() < 1e-6,
                "pixel ({px}, {py}) at {p:?}: {got} != {want}"
            );
            compared += 1;
        }
    }
    compared
}

// ---------------------------------------------------------------- real head CT

#[test]
fn head_ct_sorts_by_position_along_the_normal_when_shuffled() {
    let files = head_ct_files();
    let geometry: Vec<SliceGeometry> = files
        .iter()
        .map(|p| {
            SliceGeometry::from_part10(&std::fs::read(p).unwrap())
                .unwrap()
                .remove(0)
        })
        .collect();
    let reference = VolumeGeometry::build(&geometry).unwrap();
    for seed in [1u64, 42, 0xdead_beef] {
        let mut shuffled = geometry.clone();
        shuffle(&mut shuffled, seed);
        let volume = VolumeGeometry::build(&shuffled).unwrap();
        assert_eq!(volume.slices(), reference.slices(), "seed {seed}");
        for (k, s) in volume.slices().iter().enumerate() {
            // The files are written 1.5 mm apart from z = 0 up.
            assert!(
                (s.image_position.z - 1.5 * k as f64).abs() < 1e-9,
                "slice {k}"
            );
            assert_eq!(
                shuffled[volume.order()[k]].sop_instance_uid,
                s.sop_instance_uid
            );
        }
    }
    assert_eq!(reference.dimensions(), [256, 256, 108]);
    assert_eq!(
        reference.spacing(),
        SliceSpacing::Uniform { spacing_mm: 1.5 }
    );
    assert_eq!(reference.gantry_tilt_degrees(), 0.0);
    assert!(reference.missing_slices().is_empty());
    assert!(!reference.rescale_varies());
    assert!(reference.notes().is_empty(), "{:?}", reference.notes());
    assert!(reference.max_position_error_mm() < 1e-9);
    assert_eq!(reference.normal(), Vec3::Z);
}

#[test]
fn head_ct_axis_aligned_nearest_reslices_equal_the_voxels() {
    let ct = load_head_ct(7);
    let (volume, voxels) = (&ct.volume, &ct.voxels);
    let [nx, ny, nz] = volume.dimensions();
    let [di, dj] = volume.pixel_spacing_ij();
    let dk = 1.5;
    let nearest = ResampleOptions {
        interpolation: Interpolation::Nearest,
        slab: None,
        values: ValueSpace::Stored,
        background: f64::NAN,
    };
    let mid = |n: usize| (n as f64 - 1.0) / 2.0;

    // Axial slice k: both the standard axial plane and the volume's own k-plane.
    for k in [0usize, 1, 53, 106, 107] {
        let centre = volume.voxel_to_patient(Vec3::new(mid(nx), mid(ny), k as f64));
        for plane in [
            MprPlane::axial(centre),
            MprPlane::volume_slice(volume, VolumeAxis::K, k as f64),
        ] {
            let grid = PlaneGrid::new(plane, nx as u32, ny as u32, di);
            let image = resample(volume, voxels, &grid, &nearest).unwrap();
            for j in 0..ny {
                for i in 0..nx {
                    assert_eq!(
                        image.get(i as u32, j as u32),
                        voxels.get(i, j, k) as f64,
                        "axial k={k} at ({i}, {j})"
                    );
                }
            }
        }
    }

    // Coronal row j: head up, so output row py is slice nz-1-py.
    for j in [0usize, 1, 100, 127, 128, 254, 255] {
        let centre = volume.voxel_to_patient(Vec3::new(mid(nx), j as f64, mid(nz)));
        for plane in [
            MprPlane::coronal(centre),
            MprPlane::volume_slice(volume, VolumeAxis::J, j as f64),
        ] {
            let grid = PlaneGrid {
                plane,
                width: nx as u32,
                height: nz as u32,
                spacing: [di, dk],
            };
            let image = resample(volume, voxels, &grid, &nearest).unwrap();
            for py in 0..nz {
                for i in 0..nx {
                    assert_eq!(
                        image.get(i as u32, py as u32),
                        voxels.get(i, j, nz - 1 - py) as f64,
                        "coronal j={j} at ({i}, {py})"
                    );
                }
            }
        }
    }

    // Sagittal column i: anterior left (j grows to the right), head up.
    for i in [0usize, 1, 64, 128, 255] {
        let centre = volume.voxel_to_patient(Vec3::new(i as f64, mid(ny), mid(nz)));
        for plane in [
            MprPlane::sagittal(centre),
            MprPlane::volume_slice(volume, VolumeAxis::I, i as f64),
        ] {
            let grid = PlaneGrid {
                plane,
                width: ny as u32,
                height: nz as u32,
                spacing: [dj, dk],
            };
            let image = resample(volume, voxels, &grid, &nearest).unwrap();
            for py in 0..nz {
                for j in 0..ny {
                    assert_eq!(
                        image.get(j as u32, py as u32),
                        voxels.get(i, j, nz - 1 - py) as f64,
                        "sagittal i={i} at ({j}, {py})"
                    );
                }
            }
        }
    }

    // The sample positions handed to the GPU are the voxel centres, to rounding.
    let grid = PlaneGrid::new(
        MprPlane::volume_slice(volume, VolumeAxis::K, 20.0),
        nx as u32,
        ny as u32,
        di,
    );
    for (n, v) in grid.voxel_positions(volume).iter().enumerate() {
        let want = Vec3::new((n % nx) as f64, (n / nx) as f64, 20.0);
        assert!(v.max_abs_diff(want) < 1e-9, "{v:?} != {want:?}");
    }
    let m = grid.image_to_voxel_matrix(volume).expect("uniform");
    assert!(
        m.transform_point(Vec3::new(0.5, 0.5, 0.0))
            .max_abs_diff(Vec3::new(0.0, 0.0, 20.0))
            < 1e-9
    );
}

#[test]
fn head_ct_trilinear_at_voxel_centres_and_modality_values() {
    let ct = load_head_ct(3);
    let (volume, voxels) = (&ct.volume, &ct.voxels);
    for (i, j, k) in [(0, 0, 0), (100, 120, 50), (255, 255, 107), (17, 200, 3)] {
        let v = Vec3::new(i as f64, j as f64, k as f64);
        let stored = voxels.get(i, j, k) as f64;
        let tri = sample(
            volume,
            voxels,
            v,
            Interpolation::Trilinear,
            ValueSpace::Stored,
        )
        .unwrap();
        assert_eq!(tri, stored);
        // Rescale is slope 1, intercept 0 in these files.
        let hu = sample(
            volume,
            voxels,
            v,
            Interpolation::Trilinear,
            ValueSpace::Modality,
        )
        .unwrap();
        assert_eq!(hu, stored);
    }
    // Half-way between two slices, trilinear is the mean of the two voxels.
    let a = voxels.get(90, 130, 40) as f64;
    let b = voxels.get(90, 130, 41) as f64;
    let mid = volume.voxel_to_patient(Vec3::new(90.0, 130.0, 40.5));
    let got = sample(
        volume,
        voxels,
        volume.patient_to_voxel(mid),
        Interpolation::Trilinear,
        ValueSpace::Stored,
    )
    .unwrap();
    assert!((got - (a + b) / 2.0).abs() < 1e-9);
}

// ---------------------------------------------------------------- synthetic geometry

#[test]
fn transforms_round_trip_and_match_the_dicom_formula() {
    for synthetic in [oblique(), tilted()] {
        let volume = synthetic.build();
        let [nx, ny, nz] = synthetic.dims;
        for (i, j, k) in [
            (0, 0, 0),
            (nx - 1, ny - 1, nz - 1),
            (3, 17, 11),
            (nx - 1, 0, 5),
        ] {
            let want = synthetic.patient(i, j, k);
            let got = volume.voxel_to_patient(Vec3::new(i as f64, j as f64, k as f64));
            assert!(
                got.max_abs_diff(want) < 1e-9,
                "({i},{j},{k}): {got:?} != {want:?}"
            );
        }
        let m = volume.voxel_to_patient_matrix().expect("uniform spacing");
        let det = m.column(0).dot(m.column(1).cross(m.column(2)));
        assert!(det > 0.0, "right-handed voxel axes");
        for v in [
            Vec3::new(0.25, 7.5, 3.75),
            Vec3::new(-0.4, 30.1, 28.9),
            Vec3::new(12.0, 0.0, 0.0),
        ] {
            let p = volume.voxel_to_patient(v);
            assert!(m.transform_point(v).max_abs_diff(p) < 1e-9);
            assert!(volume.patient_to_voxel(p).max_abs_diff(v) < 1e-9);
            let back = volume.patient_to_voxel_matrix().unwrap().transform_point(p);
            assert!(back.max_abs_diff(v) < 1e-9);
        }
        let t = volume.voxel_to_texture(Vec3::new(-0.5, -0.5, -0.5));
        assert!(t.max_abs_diff(Vec3::ZERO) < 1e-12);
        let t =
            volume.voxel_to_texture(Vec3::new(nx as f64 - 0.5, ny as f64 - 0.5, nz as f64 - 0.5));
        assert!(t.max_abs_diff(Vec3::new(1.0, 1.0, 1.0)) < 1e-12);
    }
}

#[test]
fn oblique_volume_oblique_planes_match_the_analytic_field() {
    let synthetic = oblique();
    let volume = synthetic.build();
    assert_eq!(volume.gantry_tilt_degrees(), 0.0);
    let voxels = synthetic.voxels(linear);
    let centre = volume.center();
    let planes = [
        MprPlane::axial(centre),
        MprPlane::coronal(centre),
        MprPlane::sagittal(centre),
        MprPlane::from_normal(centre + Vec3::new(1.0, -2.0, 0.5), Vec3::new(1.0, 2.0, 3.0))
            .unwrap(),
        MprPlane::axial(centre).rotated(Vec3::new(0.3, 1.0, 0.2), 0.7),
    ];
    for plane in planes {
        let grid = PlaneGrid::new(plane, 64, 48, 0.7);
        let compared = check_linear_mpr(&volume, &voxels, &grid, linear, None);
        assert!(
            compared > 64 * 48 / 5,
            "only {compared} pixels inside for {plane:?}"
        );
        // A point sampled between voxels, away from any grid.
        let v = Vec3::new(13.37, 21.9, 17.01);
        let p = volume.voxel_to_patient(v);
        let s = sample(
            &volume,
            &voxels,
            v,
            Interpolation::Trilinear,
            ValueSpace::Stored,
        )
        .unwrap();
        assert!((s - linear(p)).abs() < 1e-9);
    }
}

#[test]
fn gantry_tilted_series_is_sheared_exactly() {
    let synthetic = tilted();
    let volume = synthetic.build();
    assert!(
        (volume.gantry_tilt_degrees() - 15.0).abs() < 1e-9,
        "{}",
        volume.gantry_tilt_degrees()
    );
    assert!(volume
        .notes()
        .iter()
        .any(|n| n.contains("gantry tilt 15.00°")));
    // The slice step is along the stacking direction, not the normal.
    let step = volume.slice_step();
    assert!(step.max_abs_diff(Vec3::new(0.0, 2.0 * 15f64.to_radians().tan(), 2.0)) < 1e-9);
    let voxels = synthetic.voxels(linear);
    let centre = volume.center();
    for plane in [
        MprPlane::axial(centre),
        MprPlane::coronal(centre),
        MprPlane::sagittal(centre),
        MprPlane::from_normal(centre, Vec3::new(-0.4, 1.0, 0.6)).unwrap(),
    ] {
        let grid = PlaneGrid::new(plane, 60, 60, 0.9);
        let compared = check_linear_mpr(&volume, &voxels, &grid, linear, None);
        assert!(
            compared > 60 * 60 / 5,
            "only {compared} pixels for {plane:?}"
        );
    }
}

#[test]
fn gantry_tilted_sphere_stays_a_sphere() {
    let synthetic = tilted();
    let volume = synthetic.build();
    // Chosen so that ±1.25 r along every axis stays inside the sheared box.
    let centre = Vec3::new(0.0, 2.0, 0.0);
    let radius = 20.0;
    let voxels = synthetic.voxels(|p| (p - centre).length());
    // Walk outwards from the centre along each patient axis until the distance field
    // crosses the radius; bisection on trilinear samples.
    // A reading that ignores the tilt: slices stacked straight along the normal
    // from the first slice's origin (what a viewer without shear support shows).
    let first = synthetic.slices[0].image_position;
    let naive = |p: Vec3| Vec3::new(p.x - first.x, p.y - first.y, (p.z - first.z) / 2.0);
    let measure_with = |to_voxel: &dyn Fn(Vec3) -> Vec3, dir: Vec3| -> f64 {
        let at = |t: f64| {
            let v = to_voxel(centre + dir * t);
            // Outside the volume counts as outside the sphere.
            sample(
                &volume,
                &voxels,
                v,
                Interpolation::Trilinear,
                ValueSpace::Stored,
            )
            .unwrap_or(f64::INFINITY)
        };
        let (mut lo, mut hi) = (radius * 0.75, radius * 1.25);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if at(mid) < radius {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    };
    let exact = |p: Vec3| volume.patient_to_voxel(p);
    let mut naive_worst: f64 = 0.0;
    for (name, axis) in [("x", Vec3::X), ("y", Vec3::Y), ("z", Vec3::Z)] {
        for dir in [axis, -axis] {
            let r = measure_with(&exact, dir);
            let error = (r - radius).abs() / radius;
            assert!(
                error < 0.01,
                "radius along {name}: {r} ({:.3} %)",
                error * 100.0
            );
            naive_worst = naive_worst.max((measure_with(&naive, dir) - radius).abs() / radius);
        }
    }
    // The test can tell: without the shear the same measurement is far off.
    assert!(
        naive_worst > 0.05,
        "ignoring the tilt gives {:.1} %",
        naive_worst * 100.0
    );
}

#[test]
fn irregular_spacing_keeps_true_positions() {
    let zs = [
        0.0, 1.0, 2.0, 3.5, 5.0, 6.0, 8.0, 9.0, 10.0, 11.5, 12.0, 13.0,
    ];
    let positions: Vec<Vec3> = zs.iter().map(|z| Vec3::new(-10.0, -8.0, *z)).collect();
    let synthetic = Synthetic::new(&positions, Vec3::X, Vec3::Y, [0.5, 0.5], (32, 40));
    let volume = synthetic.build();
    match volume.spacing() {
        SliceSpacing::Irregular { min_mm, max_mm, .. } => {
            assert!((min_mm - 0.5).abs() < 1e-12 && (max_mm - 2.0).abs() < 1e-12);
        }
        other => panic!("expected irregular spacing, got {other:?}"),
    }
    assert!(volume.voxel_to_patient_matrix().is_none());
    assert!(volume
        .notes()
        .iter()
        .any(|n| n.contains("irregular slice spacing")));
    for (k, z) in zs.iter().enumerate() {
        let p = volume.voxel_to_patient(Vec3::new(0.0, 0.0, k as f64));
        assert!(
            p.max_abs_diff(Vec3::new(-10.0, -8.0, *z)) < 1e-12,
            "slice {k}"
        );
        assert!((volume.k_of_distance(*z) - k as f64).abs() < 1e-12);
    }
    // k interpolates between true positions: k = 2.5 is z = 2.75.
    assert!((volume.distance_of_k(2.5) - 2.75).abs() < 1e-12);
    assert!((volume.k_of_distance(7.0) - 5.5).abs() < 1e-12);
    let voxels = synthetic.voxels(linear);
    let centre = volume.center();
    for plane in [
        MprPlane::coronal(centre),
        MprPlane::sagittal(centre),
        MprPlane::from_normal(centre, Vec3::new(0.2, 0.5, 1.0)).unwrap(),
    ] {
        let grid = PlaneGrid::new(plane, 50, 40, 0.4);
        let compared = check_linear_mpr(&volume, &voxels, &grid, linear, None);
        assert!(
            compared > 50 * 40 / 5,
            "only {compared} pixels for {plane:?}"
        );
    }
}

#[test]
fn missing_slice_is_detected_and_bridged() {
    // 2 mm spacing, slice 6 (z = 12) missing.
    let zs: Vec<f64> = (0..20)
        .filter(|k| *k != 6)
        .map(|k| 2.0 * k as f64)
        .collect();
    let positions: Vec<Vec3> = zs.iter().map(|z| Vec3::new(0.0, 0.0, *z)).collect();
    let synthetic = Synthetic::new(&positions, Vec3::X, Vec3::Y, [1.0, 1.0], (16, 16));
    let volume = synthetic.build();
    assert_eq!(
        volume.missing_slices(),
        &[MissingSlices {
            after: 5,
            gap_mm: 4.0,
            median_spacing_mm: 2.0,
            estimated_missing: 1,
        }]
    );
    assert!(!volume.is_uniform());
    assert!(volume
        .notes()
        .iter()
        .any(|n| n.contains("about 1 slice(s) missing between slices 5 and 6")));
    // Across the gap, k = 5.5 is the true mid-point z = 12.
    let p = volume.voxel_to_patient(Vec3::new(3.0, 4.0, 5.5));
    assert!(p.max_abs_diff(Vec3::new(3.0, 4.0, 12.0)) < 1e-12);
    let voxels = synthetic.voxels(linear);
    let got = sample(
        &volume,
        &voxels,
        volume.patient_to_voxel(p),
        Interpolation::Trilinear,
        ValueSpace::Stored,
    );
    assert!((got.unwrap() - linear(p)).abs() < 1e-9);
}

#[test]
fn per_slice_rescale_is_flagged_and_applied_per_tap() {
    let positions: Vec<Vec3> = (0..10)
        .map(|k| Vec3::new(0.0, 0.0, 3.0 * k as f64))
        .collect();
    let mut synthetic = Synthetic::new(&positions, Vec3::X, Vec3::Y, [1.0, 1.0], (8, 8));
    for (k, s) in synthetic.slices.iter_mut().enumerate() {
        s.rescale_slope = 1.0 + 0.5 * (k % 3) as f64;
        s.rescale_intercept = -1024.0 + 10.0 * k as f64;
    }
    let volume = synthetic.build();
    assert!(volume.rescale_varies());
    assert!(volume.notes().iter().any(|n| n.contains("Rescale")));
    // Stored values chosen so that the modality value is the linear field.
    let modality = synthetic.voxels(linear);
    let stored = {
        let [nx, ny, nz] = synthetic.dims;
        let mut data = Vec::new();
        for k in 0..nz {
            let (slope, intercept) = volume.rescale(k);
            for j in 0..ny {
                for i in 0..nx {
                    data.push((modality.get(i, j, k) - intercept) / slope);
                }
            }
        }
        VoxelVolume::new(synthetic.dims, data).unwrap()
    };
    for v in [
        Vec3::new(2.5, 3.25, 4.5),
        Vec3::new(6.9, 0.1, 0.3),
        Vec3::new(1.0, 1.0, 8.75),
    ] {
        let want = linear(volume.voxel_to_patient(v));
        let got = sample(
            &volume,
            &stored,
            v,
            Interpolation::Trilinear,
            ValueSpace::Modality,
        )
        .unwrap();
        assert!((got - want).abs() < 1e-9, "{got} != {want}");
        // Interpolating stored values first would be wrong here.
        let naive = sample(
            &volume,
            &stored,
            v,
            Interpolation::Trilinear,
            ValueSpace::Stored,
        )
        .unwrap();
        let k = v.z.floor() as usize;
        let (slope, intercept) = volume.rescale(k);
        assert!((naive * slope + intercept - want).abs() > 1e-3);
    }
}

// ---------------------------------------------------------------- slabs

#[test]
fn mip_slab_20mm_finds_the_known_maximum() {
    // 1 mm cubic voxels, 32 × 32 × 60; background 0, a bright voxel 8 mm above the
    // plane (inside a 20 mm slab) and a brighter one 15 mm below (outside it).
    let positions: Vec<Vec3> = (0..60).map(|k| Vec3::new(0.0, 0.0, k as f64)).collect();
    let synthetic = Synthetic::new(&positions, Vec3::X, Vec3::Y, [1.0, 1.0], (32, 32));
    let volume = synthetic.build();
    let plane_z = 30.0;
    let inside = Vec3::new(10.0, 12.0, plane_z + 8.0);
    let outside = Vec3::new(20.0, 5.0, plane_z - 15.0);
    let voxels = synthetic.voxels(|p| {
        if p.max_abs_diff(inside) < 1e-9 {
            1000.0
        } else if p.max_abs_diff(outside) < 1e-9 {
            2000.0
        } else {
            0.0
        }
    });
    let plane = MprPlane::axial(Vec3::new(15.5, 15.5, plane_z));
    let grid = PlaneGrid::new(plane, 32, 32, 1.0);
    let slab = Slab {
        thickness_mm: 20.0,
        mode: SlabMode::Mip,
        step_mm: 0.5,
    };
    let offsets = slab.offsets_mm();
    assert_eq!(offsets.len(), 41);
    assert_eq!((offsets[0], offsets[40]), (-10.0, 10.0));
    for interpolation in [Interpolation::Nearest, Interpolation::Trilinear] {
        let options = ResampleOptions {
            interpolation,
            slab: Some(slab),
            values: ValueSpace::Stored,
            background: f64::NAN,
        };
        let image = resample(&volume, &voxels, &grid, &options).unwrap();
        let max = image
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        assert!((max - 1000.0).abs() < 1e-9, "{interpolation:?}: max {max}");
        assert!((image.get(10, 12) - 1000.0).abs() < 1e-9);
        assert_eq!(
            image.get(20, 5),
            0.0,
            "the 2000 voxel is 15 mm away, outside"
        );
        // MinIP and a thin slab do not see it.
        let thin = ResampleOptions {
            slab: Some(Slab {
                thickness_mm: 10.0,
                ..slab
            }),
            ..options
        };
        assert_eq!(
            resample(&volume, &voxels, &grid, &thin)
                .unwrap()
                .get(10, 12),
            0.0
        );
    }
    // Default step: half the smallest voxel spacing.
    assert_eq!(Slab::new(20.0, SlabMode::Mip, &volume).step_mm, 0.5);
}

#[test]
fn slab_modes_on_a_linear_field_are_analytic() {
    // For f linear, over a slab of half-thickness h along unit normal n:
    // MIP = f + h|∇f·n|, MinIP = f − h|∇f·n|, average = f (the samples are symmetric).
    let synthetic = oblique();
    let volume = synthetic.build();
    let voxels = synthetic.voxels(linear);
    let gradient = Vec3::new(1.0, 2.0, 3.0);
    let centre = volume.center();
    for plane in [
        MprPlane::axial(centre),
        MprPlane::from_normal(centre, Vec3::new(0.3, -0.2, 1.0)).unwrap(),
    ] {
        let n = plane.normal();
        let h = 5.0;
        let swing = h * gradient.dot(n).abs();
        let grid = PlaneGrid::new(plane, 24, 24, 0.8);
        for (mode, offset) in [
            (SlabMode::Mip, swing),
            (SlabMode::MinIp, -swing),
            (SlabMode::Average, 0.0),
        ] {
            let slab = Slab::new(2.0 * h, mode, &volume);
            let compared =
                check_linear_mpr(&volume, &voxels, &grid, |p| linear(p) + offset, Some(slab));
            assert!(compared > 24 * 24 / 5, "{mode:?}: only {compared} pixels");
        }
    }
}

// ---------------------------------------------------------------- lines and outlines

#[test]
fn reference_lines_and_crosshair() {
    let synthetic = tilted();
    let volume = synthetic.build();
    let c = volume.center();
    let axial = PlaneGrid::new(MprPlane::axial(c), 200, 100, 0.5);
    let coronal = MprPlane::coronal(c);
    let sagittal = MprPlane::sagittal(c);
    // Through the same centre, the coronal plane is the axial viewport's horizontal
    // mid-line and the sagittal plane its vertical mid-line.
    let [a, b] = axial.reference_line(&coronal).unwrap();
    let (lo, hi) = if a[0] < b[0] { (a, b) } else { (b, a) };
    assert!((lo[0] - 0.0).abs() < 1e-9 && (hi[0] - 200.0).abs() < 1e-9);
    assert!((lo[1] - 50.0).abs() < 1e-9 && (hi[1] - 50.0).abs() < 1e-9);
    let [a, b] = axial.reference_line(&sagittal).unwrap();
    assert!((a[0] - 100.0).abs() < 1e-9 && (b[0] - 100.0).abs() < 1e-9);
    assert!((a[1] - b[1]).abs() > 99.999);
    // Parallel planes have no line; a plane off the viewport gives none either.
    assert!(axial
        .reference_line(&MprPlane::axial(c + Vec3::Z * 3.0))
        .is_none());
    assert!(axial
        .reference_line(&MprPlane::coronal(c + Vec3::Y * 100.0))
        .is_none());
    // An oblique plane: both ends lie on both planes and on the viewport border.
    let oblique =
        MprPlane::from_normal(c + Vec3::new(3.0, 2.0, 1.0), Vec3::new(1.0, 1.0, 0.5)).unwrap();
    let ends = axial.reference_line(&oblique).unwrap();
    for e in ends {
        let p = axial.image_to_patient(e[0], e[1]);
        assert!(axial.plane.signed_distance(p).abs() < 1e-9);
        assert!(oblique.signed_distance(p).abs() < 1e-9);
        let on_border = [e[0], 200.0 - e[0], e[1], 100.0 - e[1]]
            .iter()
            .any(|d| d.abs() < 1e-9);
        assert!(on_border, "{e:?}");
    }
    let point = three_plane_point(&axial.plane, &coronal, &oblique).unwrap();
    for plane in [&axial.plane, &coronal, &oblique] {
        assert!(plane.signed_distance(point).abs() < 1e-9);
    }
    let line = plane_intersection(&coronal, &sagittal).unwrap();
    assert!(line.direction.cross(Vec3::Z).length() < 1e-12);
}

#[test]
fn plane_cuts_the_volume_box() {
    // An axis-aligned cube of 20 × 20 × 20 voxels of 1 mm: the box is [-0.5, 19.5]^3.
    let positions: Vec<Vec3> = (0..20).map(|k| Vec3::new(0.0, 0.0, k as f64)).collect();
    let synthetic = Synthetic::new(&positions, Vec3::X, Vec3::Y, [1.0, 1.0], (20, 20));
    let volume = synthetic.build();
    let c = volume.center();
    assert!(c.max_abs_diff(Vec3::new(9.5, 9.5, 9.5)) < 1e-12);
    let axial = plane_box_intersection(&MprPlane::axial(c), &volume);
    assert_eq!(axial.len(), 4);
    for p in &axial {
        assert!((p.x.abs() - 0.5).abs() < 1e-9 || (p.x - 19.5).abs() < 1e-9);
        assert!((p.z - 9.5).abs() < 1e-9);
    }
    // Through the centre with normal (1,1,1): a regular hexagon, edge 20/√2 · … ;
    // its vertices are the midpoints of 6 box edges, all at distance 20/√2 from c.
    let diagonal = MprPlane::from_normal(c, Vec3::new(1.0, 1.0, 1.0)).unwrap();
    let hexagon = plane_box_intersection(&diagonal, &volume);
    assert_eq!(hexagon.len(), 6);
    for p in &hexagon {
        assert!(((*p - c).length() - 20.0 / 2f64.sqrt()).abs() < 1e-9);
    }
    // Outline in a viewport: ordered, so consecutive vertices are box-edge neighbours
    // (hexagon sides all 20/√2 long).
    let grid = PlaneGrid::new(diagonal, 100, 100, 0.5);
    let outline = grid.volume_outline(&volume);
    for w in 0..6 {
        let (a, b) = (outline[w], outline[(w + 1) % 6]);
        let side = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt() * 0.5;
        assert!((side - 20.0 / 2f64.sqrt()).abs() < 1e-9, "side {side}");
    }
    // A plane outside the volume cuts nothing.
    assert!(
        plane_box_intersection(&MprPlane::axial(Vec3::new(0.0, 0.0, 50.0)), &volume).is_empty()
    );
    // The tilted box is a parallelepiped: its axial section is the same size at
    // every height but moves in y with z.
    let tilted = tilted().build();
    let low = plane_box_intersection(&MprPlane::axial(Vec3::new(0.0, 0.0, -30.0)), &tilted);
    let high = plane_box_intersection(&MprPlane::axial(Vec3::new(0.0, 0.0, 20.0)), &tilted);
    let min_y = |poly: &[Vec3]| poly.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let shift = min_y(&high) - min_y(&low);
    assert!(
        (shift - 50.0 * 15f64.to_radians().tan()).abs() < 1e-9,
        "shift {shift}"
    );
}

// ---------------------------------------------------------------- refusals

fn axial_series(n: usize) -> Vec<SliceGeometry> {
    let positions: Vec<Vec3> = (0..n)
        .map(|k| Vec3::new(0.0, 0.0, 2.0 * k as f64))
        .collect();
    Synthetic::new(&positions, Vec3::X, Vec3::Y, [0.5, 0.5], (64, 64)).slices
}

#[test]
fn not_a_volume_reasons_are_specific() {
    let message = |slices: &[SliceGeometry]| VolumeGeometry::build(slices).unwrap_err().to_string();

    assert_eq!(message(&[]), "the series has no image slices");
    assert!(message(&axial_series(1)).contains("single slice (1.2.826.0.1.0)"));

    let mut s = axial_series(10);
    let turn = rotation(Vec3::Z, 5.0);
    s[4].row_direction = turn(Vec3::X);
    s[4].column_direction = turn(Vec3::Y);
    let err = VolumeGeometry::build(&s).unwrap_err();
    match &err {
        NotAVolume::MixedOrientation {
            other,
            angle_degrees,
            ..
        } => {
            assert_eq!(other, "1.2.826.0.1.4");
            assert!((angle_degrees - 5.0).abs() < 1e-9);
        }
        e => panic!("{e}"),
    }
    assert!(err.to_string().contains("turned 5.00°"), "{err}");

    let mut s = axial_series(10);
    s[7].rows = 32;
    assert!(message(&s).contains(
        "mixed image sizes: 1.2.826.0.1.0 is (64, 64) (rows, columns), 1.2.826.0.1.7 is (32, 64)"
    ));

    let mut s = axial_series(10);
    s[2].pixel_spacing = [0.7, 0.7];
    assert!(message(&s).contains("mixed Pixel Spacing"));

    let mut s = axial_series(10);
    s[3].frame_of_reference_uid = Some("9.9".into());
    assert!(
        message(&s).contains("mixed frames of reference"),
        "{}",
        message(&s)
    );

    // Two acquisitions of the same positions.
    let mut s = axial_series(6);
    let mut second = axial_series(6);
    for (n, x) in second.iter_mut().enumerate() {
        x.acquisition_number = Some(2);
        x.sop_instance_uid = format!("2.{n}");
    }
    s.extend(second);
    let m = message(&s);
    assert!(m.contains("2 slices share one position"), "{m}");
    assert!(
        m.contains("2 acquisitions (Acquisition Number [1, 2])"),
        "{m}"
    );

    let mut s = axial_series(10);
    s[5].row_direction = Vec3::new(1.0, 0.0, 0.0);
    s[5].column_direction = Vec3::new(0.5, 0.5, 0.0);
    assert!(message(&s).contains("not two orthogonal unit vectors"));

    // One slice shifted 2 mm sideways: not a tilt (the others are on a line).
    let mut s = axial_series(10);
    s[6].image_position.x += 2.0;
    let m = message(&s);
    assert!(m.contains("do not lie on one line: 1.2.826.0.1.6"), "{m}");
}

// ---------------------------------------------------------------- sources

#[test]
fn geometry_from_dicom_json_single_and_enhanced_multiframe() {
    use lumen::dicomweb::json::Dataset;
    use serde_json::json;

    // Single-frame instance as WADO-RS metadata sends it (DS as strings).
    let ds = Dataset::from_json(&json!({
        "00080018": {"vr": "UI", "Value": ["1.2.3.1"]},
        "00200032": {"vr": "DS", "Value": ["-122.0215", "-122.0215", "1.5"]},
        "00200037": {"vr": "DS", "Value": [1, 0, 0, 0, 1, 0]},
        "00280030": {"vr": "DS", "Value": ["0.9570312", "0.9570312"]},
        "00180050": {"vr": "DS", "Value": ["1.5"]},
        "00280010": {"vr": "US", "Value": [256]},
        "00280011": {"vr": "US", "Value": [256]},
        "00281052": {"vr": "DS", "Value": ["-1024"]},
        "00281053": {"vr": "DS", "Value": ["1"]},
        "00200052": {"vr": "UI", "Value": ["1.2.3.9"]},
        "00200012": {"vr": "IS", "Value": ["3"]}
    }))
    .unwrap();
    let s = SliceGeometry::from_json(&ds).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].image_position, Vec3::new(-122.0215, -122.0215, 1.5));
    assert_eq!(s[0].pixel_spacing, [0.9570312, 0.9570312]);
    assert_eq!((s[0].rescale_slope, s[0].rescale_intercept), (1.0, -1024.0));
    assert_eq!(s[0].acquisition_number, Some(3));
    assert_eq!(s[0].frame_of_reference_uid.as_deref(), Some("1.2.3.9"));

    // Missing position: the reason names the attribute.
    let bare = Dataset::from_json(&json!({
        "00080018": {"vr": "UI", "Value": ["1.2.3.2"]},
        "00200037": {"vr": "DS", "Value": [1, 0, 0, 0, 1, 0]}
    }))
    .unwrap();
    assert_eq!(
        SliceGeometry::from_json(&bare).unwrap_err().to_string(),
        "1.2.3.2 has no usable Image Position (Patient)"
    );

    // Enhanced CT: shared orientation/measures/rescale, per-frame positions given in
    // descending order, one frame with its own rescale.
    let frame = |z: f64, intercept: Option<f64>| {
        let mut item = json!({
            "00209113": {"vr": "SQ", "Value": [{"00200032": {"vr": "DS", "Value": [0.0, 0.0, z]}}]}
        });
        if let Some(i) = intercept {
            item["00289145"] = json!({"vr": "SQ", "Value": [{
                "00281052": {"vr": "DS", "Value": [i]}, "00281053": {"vr": "DS", "Value": [1]}
            }]});
        }
        item
    };
    let enhanced = Dataset::from_json(&json!({
        "00080018": {"vr": "UI", "Value": ["1.2.3.3"]},
        "00280008": {"vr": "IS", "Value": ["4"]},
        "00280010": {"vr": "US", "Value": [32]},
        "00280011": {"vr": "US", "Value": [48]},
        "00200052": {"vr": "UI", "Value": ["1.2.3.9"]},
        "52009229": {"vr": "SQ", "Value": [{
            "00209116": {"vr": "SQ", "Value": [{"00200037": {"vr": "DS", "Value": [1, 0, 0, 0, 1, 0]}}]},
            "00289110": {"vr": "SQ", "Value": [{
                "00280030": {"vr": "DS", "Value": [0.5, 0.6]},
                "00180050": {"vr": "DS", "Value": [2.0]}
            }]},
            "00289145": {"vr": "SQ", "Value": [{
                "00281052": {"vr": "DS", "Value": [-1024]}, "00281053": {"vr": "DS", "Value": [1]}
            }]}
        }]},
        "52009230": {"vr": "SQ", "Value": [
            frame(6.0, None), frame(4.0, Some(-1000.0)), frame(2.0, None), frame(0.0, None)
        ]}
    }))
    .unwrap();
    let frames = SliceGeometry::from_json(&enhanced).unwrap();
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].frame_number, Some(1));
    assert_eq!(frames[0].pixel_spacing, [0.5, 0.6]);
    assert_eq!(frames[0].slice_thickness, Some(2.0));
    assert_eq!(frames[1].rescale_intercept, -1000.0);
    assert_eq!(frames[2].rescale_intercept, -1024.0);
    let volume = VolumeGeometry::build(&frames).unwrap();
    assert_eq!(volume.order(), &[3, 2, 1, 0]);
    assert_eq!(volume.dimensions(), [48, 32, 4]);
    assert_eq!(volume.pixel_spacing_ij(), [0.6, 0.5]);
    assert!(volume.rescale_varies());
    assert_eq!(volume.spacing(), SliceSpacing::Uniform { spacing_mm: 2.0 });
}

#[test]
fn geometry_from_enhanced_part10_functional_groups() {
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    let ds = |tag: (u16, u16), values: &[f64]| {
        let text: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        DataElement::new(
            Tag(tag.0, tag.1),
            VR::DS,
            PrimitiveValue::from(text.join("\\")),
        )
    };
    let sq = |tag: (u16, u16), items: Vec<InMemDicomObject>| {
        DataElement::new(Tag(tag.0, tag.1), VR::SQ, DataSetSequence::from(items))
    };
    let item = |elements: Vec<DataElement<InMemDicomObject>>| {
        InMemDicomObject::from_element_iter(elements)
    };
    // A tilted enhanced series: origins step 3 mm in z and 0.8 mm in x.
    let per_frame: Vec<InMemDicomObject> = [2usize, 0, 1]
        .iter()
        .map(|&k| {
            item(vec![sq(
                (0x0020, 0x9113),
                vec![item(vec![ds(
                    (0x0020, 0x0032),
                    &[0.8 * k as f64, 0.0, 3.0 * k as f64],
                )])],
            )])
        })
        .collect();
    let shared = item(vec![
        sq(
            (0x0020, 0x9116),
            vec![item(vec![ds(
                (0x0020, 0x0037),
                &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            )])],
        ),
        sq(
            (0x0028, 0x9110),
            vec![item(vec![ds((0x0028, 0x0030), &[0.75, 0.75])])],
        ),
    ]);
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(
            Tag(0x0008, 0x0016),
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2.1"),
        ),
        DataElement::new(
            Tag(0x0008, 0x0018),
            VR::UI,
            PrimitiveValue::from("1.2.3.77"),
        ),
        DataElement::new(Tag(0x0028, 0x0008), VR::IS, PrimitiveValue::from("3")),
        DataElement::new(Tag(0x0028, 0x0010), VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(Tag(0x0028, 0x0011), VR::US, PrimitiveValue::from(16u16)),
        sq((0x5200, 0x9229), vec![shared]),
        sq((0x5200, 0x9230), per_frame),
    ]);
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2.1")
                .media_storage_sop_instance_uid("1.2.3.77"),
        )
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();

    let frames = SliceGeometry::from_part10(&bytes).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].label(), "1.2.3.77 frame 1");
    assert_eq!(frames[0].image_position, Vec3::new(1.6, 0.0, 6.0));
    let volume = VolumeGeometry::build(&frames).unwrap();
    assert_eq!(volume.order(), &[1, 2, 0]);
    let tilt = (0.8f64 / 3.0).atan().to_degrees();
    assert!((volume.gantry_tilt_degrees() - tilt).abs() < 1e-9);
    let p = volume.voxel_to_patient(Vec3::new(2.0, 1.0, 2.0));
    assert!(p.max_abs_diff(Vec3::new(1.6 + 1.5, 0.75, 6.0)) < 1e-9);
}

/// Stacking frames into voxels (what the viewer does one frame at a time, read back
/// from the GPU) refuses frames that do not fit, naming the frame.
#[test]
fn stacking_refuses_frames_that_do_not_fit_the_volume() {
    let mut files = head_ct_files();
    files.truncate(12);
    let mut slices = Vec::new();
    let mut frames = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).expect("read slice");
        slices.push(
            SliceGeometry::from_part10(&bytes)
                .expect("slice geometry")
                .remove(0),
        );
        frames.push(
            DicomFile::from_bytes(&bytes)
                .and_then(|f| f.decode_frame(0, &DecodeLimits::default()))
                .expect("decode slice"),
        );
    }
    let volume = VolumeGeometry::build(&slices).expect("12 slices of the head CT are a volume");
    let refs: Vec<_> = frames.iter().collect();
    // One at a time in volume order equals the whole stack at once.
    let whole = VoxelData::from_decoded_frames(&volume, &refs).expect("stack");
    let mut stacker = VoxelStacker::new(&volume);
    for &n in volume.order() {
        stacker.push(n, &frames[n]).expect("push");
    }
    assert_eq!(stacker.finish().expect("finish"), whole);

    // A frame of another size: refused, by its index.
    let k = volume.order()[3];
    let mut other = frames.clone();
    other[k].info.columns /= 2;
    let refs: Vec<_> = other.iter().collect();
    match VoxelData::from_decoded_frames(&volume, &refs) {
        Err(VolumeDataError::FrameMismatch { index, .. }) => assert_eq!(index, k),
        r => panic!("expected FrameMismatch for frame {k}, got {r:?}"),
    }
    // Too few bytes for the frame's size.
    let mut short = frames.clone();
    short[k].data.truncate(100);
    let refs: Vec<_> = short.iter().collect();
    assert!(matches!(
        VoxelData::from_decoded_frames(&volume, &refs),
        Err(VolumeDataError::WrongLength { .. })
    ));
    // Colour frames make no grey volume.
    let mut colour = frames.clone();
    for f in &mut colour {
        f.info.samples_per_pixel = 3;
    }
    let refs: Vec<_> = colour.iter().collect();
    assert!(matches!(
        VoxelData::from_decoded_frames(&volume, &refs),
        Err(VolumeDataError::NotGrey { samples: 3 })
    ));
    // Finishing before every slice is in.
    let mut early = VoxelStacker::new(&volume);
    early
        .push(volume.order()[0], &frames[volume.order()[0]])
        .expect("push");
    assert!(matches!(
        early.finish(),
        Err(VolumeDataError::WrongFrameCount {
            needed: 12,
            found: 1
        })
    ));
}
