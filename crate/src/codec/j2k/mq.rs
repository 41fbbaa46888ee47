//! The MQ arithmetic decoder of JPEG 2000 part 1 (ITU-T T.800 Annex C.3), in the
//! register conventions of C.3 (see `Mq` for its code register, widened to fetch
//! ahead), with a byte-exact feed of OpenJPEG's: past the end of a codeword
//! segment the decoder reads 0xFF bytes (C.3.4: a marker code, 0xFF followed by a
//! byte above 0x8F, feeds 1-bits forever), so it never reads past its segment.
//!
//! A context is one word (`Context`): its state `2 × state + MPS` and that state's
//! Qe, so that a decision reads Qe straight from the context, and one look-up
//! (`NEXT`) gives the next context word, with the MPS switch folded in.

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

/// A context: its state `s = 2 × state + MPS` in bits 0..8 and the state's Qe in
/// bits 48..64, the place of A and Chigh in `Mq`'s registers (zeros between).
pub(super) type Context = u64;

/// The context word of state `s` (< 94).
const fn context(s: usize) -> Context {
    (QE[s / 2].0 as u64) << HIGH | s as u64
}

/// Per context state `s`, at `4 s + k`: the context after a decision that needs no
/// renormalisation (`k` = 0: itself), after an MPS with renormalisation (1) and
/// after an LPS (2). 1024 entries so that a `u8` state needs no bounds check.
static NEXT: [Context; 1024] = {
    let mut t = [0; 1024];
    let mut s = 0;
    while s < 94 {
        let (_, nmps, nlps, switch) = QE[s / 2];
        let mps = s & 1;
        t[4 * s] = context(s);
        t[4 * s + 1] = context(2 * nmps as usize + mps);
        t[4 * s + 2] = context(2 * nlps as usize + (mps ^ switch as usize));
        s += 1;
    }
    t
};

/// The initial contexts of Table D.7 (19 contexts: 9 zero coding, 5 sign, 3
/// magnitude refinement, run-length, uniform), padded to 32.
pub(super) const fn initial_contexts() -> [Context; 32] {
    let mut c = [context(0); 32];
    c[0] = context(2 * 4); // zero coding, all neighbours insignificant: state 4
    c[17] = context(2 * 3); // run-length: state 3
    c[18] = context(2 * 46); // uniform: state 46
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
///
/// `c` is C.3's code register widened to 64 bits: Chigh in bits 48..63, and below
/// it the bits fetched ahead (C.3's 32-bit register shifted up by 32, with room
/// for more than one byte), then a 1-bit, the sentinel, and zeros: C.3's count `ct`
/// of bits left before the next byte is 47 less the sentinel's place, so that no
/// register holds it (`c` has one set bit below Chigh at least, and the arithmetic
/// on Chigh never reaches below bit 48). Bytes are fetched several at a time, so
/// that the renormalisation needs a fetch about once in four bytes rather than once
/// in each. Only a byte after a plain byte is fetched early, where it simply lands
/// below the bits already there; a byte after 0xFF (a stuffed bit or a marker) is
/// fetched when `ct` has run out, exactly as BYTEIN does, so every decision sees
/// the very register values of C.3 (and OpenJPEG's), whatever the bytes.
#[derive(Clone, Copy)]
pub(super) struct Mq<'a> {
    /// The byte last fed into `c`. It only moves past a byte that is not 0xFF, so
    /// it stops at the first of the two 0xFF bytes after the segment at the latest,
    /// and a fetch reads at most one byte further.
    p: *const u8,
    /// C.3's A in bits 48..64 (the place of Chigh in `c`), zeros below.
    a: u64,
    c: u64,
    _data: core::marker::PhantomData<&'a [u8]>,
}

/// Chigh's place in `c`.
const HIGH: u32 = 48;

impl<'a> Mq<'a> {
    /// INITDEC (C.3.5).
    pub(super) fn new(data: &Padded<'a>) -> Self {
        let mut m = Mq {
            p: data.0.as_ptr(),
            a: 0x8000 << HIGH,
            c: (data.0[0] as u64) << HIGH,
            _data: core::marker::PhantomData,
        };
        let ct = m.fill();
        m.c <<= 7;
        m.c |= 1 << (HIGH - 1 - (ct - 7));
        m
    }

    /// BYTEIN (C.3.4), called when `ct` is 0 (`c` without its sentinel), then as
    /// many plain bytes as fit; returns the new `ct` (8 to 40) and leaves the
    /// sentinel to the caller.
    #[inline(always)]
    fn fill(&mut self) -> u32 {
        // SAFETY: see `p`: `p` and `p + 1` lie within the padded segment, and `p`
        // moves on only from a byte that is not 0xFF.
        unsafe {
            let b = *self.p;
            let next = *self.p.add(1) as u64;
            let mut ct;
            if b == 0xFF {
                if next > 0x8F {
                    self.c = self.c.wrapping_add(0xFF << (HIGH - 8));
                    ct = 8;
                } else {
                    self.p = self.p.add(1);
                    self.c = self.c.wrapping_add(next << (HIGH - 7));
                    ct = 7;
                }
            } else {
                self.p = self.p.add(1);
                self.c = self.c.wrapping_add(next << (HIGH - 8));
                ct = 8;
            }
            // Plain bytes after plain bytes, below the bits fetched (all zero
            // there, so nothing carries): up to 40 bits ahead.
            while ct <= 32 && *self.p != 0xFF {
                self.p = self.p.add(1);
                self.c += (*self.p as u64) << (HIGH - 8 - ct);
                ct += 8;
            }
            ct
        }
    }

    /// RENORMD (C.3.3): shifts `a` left until its bit 15 is set, `c` with it,
    /// fetching bytes as `ct` runs out; whole runs of shifts at a time.
    #[inline(always)]
    fn renorm(&mut self) {
        // 1 ≤ n ≤ 15: A is below 0x8000 and not 0 here.
        let n = self.a.leading_zeros();
        self.a <<= n;
        self.shift(n);
    }

    /// Shifts `c` left by `n` ≤ 15 bits, fetching as `ct` runs out.
    #[inline(always)]
    fn shift(&mut self, n: u32) {
        let c = self.c << n;
        // `n` ≤ `ct`: the sentinel is still below Chigh.
        if c << (64 - HIGH) != 0 {
            self.c = c;
            return;
        }
        *self = self.shift_fetching(n);
    }

    /// `shift`'s rare path, out of line. It takes the decoder by value and returns
    /// it, so that no reference to the caller's copy escapes: a `&mut self` here
    /// would keep every pass's decoder in memory (wasm's shadow stack), each
    /// decision loading and storing `a` and `c`, rather than in registers.
    #[cold]
    #[inline(never)]
    fn shift_fetching(mut self, mut n: u32) -> Self {
        let mut ct = HIGH - 1 - self.c.trailing_zeros();
        self.c &= self.c - 1; // the sentinel off
        loop {
            self.c <<= ct;
            n -= ct;
            ct = self.fill();
            if n <= ct {
                self.c <<= n;
                self.c |= 1 << (HIGH - 1 - (ct - n));
                return self;
            }
        }
    }

    /// Takes up to `n` decisions in the context `cx` at once, as many as are
    /// certain to be its MPS without renormalisation (C.3.2: Chigh stays at or
    /// above Qe and A − Qe at or above 0x8000 for each), and returns how many. The
    /// context does not change on such decisions.
    #[inline(always)]
    pub(super) fn mps_run(&mut self, cx: Context, n: u32) -> u32 {
        let qe = (cx >> HIGH) as u32;
        // A ≥ 0x8000 between decisions; Qe ≥ 1.
        let room = ((self.c >> HIGH) as u32).min((self.a >> HIGH) as u32 - 0x8000);
        let taken = (room / qe).min(n);
        self.a -= ((taken * qe) as u64) << HIGH;
        self.c = self.c.wrapping_sub(((taken * qe) as u64) << HIGH);
        taken
    }

    /// DECODE (C.3.2) of one decision in the context `cx`.
    #[inline(always)]
    pub(super) fn decode(&mut self, cx: &mut Context) -> u32 {
        let e = *cx;
        let q = e & !0xFF;
        let next = &NEXT[4 * (e as u8) as usize..][..3];
        let mps = (e & 1) as u32;
        self.a = self.a.wrapping_sub(q);
        if self.c < q {
            // LPS sub-interval, with the conditional exchange.
            let d = if self.a < q {
                *cx = next[1];
                mps
            } else {
                *cx = next[2];
                mps ^ 1
            };
            self.a = q;
            self.renorm();
            d
        } else {
            self.c -= q;
            if self.a >> 63 != 0 {
                return mps;
            }
            let d = if self.a < q {
                *cx = next[2];
                mps ^ 1
            } else {
                *cx = next[1];
                mps
            };
            self.renorm();
            d
        }
    }

    /// DECODE (C.3.2) of one decision, as `decode`, without branching on the
    /// decision: for decisions whose outcome a branch would often mispredict (sign,
    /// magnitude refinement, a run's position, and zero coding in the significance
    /// and cleanup passes; t1 keeps `decode` for the run-length aggregation, nearly
    /// always its MPS, and the rare segmentation symbols). Both sub-intervals are computed and one selected;
    /// the renormalisation shift is 0 for an MPS that needs none.
    #[inline(always)]
    pub(super) fn decode_even(&mut self, cx: &mut Context) -> u32 {
        let e = *cx;
        let q = e & !0xFF;
        let a = self.a.wrapping_sub(q);
        // The code value lies in the LPS sub-interval (the lower Qe).
        let lower = self.c < q;
        // The conditional exchange: the sub-interval decoded is the LPS when it is
        // the lower one and at least as large as the other (A − Qe ≥ Qe), or the
        // upper one and smaller (A − Qe < Qe). A − Qe ≥ 0x8000 > Qe needs neither.
        let lps = lower != (a < q);
        let renorm = lower | (a >> 63 == 0);
        // The next context without a branch: unchanged, the MPS successor or the
        // LPS successor (an LPS always renormalises).
        *cx = NEXT[4 * (e as u8) as usize + lps as usize + renorm as usize];
        self.c = select_unpredictable(lower, self.c, self.c.wrapping_sub(q));
        self.a = select_unpredictable(lower, q, a);
        // 0 ≤ n ≤ 15: A is in 1..=0xFFFF.
        let n = self.a.leading_zeros();
        self.a <<= n;
        self.shift(n);
        (e & 1) as u32 ^ lps as u32
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

#[cfg(test)]
mod tests {
    use super::*;

    /// C.3 as written (Figures C.15 to C.20): a 32-bit code register, one byte
    /// fetched whenever `ct` runs out, 0xFF bytes past the end.
    struct Textbook<'a> {
        data: &'a [u8],
        bp: usize,
        a: u32,
        c: u32,
        ct: u32,
    }

    impl<'a> Textbook<'a> {
        fn byte(&self, i: usize) -> u32 {
            self.data.get(i).map_or(0xFF, |&b| b as u32)
        }

        fn new(data: &'a [u8]) -> Self {
            let mut t = Textbook {
                data,
                bp: 0,
                a: 0x8000,
                c: 0,
                ct: 0,
            };
            t.c = t.byte(0) << 16;
            t.bytein();
            t.c <<= 7;
            t.ct -= 7;
            t
        }

        fn bytein(&mut self) {
            if self.byte(self.bp) == 0xFF {
                if self.byte(self.bp + 1) > 0x8F {
                    self.c = self.c.wrapping_add(0xFF00);
                    self.ct = 8;
                } else {
                    self.bp += 1;
                    self.c = self.c.wrapping_add(self.byte(self.bp) << 9);
                    self.ct = 7;
                }
            } else {
                self.bp += 1;
                self.c = self.c.wrapping_add(self.byte(self.bp) << 8);
                self.ct = 8;
            }
        }

        fn decode(&mut self, cx: &mut u8) -> u32 {
            let (qe, nmps, nlps, switch) = QE[(*cx / 2) as usize];
            let (qe, mps) = (qe as u32, (*cx & 1) as u32);
            self.a -= qe;
            let d;
            if (self.c >> 16) < qe {
                // LPS_EXCHANGE
                if self.a < qe {
                    d = mps;
                    *cx = 2 * nmps + mps as u8;
                } else {
                    d = 1 - mps;
                    *cx = 2 * nlps + (mps as u8 ^ switch);
                }
                self.a = qe;
            } else {
                self.c -= qe << 16;
                if self.a & 0x8000 != 0 {
                    return mps;
                }
                // MPS_EXCHANGE
                if self.a < qe {
                    d = 1 - mps;
                    *cx = 2 * nlps + (mps as u8 ^ switch);
                } else {
                    d = mps;
                    *cx = 2 * nmps + mps as u8;
                }
            }
            loop {
                if self.ct == 0 {
                    self.bytein();
                }
                self.a <<= 1;
                self.c <<= 1;
                self.ct -= 1;
                if self.a & 0x8000 != 0 {
                    return d;
                }
            }
        }
    }

    /// Every decision of `Mq` (both forms, and the MPS runs) equals the textbook
    /// decoder's on random segments rich in 0xFF: stuffed bytes, bytes 0x80..=0x8F
    /// after 0xFF (whose top bit carries into the register), markers, and the 1-bits
    /// past the end.
    #[test]
    fn decisions_equal_the_textbook_decoder() {
        let mut rand = super::super::differential::xorshift();
        let mut buf = Vec::new();
        for round in 0..3000 {
            let len = (rand() % 64) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| match rand() % 8 {
                    0 | 1 => 0xFF,
                    2 => 0x80 + (rand() % 16) as u8,
                    3 => 0x90 + (rand() % 0x6F) as u8,
                    _ => rand() as u8,
                })
                .collect();
            let padded = Padded::new(&mut buf, &data);
            let mut ours = Mq::new(&padded);
            let mut book = Textbook::new(&data);
            let mut cx_ours = initial_contexts();
            // The textbook's contexts are bare states.
            let mut cx_book = initial_contexts().map(|c| c as u8);
            for step in 0..(len * 12 + 40) {
                let k = (rand() % 19) as usize;
                match rand() % 3 {
                    0 => {
                        let d = ours.decode(&mut cx_ours[k]);
                        assert_eq!(d, book.decode(&mut cx_book[k]), "round {round} step {step}");
                    }
                    1 => {
                        let d = ours.decode_even(&mut cx_ours[k]);
                        assert_eq!(d, book.decode(&mut cx_book[k]), "round {round} step {step}");
                    }
                    _ => {
                        let n = ours.mps_run(cx_ours[k], (rand() % 8) as u32);
                        for _ in 0..n {
                            let mps = (cx_book[k] & 1) as u32;
                            let before = cx_book[k];
                            assert_eq!(
                                book.decode(&mut cx_book[k]),
                                mps,
                                "round {round} step {step}"
                            );
                            assert_eq!(cx_book[k], before, "an MPS run changed no state");
                        }
                    }
                }
                let book_contexts = cx_book.map(|s| context(s as usize));
                assert_eq!(cx_ours, book_contexts, "round {round} step {step}");
                assert_eq!(ours.a, (book.a as u64) << HIGH, "round {round} step {step}");
                assert_eq!(
                    (ours.c >> HIGH) as u32,
                    book.c >> 16,
                    "round {round} step {step}"
                );
            }
        }
    }
}
