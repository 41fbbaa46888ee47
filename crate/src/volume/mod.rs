//! `volume` owns series geometry: ordering slices by Image Position along the
//! normal, spacing (uniform, irregular, missing slices), gantry tilt (sheared,
//! kept exact), per-slice rescale, the exact voxel ↔ patient maps, MPR plane math
//! (planes, sampling grids, slab offsets, reference lines, volume outlines) and the
//! CPU reference resampler the GPU renderer is tested against.
//!
//! It never touches the GPU, the network or pixel decoding; it reads only the
//! geometry attributes of a data set (Part 10 or DICOM JSON) and takes voxel values
//! from whoever decoded them.
//!
//! # Conventions
//! - Patient space is DICOM LPS in mm. Voxel (i, j, k): `i` = column, `j` = row,
//!   `k` = slice in volume order; integer values are voxel centres (Image Position
//!   is the centre of the first pixel). `k` grows along `n = row × column`.
//! - The volume's extent is the voxel-edge box `[-0.5, n - 0.5)` on each axis.
//! - Texture coordinates: texel (i, j, k) at `((i + 0.5)/nx, (j + 0.5)/ny, (k + 0.5)/nz)`.
//! - MPR image coordinates: see [`mpr`]; pixel (px, py) is sampled at its centre.
//! - All geometry is f64; matrices are affine, row-major, acting on column vectors.

pub mod geometry;
pub mod math;
pub mod mpr;
pub mod resample;
pub mod slice;

pub use geometry::{MissingSlices, NotAVolume, SliceSpacing, VolumeGeometry};
pub use math::{Mat4, Vec3};
pub use mpr::{
    plane_box_intersection, plane_intersection, three_plane_point, Line3, MprPlane, PlaneGrid,
    Slab, SlabMode, StandardView, VolumeAxis,
};
pub use resample::{
    resample, sample, Interpolation, MprImage, ResampleOptions, ValueSpace, VolumeDataError,
    VoxelData, VoxelStacker, VoxelValue, VoxelVolume,
};
pub use slice::SliceGeometry;
