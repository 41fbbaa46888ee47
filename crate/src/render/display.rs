//! A resolved [`GreyPipeline`] → the `Display` uniform of `shaders/display.wgsl`.
//!
//! The shader sees each sample as `dv = x − x0`: `x` the stored value (or, for a
//! volume whose rescale varies per slice, the modality value), `x0` an integer near
//! the window chosen here. `dv` is exact for integer texels (computed from their
//! high and low 16 bits), so the f32 arithmetic that follows works on small numbers.
//! Then, as `pixel` does in f64:
//!
//! - Modality: Rescale folds into the VOI coefficients (`m = dv·s + t'`, with
//!   `t' = x0·s + t`); a Modality LUT is looked up at `x0 + floor(dv)` and centred
//!   again (`y = LUT − y0`, `m = y + y0`).
//! - VOI: LINEAR and LINEAR_EXACT are `255·p = clamp(y·a + b, 0, 255)` (255 folded
//!   into a and b), which equals the standard's three branches because the
//!   middle formula is 0 and 1 exactly at the branch borders; a LINEAR width of 1 (and widths too narrow for f32) is the
//!   threshold the branches reduce to. SIGMOID is `1 / (1 + exp(y·a + b))`. A VOI
//!   LUT is looked up at `floor(m)`, clamped at both ends, divided by `2^bits − 1`.
//! - Presentation: `p ← 1 − p` when inverted.

use super::uniforms::Uniforms;
use crate::pixel::{GreyPipeline, Lut, ModalityTransform, VoiLutFunction, VoiTransform};

/// What the values given to the display stage are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Domain {
    /// Stored values: the pipeline's Modality stage applies.
    Stored,
    /// Modality values already (a volume rescaled per slice): no Modality stage.
    Modality,
}

/// The Modality LUT and VOI LUT the shader needs in the LUT atlas.
pub(crate) fn tables(p: &GreyPipeline, domain: Domain) -> (Option<&Lut>, Option<&Lut>) {
    let modality = match (&p.modality, domain) {
        (ModalityTransform::Lut(l), Domain::Stored) => Some(l),
        _ => None,
    };
    let voi = match &p.voi {
        VoiTransform::Lut(l) => Some(l),
        VoiTransform::Window(_) => None,
    };
    (modality, voi)
}

const VOI_AFFINE: u32 = 0;
const VOI_THRESHOLD: u32 = 1;
const VOI_SIGMOID: u32 = 2;
const VOI_LUT: u32 = 3;

/// Coefficients larger than this are treated as a threshold (a window narrower
/// than f32 can resolve).
const MAX_COEFFICIENT: f64 = 1e30;

fn clamp_origin(v: f64) -> i64 {
    if v.is_finite() {
        v.round().clamp(-(1i64 << 40) as f64, (1i64 << 40) as f64) as i64
    } else {
        0
    }
}

/// The `Display` uniform (7 × vec4). `modality_row` / `voi_row`: where
/// [`tables`]' LUTs start in the atlas (ignored when absent).
pub(crate) fn uniform(
    p: &GreyPipeline,
    domain: Domain,
    modality_row: u32,
    voi_row: u32,
) -> Uniforms {
    let (modality_lut, voi_lut) = tables(p, domain);
    // (s, t): modality value = x·s + t before centring.
    let (s, t) = match (&p.modality, domain) {
        (ModalityTransform::Rescale { slope, intercept }, Domain::Stored) => (*slope, *intercept),
        _ => (1.0, 0.0),
    };
    // The value the window is centred on, in modality units.
    let centre = match &p.voi {
        VoiTransform::Window(w) if w.function == VoiLutFunction::Linear => w.center - 0.5,
        VoiTransform::Window(w) => w.center,
        VoiTransform::Lut(l) => l.first_mapped as f64 + l.data.len() as f64 / 2.0,
    };
    // x0 centres the texel values, y0 the Modality LUT's output.
    let (x0, y0) = if modality_lut.is_some() {
        (0i64, clamp_origin(centre))
    } else {
        (clamp_origin((centre - t) / s), 0)
    };
    // y → modality value: m = y·s + t'.
    let (s, t1) = if modality_lut.is_some() {
        (1.0, y0 as f64)
    } else {
        (s, x0 as f64 * s + t)
    };

    let (mut kind, mut a, mut b, mut threshold, mut max_output) = (VOI_AFFINE, 0.0, 0.0, 0.0, 1.0);
    let dir = if s < 0.0 { -1.0 } else { 1.0 };
    // m > level ⟺ dir · (y − threshold) > 0.
    let threshold_at = |level: f64| (level - t1) / s;
    match &p.voi {
        VoiTransform::Window(w) => match w.function {
            VoiLutFunction::Linear => {
                if w.width > 1.0 && (s / (w.width - 1.0)).abs() < MAX_COEFFICIENT {
                    a = 255.0 * s / (w.width - 1.0);
                    b = 255.0 * ((t1 - (w.center - 0.5)) / (w.width - 1.0) + 0.5);
                } else {
                    kind = VOI_THRESHOLD;
                    threshold = threshold_at(w.center - 0.5);
                }
            }
            VoiLutFunction::LinearExact => {
                if (s / w.width).abs() < MAX_COEFFICIENT {
                    a = 255.0 * s / w.width;
                    b = 255.0 * ((t1 - w.center) / w.width + 0.5);
                } else {
                    kind = VOI_THRESHOLD;
                    threshold = threshold_at(w.center);
                }
            }
            VoiLutFunction::Sigmoid => {
                if (4.0 * s / w.width).abs() < MAX_COEFFICIENT {
                    kind = VOI_SIGMOID;
                    a = -4.0 * s / w.width;
                    b = -4.0 * (t1 - w.center) / w.width;
                } else {
                    kind = VOI_THRESHOLD;
                    threshold = threshold_at(w.center);
                }
            }
        },
        VoiTransform::Lut(l) => {
            kind = VOI_LUT;
            a = s;
            b = t1;
            max_output = l.max_output();
        }
    }
    let lut_vec = |l: Option<&Lut>, row: u32| match l {
        Some(l) => [
            l.first_mapped.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            l.data.len() as i32,
            row as i32,
            0,
        ],
        None => [0, 1, 0, 0],
    };
    let mut u = Uniforms::default();
    u.u4([modality_lut.is_some() as u32, kind, p.invert as u32, 0])
        .i4([(x0 >> 16) as i32, (x0 & 0xFFFF) as i32, 0, 0])
        .i4(lut_vec(modality_lut, modality_row))
        .i4(lut_vec(voi_lut, voi_row))
        .f4([a, b, 0.0, 0.0])
        .f4([threshold, dir, max_output, 0.0])
        .f4([x0 as f64, y0 as f64, 0.0, 0.0]);
    u
}

/// A `Display` uniform for frames that do not use it (palette, RGB).
pub(crate) fn unused() -> Uniforms {
    let mut u = Uniforms::default();
    u.u4([0; 4]).i4([0; 4]).i4([0, 1, 0, 0]).i4([0, 1, 0, 0]);
    u.f4([0.0; 4]).f4([0.0, 1.0, 1.0, 0.0]).f4([0.0; 4]);
    u
}
