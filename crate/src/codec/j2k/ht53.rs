//! HTJ2K, and part-1 JPEG 2000 (EBCOT code-blocks through `t1`, packet headers per
//! B.10 with the codeword segments of B.10.7), for the streams that `ht_fits` /
//! `part1_fits` admit, when they are also one tile at the grid origin:
//! packets of one layer in a resolution-major order (LRCP, RLCP or RPCL), with
//! precinct partitions (B.6/B.7) where COD sets them, code-blocks through `ht_block`
//! or `t1` straight into one subband-layout plane per component, then the inverse
//! wavelet transform in
//! place (F.3: each level horizontal, then vertical): the 5/3 on integers for
//! reversible streams, or, for irreversible ones, the blocks dequantised and the 9/7
//! applied in f32 exactly as openjp2 does both (`dwt97`). Returns the decoded samples
//! per component, before the inverse component transform and level shift. `None` for
//! anything outside that subset or malformed (a code-block the block decoder rejects,
//! data past the tile-part, a header openjp2 would refuse): the caller then decodes
//! with openjp2, which says what is wrong.

use super::dwt97::{band_scale, dequantise, res_size};
use super::ht_block::decode_codeblock32;
use super::t1::{CodeBlock, STYLE_BYPASS, STYLE_TERMALL, T1};

/// What the main header says, for a single-tile stream at the origin.
struct Params {
    width: usize,
    height: usize,
    levels: u32,
    /// Code-block width and height exponents.
    xcb: u32,
    ycb: u32,
    /// Precinct exponents (PPx, PPy) per resolution.
    precincts: Vec<(u32, u32)>,
    sop: bool,
    eph: bool,
    guard_bits: u32,
    /// QCD exponent and mantissa (0 when reversible) per subband, in openjp2's band
    /// order (LL, then HL, LH, HH per resolution); derived quantisation expanded.
    steps: Vec<(u32, u32)>,
    /// The irreversible 9/7 transform with scalar quantisation (else the 5/3).
    irreversible: bool,
    /// Component precision in bits (all components alike, see `decode`).
    prec: u32,
    /// COD code-block style: HT (bit 0x40) or part-1 EBCOT code-blocks.
    cb_style: u8,
    /// COD progression order (0 LRCP, 1 RLCP, 2 RPCL; the others are declined when
    /// a resolution has several precincts).
    progression: u8,
}

fn read_params(data: &[u8], first_sot: usize, components: usize) -> Option<Params> {
    let (mut siz, mut cod, mut qcd) = (None, None, None);
    let mut i = 2;
    while i + 4 <= first_sot {
        let marker = data[i + 1];
        let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
        let seg = data.get(i + 4..i + 2 + len)?;
        match marker {
            0x51 => siz = Some(seg),
            0x52 => cod = Some(seg),
            0x5C => qcd = Some(seg),
            // TLM, with openjp2's check that its entries fill it.
            0x55 => {
                let stlm = *seg.get(1)? as usize;
                let entry = (((stlm >> 6) & 1) + 1) * 2 + ((stlm >> 4) & 3);
                if (seg.len() - 2) % entry != 0 {
                    return None;
                }
            }
            // CAP, PLM, CRG, COM: nothing that changes the samples. Anything else
            // (POC, PPM, RGN, MCT, ... or an unknown marker) goes to openjp2.
            0x50 | 0x57 | 0x63 | 0x64 => {}
            _ => return None,
        }
        i += 2 + len;
    }
    let (siz, cod, qcd) = (siz?, cod?, qcd?);
    let be32 = |o: usize| u32::from_be_bytes([siz[o], siz[o + 1], siz[o + 2], siz[o + 3]]);
    if siz.len() < 36 + 3 * components {
        return None;
    }
    let (xsiz, ysiz, x0, y0) = (be32(2), be32(6), be32(10), be32(14));
    let (xt, yt, xto, yto) = (be32(18), be32(22), be32(26), be32(30));
    // One tile, everything at the origin, no subsampling.
    if x0 != 0 || y0 != 0 || xto != 0 || yto != 0 || xt < xsiz || yt < ysiz {
        return None;
    }
    if (0..components).any(|c| siz[37 + 3 * c] != 1 || siz[38 + 3 * c] != 1) {
        return None;
    }
    if cod.len() < 10 || qcd.is_empty() {
        return None;
    }
    let levels = cod[5] as u32;
    let (xcb, ycb) = (cod[6] as u32 + 2, cod[7] as u32 + 2);
    // What openjp2 refuses in COD goes to it: unknown Scod bits or progression, a
    // segment longer or shorter than its fields.
    let cod_len = 10
        + if cod[0] & 1 != 0 {
            levels as usize + 1
        } else {
            0
        };
    if cod[0] & !7 != 0 || cod[1] > 4 || cod.len() != cod_len {
        return None;
    }
    if levels > 32 || xcb > 10 || ycb > 10 || xcb + ycb > 12 {
        return None;
    }
    let precincts = if cod[0] & 1 != 0 {
        let pp = cod.get(10..10 + levels as usize + 1)?;
        // openjp2 refuses a zero precinct exponent above resolution 0.
        if pp[1..].iter().any(|&b| b & 0x0F == 0 || b >> 4 == 0) {
            return None;
        }
        pp.iter()
            .map(|&b| ((b & 0x0F) as u32, (b >> 4) as u32))
            .collect()
    } else {
        vec![(15, 15); levels as usize + 1]
    };
    // The component transform: none or the standard one (openjp2 skips a custom MCT
    // without the MCC/MCT markers that we do not read).
    if cod[4] > 1 {
        return None;
    }
    let bands = 3 * levels as usize + 1;
    let irreversible = cod[9] == 0;
    let steps: Vec<(u32, u32)> = match (qcd[0] & 0x1F, cod[9]) {
        // Reversible: one exponent byte per subband.
        (0, 1) => qcd[1..].iter().map(|&b| ((b >> 3) as u32, 0)).collect(),
        // Scalar derived: ε_b = ε_0 − ⌊(b − 1)/3⌋ (at least 0), μ_b = μ_0, as
        // openjp2 expands it; scalar expounded: one 16-bit value per subband.
        (1 | 2, 0) => {
            let words: Vec<(u32, u32)> = qcd[1..]
                .chunks_exact(2)
                .map(|w| {
                    let v = u16::from_be_bytes([w[0], w[1]]) as u32;
                    (v >> 11, v & 0x7FF)
                })
                .collect();
            // openjp2 reads exactly one step (derived) or whole 16-bit steps
            // (expounded), and refuses a QCD with bytes left over.
            let whole = if qcd[0] & 0x1F == 1 {
                qcd.len() == 3
            } else {
                qcd.len() % 2 == 1
            };
            if !whole {
                return None;
            }
            if qcd[0] & 0x1F == 1 {
                let &(e0, m0) = words.first()?;
                (0..bands)
                    .map(|b| {
                        let e = if b == 0 {
                            e0
                        } else {
                            e0.saturating_sub((b as u32 - 1) / 3)
                        };
                        (e, m0)
                    })
                    .collect()
            } else {
                words
            }
        }
        _ => return None,
    };
    if steps.len() < bands {
        return None;
    }
    let ssiz = siz[36];
    if (0..components).any(|c| siz[36 + 3 * c] != ssiz) {
        return None;
    }
    Some(Params {
        width: xsiz as usize,
        height: ysiz as usize,
        levels,
        xcb,
        ycb,
        precincts,
        sop: cod[0] & 2 != 0,
        eph: cod[0] & 4 != 0,
        guard_bits: (qcd[0] >> 5) as u32,
        steps,
        irreversible,
        prec: (ssiz & 0x7F) as u32 + 1,
        cb_style: cod[8],
        progression: cod[1],
    })
}

/// One subband: where it lies in the component's subband-layout plane, and its
/// code-block grid.
#[derive(Clone)]
struct Band {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    /// The band's bit-planes: K_max (reversible) or openjp2's M_b = ε + G − 1.
    kmax: u32,
    /// Irreversible: openjp2's dequantisation factor (`dwt97::band_scale`).
    scale: f32,
    /// Part 1: the band's magnitude bit planes Mb (E.1, Equation E-2: exponent plus
    /// guard bits less 1, OpenJPEG's `numbps`), and its orientation (0 LL, 1 HL,
    /// 2 LH, 3 HH).
    numbps: i32,
    orient: usize,
    cbw: u32,
    cbh: u32,
    nbx: usize,
    nby: usize,
    /// A precinct's extent in this band, in code-blocks, as log2 (B.6, B.7).
    pcw: u32,
    pch: u32,
}

fn bands(p: &Params, r: u32) -> Option<Vec<Band>> {
    let (wr, hr) = (
        res_size(p.width, p.levels, r),
        res_size(p.height, p.levels, r),
    );
    let (ppx, ppy) = p.precincts[r as usize];
    // A precinct's extent in each band of resolution r (B.6): 2^PP at r = 0, else
    // 2^(PP − 1); code-blocks no larger than that (B.7).
    let (bpx, bpy) = if r == 0 {
        (ppx, ppy)
    } else {
        (ppx.checked_sub(1)?, ppy.checked_sub(1)?)
    };
    let (cbw, cbh) = (p.xcb.min(bpx), p.ycb.min(bpy));
    let kmax = |idx: usize| -> Option<(u32, f32, i32)> {
        let (e, mant) = *p.steps.get(idx)?;
        let numbps = e as i32 + p.guard_bits as i32 - 1;
        if p.irreversible {
            // openjp2 decodes HT blocks with 1 ≤ M_b ≤ 30 only.
            let mb = (e + p.guard_bits).checked_sub(1)?;
            (1..=30)
                .contains(&mb)
                .then(|| (mb, band_scale(p.prec, e, mant), numbps))
        } else {
            let k = e.saturating_sub(1) + p.guard_bits;
            (k <= 31).then_some((k, 0.0, numbps))
        }
    };
    let band = |x0, y0, w, h, (kmax, scale, numbps): (u32, f32, i32), orient| Band {
        x0,
        y0,
        w,
        h,
        kmax,
        scale,
        numbps,
        orient,
        cbw,
        cbh,
        nbx: w.div_ceil(1 << cbw),
        nby: h.div_ceil(1 << cbh),
        pcw: bpx - cbw,
        pch: bpy - cbh,
    };
    if r == 0 {
        return Some(vec![band(0, 0, wr, hr, kmax(0)?, 0)]);
    }
    let (lw, lh) = (
        res_size(p.width, p.levels, r - 1),
        res_size(p.height, p.levels, r - 1),
    );
    let i = 3 * (r as usize - 1);
    Some(vec![
        band(lw, 0, wr - lw, lh, kmax(i + 1)?, 1),
        band(0, lh, lw, hr - lh, kmax(i + 2)?, 2),
        band(lw, lh, wr - lw, hr - lh, kmax(i + 3)?, 3),
    ])
}

/// What `decode` gives per component: the subbands, for the caller to synthesise
/// (`levels` decompositions) so that it can convert the last pass's samples as they
/// come: as integers for `dwt53`, or dequantised as openjp2's f32 for `dwt97`.
/// Reversible streams with `levels` > 0 keep the last resolution's code-blocks
/// undecoded in `last` (see `LastLevel`): their `planes` hold resolution `levels − 1`
/// only (its width is their row stride).
pub(super) enum Samples<'a> {
    Int {
        planes: Vec<Vec<i32>>,
        levels: u32,
        last: Vec<LastLevel<'a>>,
    },
    Float {
        planes: Vec<Vec<f32>>,
        levels: u32,
    },
}

/// Decodes the samples of a single-tile HTJ2K stream: `components` planes of
/// width × height, row-major (less the last resolution of reversible ones, see
/// `Samples`).
pub(super) fn decode(
    data: &[u8],
    first_sot: usize,
    components: usize,
) -> Option<(usize, usize, Samples<'_>)> {
    let p = read_params(data, first_sot, components)?;
    let (w, h) = (p.width, p.height);
    // The one tile-part (checked by `tile_parts_complete`): SOT, SOD, then packets.
    let psot = u32::from_be_bytes(data.get(first_sot + 6..first_sot + 10)?.try_into().ok()?);
    let body_start = first_sot + 14;
    let body_end = if psot == 0 {
        super::padded_end(data).checked_sub(2)?
    } else {
        first_sot + psot as usize
    };
    let body = data.get(body_start..body_end)?;
    let all_bands: Vec<Vec<Band>> = (0..=p.levels)
        .map(|r| bands(&p, r))
        .collect::<Option<_>>()?;
    // Irreversible: f32 planes, into which the blocks write their dequantised
    // samples' bit patterns (openjp2 does the same in its tile buffer).
    // Reversible: i32 planes of resolution `levels − 1`, the last one's blocks kept.
    let deferred = !p.irreversible && p.levels > 0;
    let (pw, ph) = if deferred {
        let r = p.levels - 1;
        (res_size(w, p.levels, r), res_size(h, p.levels, r))
    } else {
        (w, h)
    };
    let mut planes = if p.irreversible {
        Samples::Float {
            planes: (0..components).map(|_| vec![0f32; w * h]).collect(),
            levels: p.levels,
        }
    } else {
        let last_bands = if deferred {
            &all_bands[p.levels as usize][..]
        } else {
            &[]
        };
        Samples::Int {
            planes: (0..components).map(|_| vec![0i32; pw * ph]).collect(),
            levels: p.levels,
            last: (0..components)
                .map(|_| LastLevel::new(last_bands, p.cb_style))
                .collect(),
        }
    };
    let mut ctx = BlockContext {
        irreversible: p.irreversible,
        ..BlockContext::default()
    };
    let mut pos = 0;
    for (r, band_set) in all_bands.iter().enumerate() {
        // The resolution's precincts (B.6, origin 0), in raster order; one per
        // resolution unless COD partitions it.
        let (ppx, ppy) = p.precincts[r];
        let (npx, npy) = (
            res_size(p.width, p.levels, r as u32).div_ceil(1 << ppx),
            res_size(p.height, p.levels, r as u32).div_ceil(1 << ppy),
        );
        let precincts = npx * npy;
        if precincts > 1 && p.progression > 2 {
            return None; // position-major orders interleave resolutions
        }
        // One layer: LRCP and RLCP give component, then precinct; RPCL precinct,
        // then component.
        let (outer, inner) = if p.progression == 2 {
            (precincts, components)
        } else {
            (components, precincts)
        };
        for o in 0..outer {
            for i in 0..inner {
                let (c, k) = if p.progression == 2 { (i, o) } else { (o, i) };
                let (plane, defer): (&mut [i32], _) = match &mut planes {
                    Samples::Int { planes, last, .. } => (
                        &mut planes[c],
                        (deferred && r == p.levels as usize).then(|| &mut last[c]),
                    ),
                    Samples::Float { planes, .. } => {
                        (bytemuck::cast_slice_mut(&mut planes[c]), None)
                    }
                };
                pos += read_packet(
                    &body[pos.min(body.len())..],
                    band_set,
                    (k % npx, k / npx),
                    &p,
                    (plane, pw),
                    &mut ctx,
                    defer,
                )?;
            }
        }
    }
    Some((w, h, planes))
}

#[derive(Default)]
struct BlockContext {
    /// Irreversible: blocks are dequantised into f32 bit patterns.
    irreversible: bool,
    scratch: Vec<u16>,
    decoded: Vec<u32>,
    blocks: Vec<BlockInfo>,
    /// Part 1: every block's codeword segments (length, passes), in packet order.
    segments: Vec<(u32, u32)>,
    t1: T1,
}

#[derive(Clone)]
struct BlockInfo {
    band: usize,
    index: usize,
    /// HT: the cleanup and SigProp + MagRef segment lengths. Part 1: the block's
    /// total length in `pass1_len` and its segments, `segments[seg_start..][..pass2_len]`.
    pass1_len: u32,
    pass2_len: u32,
    missing_msbs: u32,
    num_passes: u32,
    seg_start: u32,
}

/// A tag tree, all nodes starting at 0 (one quality layer).
struct TagTree {
    widths: Vec<u32>,
    levels: Vec<Vec<u32>>,
}

impl TagTree {
    fn new(width: u32, height: u32, num_levels: u32) -> Self {
        let mut widths = Vec::with_capacity(num_levels as usize + 1);
        let mut levels = Vec::with_capacity(num_levels as usize + 1);
        for lev in 0..num_levels {
            let w = (width + (1 << lev) - 1) >> lev;
            let h = (height + (1 << lev) - 1) >> lev;
            widths.push(w);
            levels.push(vec![0; (w * h) as usize]);
        }
        widths.push(1);
        levels.push(vec![0; 1]);
        TagTree { widths, levels }
    }

    fn get(&self, x: u32, y: u32, lev: u32) -> u32 {
        self.levels[lev as usize][(x + y * self.widths[lev as usize]) as usize]
    }

    fn set(&mut self, x: u32, y: u32, lev: u32, v: u32) {
        self.levels[lev as usize][(x + y * self.widths[lev as usize]) as usize] = v;
    }
}

/// Packet-header bits, with the bit-unstuffing after an 0xFF byte.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    tmp: u8,
    avail: u32,
    unstuff: bool,
}

impl Bits<'_> {
    fn refill(&mut self) -> Option<()> {
        let byte = *self.data.get(self.pos)?;
        self.pos += 1;
        self.tmp = byte;
        self.avail = 8 - self.unstuff as u32;
        self.unstuff = byte == 0xFF;
        Some(())
    }

    fn bit(&mut self) -> Option<u32> {
        if self.avail == 0 {
            self.refill()?;
        }
        self.avail -= 1;
        Some(((self.tmp >> self.avail) & 1) as u32)
    }

    fn bits(&mut self, mut n: u32) -> Option<u32> {
        let mut v = 0u32;
        while n > 0 {
            if self.avail == 0 {
                self.refill()?;
            }
            let take = self.avail.min(n);
            v <<= take;
            self.avail -= take;
            n -= take;
            v |= ((self.tmp >> self.avail) as u32) & ((1 << take) - 1);
        }
        Some(v)
    }
}

fn log2ceil(x: u32) -> u32 {
    let t = 31 - x.leading_zeros();
    t + ((x & (x - 1)) != 0) as u32
}

/// Reads one packet (header, then the code-block bodies, decoded into `plane`, of
/// row stride `stride`, or kept in `defer`) and returns its length in bytes.
fn read_packet<'a>(
    data: &'a [u8],
    bands: &[Band],
    precinct: (usize, usize),
    p: &Params,
    (plane, stride): (&mut [i32], usize),
    ctx: &mut BlockContext,
    mut defer: Option<&mut LastLevel<'a>>,
) -> Option<usize> {
    let mut r = Bits {
        data,
        pos: 0,
        tmp: 0,
        avail: 0,
        unstuff: false,
    };
    if p.sop && data.len() >= 2 && data[..2] == [0xFF, 0x91] {
        if data.len() < 6 || data[2..4] != [0, 4] {
            return None;
        }
        r.pos = 6;
    }
    ctx.blocks.clear();
    ctx.segments.clear();
    let mut saw_non_empty = false;
    let mut empty_packet = false;
    'bands: for (b, sb) in bands.iter().enumerate() {
        // The precinct's code-blocks in this band (B.7), if it has any.
        let (bx0, by0) = (precinct.0 << sb.pcw, precinct.1 << sb.pch);
        let bx1 = ((precinct.0 + 1) << sb.pcw).min(sb.nbx);
        let by1 = ((precinct.1 + 1) << sb.pch).min(sb.nby);
        if sb.w == 0 || sb.h == 0 || bx0 >= bx1 || by0 >= by1 {
            continue;
        }
        if !saw_non_empty {
            if r.bit()? == 0 {
                empty_packet = true;
                break 'bands;
            }
            saw_non_empty = true;
        }
        let (nbx, nby) = ((bx1 - bx0) as u32, (by1 - by0) as u32);
        let block_index = |x: u32, y: u32| (by0 + y as usize) * sb.nbx + bx0 + x as usize;
        let num_levels = 1 + log2ceil(nbx).max(log2ceil(nby));
        let mut inc_tag = TagTree::new(nbx, nby, num_levels);
        let mut inc_flags = TagTree::new(nbx, nby, num_levels);
        let mut mmsb_tag = TagTree::new(nbx, nby, num_levels);
        let mut mmsb_flags = TagTree::new(nbx, nby, num_levels);
        for y in 0..nby {
            for x in 0..nbx {
                let mut empty = false;
                for cl in (1..=num_levels).rev() {
                    let lev = cl - 1;
                    empty = inc_tag.get(x >> lev, y >> lev, lev) == 1;
                    if empty {
                        break;
                    }
                    if inc_flags.get(x >> lev, y >> lev, lev) == 0 {
                        let bit = r.bit()?;
                        empty = bit == 0;
                        inc_tag.set(x >> lev, y >> lev, lev, 1 - bit);
                        inc_flags.set(x >> lev, y >> lev, lev, 1);
                    }
                    if empty {
                        break;
                    }
                }
                if empty {
                    continue;
                }
                let mut missing_msbs = 0u32;
                for levp1 in (1..=num_levels).rev() {
                    let lev = levp1 - 1;
                    missing_msbs = mmsb_tag.get(x >> levp1, y >> levp1, levp1);
                    if mmsb_flags.get(x >> lev, y >> lev, lev) == 0 {
                        loop {
                            let bit = r.bit()?;
                            if bit != 0 {
                                break;
                            }
                            missing_msbs += 1;
                            if missing_msbs > 74 {
                                return None;
                            }
                        }
                        mmsb_tag.set(x >> lev, y >> lev, lev, missing_msbs);
                        mmsb_flags.set(x >> lev, y >> lev, lev, 1);
                    }
                }
                let mut num_passes = if r.bit()? == 0 {
                    1
                } else if r.bit()? == 0 {
                    2
                } else {
                    let extra = r.bits(2)?;
                    if extra < 3 {
                        3 + extra
                    } else {
                        let extra5 = r.bits(5)?;
                        if extra5 < 31 {
                            6 + extra5
                        } else {
                            37 + r.bits(7)?
                        }
                    }
                };
                let mut lblock = 3u32;
                while r.bit()? == 1 {
                    lblock += 1;
                    if lblock > 32 {
                        return None;
                    }
                }
                if p.cb_style & 0x40 == 0 {
                    let seg_start = ctx.segments.len() as u32;
                    let total =
                        part1_segments(&mut r, &mut ctx.segments, num_passes, lblock, p.cb_style)?;
                    ctx.blocks.push(BlockInfo {
                        band: b,
                        index: block_index(x, y),
                        pass1_len: total,
                        pass2_len: ctx.segments.len() as u32 - seg_start,
                        missing_msbs,
                        num_passes,
                        seg_start,
                    });
                    continue;
                }
                let placeholders = (num_passes - 1) / 3;
                missing_msbs += placeholders;
                num_passes -= placeholders * 3;
                let len1_bits = lblock + 31 - (placeholders + 1).leading_zeros();
                if len1_bits > 32 {
                    return None;
                }
                let pass1_len = r.bits(len1_bits)?;
                let pass2_len = if num_passes > 1 {
                    r.bits(lblock + (num_passes > 2) as u32)?
                } else {
                    0
                };
                ctx.blocks.push(BlockInfo {
                    band: b,
                    index: block_index(x, y),
                    pass1_len,
                    pass2_len,
                    missing_msbs,
                    num_passes,
                    seg_start: 0,
                });
            }
        }
    }
    if !saw_non_empty && !empty_packet {
        r.bit()?;
    }
    // End of the header: a stuffed byte's remaining bits, then EPH.
    if r.unstuff {
        r.refill()?;
    }
    if p.eph {
        if data.get(r.pos..r.pos + 2)? != [0xFF, 0x92] {
            return None;
        }
        r.pos += 2;
    }
    let mut pos = r.pos;
    let blocks = std::mem::take(&mut ctx.blocks);
    for info in &blocks {
        let len = if p.cb_style & 0x40 == 0 {
            info.pass1_len as usize
        } else {
            info.pass1_len as usize + info.pass2_len as usize
        };
        let coded = data.get(pos..pos + len)?;
        pos += len;
        if let Some(last) = defer.as_deref_mut() {
            last.push(info, coded, &ctx.segments)?;
        } else if p.cb_style & 0x40 == 0 {
            decode_block_part1(
                coded,
                info,
                &bands[info.band],
                plane,
                stride,
                p.cb_style,
                ctx,
            )?;
        } else {
            decode_block(coded, info, &bands[info.band], plane, stride, ctx)?;
        }
    }
    ctx.blocks = blocks;
    Some(pos)
}

/// A row of code-blocks of a band: its blocks and their codeword bytes, in stream
/// order.
type BlockRow<'a> = Vec<(BlockInfo, &'a [u8])>;

/// The last resolution's code-blocks of one component of a reversible stream, kept
/// undecoded until the inverse transform asks for their rows (`dwt53::LastBands`),
/// then decoded a row of code-blocks at a time into a strip per band: the transform
/// reads them while they are in cache, where a full-size plane written by all the
/// blocks first would be read back from memory.
pub(super) struct LastLevel<'a> {
    /// HL, LH and HH (none when the stream has no decomposition levels).
    bands: Vec<Band>,
    /// Per band: its code-block rows.
    rows: Vec<Vec<BlockRow<'a>>>,
    /// Per band: its decoded code-block row (row stride the band's width), and which.
    strips: Vec<(Vec<i32>, Option<usize>)>,
    /// COD code-block style (HT or part 1).
    style: u8,
    /// The block decoders' buffers, and part-1 blocks' codeword segments.
    ctx: BlockContext,
}

impl<'a> LastLevel<'a> {
    fn new(bands: &[Band], style: u8) -> Self {
        LastLevel {
            bands: bands.to_vec(),
            rows: bands.iter().map(|sb| vec![Vec::new(); sb.nby]).collect(),
            strips: bands.iter().map(|_| (Vec::new(), None)).collect(),
            style,
            ctx: BlockContext::default(),
        }
    }

    /// Keeps a block of band `info.band` (its part-1 codeword segments copied from
    /// the packet's `segments`).
    fn push(&mut self, info: &BlockInfo, coded: &'a [u8], segments: &[(u32, u32)]) -> Option<()> {
        let mut info = info.clone();
        if self.style & 0x40 == 0 {
            let start = info.seg_start as usize;
            let seg = segments.get(start..start + info.pass2_len as usize)?;
            info.seg_start = self.ctx.segments.len() as u32;
            self.ctx.segments.extend_from_slice(seg);
        }
        let by = info.index.checked_div(self.bands.get(info.band)?.nbx)?;
        self.rows[info.band].get_mut(by)?.push((info, coded));
        Some(())
    }

    /// Decodes band `b`'s code-block row holding its row `k` into the band's strip,
    /// unless it is there already. Samples of blocks the stream leaves out are zero.
    /// None for a block the decoder rejects.
    fn strip(&mut self, b: usize, k: usize) -> Option<()> {
        let sb = self.bands.get(b)?;
        let by = k >> sb.cbh;
        let (buf, at) = &mut self.strips[b];
        if *at == Some(by) {
            return Some(());
        }
        // The band as the strip holds it: the block row at the top, block columns
        // alike (blocks are found by their column, `index` % `nbx`).
        let top = by << sb.cbh;
        let view = Band {
            x0: 0,
            y0: 0,
            h: sb.h.checked_sub(top)?,
            ..sb.clone()
        };
        buf.clear();
        buf.resize(view.h.min(1 << sb.cbh) * sb.w, 0);
        for (info, coded) in self.rows[b].get(by)? {
            let info = BlockInfo {
                index: info.index % sb.nbx,
                ..info.clone()
            };
            if self.style & 0x40 == 0 {
                decode_block_part1(coded, &info, &view, buf, sb.w, self.style, &mut self.ctx)?;
            } else {
                decode_block(coded, &info, &view, buf, sb.w, &mut self.ctx)?;
            }
        }
        *at = Some(by);
        Some(())
    }

    /// Row `k` of band `b`, from its strip (see `strip`).
    fn row(&self, b: usize, k: usize) -> Option<&[i32]> {
        let sb = self.bands.get(b)?;
        let r = k & ((1 << sb.cbh) - 1);
        self.strips[b].0.get(r * sb.w..(r + 1) * sb.w)
    }
}

impl super::dwt53::LastBands for LastLevel<'_> {
    fn hl(&mut self, k: usize) -> Option<&[i32]> {
        self.strip(0, k)?;
        self.row(0, k)
    }

    fn lh_hh(&mut self, k: usize) -> Option<(&[i32], &[i32])> {
        self.strip(1, k)?;
        self.strip(2, k)?;
        Some((self.row(1, k)?, self.row(2, k)?))
    }
}

/// Part 1 (B.10.7.1): splits a block's `passes` into codeword segments (one per
/// pass with TERMALL; with BYPASS ten, then two and one alternately; else one) and
/// reads each segment's length (`lblock` + ⌊log2 passes⌋ bits) into `segments`.
/// Returns the block's total length.
fn part1_segments(
    r: &mut Bits,
    segments: &mut Vec<(u32, u32)>,
    passes: u32,
    lblock: u32,
    style: u8,
) -> Option<u32> {
    let mut left = passes;
    let mut total = 0u32;
    let mut max = 0;
    while left > 0 {
        max = if style & STYLE_TERMALL != 0 {
            1
        } else if style & STYLE_BYPASS != 0 {
            match max {
                0 => 10,
                1 | 10 => 2,
                _ => 1,
            }
        } else {
            109
        };
        let n = left.min(max);
        let bits = lblock + 31 - n.leading_zeros();
        if bits > 32 {
            return None;
        }
        let len = r.bits(bits)?;
        total = total.checked_add(len)?;
        segments.push((len, n));
        left -= n;
    }
    Some(total)
}

/// Decodes a part-1 code-block with `t1` and stores it in `plane` (reversible:
/// OpenJPEG's value halved, truncating; irreversible: dequantised). Not inlined, so that the HT path in
/// `read_packet` compiles as it did without it.
#[inline(never)]
fn decode_block_part1(
    coded: &[u8],
    info: &BlockInfo,
    sb: &Band,
    plane: &mut [i32],
    stride: usize,
    style: u8,
    ctx: &mut BlockContext,
) -> Option<()> {
    if info.num_passes == 0 {
        return Some(());
    }
    // OpenJPEG's `cblk->numbps`: Mb less the missing MSBs (D.2.1).
    let planes = sb.numbps - info.missing_msbs as i32;
    if planes < 0 {
        return None;
    }
    let (bx, by) = (info.index % sb.nbx, info.index / sb.nbx);
    let (cx0, cy0) = (bx << sb.cbw, by << sb.cbh);
    let cw = (1usize << sb.cbw).min(sb.w - cx0);
    let ch = (1usize << sb.cbh).min(sb.h - cy0);
    let segments = ctx
        .segments
        .get(info.seg_start as usize..(info.seg_start + info.pass2_len) as usize)?;
    ctx.t1.decode(&CodeBlock {
        data: coded,
        segments,
        width: cw,
        height: ch,
        orient: sb.orient,
        planes: planes as u32,
        style,
    })?;
    for (y, src) in ctx.t1.data.chunks_exact(cw).enumerate() {
        let at = (sb.y0 + cy0 + y) * stride + sb.x0 + cx0;
        let dst = &mut plane[at..at + cw];
        if ctx.irreversible {
            // OpenJPEG's value (one fraction bit) dequantised as openjp2 does it, into
            // the f32 plane's bit patterns, like the HT blocks.
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = dequantise(v, sb.scale).to_bits() as i32;
            }
        } else {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v / 2;
            }
        }
    }
    Some(())
}

#[inline(never)]
fn decode_block(
    coded: &[u8],
    info: &BlockInfo,
    sb: &Band,
    plane: &mut [i32],
    stride: usize,
    ctx: &mut BlockContext,
) -> Option<()> {
    let mut num_passes = info.num_passes;
    if ctx.irreversible {
        // openjp2's limits, so that what it refuses goes to it: more missing
        // bit-planes than M_b fails, an included block whose cleanup pass is shorter
        // than 2 bytes fails, and with M_b − 1 missing only the cleanup pass counts.
        if info.missing_msbs >= sb.kmax || info.pass1_len < 2 {
            return None;
        }
        if info.missing_msbs + 1 == sb.kmax {
            num_passes = 1;
        }
    }
    if num_passes == 0 || coded.is_empty() {
        return Some(());
    }
    let (bx, by) = (info.index % sb.nbx, info.index / sb.nbx);
    let (cx0, cy0) = (bx << sb.cbw, by << sb.cbh);
    let cw = (1usize << sb.cbw).min(sb.w - cx0);
    let ch = (1usize << sb.cbh).min(sb.h - cy0);
    // Irreversible: the block decoded with M_b − 30 more missing bit-planes, so that
    // its samples come out where openjp2's HT decoder puts them (sign at bit 31,
    // one fraction bit at bit 0, M_b bit-planes above it) with openjp2's arithmetic,
    // overflow included; the U_q bound stays the block's own.
    let missing_msbs = if ctx.irreversible {
        info.missing_msbs + 30 - sb.kmax
    } else {
        info.missing_msbs
    };
    let dstride = ((1usize << sb.cbw) + 7) & !7;
    let need = dstride * (1usize << sb.cbh);
    // No clearing: the cleanup pass writes every sample of the block (its quads
    // cover the block's columns and an even number of rows; the buffer has room for
    // them), before the refinement passes set or flip bits.
    if ctx.decoded.len() < need {
        ctx.decoded.resize(need, 0);
    }
    if !decode_codeblock32(
        &mut ctx.scratch,
        coded,
        &mut ctx.decoded,
        missing_msbs,
        info.missing_msbs + 2,
        num_passes,
        info.pass1_len,
        info.pass2_len,
        cw as u32,
        ch as u32,
        dstride as u32,
        false,
    ) {
        return None;
    }
    if ctx.irreversible {
        // Sign and magnitude as openjp2's t1 leaves them, dequantised as it does.
        for y in 0..ch {
            let src = &ctx.decoded[y * dstride..y * dstride + cw];
            let at = (sb.y0 + cy0 + y) * stride + sb.x0 + cx0;
            for (d, &v) in plane[at..at + cw].iter_mut().zip(src) {
                let mag = (v & 0x7FFF_FFFF) as i32;
                let q = if v >> 31 != 0 { -mag } else { mag };
                *d = dequantise(q, sb.scale).to_bits() as i32;
            }
        }
        return Some(());
    }
    let shift = 31 - sb.kmax;
    for y in 0..ch {
        let src = &ctx.decoded[y * dstride..y * dstride + cw];
        let at = (sb.y0 + cy0 + y) * stride + sb.x0 + cx0;
        let dst = &mut plane[at..at + cw];
        // Four at a time with simd128, the rest below.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let done = simd::twos_complement(src, dst, shift);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let done = 0;
        for (d, &v) in dst[done..].iter_mut().zip(&src[done..]) {
            let mag = ((v & 0x7FFF_FFFF) >> shift) as i32;
            *d = if v >> 31 != 0 { -mag } else { mag };
        }
    }
    Some(())
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// `dst[k]` = the sign-magnitude `src[k]` (sign at bit 31) with its magnitude
    /// shifted right by `shift`, in two's complement, four at a time: with s = 0 or
    /// −1 from the sign, `(mag ^ s) - s` is `mag` or `-mag`. Returns how many it did.
    #[inline(always)]
    pub(super) fn twos_complement(src: &[u32], dst: &mut [i32], shift: u32) -> usize {
        let n = src.len().min(dst.len()) & !3;
        let m = u32x4_splat(0x7FFF_FFFF);
        for k in (0..n).step_by(4) {
            // SAFETY: k + 4 ≤ n ≤ both lengths.
            unsafe {
                let v = v128_load(src.as_ptr().add(k) as *const v128);
                let mag = u32x4_shr(v128_and(v, m), shift);
                let s = i32x4_shr(v, 31);
                let d = i32x4_sub(v128_xor(mag, s), s);
                v128_store(dst.as_mut_ptr().add(k) as *mut v128, d);
            }
        }
        n
    }
}
