// The display arithmetic of PS3.3 C.11 (Modality LUT, VOI LUT, Presentation LUT)
// in f32, mirroring `crate/src/pixel` line by line; `crate/src/render/display.rs`
// fills the `Display` uniform and says why each formula equals pixel's.
//
// Prepended (by the renderer) to image.wgsl and mpr.wgsl, after a line
// `alias Texel = i32;` or `alias Texel = u32;` naming the sample type of the
// integer texture being drawn. The including shader declares
// `var<uniform> u` with a member `display: Display`, and `var luts: texture_2d<u32>`.

struct Display {
    // x: Modality LUT (1) or rescale/none (0); y: VOI kind (0 affine + clamp,
    // 1 threshold, 2 sigmoid, 3 VOI LUT); z: invert.
    kinds: vec4<u32>,
    // x0 >> 16 and x0 & 0xFFFF: the integer the texel values are centred on.
    origin: vec4<i32>,
    // Modality LUT and VOI LUT in the LUT atlas: first mapped, entries, first row.
    modality_lut: vec4<i32>,
    voi_lut: vec4<i32>,
    // x, y: a, b (affine: 255·p = y·a + b; sigmoid exponent y·a + b; VOI LUT
    // input m = y·a + b).
    affine: vec4<f32>,
    // x: threshold, y: its direction (±1), z: VOI LUT largest output (2^bits − 1).
    extra: vec4<f32>,
    // x: x0, y: y0 (the Modality LUT output's centre).
    origin_f: vec4<f32>,
}

const LUT_ROW: i32 = 256;
// floor(255·p + ε): the CPU adds 1e-9 to absorb f64 rounding of exact integers;
// f32 needs more: 255·p is within 5e-5 of its exact value (render/mod.rs,
// "Exactness").
const QUANTISE_EPSILON: f32 = 1e-4;

// Entry of a LUT of the atlas for input x, clamped to the first and last entry.
fn lut_entry(table: vec4<i32>, x: i32) -> f32 {
    let i = clamp(x, table.x, table.x + table.y - 1) - table.x;
    return f32(textureLoad(luts, vec2<i32>(i % LUT_ROW, table.z + i / LUT_ROW), 0).x);
}

// x − x0 for an integer texel, exact: high and low 16 bits subtracted apart.
fn centred(x: Texel) -> f32 {
    let hi = i32(x >> 16u) - u.display.origin.x;
    let lo = i32(x & Texel(0xFFFF)) - u.display.origin.y;
    return f32(hi) * 65536.0 + f32(lo);
}

// The centred (possibly interpolated) value → the VOI input y.
fn modality_y(dv: f32) -> f32 {
    if (u.display.kinds.x == 1u) {
        // x0 is 0 with a Modality LUT; a fractional input uses the entry below it.
        let x = i32(clamp(floor(dv), -2147483648.0, 2147483520.0));
        return lut_entry(u.display.modality_lut, x) - u.display.origin_f.y;
    }
    return dv;
}

// VOI, Presentation and the quantisation: y → grey level 0..255, as
// pixel::quantise_8(p) = floor(255·p). The affine kind carries 255 in its
// coefficients, so that 255·p is one multiply-add (exact for the common windows
// whose 255·p is an integer).
fn grey_level(y: f32) -> f32 {
    let d = u.display;
    var g: f32;
    switch d.kinds.y {
        case 1u: {
            g = select(0.0, 255.0, d.extra.y * (y - d.extra.x) > 0.0);
        }
        case 2u: {
            g = 255.0 / (1.0 + exp(clamp(y * d.affine.x + d.affine.y, -80.0, 80.0)));
        }
        case 3u: {
            let m = floor(y * d.affine.x + d.affine.y);
            let x = i32(clamp(m, -2147483648.0, 2147483520.0));
            g = 255.0 * (lut_entry(d.voi_lut, x) / d.extra.z);
        }
        default: {
            g = clamp(y * d.affine.x + d.affine.y, 0.0, 255.0);
        }
    }
    if (d.kinds.z == 1u) {
        g = 255.0 - g;
    }
    return clamp(floor(g + QUANTISE_EPSILON), 0.0, 255.0);
}

// A triangle covering the whole target.
@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let x = select(-1.0, 3.0, i == 1u);
    let y = select(-1.0, 3.0, i == 2u);
    return vec4<f32>(x, y, 0.0, 1.0);
}

// a + (b − a)·t, the CPU resampler's lerp (not mix's a·(1 − t) + b·t).
fn lerp(a: f32, b: f32, t: f32) -> f32 {
    return a + (b - a) * t;
}

// Clamp-to-edge interpolation along one axis of n samples, as volume's CPU
// resampler: (first index, second index, weight of the second).
fn interpolation_axis(c: f32, n: i32) -> vec3<f32> {
    if (n <= 1) {
        return vec3<f32>(0.0, 0.0, 0.0);
    }
    let x = clamp(c, 0.0, f32(n - 1));
    let i0 = min(floor(x), f32(n - 2));
    return vec3<f32>(i0, i0 + 1.0, x - i0);
}
