// The 2-D image pass: one frame's stored values (an integer texture) → display
// pixels, through the view transform (zoom, pan, rotation, flips, pixel aspect)
// and, for greyscale, display.wgsl's Modality/VOI/Presentation stages; palette
// and RGB in integer arithmetic as `pixel::render_rgb8`. Needs display.wgsl.

struct Params {
    display: Display,
    // Output pixel centre (ox, oy) → frame coordinates:
    // x = view_x.x·ox + view_x.y·oy + view_x.z, y likewise; pixel (i, j) of the
    // frame covers [i, i+1) × [j, j+1).
    view_x: vec4<f32>,
    view_y: vec4<f32>,
    // columns, rows, kind (0 grey, 1 palette, 2 RGB, 3 YBR_FULL), interpolation
    // (0 nearest, 1 bilinear).
    image: vec4<u32>,
    // RGB: bits stored, signed; 0, 0.
    colour: vec4<u32>,
    // Palette channels (r, g, b) in the LUT atlas: first mapped, entries, first
    // row, bits per entry.
    palette_r: vec4<i32>,
    palette_g: vec4<i32>,
    palette_b: vec4<i32>,
    // YBR_FULL → RGB coefficients (f32 as codec's): 1.402, cb→g, cr→g, 1.772.
    ybr: vec4<f32>,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var frame: texture_2d<Texel>;
@group(0) @binding(2) var luts: texture_2d<u32>;

fn palette_channel(table: vec4<i32>, v: i32) -> f32 {
    let e = u32(lut_entry(vec4<i32>(table.x, table.y, table.z, 0), v));
    let bits = u32(table.w);
    if (bits > 8u) {
        return f32(e >> (min(bits, 16u) - 8u));
    }
    return f32(e);
}

// An n-bit colour sample → 8 bits, as pixel's colour_8.
fn colour8(t: Texel) -> f32 {
    let bits = u.colour.x;
    let raw = bitcast<u32>(t);
    let max = select((1u << bits) - 1u, 0xFFFFFFFFu, bits >= 32u);
    var v: u32;
    if (u.colour.y == 1u) {
        v = (raw + (1u << (bits - 1u))) & max;
    } else {
        v = min(raw, max);
    }
    if (bits >= 8u) {
        return f32(v >> (bits - 8u));
    }
    return f32(v * 255u / max);
}

// One texel as 8-bit RGB (palette, RGB, YBR_FULL), 0..255.
fn colour_tap(p: vec2<i32>) -> vec3<f32> {
    let t = textureLoad(frame, p, 0);
    switch u.image.z {
        case 1u: {
            let v = i32(t.x);
            return vec3<f32>(
                palette_channel(u.palette_r, v),
                palette_channel(u.palette_g, v),
                palette_channel(u.palette_b, v),
            );
        }
        case 3u: {
            let y = f32(t.x);
            let cb = f32(t.y) - 128.0;
            let cr = f32(t.z) - 128.0;
            let rgb = vec3<f32>(
                y + u.ybr.x * cr,
                y + u.ybr.y * cb + u.ybr.z * cr,
                y + u.ybr.w * cb,
            );
            return clamp(floor(rgb + 0.5), vec3<f32>(0.0), vec3<f32>(255.0));
        }
        default: {
            return vec3<f32>(colour8(t.x), colour8(t.y), colour8(t.z));
        }
    }
}

fn grey_tap(p: vec2<i32>) -> f32 {
    return centred(textureLoad(frame, p, 0).x);
}

@fragment
fn fs_image(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let o = position.xy;
    let x = u.view_x.x * o.x + u.view_x.y * o.y + u.view_x.z;
    let y = u.view_y.x * o.x + u.view_y.y * o.y + u.view_y.z;
    let columns = i32(u.image.x);
    let rows = i32(u.image.y);
    if (!(x >= 0.0 && y >= 0.0 && x < f32(columns) && y < f32(rows))) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    let grey = u.image.z == 0u;
    if (u.image.w == 0u) {
        let p = vec2<i32>(i32(floor(x)), i32(floor(y)));
        if (grey) {
            let g = grey_level(modality_y(grey_tap(p))) / 255.0;
            return vec4<f32>(g, g, g, 1.0);
        }
        return vec4<f32>(colour_tap(p) / 255.0, 1.0);
    }
    // Bilinear between texel centres, clamp to edge.
    let ax = interpolation_axis(x - 0.5, columns);
    let ay = interpolation_axis(y - 0.5, rows);
    let p00 = vec2<i32>(i32(ax.x), i32(ay.x));
    let p10 = vec2<i32>(i32(ax.y), i32(ay.x));
    let p01 = vec2<i32>(i32(ax.x), i32(ay.y));
    let p11 = vec2<i32>(i32(ax.y), i32(ay.y));
    if (grey) {
        let top = lerp(grey_tap(p00), grey_tap(p10), ax.z);
        let bottom = lerp(grey_tap(p01), grey_tap(p11), ax.z);
        let dv = lerp(top, bottom, ay.z);
        let g = grey_level(modality_y(dv)) / 255.0;
        return vec4<f32>(g, g, g, 1.0);
    }
    let top = mix(colour_tap(p00), colour_tap(p10), ax.z);
    let bottom = mix(colour_tap(p01), colour_tap(p11), ax.z);
    let rgb = floor(top + (bottom - top) * ay.z + 0.5);
    return vec4<f32>(rgb / 255.0, 1.0);
}
