//! The VOI window functions of PS3.3 C.11.2.1.2 and C.11.2.1.3, and the one
//! quantisation step to 8 bits. Every function here maps to the unit interval
//! `[0, 1]` (the standard's `ymin..ymax` with `ymin = 0`, `ymax = 1`); nothing
//! here knows about frames, so the GPU shaders can mirror each line.

use serde::Serialize;

/// VOI LUT Function (0028,1056). Absent or unknown values mean LINEAR (PS3.3
/// C.11.2.1.3: "If absent, the default is LINEAR").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum VoiLutFunction {
    #[default]
    Linear,
    LinearExact,
    Sigmoid,
}

impl VoiLutFunction {
    /// Parses the defined terms, tolerating padding and case; `None` for anything else.
    pub fn from_defined_term(s: &str) -> Option<Self> {
        match s
            .trim_end_matches(['\0', ' '])
            .trim()
            .to_ascii_uppercase()
            .as_str()
        {
            "LINEAR" => Some(Self::Linear),
            "LINEAR_EXACT" => Some(Self::LinearExact),
            "SIGMOID" => Some(Self::Sigmoid),
            _ => None,
        }
    }

    /// The DICOM defined term.
    pub fn defined_term(self) -> &'static str {
        match self {
            Self::Linear => "LINEAR",
            Self::LinearExact => "LINEAR_EXACT",
            Self::Sigmoid => "SIGMOID",
        }
    }

    /// The smallest width the function is defined for: 1 for LINEAR (C.11.2.1.2.1
    /// "Window Width shall always be greater than or equal to 1"), otherwise any
    /// width above 0 (C.11.2.1.3.1/.2).
    pub fn is_valid_width(self, width: f64) -> bool {
        width.is_finite()
            && match self {
                Self::Linear => width >= 1.0,
                Self::LinearExact | Self::Sigmoid => width > 0.0,
            }
    }
}

/// One VOI window: Window Center (0028,1050), Window Width (0028,1051), the VOI LUT
/// Function it is used with, and its Window Center & Width Explanation (0028,1055).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiWindow {
    pub center: f64,
    pub width: f64,
    pub function: VoiLutFunction,
    pub explanation: Option<String>,
}

impl VoiWindow {
    pub fn new(center: f64, width: f64, function: VoiLutFunction) -> Self {
        VoiWindow {
            center,
            width,
            function,
            explanation: None,
        }
    }

    /// True when center is finite and width valid for the function.
    pub fn is_valid(&self) -> bool {
        self.center.is_finite() && self.function.is_valid_width(self.width)
    }

    /// The window's output for a modality value, in `[0, 1]`.
    pub fn apply(&self, x: f64) -> f64 {
        match self.function {
            VoiLutFunction::Linear => linear(x, self.center, self.width),
            VoiLutFunction::LinearExact => linear_exact(x, self.center, self.width),
            VoiLutFunction::Sigmoid => sigmoid(x, self.center, self.width),
        }
    }
}

/// LINEAR, PS3.3 C.11.2.1.2.1, with `ymin = 0`, `ymax = 1`:
///
/// ```text
/// if      x <= c − 0.5 − (w − 1)/2  then y = 0
/// else if x >  c − 0.5 + (w − 1)/2  then y = 1
/// else    y = ((x − (c − 0.5)) / (w − 1) + 0.5)
/// ```
///
/// `w` must be ≥ 1; with `w = 1` the window is a threshold at `c − 0.5` and the
/// third branch is never taken (so nothing divides by zero).
pub fn linear(x: f64, c: f64, w: f64) -> f64 {
    let half = (w - 1.0) / 2.0;
    if x <= c - 0.5 - half {
        0.0
    } else if x > c - 0.5 + half {
        1.0
    } else {
        (x - (c - 0.5)) / (w - 1.0) + 0.5
    }
}

/// LINEAR_EXACT, PS3.3 C.11.2.1.3.2, with `ymin = 0`, `ymax = 1`:
///
/// ```text
/// if      x <= c − w/2  then y = 0
/// else if x >  c + w/2  then y = 1
/// else    y = (x − c) / w + 0.5
/// ```
pub fn linear_exact(x: f64, c: f64, w: f64) -> f64 {
    if x <= c - w / 2.0 {
        0.0
    } else if x > c + w / 2.0 {
        1.0
    } else {
        (x - c) / w + 0.5
    }
}

/// SIGMOID, PS3.3 C.11.2.1.3.1, with `ymin = 0`, `ymax = 1`:
/// `y = 1 / (1 + exp(−4 (x − c) / w))`. At `x = c` it is exactly 0.5.
pub fn sigmoid(x: f64, c: f64, w: f64) -> f64 {
    1.0 / (1.0 + (-4.0 * (x - c) / w).exp())
}

/// The one quantisation to 8 bits: `floor(255 · p)`, `p` clamped to `[0, 1]` (NaN
/// gives 0). Truncation, not rounding, because DCMTK's dcmimgle truncates: with it
/// windows give DCMTK's grey levels exactly, but for the exact-integer cases the
/// module docs list. A GPU writing to a unorm target must floor before it stores.
pub fn quantise_8(p: f64) -> u8 {
    // A hair above zero absorbs the rounding error of an exact integer result
    // computed in floating point (255 · 0.2 = 50.99999999999999).
    let v = (p * 255.0 + 1e-9).floor();
    if v >= 255.0 {
        255
    } else if v > 0.0 {
        v as u8
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_borders_follow_the_standard() {
        // c = 40, w = 400: bottom border 40 − 0.5 − 199.5 = −160, top 239.
        assert_eq!(linear(-160.0, 40.0, 400.0), 0.0);
        assert!(linear(-159.999, 40.0, 400.0) > 0.0);
        assert_eq!(linear(239.0, 40.0, 400.0), 1.0);
        assert_eq!(linear(239.001, 40.0, 400.0), 1.0);
        assert!(linear(238.999, 40.0, 400.0) < 1.0);
        // The centre − 0.5 maps to the middle.
        assert_eq!(linear(39.5, 40.0, 400.0), 0.5);
        // Supplement 33: c = 2^(n−1), w = 2^n selects 0 .. 2^n − 1 for n = 8.
        assert_eq!(linear(0.0, 128.0, 256.0), 0.0);
        assert_eq!(linear(255.0, 128.0, 256.0), 1.0);
        assert_eq!(quantise_8(linear(1.0, 128.0, 256.0)), 1);
        assert_eq!(quantise_8(linear(254.0, 128.0, 256.0)), 254);
    }

    #[test]
    fn linear_width_one_is_a_threshold_at_center_minus_half() {
        assert_eq!(linear(99.5, 100.0, 1.0), 0.0);
        assert_eq!(linear(99.0, 100.0, 1.0), 0.0);
        assert_eq!(linear(99.50001, 100.0, 1.0), 1.0);
        assert_eq!(linear(100.0, 100.0, 1.0), 1.0);
        assert!(linear(99.5, 100.0, 1.0).is_finite());
    }

    #[test]
    fn linear_exact_borders_and_midpoint() {
        assert_eq!(linear_exact(-160.0, 40.0, 400.0), 0.0);
        assert_eq!(linear_exact(240.0, 40.0, 400.0), 1.0);
        assert_eq!(linear_exact(240.0001, 40.0, 400.0), 1.0);
        assert_eq!(linear_exact(40.0, 40.0, 400.0), 0.5);
        // Widths below 1 are allowed for LINEAR_EXACT.
        assert_eq!(linear_exact(0.25, 0.0, 0.5), 1.0);
        assert_eq!(linear_exact(0.1, 0.0, 0.5), 0.7);
        assert!(VoiLutFunction::LinearExact.is_valid_width(0.5));
        assert!(!VoiLutFunction::Linear.is_valid_width(0.5));
        assert!(!VoiLutFunction::Sigmoid.is_valid_width(0.0));
    }

    #[test]
    fn sigmoid_midpoint_and_tails() {
        assert_eq!(sigmoid(40.0, 40.0, 400.0), 0.5);
        assert_eq!(quantise_8(sigmoid(40.0, 40.0, 400.0)), 127);
        assert!(sigmoid(-1e6, 40.0, 400.0) < 1e-12);
        assert!(sigmoid(1e6, 40.0, 400.0) > 1.0 - 1e-12);
        // At c ± w/2 the slope 4/w gives 1/(1+e^∓2).
        let hi = sigmoid(240.0, 40.0, 400.0);
        assert!((hi - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn quantisation_truncates_and_clamps() {
        assert_eq!(quantise_8(0.0), 0);
        assert_eq!(quantise_8(1.0), 255);
        assert_eq!(quantise_8(-3.0), 0);
        assert_eq!(quantise_8(7.0), 255);
        assert_eq!(quantise_8(f64::NAN), 0);
        assert_eq!(quantise_8(0.2), 51);
        assert_eq!(quantise_8(254.99 / 255.0), 254);
    }

    #[test]
    fn function_terms_parse_with_padding() {
        assert_eq!(
            VoiLutFunction::from_defined_term("SIGMOID "),
            Some(VoiLutFunction::Sigmoid)
        );
        assert_eq!(
            VoiLutFunction::from_defined_term("linear_exact"),
            Some(VoiLutFunction::LinearExact)
        );
        assert_eq!(VoiLutFunction::from_defined_term("LOG"), None);
    }
}
