// The MPR pass: a plane (and slab) through a volume of stored values (a 3-D
// integer texture, or one brick of it) → display pixels or values, with the
// sampling rules of `crate/src/volume/resample.rs` (the CPU reference):
// - inside when every voxel coordinate is in [−0.5, n − 0.5);
// - nearest: voxel floor(x + 0.5); trilinear: x clamped to [0, n − 1],
//   x0 = min(floor(x), n − 2), weight x − x0, lerp along i, then j, then k;
// - slab: offsets −T/2 + T·m/steps (m = 0..=steps) along the plane normal,
//   combined by max, min or mean over the inside samples;
// - per-slice Rescale applied to each tap before interpolating when the volume's
//   rescale varies (values then are modality values).
// Needs display.wgsl.
//
// A volume larger than the device's 3-D texture limit is drawn brick by brick:
// bricks overlap by one voxel, and each voxel index (nearest) or interpolation
// cell (trilinear, by its lower corner) is owned by exactly one brick, so every
// sample is taken once, from one brick, with all its taps inside it. The bricks'
// partial (value, count) go through an Rgba32Uint accumulator holding f32 bits
// (fs_accumulate), then fs_resolve finishes; a volume in one brick goes straight
// to fs_direct. The *_values entries write the values instead of grey levels.

struct Params {
    display: Display,
    // (u, v, w, 1) → (i, j, k), or (i, j, d − d0) when the spacing is irregular;
    // u, v: output image coordinates, w: mm along the plane normal.
    to_voxel: mat4x4<f32>,
    // nx, ny, nz; w: 1 when spacing is irregular (k from the slice table).
    dims: vec4<i32>,
    // First voxel of the bound brick; w: 1 when values are modality values.
    brick_origin: vec4<i32>,
    // The brick owns indices brick_origin ≤ c < brick_owned on each axis.
    brick_owned: vec4<i32>,
    // interpolation (0 nearest, 1 trilinear), slab mode (0 MIP, 1 MinIP,
    // 2 average), steps (0: no slab), 0.
    mode: vec4<u32>,
    // x: slab thickness, mm.
    slab: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var volume: texture_3d<Texel>;
@group(0) @binding(2) var luts: texture_2d<u32>;
// Per slice k at (k % 256, k / 256): Rescale Slope, Intercept, distance − d0.
@group(0) @binding(3) var slices: texture_2d<f32>;
// The accumulation so far: (value, count) as f32 bits.
@group(0) @binding(4) var previous: texture_2d<u32>;

fn slice_row(k: i32) -> vec4<f32> {
    return textureLoad(slices, vec2<i32>(k % 256, k / 256), 0);
}

// Fractional slice index of a distance along the normal (irregular spacing), as
// VolumeGeometry::k_of_distance: the segment of the last slice at or before d.
fn k_of_distance(d: f32) -> f32 {
    var lo = 0;
    var hi = u.dims.z - 2;
    while (lo < hi) {
        let mid = (lo + hi + 1) / 2;
        if (slice_row(mid).z <= d) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let d0 = slice_row(lo).z;
    let d1 = slice_row(lo + 1).z;
    return f32(lo) + (d - d0) / (d1 - d0);
}

fn owned(c: vec3<i32>) -> bool {
    return all(c >= u.brick_origin.xyz) && all(c < u.brick_owned.xyz);
}

// One voxel's value, centred (display.wgsl's x − x0).
fn tap(c: vec3<i32>) -> f32 {
    let t = textureLoad(volume, c - u.brick_origin.xyz, 0).x;
    if (u.brick_origin.w == 1) {
        let r = slice_row(c.z);
        return f32(t) * r.x + (r.y - u.display.origin_f.x);
    }
    return centred(t);
}

// (value, 1) for a sample this brick owns, (0, 0) otherwise.
fn sample_at(v: vec3<f32>) -> vec2<f32> {
    let n = u.dims.xyz;
    let nf = vec3<f32>(n);
    if (any(v < vec3<f32>(-0.5)) || any(v >= nf - 0.5)) {
        return vec2<f32>(0.0, 0.0);
    }
    if (u.mode.x == 0u) {
        let c = clamp(vec3<i32>(floor(v + 0.5)), vec3<i32>(0), n - 1);
        if (!owned(c)) {
            return vec2<f32>(0.0, 0.0);
        }
        return vec2<f32>(tap(c), 1.0);
    }
    let ax = interpolation_axis(v.x, n.x);
    let ay = interpolation_axis(v.y, n.y);
    let az = interpolation_axis(v.z, n.z);
    let c0 = vec3<i32>(i32(ax.x), i32(ay.x), i32(az.x));
    if (!owned(c0)) {
        return vec2<f32>(0.0, 0.0);
    }
    let c1 = vec3<i32>(i32(ax.y), i32(ay.y), i32(az.y));
    let k0 = lerp(
        lerp(tap(vec3<i32>(c0.x, c0.y, c0.z)), tap(vec3<i32>(c1.x, c0.y, c0.z)), ax.z),
        lerp(tap(vec3<i32>(c0.x, c1.y, c0.z)), tap(vec3<i32>(c1.x, c1.y, c0.z)), ax.z),
        ay.z,
    );
    let k1 = lerp(
        lerp(tap(vec3<i32>(c0.x, c0.y, c1.z)), tap(vec3<i32>(c1.x, c0.y, c1.z)), ax.z),
        lerp(tap(vec3<i32>(c0.x, c1.y, c1.z)), tap(vec3<i32>(c1.x, c1.y, c1.z)), ax.z),
        ay.z,
    );
    return vec2<f32>(lerp(k0, k1, az.z), 1.0);
}

fn combine(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    if (a.y == 0.0) {
        return b;
    }
    if (b.y == 0.0) {
        return a;
    }
    switch u.mode.y {
        case 0u: {
            return vec2<f32>(max(a.x, b.x), a.y + b.y);
        }
        case 1u: {
            return vec2<f32>(min(a.x, b.x), a.y + b.y);
        }
        default: {
            return vec2<f32>(a.x + b.x, a.y + b.y);
        }
    }
}

// Every slab sample of this output pixel that the bound brick owns: (value, count).
fn accumulate(pixel: vec2<f32>) -> vec2<f32> {
    let steps = u.mode.z;
    let t = u.slab.x;
    var acc = vec2<f32>(0.0, 0.0);
    for (var m = 0u; m <= steps; m = m + 1u) {
        var w = 0.0;
        if (steps > 0u) {
            w = -t / 2.0 + t * f32(m) / f32(steps);
        }
        let p = u.to_voxel * vec4<f32>(pixel, w, 1.0);
        var v = p.xyz;
        if (u.dims.w == 1) {
            v.z = k_of_distance(p.z);
        }
        acc = combine(acc, sample_at(v));
    }
    return acc;
}

fn finish_value(acc: vec2<f32>) -> f32 {
    if (u.mode.y == 2u) {
        return acc.x / acc.y;
    }
    return acc.x;
}

// Display pixels; black where no sample was inside the volume.
fn finish_grey(acc: vec2<f32>) -> vec4<f32> {
    if (acc.y == 0.0) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    let g = grey_level(modality_y(finish_value(acc))) / 255.0;
    return vec4<f32>(g, g, g, 1.0);
}

// Values, as f32 bits in an integer target (renderable everywhere, unlike
// 32-bit float targets on GL): (value, inside).
fn finish_values(acc: vec2<f32>) -> vec4<u32> {
    if (acc.y == 0.0) {
        return vec4<u32>(0u, 0u, 0u, 0u);
    }
    return vec4<u32>(bitcast<u32>(finish_value(acc) + u.display.origin_f.x), 1u, 0u, 0u);
}

fn load_previous(position: vec4<f32>) -> vec2<f32> {
    return bitcast<vec2<f32>>(textureLoad(previous, vec2<i32>(position.xy), 0).xy);
}

@fragment
fn fs_direct(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return finish_grey(accumulate(position.xy));
}

@fragment
fn fs_direct_values(@builtin(position) position: vec4<f32>) -> @location(0) vec4<u32> {
    return finish_values(accumulate(position.xy));
}

@fragment
fn fs_accumulate(@builtin(position) position: vec4<f32>) -> @location(0) vec4<u32> {
    let acc = combine(load_previous(position), accumulate(position.xy));
    return vec4<u32>(bitcast<vec2<u32>>(acc), 0u, 0u);
}

@fragment
fn fs_resolve(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return finish_grey(load_previous(position));
}

@fragment
fn fs_resolve_values(@builtin(position) position: vec4<f32>) -> @location(0) vec4<u32> {
    return finish_values(load_previous(position));
}
