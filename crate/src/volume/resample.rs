//! The CPU reference resampler: voxel values + volume geometry + plane grid → MPR
//! image. It is what the GPU renderer is tested against, so it is written for
//! obviousness, in f64, one sample at a time; it is not the fast path.
//!
//! # Sampling rules (the GPU must do the same)
//! - A sample at voxel position (i, j, k) is inside the volume when each coordinate
//!   is in `[-0.5, n - 0.5)`; outside samples do not count (background if a pixel has
//!   no inside sample at all).
//! - Nearest: the voxel `floor(x + 0.5)` on each axis (texel lookup at
//!   `(x + 0.5)/n`, GPU nearest filtering).
//! - Trilinear: each coordinate clamped to `[0, n - 1]` (clamp-to-edge), `x0 =
//!   min(floor(x), n - 2)`, weight `x - x0`; the 8 taps combined in f64 with exact
//!   weights (not the 8-bit fixed-point weights of hardware filtering).
//! - Values: [`ValueSpace::Stored`] interpolates stored values; [`ValueSpace::Modality`]
//!   applies each tap's own slice Rescale Slope/Intercept first, which is what a
//!   volume whose rescale differs per slice needs.
//! - Slab: the samples at [`Slab::offsets_mm`] along the plane normal, combined by
//!   max (MIP), min (MinIP) or mean (average) over the inside samples.

use super::geometry::VolumeGeometry;
use super::math::Vec3;
use super::mpr::{PlaneGrid, Slab, SlabMode};
use crate::DecodedFrame;
use thiserror::Error;

/// A stored sample type a volume can hold.
pub trait VoxelValue: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
}

macro_rules! voxel_value {
    ($($t:ty),*) => {$(impl VoxelValue for $t {
        fn to_f64(self) -> f64 {
            self as f64
        }
    })*};
}
voxel_value!(u8, i8, u16, i16, u32, i32, f32, f64);

/// Why voxel data does not fit a volume.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VolumeDataError {
    #[error("voxel data has {found} values, the {dims:?} volume needs {needed}")]
    WrongLength {
        dims: [usize; 3],
        needed: usize,
        found: usize,
    },
    #[error("{found} decoded frames for a volume of {needed} slices")]
    WrongFrameCount { needed: usize, found: usize },
    #[error("frame {index} is {found:?} (rows, columns, samples, bits allocated, pixel representation), expected {expected:?}")]
    FrameMismatch {
        index: usize,
        found: (u32, u32, u16, u16, u16),
        expected: (u32, u32, u16, u16, u16),
    },
    #[error("frames with {samples} samples per pixel cannot form a grey volume")]
    NotGrey { samples: u16 },
}

/// Voxel values, slice-major: value (i, j, k) at `(k·ny + j)·nx + i`, slice `k` in
/// volume order (see [`VolumeGeometry::order`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VoxelVolume<T> {
    dims: [usize; 3],
    data: Vec<T>,
}

impl<T: VoxelValue> VoxelVolume<T> {
    pub fn new(dims: [usize; 3], data: Vec<T>) -> Result<Self, VolumeDataError> {
        let needed = dims.iter().product::<usize>();
        if data.len() != needed {
            return Err(VolumeDataError::WrongLength {
                dims,
                needed,
                found: data.len(),
            });
        }
        Ok(VoxelVolume { dims, data })
    }

    /// No slices yet, room for `capacity` values.
    fn empty(dims: [usize; 3], capacity: usize) -> Self {
        VoxelVolume {
            dims,
            data: Vec::with_capacity(capacity),
        }
    }

    /// Appends one slice of `per_slice` values read `B` bytes at a time; false
    /// (nothing appended) when `bytes` holds fewer.
    fn append<const B: usize>(
        &mut self,
        bytes: &[u8],
        per_slice: usize,
        read: fn([u8; B]) -> T,
    ) -> bool {
        if bytes.len() / B < per_slice {
            return false;
        }
        self.data
            .extend(bytes.chunks_exact(B).take(per_slice).map(|c| {
                let mut a = [0u8; B];
                a.copy_from_slice(c);
                read(a)
            }));
        true
    }

    pub fn dimensions(&self) -> [usize; 3] {
        self.dims
    }

    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// One slice's values, row-major.
    pub fn slice(&self, k: usize) -> &[T] {
        let n = self.dims[0] * self.dims[1];
        &self.data[k * n..(k + 1) * n]
    }

    pub fn get(&self, i: usize, j: usize, k: usize) -> T {
        self.data[(k * self.dims[1] + j) * self.dims[0] + i]
    }
}

/// A volume's voxels in the stored sample type of its frames.
#[derive(Debug, Clone, PartialEq)]
pub enum VoxelData {
    U8(VoxelVolume<u8>),
    I8(VoxelVolume<i8>),
    U16(VoxelVolume<u16>),
    I16(VoxelVolume<i16>),
    U32(VoxelVolume<u32>),
    I32(VoxelVolume<i32>),
}

impl VoxelData {
    /// Stacks decoded grey frames into volume order. `frames[n]` belongs to the
    /// `n`-th slice given to [`VolumeGeometry::build`]. The canonical frame layout
    /// (little-endian, sign-extended, see `codec`) is read as is.
    pub fn from_decoded_frames(
        volume: &VolumeGeometry,
        frames: &[&DecodedFrame],
    ) -> Result<VoxelData, VolumeDataError> {
        let dims = volume.dimensions();
        if frames.len() != dims[2] {
            return Err(VolumeDataError::WrongFrameCount {
                needed: dims[2],
                found: frames.len(),
            });
        }
        let mut stacker = VoxelStacker::new(volume);
        for &n in volume.order() {
            stacker.push(n, frames[n])?;
        }
        stacker.finish()
    }
}

/// Builds [`VoxelData`] one frame at a time, in volume order, so that a caller
/// reading frames from elsewhere (the GPU) holds the voxels and one frame, never
/// every frame and the voxels at once.
pub struct VoxelStacker {
    dims: [usize; 3],
    /// (rows, columns, samples, bits allocated, pixel representation) of the first frame.
    key: Option<(u32, u32, u16, u16, u16)>,
    data: Option<VoxelData>,
    slices: usize,
}

impl VoxelStacker {
    pub fn new(volume: &VolumeGeometry) -> VoxelStacker {
        VoxelStacker {
            dims: volume.dimensions(),
            key: None,
            data: None,
            slices: 0,
        }
    }

    /// Appends the next slice in volume order: `frame`, the `index`-th frame given
    /// to [`VolumeGeometry::build`] (named in errors).
    pub fn push(&mut self, index: usize, frame: &DecodedFrame) -> Result<(), VolumeDataError> {
        let dims = self.dims;
        let i = &frame.info;
        let key = (
            i.rows,
            i.columns,
            i.samples_per_pixel,
            i.bits_allocated,
            i.pixel_representation,
        );
        let expected = match self.key {
            Some(k) => k,
            None => {
                if key.2 != 1 {
                    return Err(VolumeDataError::NotGrey { samples: key.2 });
                }
                let k = (dims[1] as u32, dims[0] as u32, 1, key.3, key.4);
                self.key = Some(k);
                k
            }
        };
        if key != expected || self.slices >= dims[2] {
            return Err(VolumeDataError::FrameMismatch {
                index,
                found: key,
                expected,
            });
        }
        let capacity = dims.iter().product::<usize>();
        let per_slice = dims[0] * dims[1];
        // Canonical frames hold 1, 2 or 4 bytes per sample for Bits Allocated up to
        // 8, 16, 32 (1-bit data unpacked to bytes).
        let data = self.data.get_or_insert_with(|| match (key.3, key.4 != 0) {
            (0..=8, false) => VoxelData::U8(VoxelVolume::empty(dims, capacity)),
            (0..=8, true) => VoxelData::I8(VoxelVolume::empty(dims, capacity)),
            (9..=16, false) => VoxelData::U16(VoxelVolume::empty(dims, capacity)),
            (9..=16, true) => VoxelData::I16(VoxelVolume::empty(dims, capacity)),
            (_, false) => VoxelData::U32(VoxelVolume::empty(dims, capacity)),
            (_, true) => VoxelData::I32(VoxelVolume::empty(dims, capacity)),
        });
        let bytes = frame.data.as_slice();
        let ok = match data {
            VoxelData::U8(v) => v.append(bytes, per_slice, |c: [u8; 1]| c[0]),
            VoxelData::I8(v) => v.append(bytes, per_slice, |c: [u8; 1]| c[0] as i8),
            VoxelData::U16(v) => v.append(bytes, per_slice, u16::from_le_bytes),
            VoxelData::I16(v) => v.append(bytes, per_slice, i16::from_le_bytes),
            VoxelData::U32(v) => v.append(bytes, per_slice, u32::from_le_bytes),
            VoxelData::I32(v) => v.append(bytes, per_slice, i32::from_le_bytes),
        };
        if !ok {
            return Err(VolumeDataError::WrongLength {
                dims,
                needed: per_slice * dims[2],
                found: self.slices * per_slice + bytes.len() / (key.3.max(8) as usize / 8),
            });
        }
        self.slices += 1;
        Ok(())
    }

    /// The voxels, once every slice is in.
    pub fn finish(self) -> Result<VoxelData, VolumeDataError> {
        match self.data {
            Some(d) if self.slices == self.dims[2] => Ok(d),
            _ => Err(VolumeDataError::WrongFrameCount {
                needed: self.dims[2],
                found: self.slices,
            }),
        }
    }
}

impl VoxelData {
    /// [`resample`] whatever the sample type.
    pub fn resample(
        &self,
        volume: &VolumeGeometry,
        grid: &PlaneGrid,
        options: &ResampleOptions,
    ) -> Result<MprImage, VolumeDataError> {
        match self {
            VoxelData::U8(v) => resample(volume, v, grid, options),
            VoxelData::I8(v) => resample(volume, v, grid, options),
            VoxelData::U16(v) => resample(volume, v, grid, options),
            VoxelData::I16(v) => resample(volume, v, grid, options),
            VoxelData::U32(v) => resample(volume, v, grid, options),
            VoxelData::I32(v) => resample(volume, v, grid, options),
        }
    }
}

/// How samples between voxel centres are valued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Interpolation {
    Nearest,
    Trilinear,
}

/// Which values are interpolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ValueSpace {
    /// Stored values as they are.
    Stored,
    /// Each tap rescaled with its own slice's Rescale Slope/Intercept.
    Modality,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResampleOptions {
    pub interpolation: Interpolation,
    pub slab: Option<Slab>,
    pub values: ValueSpace,
    /// The value of a pixel with no sample inside the volume.
    pub background: f64,
}

impl Default for ResampleOptions {
    fn default() -> Self {
        ResampleOptions {
            interpolation: Interpolation::Trilinear,
            slab: None,
            values: ValueSpace::Stored,
            background: f64::NAN,
        }
    }
}

/// An MPR image: `values[py·width + px]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MprImage {
    pub width: u32,
    pub height: u32,
    pub values: Vec<f64>,
}

impl MprImage {
    pub fn get(&self, px: u32, py: u32) -> f64 {
        self.values[(py * self.width + px) as usize]
    }
}

/// One sample at voxel position `v`; `None` outside the volume.
pub fn sample<T: VoxelValue>(
    volume: &VolumeGeometry,
    voxels: &VoxelVolume<T>,
    v: Vec3,
    interpolation: Interpolation,
    values: ValueSpace,
) -> Option<f64> {
    if !volume.contains_voxel(v) {
        return None;
    }
    let [nx, ny, nz] = voxels.dims;
    let tap = |i: usize, j: usize, k: usize| -> f64 {
        let raw = voxels.get(i, j, k).to_f64();
        match values {
            ValueSpace::Stored => raw,
            ValueSpace::Modality => {
                let (slope, intercept) = volume.rescale(k);
                raw * slope + intercept
            }
        }
    };
    match interpolation {
        Interpolation::Nearest => {
            let idx = |x: f64, n: usize| ((x + 0.5).floor().max(0.0) as usize).min(n - 1);
            Some(tap(idx(v.x, nx), idx(v.y, ny), idx(v.z, nz)))
        }
        Interpolation::Trilinear => {
            let axis = |x: f64, n: usize| -> (usize, usize, f64) {
                if n == 1 {
                    return (0, 0, 0.0);
                }
                let x = x.clamp(0.0, (n - 1) as f64);
                let x0 = (x.floor() as usize).min(n - 2);
                (x0, x0 + 1, x - x0 as f64)
            };
            let (i0, i1, fx) = axis(v.x, nx);
            let (j0, j1, fy) = axis(v.y, ny);
            let (k0, k1, fz) = axis(v.z, nz);
            let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
            let plane = |k: usize| {
                lerp(
                    lerp(tap(i0, j0, k), tap(i1, j0, k), fx),
                    lerp(tap(i0, j1, k), tap(i1, j1, k), fx),
                    fy,
                )
            };
            Some(lerp(plane(k0), plane(k1), fz))
        }
    }
}

/// Resamples `voxels` on `grid`: the reference MPR image.
pub fn resample<T: VoxelValue>(
    volume: &VolumeGeometry,
    voxels: &VoxelVolume<T>,
    grid: &PlaneGrid,
    options: &ResampleOptions,
) -> Result<MprImage, VolumeDataError> {
    let dims = volume.dimensions();
    if voxels.dims != dims {
        return Err(VolumeDataError::WrongLength {
            dims,
            needed: dims.iter().product(),
            found: voxels.data.len(),
        });
    }
    let offsets = options
        .slab
        .map(|s| s.offsets_mm())
        .unwrap_or_else(|| vec![0.0]);
    let mode = options.slab.map(|s| s.mode).unwrap_or(SlabMode::Average);
    let normal = grid.plane.normal();
    let mut values = Vec::with_capacity(grid.width as usize * grid.height as usize);
    for py in 0..grid.height {
        for px in 0..grid.width {
            let centre = grid.pixel_center(px, py);
            let mut acc: Option<f64> = None;
            let mut count = 0usize;
            for o in &offsets {
                let v = volume.patient_to_voxel(centre + normal * *o);
                let Some(s) = sample(volume, voxels, v, options.interpolation, options.values)
                else {
                    continue;
                };
                count += 1;
                acc = Some(match (acc, mode) {
                    (None, _) => s,
                    (Some(a), SlabMode::Mip) => a.max(s),
                    (Some(a), SlabMode::MinIp) => a.min(s),
                    (Some(a), SlabMode::Average) => a + s,
                });
            }
            values.push(match (acc, mode) {
                (None, _) => options.background,
                (Some(a), SlabMode::Average) => a / count as f64,
                (Some(a), _) => a,
            });
        }
    }
    Ok(MprImage {
        width: grid.width,
        height: grid.height,
        values,
    })
}
