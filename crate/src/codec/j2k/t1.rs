//! The EBCOT code-block decoder of JPEG 2000 part 1 (ITU-T T.800 Annex D): the
//! three coding passes over stripes of four rows (D.3: significance propagation,
//! magnitude refinement, cleanup with its run-length mode), on the MQ decoder of
//! `mq` (and the raw bits of the bypass mode, D.6).
//!
//! The output matches OpenJPEG's T1 exactly: magnitudes are reconstructed one bit
//! plane up, with a half bit at the last decoded plane (`oneplushalf`), so that a
//! reversible band's coefficient is the value divided by 2 (truncating) and an
//! irreversible band's is the value × step / 2.
//!
//! State: one `u32` per column of a stripe (OpenJPEG's layout): the significance of
//! the 3 × 6 neighbourhood of the stripe's four samples (bit `3r + c`, row `r` from
//! the row above the stripe to the row below, column `c` west, self, east), the sign
//! of the column's six samples, and per sample the refined (MU) and visited (PI)
//! states. Shifting the word right by `3 × row` lines a sample's neighbourhood up
//! with row 0's, so one masked look-up gives its zero-coding context.

use core::hint::select_unpredictable;

use super::mq::{initial_contexts, Context, Mq, Padded, Raw};

/// Code-block style bits (COD/COC SPcod, Table A.19).
pub(super) const STYLE_BYPASS: u8 = 0x01;
pub(super) const STYLE_RESET: u8 = 0x02;
pub(super) const STYLE_TERMALL: u8 = 0x04;
pub(super) const STYLE_VSC: u8 = 0x08;
/// Predictable termination: the decoder needs nothing different.
#[allow(dead_code)]
pub(super) const STYLE_PTERM: u8 = 0x10;
pub(super) const STYLE_SEGSYM: u8 = 0x20;

/// The neighbourhood of row 0 (bits 0..9 less the sample itself, bit 4).
const NEIGHBOURS: u32 = 0x1EF;
const SIGMA_THIS: u32 = 1 << 4;
const CHI_THIS_I: u32 = 19;
const MU_THIS: u32 = 1 << 20;
const PI_THIS: u32 = 1 << 21;
const PI_ALL: u32 = PI_THIS | PI_THIS << 3 | PI_THIS << 6 | PI_THIS << 9;
/// The significance of the column's own four samples.
const SIGMA_ROWS: u32 = SIGMA_THIS * 0x249;
/// Row 3's significance as seen by the stripe below (its north row, bits 0..2),
/// and row 0's as seen by the stripe above (its south row, bits 15..17).
const SIGMA_N: u32 = 1 << 1;
const SIGMA_S_OF_ABOVE: u32 = 1 << 16;

/// Context numbers (Table D.7 order, as OpenJPEG numbers them).
const CTX_MAG: usize = 14;
const CTX_AGG: usize = 17;
const CTX_UNI: usize = 18;

/// Zero-coding contexts (Table D.1) for a row-0 neighbourhood word, per subband
/// orientation (0 LL, 1 HL, 2 LH, 3 HH, the order of the bands in a resolution),
/// checked entry by entry against OpenJPEG's `lut_ctxno_zc`.
static ZC: [[u8; 512]; 4] = {
    let mut t = [[0u8; 512]; 4];
    let mut o = 0;
    while o < 4 {
        let mut f = 0;
        while f < 512 {
            let (mut h, mut v) = (bit(f, 3) + bit(f, 5), bit(f, 1) + bit(f, 7));
            let d = bit(f, 0) + bit(f, 2) + bit(f, 6) + bit(f, 8);
            // HL (horizontally high-pass): the roles of h and v swap.
            if o == 1 {
                (h, v) = (v, h);
            }
            t[o][f] = if o == 3 {
                let hv = h + v;
                match d {
                    0 => [0, 1, 2][if hv > 2 { 2 } else { hv as usize }],
                    1 => [3, 4, 5][if hv > 2 { 2 } else { hv as usize }],
                    2 => {
                        if hv == 0 {
                            6
                        } else {
                            7
                        }
                    }
                    _ => 8,
                }
            } else {
                match (h, v, d) {
                    (0, 0, 0) => 0,
                    (0, 0, 1) => 1,
                    (0, 0, _) => 2,
                    (0, 1, _) => 3,
                    (0, _, _) => 4,
                    (1, 0, 0) => 5,
                    (1, 0, _) => 6,
                    (1, _, _) => 7,
                    _ => 8,
                }
            };
            f += 1;
        }
        o += 1;
    }
    t
};

const fn bit(f: usize, b: u32) -> u32 {
    ((f >> b) & 1) as u32
}

/// A neighbour's contribution to the sign context (Table D.2): +1 significant and
/// positive, -1 significant and negative, given its significance and sign bits.
const fn contrib(i: usize, sig: usize, neg: usize) -> i32 {
    if (i >> sig) & 1 == 0 {
        0
    } else if (i >> neg) & 1 == 0 {
        1
    } else {
        -1
    }
}

const fn clamp(x: i32) -> i32 {
    if x > 1 {
        1
    } else if x < -1 {
        -1
    } else {
        x
    }
}

/// Sign-coding context and XOR bit (Table D.3) by an 8-bit index: bit 0 west
/// negative, 1 north significant, 2 east negative, 3 west significant, 4 north
/// negative, 5 east significant, 6 south negative, 7 south significant. Entry:
/// context in bits 0..4, XOR bit in bit 4.
static SC: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut hc = clamp(contrib(i, 3, 0) + contrib(i, 5, 2));
        let mut vc = clamp(contrib(i, 1, 4) + contrib(i, 7, 6));
        let mut xor = 0;
        if hc < 0 || (hc == 0 && vc < 0) {
            hc = -hc;
            vc = -vc;
            xor = 1;
        }
        let ctx = match (hc, vc) {
            (1, 1) => 13,
            (1, 0) => 12,
            (1, _) => 11,
            (0, 1) => 10,
            _ => 9,
        };
        t[i] = ctx | xor << 4;
        i += 1;
    }
    t
};

/// A code-block to decode: its codeword segments (lengths and passes each, their
/// bytes one after the other in `data`), size, subband orientation and the number
/// of magnitude bit planes (`Mb` less the missing MSBs, T.800 D.2.1).
pub(super) struct CodeBlock<'a> {
    pub data: &'a [u8],
    pub segments: &'a [(u32, u32)],
    pub width: usize,
    pub height: usize,
    pub orient: usize,
    pub planes: u32,
    pub style: u8,
}

/// Reusable buffers: the decoded values (`width × height`, row-major) and the
/// stripe-column state words (with a border column either side and a border
/// stripe above and below).
#[derive(Default)]
pub(super) struct T1 {
    pub data: Vec<i32>,
    flags: Vec<u32>,
    /// The current segment with its 0xFF padding.
    segment: Vec<u8>,
}

/// One pass's shared inputs.
struct Pass<'z> {
    zc: &'z [u8; 512],
    w: usize,
    h: usize,
    /// Flags words per stripe: `w + 2`.
    fs: usize,
}

impl T1 {
    /// Decodes a code-block into `self.data[..width × height]` (OpenJPEG's values,
    /// see the module comment). `None` for what OpenJPEG also refuses (31 or more
    /// bit planes) and for segment lengths beyond `data`.
    pub(super) fn decode(&mut self, cb: &CodeBlock) -> Option<()> {
        let (w, h) = (cb.width, cb.height);
        if cb.planes >= 31 || w == 0 || h == 0 || w > 1024 || h > 1024 {
            return None;
        }
        self.data.clear();
        self.data.resize(w * h, 0);
        let fs = w + 2;
        let stripes = h.div_ceil(4);
        self.flags.clear();
        self.flags.resize(fs * (stripes + 2), 0);
        let p = Pass {
            zc: &ZC[cb.orient & 3],
            w,
            h,
            fs,
        };
        let vsc = cb.style & STYLE_VSC != 0;
        let mut cx = initial_contexts();
        let mut bpno = cb.planes as i32;
        let mut pass_type = 2; // the first pass is a cleanup pass
        let mut at = 0usize;
        let mut segment = core::mem::take(&mut self.segment);
        for &(len, passes) in cb.segments {
            let bytes = cb.data.get(at..at + len as usize)?;
            at += len as usize;
            // Bypass (D.6): after the first four bit planes, significance and
            // refinement passes are raw.
            let raw = cb.style & STYLE_BYPASS != 0 && pass_type < 2 && bpno <= cb.planes as i32 - 4;
            let padded = Padded::new(&mut segment, bytes);
            let mut mq = Mq::new(&padded);
            let mut rw = Raw::new(bytes);
            for _ in 0..passes {
                if bpno < 1 {
                    break;
                }
                let one = 1i32 << bpno;
                let half = one >> 1;
                match (pass_type, raw) {
                    (0, false) => self.sig_pass(&p, &mut mq, &mut cx, one | half, vsc),
                    (0, true) => self.sig_pass_raw(&p, &mut rw, one | half, vsc),
                    (1, false) => self.ref_pass(&p, &mut mq, &mut cx, half),
                    (1, true) => self.ref_pass_raw(&p, &mut rw, half),
                    _ => {
                        self.cleanup_pass(&p, &mut mq, &mut cx, one | half, vsc);
                        if cb.style & STYLE_SEGSYM != 0 {
                            let uni = &mut cx[CTX_UNI];
                            for _ in 0..4 {
                                mq.decode(uni);
                            }
                        }
                    }
                }
                if cb.style & STYLE_RESET != 0 && !raw {
                    cx = initial_contexts();
                }
                pass_type += 1;
                if pass_type == 3 {
                    pass_type = 0;
                    bpno -= 1;
                }
            }
        }
        self.segment = segment;
        Some(())
    }

    /// Significance propagation (D.3.1).
    fn sig_pass(&mut self, p: &Pass, mq: &mut Mq, cx: &mut [Context; 32], oph: i32, vsc: bool) {
        if vsc {
            self.sig_pass_mq::<true>(p, mq, cx, oph)
        } else {
            self.sig_pass_mq::<false>(p, mq, cx, oph)
        }
    }

    fn sig_pass_mq<const VSC: bool>(
        &mut self,
        p: &Pass,
        mq_out: &mut Mq,
        cx: &mut [Context; 32],
        oph: i32,
    ) {
        let mut mq = *mq_out;
        let (w, fs) = (p.w, p.fs);
        let full = p.h / 4;
        let rows_last = p.h % 4;
        let flags = self.flags.as_mut_ptr();
        let data = self.data.as_mut_ptr();
        // SAFETY: `flags` has (stripes + 2) × fs words and `data` w × h values; every
        // index below is within a stripe column (1..=w of stripe 1..=stripes) or its
        // eight neighbours, and within rows 0..h.
        unsafe {
            for k in 0..full + (rows_last != 0) as usize {
                let rows = if k < full { 4 } else { rows_last };
                let fp0 = flags.add((k + 1) * fs + 1);
                let dp0 = data.add(4 * k * w);
                let mut i = 0;
                while i < w {
                    if skip4::<SIG>(fp0, i, w) {
                        i += 4;
                        continue;
                    }
                    let fp = fp0.add(i);
                    let f = *fp;
                    i += 1;
                    // Nothing near (f == 0), or all four already significant.
                    if f == 0 || f & SIGMA_ROWS == SIGMA_ROWS {
                        continue;
                    }
                    let dp = dp0.add(i - 1);
                    macro_rules! sig {
                        ($ci:expr) => {
                            sig_step::<VSC>(&mut mq, cx, p.zc, fp, fs, dp.add($ci * w), $ci, oph)
                        };
                    }
                    if rows == 4 {
                        // Unrolled: each row's shifts and neighbour updates constant.
                        sig!(0);
                        sig!(1);
                        sig!(2);
                        sig!(3);
                    } else {
                        for ci in 0..rows {
                            sig!(ci);
                        }
                    }
                }
            }
        }
        *mq_out = mq;
    }

    fn sig_pass_raw(&mut self, p: &Pass, rw: &mut Raw, oph: i32, vsc: bool) {
        let (w, fs) = (p.w, p.fs);
        let flags = self.flags.as_mut_ptr();
        let data = self.data.as_mut_ptr();
        // SAFETY: as in `sig_pass_mq`.
        unsafe {
            for k in 0..p.h.div_ceil(4) {
                let rows = (p.h - 4 * k).min(4);
                for i in 0..w {
                    let fp = flags.add((k + 1) * fs + 1 + i);
                    for ci in 0..rows {
                        let f = *fp;
                        let s = 3 * ci as u32;
                        if f & ((SIGMA_THIS | PI_THIS) << s) == 0 && f & (NEIGHBOURS << s) != 0 {
                            if rw.bit() != 0 {
                                let v = rw.bit();
                                *data.add((4 * k + ci) * w + i) = if v != 0 { -oph } else { oph };
                                update_flags(fp, fs, ci, v, vsc);
                            }
                            *fp |= PI_THIS << s;
                        }
                    }
                }
            }
        }
    }

    /// Magnitude refinement (D.3.3).
    fn ref_pass(&mut self, p: &Pass, mq_out: &mut Mq, cx: &mut [Context; 32], half: i32) {
        let mut mq = *mq_out;
        let (w, fs) = (p.w, p.fs);
        let flags = self.flags.as_mut_ptr();
        let data = self.data.as_mut_ptr();
        // SAFETY: as in `sig_pass_mq`.
        unsafe {
            for k in 0..p.h.div_ceil(4) {
                let fp0 = flags.add((k + 1) * fs + 1);
                let dp0 = data.add(4 * k * w);
                let mut i = 0;
                while i < w {
                    if skip4::<REF>(fp0, i, w) {
                        i += 4;
                        continue;
                    }
                    let fp = fp0.add(i);
                    let f = *fp;
                    let dp = dp0.add(i);
                    i += 1;
                    // The rows to refine: significant, and not just coded by this bit
                    // plane's significance pass (rows past the image's last are never
                    // significant). Refinement changes no significance, so the column
                    // word read once serves all four, and the rows are taken by their
                    // bits rather than tested one by one.
                    let rows = f & SIGMA_ROWS & !(f >> 17);
                    let mut todo = rows;
                    while todo != 0 {
                        let ci = ((todo.trailing_zeros() - 4) / 3) as usize;
                        ref_step(&mut mq, cx, f, dp.add(ci * w), ci, half);
                        todo &= todo - 1;
                    }
                    *fp = f | rows << 16; // MU_THIS of each row refined
                }
            }
        }
        *mq_out = mq;
    }

    fn ref_pass_raw(&mut self, p: &Pass, rw: &mut Raw, half: i32) {
        let (w, fs) = (p.w, p.fs);
        let flags = self.flags.as_mut_ptr();
        let data = self.data.as_mut_ptr();
        // SAFETY: as in `sig_pass_mq`.
        unsafe {
            for k in 0..p.h.div_ceil(4) {
                let rows = (p.h - 4 * k).min(4);
                for i in 0..w {
                    let fp = flags.add((k + 1) * fs + 1 + i);
                    for ci in 0..rows {
                        let f = *fp;
                        let s = 3 * ci as u32;
                        if (f >> s) & (SIGMA_THIS | PI_THIS) == SIGMA_THIS {
                            let v = rw.bit();
                            let dp = data.add((4 * k + ci) * w + i);
                            let neg = (*dp < 0) as u32;
                            *dp += if v ^ neg != 0 { half } else { -half };
                            *fp |= MU_THIS << s;
                        }
                    }
                }
            }
        }
    }

    /// Cleanup (D.3.4), with the run-length mode on stripe columns whose four
    /// samples and neighbourhoods are all insignificant.
    fn cleanup_pass(&mut self, p: &Pass, mq: &mut Mq, cx: &mut [Context; 32], oph: i32, vsc: bool) {
        if vsc {
            self.cleanup_mq::<true>(p, mq, cx, oph)
        } else {
            self.cleanup_mq::<false>(p, mq, cx, oph)
        }
    }

    fn cleanup_mq<const VSC: bool>(
        &mut self,
        p: &Pass,
        mq_out: &mut Mq,
        cx: &mut [Context; 32],
        oph: i32,
    ) {
        let mut mq = *mq_out;
        let (w, fs) = (p.w, p.fs);
        let full = p.h / 4;
        let rows_last = p.h % 4;
        let flags = self.flags.as_mut_ptr();
        let data = self.data.as_mut_ptr();
        // SAFETY: as in `sig_pass_mq`.
        unsafe {
            for k in 0..full {
                let fp0 = flags.add((k + 1) * fs + 1);
                let dp0 = data.add(4 * k * w);
                // When column i's word is zero, so are those of columns i..zero_end:
                // within this stripe, coding column j changes only the words of
                // columns j - 1 and j + 1, so a scanned run stays zero past the
                // column after the last one coded (and column i is checked itself).
                let mut zero_end = 0;
                let mut i = 0;
                while i < w {
                    let fp = fp0.add(i);
                    let dp = dp0.add(i);
                    if *fp == 0 {
                        // Run-length mode (D.3.4). A run of such columns whose
                        // aggregation decisions are all the MPS 0 without
                        // renormalisation is taken at once.
                        let agg = *cx.get_unchecked(CTX_AGG);
                        if agg & 1 == 0 {
                            if zero_end <= i {
                                zero_end = i + 1;
                                while zero_end < w && *fp0.add(zero_end) == 0 {
                                    zero_end += 1;
                                }
                            }
                            let taken = mq.mps_run(agg, (zero_end - i) as u32) as usize;
                            if taken > 0 {
                                i += taken;
                                continue;
                            }
                        }
                        if mq.decode(cx.get_unchecked_mut(CTX_AGG)) == 0 {
                            i += 1;
                            continue;
                        }
                        let uni = cx.get_unchecked_mut(CTX_UNI);
                        let run = (mq.decode_even(uni) << 1) | mq.decode_even(uni);
                        // The run ends at a sample that becomes significant; the rows
                        // after it are coded as usual (known insignificant).
                        macro_rules! cln {
                            ($ci:expr) => {
                                cln_step::<VSC, false>(
                                    &mut mq,
                                    cx,
                                    p.zc,
                                    fp,
                                    fs,
                                    dp.add($ci * w),
                                    $ci,
                                    oph,
                                )
                            };
                        }
                        match run {
                            0 => {
                                sign_step::<VSC>(&mut mq, cx, fp, fs, dp, 0, oph);
                                cln!(1);
                                cln!(2);
                                cln!(3);
                            }
                            1 => {
                                sign_step::<VSC>(&mut mq, cx, fp, fs, dp.add(w), 1, oph);
                                cln!(2);
                                cln!(3);
                            }
                            2 => {
                                sign_step::<VSC>(&mut mq, cx, fp, fs, dp.add(2 * w), 2, oph);
                                cln!(3);
                            }
                            _ => sign_step::<VSC>(&mut mq, cx, fp, fs, dp.add(3 * w), 3, oph),
                        }
                        i += 1;
                        continue; // no visited flags to clear
                    } else if (*fp | *fp >> 17) & SIGMA_ROWS == SIGMA_ROWS {
                        // All four significant or visited: nothing to code.
                    } else {
                        macro_rules! cln {
                            ($ci:expr) => {
                                cln_step::<VSC, true>(
                                    &mut mq,
                                    cx,
                                    p.zc,
                                    fp,
                                    fs,
                                    dp.add($ci * w),
                                    $ci,
                                    oph,
                                )
                            };
                        }
                        cln!(0);
                        cln!(1);
                        cln!(2);
                        cln!(3);
                    }
                    *fp &= !PI_ALL;
                    i += 1;
                }
            }
            if rows_last != 0 {
                let fp0 = flags.add((full + 1) * fs + 1);
                let dp0 = data.add(4 * full * w);
                for i in 0..w {
                    let fp = fp0.add(i);
                    let dp = dp0.add(i);
                    for ci in 0..rows_last {
                        cln_step::<VSC, true>(&mut mq, cx, p.zc, fp, fs, dp.add(ci * w), ci, oph);
                    }
                    *fp &= !PI_ALL;
                }
            }
        }
        *mq_out = mq;
    }
}

/// Which columns a pass leaves alone, for `skip4`.
const SIG: u8 = 0;
const REF: u8 = 1;

/// Whether the four stripe columns from `i` (all within the `w` columns at `fp0`)
/// need nothing from the pass: for the significance pass (`SIG`), nothing
/// significant near (a zero word) or all four significant; for refinement (`REF`),
/// no sample significant before this bit plane's significance pass. With simd128
/// four words are judged at once; elsewhere, never (the caller's loop judges each).
#[inline(always)]
unsafe fn skip4<const PASS: u8>(fp0: *const u32, i: usize, w: usize) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        if i + 4 > w {
            return false;
        }
        // SAFETY: columns i..i + 4 lie within the stripe's w columns.
        let f = v128_load(fp0.add(i) as *const v128);
        let rows = u32x4_splat(SIGMA_ROWS);
        if PASS == SIG {
            let none = u32x4_eq(f, u32x4_splat(0));
            let all = u32x4_eq(v128_and(f, rows), rows);
            i32x4_all_true(v128_or(none, all))
        } else {
            // SIGMA_ROWS & !(f >> 17): significant and not just coded (PI is 17 bits up).
            let todo = v128_and(v128_andnot(f, u32x4_shr(f, 17)), rows);
            !v128_any_true(todo)
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let _ = (fp0, i, w);
        false
    }
}

/// The sign context index (see `SC`) of row `ci` of the column word `f`, with the
/// west and east column words.
#[inline(always)]
fn sc_index(f: u32, west: u32, east: u32, ci: usize) -> usize {
    let s = 3 * ci as u32;
    let mut lu = (f >> s) & (1 << 1 | 1 << 3 | 1 << 5 | 1 << 7);
    lu |= (west >> (CHI_THIS_I + s)) & 1;
    lu |= (east >> (CHI_THIS_I - 2 + s)) & (1 << 2);
    lu |= if ci == 0 {
        (f >> (18 - 4)) & (1 << 4)
    } else {
        (f >> (CHI_THIS_I - 4 + s - 3)) & (1 << 4)
    };
    lu |= (f >> (CHI_THIS_I + 3 - 6 + s)) & (1 << 6);
    lu as usize
}

/// Marks row `ci` of the column at `fp` significant with sign `v` (1 negative), in
/// its own word and its neighbours' (the stripe above only for row 0, unless
/// vertically causal; the stripe below for row 3).
#[inline(always)]
unsafe fn update_flags(fp: *mut u32, fs: usize, ci: usize, v: u32, vsc: bool) {
    let s = 3 * ci as u32;
    *fp.sub(1) |= (SIGMA_THIS << 1) << s;
    *fp |= ((v << CHI_THIS_I) | SIGMA_THIS) << s;
    *fp.add(1) |= (SIGMA_THIS >> 1) << s;
    if ci == 0 && !vsc {
        let north = fp.sub(fs);
        *north |= (v << 31) | SIGMA_S_OF_ABOVE;
        *north.sub(1) |= SIGMA_S_OF_ABOVE << 1;
        *north.add(1) |= SIGMA_S_OF_ABOVE >> 1;
    }
    if ci == 3 {
        let south = fp.add(fs);
        *south |= (v << 18) | SIGMA_N;
        *south.sub(1) |= SIGMA_N << 1;
        *south.add(1) |= SIGMA_N >> 1;
    }
}

/// Decodes the sign of a sample that has just become significant and records it.
#[inline(always)]
unsafe fn sign_step<const VSC: bool>(
    mq: &mut Mq,
    cx: &mut [Context; 32],
    fp: *mut u32,
    fs: usize,
    dp: *mut i32,
    ci: usize,
    oph: i32,
) {
    let lu = sc_index(*fp, *fp.sub(1), *fp.add(1), ci);
    let e = *SC.get_unchecked(lu);
    let v = mq.decode_even(cx.get_unchecked_mut((e & 15) as usize)) ^ (e >> 4) as u32;
    *dp = select_unpredictable(v != 0, -oph, oph);
    update_flags(fp, fs, ci, v, VSC && ci == 0);
}

/// One sample of the magnitude refinement pass: row `ci` of the column word `f`,
/// known significant and not coded in this bit plane yet.
#[inline(always)]
unsafe fn ref_step(
    mq: &mut Mq,
    cx: &mut [Context; 32],
    f: u32,
    dp: *mut i32,
    ci: usize,
    half: i32,
) {
    let s = 3 * ci as u32;
    // Context (Table D.4): refined before, else any significant neighbour.
    let refined = (f >> s) & MU_THIS != 0;
    let near = (f >> s) & NEIGHBOURS != 0;
    let ctx = CTX_MAG + if refined { 2 } else { near as usize };
    let v = mq.decode_even(cx.get_unchecked_mut(ctx));
    let d = *dp;
    *dp = d + select_unpredictable(v ^ (d < 0) as u32 != 0, half, -half);
}

/// One sample of the significance propagation pass.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn sig_step<const VSC: bool>(
    mq: &mut Mq,
    cx: &mut [Context; 32],
    zc: &[u8; 512],
    fp: *mut u32,
    fs: usize,
    dp: *mut i32,
    ci: usize,
    oph: i32,
) {
    let f = *fp;
    let s = 3 * ci as u32;
    if f & ((SIGMA_THIS | PI_THIS) << s) == 0 && f & (NEIGHBOURS << s) != 0 {
        let ctx = zc[((f >> s) & NEIGHBOURS) as usize];
        if mq.decode_even(cx.get_unchecked_mut(ctx as usize)) != 0 {
            sign_step::<VSC>(mq, cx, fp, fs, dp, ci, oph);
        }
        *fp |= PI_THIS << s;
    }
}

/// One sample of the cleanup pass (`CHECK`: skip samples already significant or
/// visited by the significance pass).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn cln_step<const VSC: bool, const CHECK: bool>(
    mq: &mut Mq,
    cx: &mut [Context; 32],
    zc: &[u8; 512],
    fp: *mut u32,
    fs: usize,
    dp: *mut i32,
    ci: usize,
    oph: i32,
) {
    let f = *fp;
    let s = 3 * ci as u32;
    if !CHECK || f & ((SIGMA_THIS | PI_THIS) << s) == 0 {
        let ctx = zc[((f >> s) & NEIGHBOURS) as usize];
        if mq.decode_even(cx.get_unchecked_mut(ctx as usize)) != 0 {
            sign_step::<VSC>(mq, cx, fp, fs, dp, ci, oph);
        }
    }
}
