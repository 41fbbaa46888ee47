//! The MQ arithmetic decoder of JPEG 2000 part 1 (ITU-T T.800 Annex C.3), in the
//! register conventions of C.3 (`c` holds the code register with Chigh in bits
//! 16..31), with a byte-exact feed of OpenJPEG's: past the end of a codeword
//! segment the decoder reads 0xFF bytes (C.3.4: a marker code, 0xFF followed by a
//! byte above 0x8F, feeds 1-bits forever), so it never reads past its segment.
//!
//! Context states are one byte each, `2 × state + MPS`, so that one table look-up
//! (`STATES`) gives Qe and both successor states with the MPS switch folded in.

use core::hint::select_unpredictable;

/// Table C.2: Qe, NMPS, NLPS and SWITCH for the 47 probability states.
const QE: [(u16, u8, u8, u8); 47] = [
    (0x5601, 1, 1, 1),
    (0x3401, 2, 6, 0),
    (0x1801, 3, 9, 0),
    (0x0AC1, 4, 12, 0),
    (0x0521, 5, 29, 0),
    (0x0221, 38, 33, 0),
    (0x5601, 7, 6, 1),
    (0x5401, 8, 14, 0),
    (0x4801, 9, 14, 0),
    (0x3801, 10, 14, 0),
    (0x3001, 11, 17, 0),
    (0x2401, 12, 18, 0),
    (0x1C01, 13, 20, 0),
    (0x1601, 29, 21, 0),
    (0x5601, 15, 14, 1),
    (0x5401, 16, 14, 0),
    (0x5101, 17, 15, 0),
    (0x4801, 18, 16, 0),
    (0x3801, 19, 17, 0),
    (0x3401, 20, 18, 0),
    (0x3001, 21, 19, 0),
    (0x2801, 22, 19, 0),
    (0x2401, 23, 20, 0),
    (0x2201, 24, 21, 0),
    (0x1C01, 25, 22, 0),
    (0x1801, 26, 23, 0),
    (0x1601, 27, 24, 0),
    (0x1401, 28, 25, 0),
    (0x1201, 29, 26, 0),
    (0x1101, 30, 27, 0),
    (0x0AC1, 31, 28, 0),
    (0x09C1, 32, 29, 0),
    (0x08A1, 33, 30, 0),
    (0x0521, 34, 31, 0),
    (0x0441, 35, 32, 0),
    (0x02A1, 36, 33, 0),
    (0x0221, 37, 34, 0),
    (0x0141, 38, 35, 0),
    (0x0111, 39, 36, 0),
    (0x0085, 40, 37, 0),
    (0x0049, 41, 38, 0),
    (0x0025, 42, 39, 0),
    (0x0015, 43, 40, 0),
    (0x0009, 44, 41, 0),
    (0x0005, 45, 42, 0),
    (0x0001, 45, 43, 0),
    (0x5601, 46, 46, 0),
];

/// Per context state `s = 2 × state + mps`: Qe in bits 0..16, the state after an
/// MPS in bits 16..24 and after an LPS in bits 24..32. 256 entries so that a `u8`
/// index needs no bounds check.
static STATES: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut s = 0;
    while s < 94 {
        let (qe, nmps, nlps, switch) = QE[s / 2];
        let mps = (s & 1) as u8;
        let after_mps = 2 * nmps + mps;
        let after_lps = 2 * nlps + (mps ^ switch);
        t[s] = qe as u32 | (after_mps as u32) << 16 | (after_lps as u32) << 24;
        s += 1;
    }
    t
};

/// The initial context states of Table D.7 (19 contexts: 9 zero coding, 5 sign,
/// 3 magnitude refinement, run-length, uniform), padded to 32.
pub(super) const fn initial_contexts() -> [u8; 32] {
    let mut c = [0u8; 32];
    c[0] = 2 * 4; // zero coding, all neighbours insignificant: state 4
    c[17] = 2 * 3; // run-length: state 3
    c[18] = 2 * 46; // uniform: state 46
    c
}

/// A codeword segment followed by two 0xFF bytes (a marker code: C.3.4 then feeds
/// 1-bits forever), so that the MQ decoder needs no bounds checks.
pub(super) struct Padded<'a>(&'a [u8]);

impl<'a> Padded<'a> {
    /// Copies `data` into `buf` with the two 0xFF bytes after it.
    pub(super) fn new(buf: &'a mut Vec<u8>, data: &[u8]) -> Self {
        buf.clear();
        buf.extend_from_slice(data);
        buf.extend_from_slice(&[0xFF, 0xFF]);
        Padded(buf)
    }
}

/// An MQ decoder on one codeword segment. Copy it into a local for a pass so that
/// its registers stay in machine registers.
#[derive(Clone, Copy)]
pub(super) struct Mq<'a> {
    /// The byte last fed into `c`. It only moves past a byte that is not 0xFF, so
    /// it stops at the first of the two 0xFF bytes after the segment at the latest,
    /// and `bytein` reads at most one byte further.
    p: *const u8,
    a: u32,
    c: u32,
    ct: u32,
    _data: core::marker::PhantomData<&'a [u8]>,
}

impl<'a> Mq<'a> {
    /// INITDEC (C.3.5).
    pub(super) fn new(data: &Padded<'a>) -> Self {
        let mut m = Mq {
            p: data.0.as_ptr(),
            a: 0x8000,
            c: (data.0[0] as u32) << 16,
            ct: 0,
            _data: core::marker::PhantomData,
        };
        m.bytein();
        m.c <<= 7;
        m.ct -= 7;
        m
    }

    /// BYTEIN (C.3.4).
    #[inline(always)]
    fn bytein(&mut self) {
        // SAFETY: see `p`: `p` and `p + 1` lie within the padded segment.
        unsafe {
            let b = *self.p;
            let next = *self.p.add(1) as u32;
            if b == 0xFF {
                if next > 0x8F {
                    self.c = self.c.wrapping_add(0xFF00);
                    self.ct = 8;
                } else {
                    self.p = self.p.add(1);
                    self.c = self.c.wrapping_add(next << 9);
                    self.ct = 7;
                }
            } else {
                self.p = self.p.add(1);
                self.c = self.c.wrapping_add(next << 8);
                self.ct = 8;
            }
        }
    }

    /// RENORMD (C.3.3): shifts `a` left until its bit 15 is set, `c` with it,
    /// fetching bytes as `ct` runs out; whole runs of shifts at a time.
    #[inline(always)]
    fn renorm(&mut self) {
        // 1 ≤ n ≤ 15: `a` is below 0x8000 and not 0 here.
        let mut n = (self.a as u16).leading_zeros();
        self.a <<= n;
        loop {
            if n <= self.ct {
                self.c <<= n;
                self.ct -= n;
                return;
            }
            self.c <<= self.ct;
            n -= self.ct;
            self.bytein();
        }
    }

    /// Takes up to `n` decisions in a context in state `s` at once, as many as are
    /// certain to be its MPS without renormalisation (C.3.2: Chigh stays at or
    /// above Qe and A − Qe at or above 0x8000 for each), and returns how many. The
    /// context's state does not change on such decisions.
    #[inline(always)]
    pub(super) fn mps_run(&mut self, s: u8, n: u32) -> u32 {
        let qe = STATES[s as usize] & 0xFFFF;
        // A ≥ 0x8000 between decisions; Qe ≥ 1.
        let room = (self.c >> 16).min(self.a - 0x8000);
        let taken = (room / qe).min(n);
        self.a -= taken * qe;
        self.c = self.c.wrapping_sub((taken * qe) << 16);
        taken
    }

    /// DECODE (C.3.2) of one decision in the context whose state is `cx`.
    #[inline(always)]
    pub(super) fn decode(&mut self, cx: &mut u8) -> u32 {
        let s = *cx;
        let e = STATES[s as usize];
        let qe = e & 0xFFFF;
        let mps = (s & 1) as u32;
        self.a = self.a.wrapping_sub(qe);
        if (self.c >> 16) < qe {
            // LPS sub-interval, with the conditional exchange.
            let d = if self.a < qe {
                *cx = (e >> 16) as u8;
                mps
            } else {
                *cx = (e >> 24) as u8;
                mps ^ 1
            };
            self.a = qe;
            self.renorm();
            d
        } else {
            self.c = self.c.wrapping_sub(qe << 16);
            if self.a & 0x8000 != 0 {
                return mps;
            }
            let d = if self.a < qe {
                *cx = (e >> 24) as u8;
                mps ^ 1
            } else {
                *cx = (e >> 16) as u8;
                mps
            };
            self.renorm();
            d
        }
    }

    /// DECODE (C.3.2) of one decision, as `decode`, without branching on the
    /// decision: for contexts whose decisions are near even odds (sign, magnitude
    /// refinement), where a branch on MPS against LPS is mispredicted half the time.
    /// Both sub-intervals are computed and one selected; the renormalisation shift
    /// is 0 for an MPS that needs none.
    #[inline(always)]
    pub(super) fn decode_even(&mut self, cx: &mut u8) -> u32 {
        let s = *cx;
        let e = STATES[s as usize];
        let qe = e & 0xFFFF;
        let a = self.a.wrapping_sub(qe);
        // The code value lies in the LPS sub-interval (the lower Qe).
        let lower = (self.c >> 16) < qe;
        // The conditional exchange: the sub-interval decoded is the LPS when it is
        // the lower one and at least as large as the other (A − Qe ≥ Qe), or the
        // upper one and smaller (A − Qe < Qe). A − Qe ≥ 0x8000 > Qe needs neither.
        let lps = lower != (a < qe);
        let renorm = lower | (a < 0x8000);
        // The next state by a shift, not a branch: `e`'s MPS successor (bits
        // 16..24), LPS successor (24..32), or the state itself (32..40, an MPS
        // without renormalisation).
        let shift = 16 + 8 * lps as u32 + 16 * !renorm as u32;
        *cx = ((e as u64 | (s as u64) << 32) >> shift) as u8;
        self.c = select_unpredictable(lower, self.c, self.c.wrapping_sub(qe << 16));
        self.a = select_unpredictable(lower, qe, a);
        // 0 ≤ n ≤ 15: `a` is in 1..=0xFFFF.
        let n = (self.a as u16).leading_zeros();
        if n <= self.ct {
            self.a <<= n;
            self.c <<= n;
            self.ct -= n;
        } else {
            self.renorm();
        }
        (s & 1) as u32 ^ lps as u32
    }
}

/// Byte `i` of a segment, 0xFF past its end.
#[inline(always)]
fn m_byte(data: &[u8], i: usize) -> u8 {
    match data.get(i) {
        Some(&b) => b,
        None => 0xFF,
    }
}

/// The raw (bypass) bit reader of the arithmetic-coding bypass mode (D.6), with
/// OpenJPEG's feed: 0xFF bytes past the end, and a 0xFF followed by a byte above
/// 0x8F read again as 0xFF (8 bits) rather than consumed.
#[derive(Clone, Copy)]
pub(super) struct Raw<'a> {
    data: &'a [u8],
    pos: usize,
    c: u32,
    ct: u32,
}

impl<'a> Raw<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Raw {
            data,
            pos: 0,
            c: 0,
            ct: 0,
        }
    }

    #[inline(always)]
    pub(super) fn bit(&mut self) -> u32 {
        if self.ct == 0 {
            let b = m_byte(self.data, self.pos) as u32;
            if self.c == 0xFF {
                if b > 0x8F {
                    self.c = 0xFF;
                    self.ct = 8;
                } else {
                    self.c = b;
                    self.pos += 1;
                    self.ct = 7;
                }
            } else {
                self.c = b;
                self.pos += 1;
                self.ct = 8;
            }
        }
        self.ct -= 1;
        (self.c >> self.ct) & 1
    }
}
