//! The HTJ2K (ITU-T T.814) 32-bit code-block decoder: `coding/decoder32.rs` of
//! openjph-core 0.1.0 (a Rust port of OpenJPH's `ojph_block_decoder32.cpp`), taken
//! over here with these changes: the scratch buffer is the caller's, sized to the
//! block (openjph-core allocated and zeroed 513 rows of it per block, a third of its
//! decode time); its decoder tables are precomputed (`ht_tables.rs`), MEL codewords
//! decoded by table; and the VLC/MEL step is `VlcDecoder`, a quad pair at a time,
//! arranged for the code it compiles to (see there), which simd128 builds run beside
//! their MagSgn step (`ht_block_simd.rs`).
//!
//! Copyright (c) 2019, Aous Naman; Copyright (c) 2019, Kakadu Software Pty Ltd;
//! Copyright (c) 2019, The University of New South Wales, Australia (OpenJPH), and
//! the openjph-core authors. BSD-2-Clause: redistribution and use in source and
//! binary forms, with or without modification, are permitted provided that (1)
//! redistributions of source code retain this copyright notice, this list of
//! conditions and the following disclaimer, and (2) redistributions in binary form
//! reproduce it in the documentation and/or other materials provided with the
//! distribution. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND
//! CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES ARE DISCLAIMED.

#![allow(
    clippy::identity_op,
    clippy::erasing_op,
    clippy::too_many_arguments,
    clippy::needless_range_loop,
    clippy::collapsible_else_if,
    clippy::manual_range_contains
)]

use super::ht_tables::decoder_tables;

#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
#[inline(always)]
const fn count_leading_zeros(val: u32) -> u32 {
    val.leading_zeros()
}

#[inline(always)]
const fn population_count(val: u32) -> u32 {
    val.count_ones()
}

#[inline(always)]
const fn ojph_max(a: i32, b: i32) -> i32 {
    if a > b {
        a
    } else {
        b
    }
}

/// A malformed code-block: the caller falls back to openjp2.
macro_rules! ojph_warn {
    ($($arg:tt)*) => {};
}

// ============================================================================
// MEL decoder
// ============================================================================

/// MEL state structure for reading and decoding the MEL bitstream.
///
/// A number of events is decoded from the MEL bitstream ahead of time and
/// stored in `runs` / `num_runs`.  Each run represents the number of zero
/// events before a one event.
struct DecMelSt<'a> {
    data: &'a [u8],
    pos: usize,
    tmp: u64,
    bits: i32,
    size: i32,
    unstuff: bool,
    k: i32,
    num_runs: i32,
    runs: u64,
}

impl<'a> DecMelSt<'a> {
    /// Read and unstuff 4 bytes from the MEL bitstream.
    fn mel_read(&mut self) {
        if self.bits > 32 {
            return;
        }

        let val: u32;
        if self.size > 4 {
            val = u32::from(self.data[self.pos])
                | (u32::from(self.data[self.pos + 1]) << 8)
                | (u32::from(self.data[self.pos + 2]) << 16)
                | (u32::from(self.data[self.pos + 3]) << 24);
            self.pos += 4;
            self.size -= 4;
        } else if self.size > 0 {
            let mut v = 0xFFFF_FFFFu32;
            let mut i = 0u32;
            while self.size > 1 {
                let b = u32::from(self.data[self.pos]);
                self.pos += 1;
                let m = !(0xFFu32 << i);
                v = (v & m) | (b << i);
                self.size -= 1;
                i += 8;
            }
            // last byte: overlap MEL and VLC
            let mut b = u32::from(self.data[self.pos]);
            self.pos += 1;
            b |= 0xF;
            let m = !(0xFFu32 << i);
            v = (v & m) | (b << i);
            self.size -= 1;
            val = v;
        } else {
            val = 0xFFFF_FFFFu32;
        }

        // Unstuff 4 bytes and accumulate in tmp
        let mut bits = (32 - self.unstuff as i32) as u32;

        let mut t = val & 0xFF;
        let mut unstuff = (val & 0xFF) == 0xFF;
        bits -= unstuff as u32;
        t <<= 8 - unstuff as u32;

        t |= (val >> 8) & 0xFF;
        unstuff = ((val >> 8) & 0xFF) == 0xFF;
        bits -= unstuff as u32;
        t <<= 8 - unstuff as u32;

        t |= (val >> 16) & 0xFF;
        unstuff = ((val >> 16) & 0xFF) == 0xFF;
        bits -= unstuff as u32;
        t <<= 8 - unstuff as u32;

        t |= (val >> 24) & 0xFF;
        self.unstuff = ((val >> 24) & 0xFF) == 0xFF;

        self.tmp |= (t as u64) << (64 - bits as i32 - self.bits);
        self.bits += bits as i32;
    }

    /// Decode unstuffed MEL segment bits to runs.
    #[inline(never)]
    fn mel_decode(&mut self) {
        if self.bits < 6 {
            self.mel_read();
        }

        // One codeword a step, by table (`DecoderTables::mel_tbl`: the run, the
        // codeword's length and the next state k, from k and the next 6 bits): no
        // branch on the bits. k stays in 0..=12, as the table's states do.
        let mel_tbl = &decoder_tables().mel_tbl;
        while self.bits >= 6 && self.num_runs < 8 {
            let e = u32::from(mel_tbl[(self.k as usize) << 6 & 0x3C0 | (self.tmp >> 58) as usize]);
            let len = (e >> 7) & 7;
            self.k = (e >> 10) as i32;
            self.tmp <<= len;
            self.bits -= len as i32;
            let run = u64::from(e & 0x7F);
            let shift = self.num_runs * 7;
            self.runs &= !(0x3Fu64 << shift);
            self.runs |= run << shift;
            self.num_runs += 1;
        }
    }

    /// Initialise MEL structure and align read position.
    fn mel_init(data: &'a [u8], lcup: usize, scup: usize) -> Self {
        let start = lcup - scup;
        let mut mel = DecMelSt {
            data,
            pos: start,
            tmp: 0,
            bits: 0,
            size: (scup as i32) - 1,
            unstuff: false,
            k: 0,
            num_runs: 0,
            runs: 0,
        };

        // Align to 4-byte boundary (read 1..4 bytes)
        let num = 4 - (start & 0x3);
        for _ in 0..num {
            debug_assert!(!mel.unstuff || mel.data[mel.pos] <= 0x8F);
            let d: u64 = if mel.size > 0 {
                mel.data[mel.pos] as u64
            } else {
                0xFF
            };
            let d = if mel.size == 1 { d | 0xF } else { d };
            if mel.size > 0 {
                mel.pos += 1;
            }
            mel.size -= (mel.size > 0) as i32;
            let d_bits = 8 - mel.unstuff as i32;
            mel.tmp = (mel.tmp << d_bits as u32) | d;
            mel.bits += d_bits;
            mel.unstuff = (d & 0xFF) == 0xFF;
        }
        mel.tmp <<= (64 - mel.bits) as u32;
        mel
    }

    /// Retrieve one run from the MEL decoder.
    #[inline(always)]
    fn mel_get_run(&mut self) -> i32 {
        if self.num_runs == 0 {
            self.mel_decode();
        }
        let t = (self.runs & 0x7F) as i32;
        self.runs >>= 7;
        self.num_runs -= 1;
        t
    }
}

/// The MEL decoder of a cleanup pass, for `VlcDecoder::new`.
pub(super) struct Mel<'a>(DecMelSt<'a>);

impl<'a> Mel<'a> {
    /// The MEL segment of the cleanup pass `coded_data[..lcup]` with `scup` bytes of
    /// MEL and VLC.
    pub(super) fn new(coded_data: &'a [u8], lcup: usize, scup: usize) -> Self {
        Mel(DecMelSt::mel_init(coded_data, lcup, scup))
    }
}

// ============================================================================
// Backward-growing reader (VLC / MRP)
// ============================================================================

/// State structure for reading and unstuffing a segment that grows backward
/// (VLC and MRP).
struct RevStruct<'a> {
    data: &'a [u8],
    /// Current read position (decrements).
    pos: usize,
    tmp: u64,
    bits: u32,
    size: i32,
    unstuff: bool,
}

impl<'a> RevStruct<'a> {
    // -- VLC helpers ---------------------------------------------------------

    /// Read and unstuff 4 bytes backward for VLC.
    #[inline(always)]
    fn rev_read(&mut self) {
        if self.bits > 32 {
            return;
        }
        let mut val: u32 = 0;
        if self.size > 3 {
            // read 4 bytes at [pos-3..=pos] in big-endian order
            val = (u32::from(self.data[self.pos]) << 24)
                | (u32::from(self.data[self.pos - 1]) << 16)
                | (u32::from(self.data[self.pos - 2]) << 8)
                | u32::from(self.data[self.pos - 3]);
            self.pos = self.pos.saturating_sub(4);
            self.size -= 4;
        } else if self.size > 0 {
            let mut i: i32 = 24;
            while self.size > 0 {
                let v = u32::from(self.data[self.pos]);
                if self.pos > 0 {
                    self.pos -= 1;
                }
                val |= v << i as u32;
                self.size -= 1;
                i -= 8;
            }
        }

        // Accumulate with unstuffing
        let mut tmp = val >> 24;
        let mut bits: u32 = 8 - if self.unstuff && ((val >> 24) & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        let mut unstuff = (val >> 24) > 0x8F;

        tmp |= ((val >> 16) & 0xFF) << bits;
        bits += 8 - if unstuff && ((val >> 16) & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        unstuff = ((val >> 16) & 0xFF) > 0x8F;

        tmp |= ((val >> 8) & 0xFF) << bits;
        bits += 8 - if unstuff && ((val >> 8) & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        unstuff = ((val >> 8) & 0xFF) > 0x8F;

        tmp |= (val & 0xFF) << bits;
        bits += 8 - if unstuff && (val & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        unstuff = (val & 0xFF) > 0x8F;

        self.tmp |= (tmp as u64) << self.bits;
        self.bits += bits;
        self.unstuff = unstuff;
    }

    /// Initialise VLC reader, skip first 12 bits (interface locator).
    fn rev_init(data: &'a [u8], lcup: usize, scup: usize) -> Self {
        let start_pos = lcup - 2;
        let mut vlc = RevStruct {
            data,
            pos: start_pos,
            tmp: 0,
            bits: 0,
            size: (scup as i32) - 2,
            unstuff: false,
        };

        // Read first (half) byte
        let d = u32::from(vlc.data[vlc.pos]);
        if vlc.pos > 0 {
            vlc.pos -= 1;
        }
        vlc.tmp = (d >> 4) as u64;
        vlc.bits = 4 - if (vlc.tmp & 7) == 7 { 1 } else { 0 };
        vlc.unstuff = (d | 0xF) > 0x8F;

        // Align to 4-byte boundary
        let num = 1 + (vlc.pos & 0x3);
        let tnum = if (num as i32) < vlc.size {
            num
        } else {
            vlc.size as usize
        };
        for _ in 0..tnum {
            let d = u64::from(vlc.data[vlc.pos]);
            if vlc.pos > 0 {
                vlc.pos -= 1;
            }
            let d_bits = 8 - if vlc.unstuff && (d & 0x7F) == 0x7F {
                1u32
            } else {
                0
            };
            vlc.tmp |= d << vlc.bits;
            vlc.bits += d_bits;
            vlc.unstuff = d > 0x8F;
        }
        vlc.size -= tnum as i32;
        vlc.rev_read();
        vlc
    }

    /// Fetch 32 bits from VLC (ensure ≥33 bits available).
    #[inline(always)]
    fn rev_fetch(&mut self) -> u32 {
        if self.bits < 32 {
            self.rev_read();
            if self.bits < 32 {
                self.rev_read();
            }
        }
        self.tmp as u32
    }

    /// Consume `num_bits` from VLC and return remaining bottom 32 bits.
    #[inline(always)]
    fn rev_advance(&mut self, num_bits: u32) -> u32 {
        debug_assert!(num_bits <= self.bits);
        self.tmp >>= num_bits;
        self.bits -= num_bits;
        self.tmp as u32
    }

    // -- MRP helpers ---------------------------------------------------------

    /// Read and unstuff 4 bytes backward for MRP (fills zeros when exhausted).
    fn rev_read_mrp(&mut self) {
        if self.bits > 32 {
            return;
        }
        let mut val: u32 = 0;
        if self.size > 3 {
            val = (u32::from(self.data[self.pos]) << 24)
                | (u32::from(self.data[self.pos - 1]) << 16)
                | (u32::from(self.data[self.pos - 2]) << 8)
                | u32::from(self.data[self.pos - 3]);
            self.pos = self.pos.saturating_sub(4);
            self.size -= 4;
        } else if self.size > 0 {
            let mut i: i32 = 24;
            while self.size > 0 {
                let v = u32::from(self.data[self.pos]);
                if self.pos > 0 {
                    self.pos -= 1;
                }
                val |= v << i as u32;
                self.size -= 1;
                i -= 8;
            }
        }

        let mut tmp = val >> 24;
        let mut bits: u32 = 8 - if self.unstuff && ((val >> 24) & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        let mut unstuff = (val >> 24) > 0x8F;

        tmp |= ((val >> 16) & 0xFF) << bits;
        bits += 8 - if unstuff && ((val >> 16) & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        unstuff = ((val >> 16) & 0xFF) > 0x8F;

        tmp |= ((val >> 8) & 0xFF) << bits;
        bits += 8 - if unstuff && ((val >> 8) & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        unstuff = ((val >> 8) & 0xFF) > 0x8F;

        tmp |= (val & 0xFF) << bits;
        bits += 8 - if unstuff && (val & 0x7F) == 0x7F {
            1
        } else {
            0
        };
        unstuff = (val & 0xFF) > 0x8F;

        self.tmp |= (tmp as u64) << self.bits;
        self.bits += bits;
        self.unstuff = unstuff;
    }

    /// Initialise MRP reader.
    fn rev_init_mrp(data: &'a [u8], lcup: usize, len2: usize) -> Self {
        let start_pos = lcup + len2 - 1;
        let mut mrp = RevStruct {
            data,
            pos: start_pos,
            tmp: 0,
            bits: 0,
            size: len2 as i32,
            unstuff: true,
        };

        let num = 1 + (mrp.pos & 0x3);
        for _ in 0..num {
            let d: u64 = if mrp.size > 0 {
                let v = mrp.data[mrp.pos] as u64;
                if mrp.pos > 0 {
                    mrp.pos -= 1;
                }
                mrp.size -= 1;
                v
            } else {
                0
            };
            let d_bits = 8 - if mrp.unstuff && (d & 0x7F) == 0x7F {
                1u32
            } else {
                0
            };
            mrp.tmp |= d << mrp.bits;
            mrp.bits += d_bits;
            mrp.unstuff = d > 0x8F;
        }
        mrp.rev_read_mrp();
        mrp
    }

    /// Fetch 32 bits from MRP (ensure ≥33 bits available).
    fn rev_fetch_mrp(&mut self) -> u32 {
        if self.bits < 32 {
            self.rev_read_mrp();
            if self.bits < 32 {
                self.rev_read_mrp();
            }
        }
        self.tmp as u32
    }

    /// Consume `num_bits` from MRP and return remaining bottom 32 bits.
    fn rev_advance_mrp(&mut self, num_bits: u32) -> u32 {
        debug_assert!(num_bits <= self.bits);
        self.tmp >>= num_bits;
        self.bits -= num_bits;
        self.tmp as u32
    }
}

// ============================================================================
// Forward-growing reader (MagSgn / SPP)
// ============================================================================

/// State structure for reading and unstuffing of forward-growing bitstreams
/// (MagSgn and SPP).
struct FrwdStruct32<'a> {
    data: &'a [u8],
    pos: usize,
    tmp: u64,
    bits: u32,
    /// 0 or 1: whether the next bit needs unstuffing.
    unstuff: u32,
    size: i32,
}

impl<'a> FrwdStruct32<'a> {
    /// Read and unstuff 4 bytes forward.  `FEED` is the byte value used when
    /// the bitstream is exhausted (0xFF for MagSgn, 0x00 for SPP).
    fn frwd_read<const FEED: u8>(&mut self) {
        debug_assert!(self.bits <= 32);

        let val: u32;
        if self.size > 3 {
            val = u32::from(self.data[self.pos])
                | (u32::from(self.data[self.pos + 1]) << 8)
                | (u32::from(self.data[self.pos + 2]) << 16)
                | (u32::from(self.data[self.pos + 3]) << 24);
            self.pos += 4;
            self.size -= 4;
        } else if self.size > 0 {
            let mut v = if FEED != 0 { 0xFFFF_FFFFu32 } else { 0u32 };
            let mut i = 0u32;
            while self.size > 0 {
                let b = u32::from(self.data[self.pos]);
                self.pos += 1;
                let m = !(0xFFu32 << i);
                v = (v & m) | (b << i);
                self.size -= 1;
                i += 8;
            }
            val = v;
        } else {
            val = if FEED != 0 { 0xFFFF_FFFFu32 } else { 0u32 };
        }

        let mut bits = 8u32 - self.unstuff;
        let mut t = val & 0xFF;
        let mut unstuff = ((val & 0xFF) == 0xFF) as u32;

        t |= ((val >> 8) & 0xFF) << bits;
        bits += 8 - unstuff;
        unstuff = (((val >> 8) & 0xFF) == 0xFF) as u32;

        t |= ((val >> 16) & 0xFF) << bits;
        bits += 8 - unstuff;
        unstuff = (((val >> 16) & 0xFF) == 0xFF) as u32;

        t |= ((val >> 24) & 0xFF) << bits;
        bits += 8 - unstuff;
        self.unstuff = (((val >> 24) & 0xFF) == 0xFF) as u32;

        self.tmp |= (t as u64) << self.bits;
        self.bits += bits;
    }

    /// Initialise forward reader.
    fn frwd_init<const FEED: u8>(data: &'a [u8], size: i32) -> Self {
        let mut msp = FrwdStruct32 {
            data,
            pos: 0,
            tmp: 0,
            bits: 0,
            unstuff: 0,
            size,
        };

        // Align to 4-byte boundary (portable: always read up to 4 bytes)
        let num = 4usize;
        for _ in 0..num {
            let d: u64 = if msp.size > 0 {
                let v = msp.data[msp.pos] as u64;
                msp.pos += 1;
                msp.size -= 1;
                v
            } else {
                FEED as u64
            };
            msp.tmp |= d << msp.bits;
            msp.bits += 8 - msp.unstuff;
            msp.unstuff = ((d & 0xFF) == 0xFF) as u32;
        }
        msp.frwd_read::<FEED>();
        msp
    }

    /// Consume `num_bits` from the bitstream.
    fn frwd_advance(&mut self, num_bits: u32) {
        debug_assert!(num_bits <= self.bits);
        self.tmp >>= num_bits;
        self.bits -= num_bits;
    }

    /// Fetch 32 bits (ensure ≥32 bits available).
    fn frwd_fetch<const FEED: u8>(&mut self) -> u32 {
        if self.bits < 32 {
            self.frwd_read::<FEED>();
            if self.bits < 32 {
                self.frwd_read::<FEED>();
            }
        }
        self.tmp as u32
    }
}

// ============================================================================
// Main entry point
// ============================================================================

/// Whether the quad pair at column `x`, row `y` (VLC table entries `t0`, `t1`) makes
/// samples outside the `width` × `height` code-block significant: a malformed block,
/// which OpenJPEG (openjp2) refuses; OpenJPH would ignore those samples.
#[inline(always)]
fn outside_block(t0: u16, t1: u16, x: u32, y: u32, width: u32, height: u32) -> bool {
    let mut locs = 0xFFu32;
    if x + 4 > width {
        locs >>= (x + 4 - width) << 1;
    }
    if y + 2 > height {
        locs &= 0x55;
    }
    (((u32::from(t0) & 0xF0) >> 4) | (u32::from(t1) & 0xF0)) & !locs != 0
}

/// Bits of the VLC segment that a quad pair uses at most: two VLC codewords (7 bits
/// each), the u prefixes (6) and suffixes (10), by the tables' entries (a test checks
/// them). Each pair reads them from one 32-bit window, fetched once.
const PAIR_VLC_BITS: u32 = 7 + 7 + 6 + 10;
const _: () = assert!(PAIR_VLC_BITS <= 32);

/// The u16 entries after the quads that step 1 borrows for the unstuffed VLC segment
/// (`vlc_words`) of a cleanup pass whose MEL and VLC segments take `scup` bytes.
pub(super) fn vlc_words_len(scup: usize) -> usize {
    2 * (scup / 4 + 4) + 2
}

/// The VLC segment unstuffed ahead into 32-bit words (`tail`, `vlc_words_len` u16
/// entries, as u32 where they are aligned), by the backward reader itself, so that the
/// bits are the ones it would give in the decoding loop. Returns the words used (past
/// them every word is zero).
pub(super) fn vlc_words<'a>(
    tail: &'a mut [u16],
    coded_data: &[u8],
    lcup: usize,
    scup: usize,
) -> &'a [u32] {
    let (_, words, _) = bytemuck::pod_align_to_mut::<u16, u32>(tail);
    let mut rev = RevStruct::rev_init(coded_data, lcup, scup);
    let mut n = 0;
    // Eight bytes at a time where none of them can be a stuffed byte (one whose low 7
    // bits are all ones): they give their 64 bits, the last byte read (the first in
    // memory) setting `unstuff`, as the reader would; else four bytes the reader's
    // way. A word out before each step leaves fewer than 32 bits held, so a step makes
    // at most two words.
    while rev.size >= 8 && n + 3 <= words.len() {
        if rev.bits >= 32 {
            words[n] = rev.tmp as u32;
            rev.tmp >>= 32;
            rev.bits -= 32;
            n += 1;
        }
        // pos ≥ size − 1 ≥ 7: the segment's bytes lie at and below pos.
        let Some(b) = coded_data.get(rev.pos.wrapping_sub(7)..=rev.pos) else {
            break;
        };
        let r = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let z = !(r | 0x8080_8080_8080_8080); // a zero byte: low 7 bits all ones
        if z.wrapping_sub(0x0101_0101_0101_0101) & !z & 0x8080_8080_8080_8080 != 0 {
            rev.rev_read();
            continue;
        }
        // What `tmp` holds above `bits` (a stuffed byte's top bit) is ORed in, as the
        // reader does.
        let t = rev.tmp | r << rev.bits;
        words[n] = t as u32;
        words[n + 1] = (t >> 32) as u32;
        n += 2;
        rev.tmp = if rev.bits == 0 {
            0
        } else {
            r >> (64 - rev.bits)
        };
        rev.unstuff = b[0] > 0x8F;
        rev.pos -= 8;
        rev.size -= 8;
    }
    // The rest, and what the reader holds at the end, a word at a time. Each word
    // takes at least 28 bits of the segment's 8 · scup − 12 (or what the reader holds
    // at its end), so the words suffice.
    for w in words[n..].iter_mut() {
        *w = rev.rev_fetch();
        rev.rev_advance(32);
        n += 1;
        // Past the segment the reader feeds zero bytes: once what it holds is out,
        // every word is zero, as `VlcBits` reads past the end.
        if rev.size <= 0 && rev.tmp == 0 {
            break;
        }
    }
    &words[..n]
}

/// Step 1 of the cleanup pass, the VLC and MEL segments, a quad pair at a time: each
/// pair's VLC table entries (rho in bits 4–7, u_off in bit 3, e_1 in 8–11, e_k in
/// 12–15) and u_q (with kappa = 1 added in the initial row) go into the pair's four
/// scratch entries, quad 0's entry and u_q then quad 1's, and two zero entries follow
/// a row's last pair (OpenJPH's scratch layout).
///
/// OpenJPH's loop, arranged for the code it compiles to: the VLC segment is unstuffed
/// ahead (`vlc_words`), a pair's bits come from one 32-bit window (`PAIR_VLC_BITS` ≤
/// 32, so the window holds every bit the pair looks at) and the reader advances and
/// refills once per pair without a branch, the next quad's context comes with each
/// VLC table entry (`vlc_ctx0`/`vlc_ctx1`), table indices are ORs of values whose bits
/// the compiler sees are below the tables' sizes (the contexts c_q only set bits 7–9
/// and uvlc_mode only bits 6–8, so each is the sum of OpenJPH's indices), and only the
/// pairs at the block's right or bottom edge are checked for samples outside it.
///
/// The MEL decoder is the caller's (`Mel::new`), held by reference: its refill takes
/// a pointer, and the decoder's own fields, apart from it, can then stay in locals
/// rather than memory in the code it compiles to.
pub(super) struct VlcDecoder<'a, 'm> {
    vlc: VlcBits<'a>,
    mel: &'m mut DecMelSt<'a>,
    /// MEL events left in the current run (OpenJPH's `run`).
    run: i32,
    width: u32,
    height: u32,
}

/// A non-initial quad row's state in `VlcDecoder::pair`.
pub(super) struct VlcRow {
    /// The context of the next quad, as far as the last pair gave it.
    c_q: u32,
    /// The entry above the next pair's first quad.
    n0: u32,
    /// The row's y (of its first line).
    y: u32,
}

impl<'a, 'm> VlcDecoder<'a, 'm> {
    /// The decoder of a `width` × `height` code-block whose VLC segment is unstuffed in
    /// `words` and whose MEL segment `mel` reads (`Mel::new`).
    pub(super) fn new(words: &'a [u32], mel: &'m mut Mel<'a>, width: u32, height: u32) -> Self {
        let run = mel.0.mel_get_run();
        VlcDecoder {
            vlc: VlcBits {
                words,
                next: 0,
                tmp: 0,
                bits: 0,
            },
            mel: &mut mel.0,
            run,
            width,
            height,
        }
    }

    /// One MEL event for a quad (or a pair's u_off) in the zero context: whether it is
    /// a one.
    #[inline(always)]
    fn mel_event(&mut self) -> bool {
        self.run -= 2;
        let one = self.run == -1;
        if self.run < 0 {
            self.run = self.mel.mel_get_run();
        }
        one
    }

    /// The initial quad row into `row` (`4 * ceil(width / 4) + 2` entries). Returns
    /// false for a pair that makes samples outside the block significant. Inlined, so
    /// that the decoder is never passed by pointer (see the type).
    #[inline(always)]
    pub(super) fn initial_row(&mut self, row: &mut [u16]) -> bool {
        let npairs = (self.width as usize).div_ceil(4);
        if npairs == 0 || row.len() != 4 * npairs + 2 {
            return npairs == 0;
        }
        let (pairs, sentinel) = row.split_at_mut(4 * npairs);
        let (body, last) = pairs.split_at_mut(4 * (npairs - 1));
        let mut c_q = 0;
        let edge = self.height < 2;
        for (k, sp) in body.chunks_exact_mut(4).enumerate() {
            if !self.initial_pair(&mut c_q, sp, 4 * k as u32, true, edge) {
                return false;
            }
        }
        let x = 4 * (npairs - 1) as u32;
        if !self.initial_pair(&mut c_q, last, x, x + 2 < self.width, true) {
            return false;
        }
        sentinel.fill(0);
        true
    }

    /// A pair of the initial row at column `x` into `sp` (4 entries); `two`: its
    /// second quad is inside the block; `edge`: check it for samples outside the block.
    #[inline(always)]
    fn initial_pair(
        &mut self,
        c_q: &mut u32,
        sp: &mut [u16],
        x: u32,
        two: bool,
        edge: bool,
    ) -> bool {
        let t = decoder_tables();
        let mut v = self.vlc.fetch();

        // First quad
        let mut t0 = t.vlc_ctx0[(*c_q | (v & 0x7F)) as usize];
        if *c_q == 0 && !self.mel_event() {
            t0 = 0;
        }
        sp[0] = t0 as u16;
        *c_q = t0 >> 22;
        let l0 = t0 & 0x7;
        v >>= l0;

        // Second quad
        let mut t1 = t.vlc_ctx0[(*c_q | (v & 0x7F)) as usize];
        if *c_q == 0 && two && !self.mel_event() {
            t1 = 0;
        }
        t1 = if two { t1 } else { 0 };
        sp[2] = t1 as u16;
        *c_q = t1 >> 22;
        let l1 = t1 & 0x7;
        v >>= l1;
        if edge && outside_block(t0 as u16, t1 as u16, x, 0, self.width, self.height) {
            return false;
        }

        // Decode u (UVLC)
        let mut uvlc_mode = ((t0 & 0x8) << 3) | ((t1 & 0x8) << 4);
        if uvlc_mode == 0xC0 && self.mel_event() {
            uvlc_mode += 0x40;
        }
        let entry = t.uvlc_len0[(uvlc_mode | (v & 0x3F)) as usize];
        let (u_q0, u_q1, used) = uvlc_suffix(entry, v);
        sp[1] = (1 + u_q0) as u16; // kappa = 1
        sp[3] = (1 + u_q1) as u16; // kappa = 1
        self.vlc.advance(l0 + l1 + used);
        true
    }

    /// A non-initial quad row at line `y`, whose row above is `prev`: its state for
    /// `pair`.
    #[inline(always)]
    pub(super) fn row(&self, prev: &[u16], y: u32) -> VlcRow {
        VlcRow {
            c_q: 0,
            n0: prev.first().map_or(0, |&n| u32::from(n)),
            y,
        }
    }

    /// A pair of a non-initial row (`row`) at column `x` into `sp` (4 entries), `n1`,
    /// `n2` the entries above its second quad and above-right of that (the row
    /// above's sentinel for the last pair); `two`, `edge` as for `initial_pair`
    /// (`edge` must hold for the row's last pair and in a last row of one line).
    /// Returns false for a pair that makes samples outside the block significant.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pair(
        &mut self,
        row: &mut VlcRow,
        sp: &mut [u16],
        n1: u32,
        n2: u32,
        x: u32,
        two: bool,
        edge: bool,
    ) -> bool {
        let n0 = row.n0;
        // Both quads in the zero context with two zero MEL events ahead: an empty pair,
        // which uses no VLC bits; in lossy high bands most pairs are, and this skips
        // their chain of table look-ups.
        if two && self.run >= 4 && (row.c_q | n0 & 0xA0 | n1 & 0xA0 | n2 & 0x20) == 0 {
            self.run -= 4;
            sp[..4].fill(0);
            row.c_q = 0;
            row.n0 = n2;
            return true;
        }
        let t = decoder_tables();
        // Context from the row above
        let mut c_q = row.c_q;
        c_q |= (n0 & 0xA0) << 2;
        c_q |= (n1 & 0x20) << 4;

        // First quad
        let mut v = self.vlc.fetch();
        let mut t0 = t.vlc_ctx1[(c_q | (v & 0x7F)) as usize];
        if c_q == 0 && !self.mel_event() {
            t0 = 0;
        }
        sp[0] = t0 as u16;

        // Context for the second quad (eqn. 2)
        c_q = t0 >> 22;
        c_q |= n0 & 0x80;
        c_q |= (n1 & 0xA0) << 2;
        c_q |= (n2 & 0x20) << 4;
        let l0 = t0 & 0x7;
        v >>= l0;

        // Second quad
        let mut t1 = t.vlc_ctx1[(c_q | (v & 0x7F)) as usize];
        if c_q == 0 && two && !self.mel_event() {
            t1 = 0;
        }
        t1 = if two { t1 } else { 0 };
        sp[2] = t1 as u16;

        // Partial context for the next pair's first quad
        row.c_q = (t1 >> 22) | (n1 & 0x80);
        row.n0 = n2;
        let l1 = t1 & 0x7;
        v >>= l1;
        if edge && outside_block(t0 as u16, t1 as u16, x, row.y, self.width, self.height) {
            return false;
        }

        // Decode u (UVLC); no kappa here (step 2 adds it)
        let uvlc_mode = ((t0 & 0x8) << 3) | ((t1 & 0x8) << 4);
        let entry = t.uvlc_len1[(uvlc_mode | (v & 0x3F)) as usize];
        let (u_q0, u_q1, used) = uvlc_suffix(entry, v);
        sp[1] = u_q0 as u16;
        sp[3] = u_q1 as u16;
        self.vlc.advance(l0 + l1 + used);
        true
    }

    /// The non-initial quad row at line `y` into `cur`, under `prev` (both
    /// `4 * ceil(width / 4) + 2` entries). Returns false for a pair that makes samples
    /// outside the block significant.
    #[inline(always)]
    fn full_row(&mut self, prev: &[u16], cur: &mut [u16], y: u32) -> bool {
        let npairs = (self.width as usize).div_ceil(4);
        if npairs == 0 || cur.len() != 4 * npairs + 2 || prev.len() != cur.len() {
            return npairs == 0;
        }
        let mut row = self.row(prev, y);
        let edge_row = y + 2 > self.height;
        let (pairs, sentinel) = cur.split_at_mut(4 * npairs);
        let (body, last) = pairs.split_at_mut(4 * (npairs - 1));
        // prev[4k + 2..4k + 6]: the entries above pair k's second quad and the next
        // pair's first.
        for (k, (sp, above)) in body
            .chunks_exact_mut(4)
            .zip(prev[2..].chunks_exact(4))
            .enumerate()
        {
            let (n1, n2) = (u32::from(above[0]), u32::from(above[2]));
            if !self.pair(&mut row, sp, n1, n2, 4 * k as u32, true, edge_row) {
                return false;
            }
        }
        let x = 4 * (npairs - 1);
        let (n1, n2) = (u32::from(prev[x + 2]), u32::from(prev[x + 4]));
        if !self.pair(
            &mut row,
            last,
            n1,
            n2,
            x as u32,
            x as u32 + 2 < self.width,
            true,
        ) {
            return false;
        }
        sentinel.fill(0);
        true
    }
}

/// Step 1 of `decode_codeblock32` (`VlcDecoder`) for all quad rows, into
/// `scratch[..quads_len]`, `sstr` entries per quad row (at least
/// `4 * ceil(width / 4) + 2`). Returns false for a quad pair that makes samples
/// outside the block significant. `scratch` is borrowed past `quads_len` for the
/// unstuffed VLC bits and given back at that length.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn decode_vlc(
    scratch: &mut Vec<u16>,
    quads_len: usize,
    sstr: usize,
    coded_data: &[u8],
    lcup: usize,
    scup: usize,
    width: u32,
    height: u32,
) -> bool {
    let row_len = 4 * (width as usize).div_ceil(4) + 2;
    if sstr < row_len || quads_len < sstr * (height as usize).div_ceil(2) {
        return false;
    }
    scratch.truncate(quads_len);
    scratch.resize(quads_len + vlc_words_len(scup), 0);
    let (scratch, tail) = scratch.split_at_mut(quads_len);
    let words = vlc_words(tail, coded_data, lcup, scup);
    let mut mel = Mel::new(coded_data, lcup, scup);
    let mut dec = VlcDecoder::new(words, &mut mel, width, height);
    if !dec.initial_row(&mut scratch[..row_len]) {
        return false;
    }
    let mut y: u32 = 2;
    while y < height {
        let row_off = (y >> 1) as usize * sstr;
        let (above, below) = scratch.split_at_mut(row_off);
        let prev = &above[row_off - sstr..row_off - sstr + row_len];
        if !dec.full_row(prev, &mut below[..row_len], y) {
            return false;
        }
        y += 2;
    }
    true
}

/// The VLC segment's bits as `decode_vlc` reads them: unstuffed 32-bit words (a word's
/// low bit first, zero past them) and a 64-bit window on them, refilled by a word
/// without a branch.
struct VlcBits<'a> {
    words: &'a [u32],
    /// The next word's index in `words`.
    next: usize,
    tmp: u64,
    /// Bits in `tmp`; the bits above them are zero.
    bits: u32,
}

impl VlcBits<'_> {
    /// The next 32 bits (at least 32 held afterwards, given at least 2 before: a pair
    /// advances by at most `PAIR_VLC_BITS`).
    #[inline(always)]
    fn fetch(&mut self) -> u32 {
        let w = u64::from(self.words.get(self.next).copied().unwrap_or(0));
        let need = self.bits < 32;
        self.tmp |= if need { w << self.bits } else { 0 };
        self.bits += if need { 32 } else { 0 };
        self.next += usize::from(need);
        self.tmp as u32
    }

    #[inline(always)]
    fn advance(&mut self, num_bits: u32) {
        debug_assert!(num_bits <= self.bits);
        self.tmp >>= num_bits;
        self.bits -= num_bits;
    }
}

/// A quad pair's u_q without kappa from its UVLC table `entry` (total prefix length in
/// bits 0–2, total suffix length in 3–6, quad 0's suffix length in 7–9, the prefixes'
/// values in 10–12 and 13–15) and the VLC bits `v` from the pair's prefix on: (quad
/// 0's, quad 1's, bits used).
#[inline(always)]
fn uvlc_suffix(entry: u32, v: u32) -> (u32, u32, u32) {
    let prefix = entry & 0x7;
    let len = (entry >> 3) & 0xF;
    let tmp = (v >> prefix) & ((1u32 << len) - 1);
    let len0 = (entry >> 7) & 0x7;
    let u_q0 = ((entry >> 10) & 7) + (tmp & !(0xFFu32 << len0));
    let u_q1 = ((entry >> 13) & 7) + (tmp >> len0);
    (u_q0, u_q1, entry >> 16)
}

/// Decode one HTJ2K codeblock (32-bit path).
///
/// Returns `true` on success, `false` for a malformed code-block
/// (malformed data that can be silently skipped). `max_u_q` is the largest
/// magnitude exponent bound U_q accepted: OpenJPH's `missing_msbs + 2`, given apart so
/// that a caller that shifts the bit-planes (`ht53`'s irreversible path, to land on
/// openjp2's) keeps the bound of the unshifted block.
#[allow(unused_assignments)]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(super) fn decode_codeblock32(
    scratch: &mut Vec<u16>,
    coded_data: &[u8],
    decoded_data: &mut [u32],
    missing_msbs: u32,
    max_u_q: u32,
    mut num_passes: u32,
    lengths1: u32,
    lengths2: u32,
    width: u32,
    height: u32,
    stride: u32,
    stripe_causal: bool,
) -> bool {
    if num_passes > 1 && lengths2 == 0 {
        ojph_warn!(
            "A malformed codeblock that has more than one coding pass, \
             but zero length for 2nd and potential 3rd pass."
        );
        num_passes = 1;
    }

    if num_passes > 3 {
        ojph_warn!(
            "We do not support more than 3 coding passes; \
             This codeblock has {} passes.",
            num_passes
        );
        return false;
    }

    if missing_msbs > 30 {
        ojph_warn!("32 bits are not enough to decode this codeblock.");
        return false;
    } else if missing_msbs == 30 {
        ojph_warn!("Not enough precision to decode the cleanup pass.");
        return false;
    } else if missing_msbs == 29 && num_passes > 1 {
        num_passes = 1;
        ojph_warn!(
            "Not enough precision to decode the SgnProp \
             nor MagRef passes; both will be skipped."
        );
    }

    let p = 30 - missing_msbs;

    if lengths1 < 2 {
        ojph_warn!("Wrong codeblock length.");
        return false;
    }

    let lcup = lengths1 as usize;
    let scup = ((coded_data[lcup - 1] as usize) << 4) + ((coded_data[lcup - 2] as usize) & 0xF);
    if scup < 2 || scup > lcup || scup > 4079 {
        return false;
    }

    // Scratch buffer: a row of quads' entries, the u16 entries per quad row a multiple
    // of 8 and at least `4 * ceil(width / 4) + 2` (two per quad, the quads in pairs,
    // then two sentinel entries; see `decode_vlc`).
    let sstr = ((width + 5) + 7) & !7;
    // Quad rows (and some more) of the cleanup pass; the SPP/MRP reuse of it for
    // column significance needs fewer.
    let scratch_len = (sstr as usize) * (((height as usize + 1) >> 1) + 4);
    scratch.clear();
    scratch.resize(scratch_len, 0);

    let mmsbp2 = max_u_q;

    // ========================================================================
    // Steps 1 and 2: Decode VLC and MEL segments, then MagSgn
    // ========================================================================
    // simd128 builds: both together, the MagSgn step a quad at a time
    // (`ht_block_simd`), with the same output.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if !super::ht_block_simd::decode_cleanup(
        scratch,
        scratch_len,
        sstr as usize,
        coded_data,
        lcup,
        scup,
        decoded_data,
        width,
        height,
        stride as usize,
        p,
        mmsbp2,
    ) {
        return false;
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let ok = decode_vlc(
            scratch,
            scratch_len,
            sstr as usize,
            coded_data,
            lcup,
            scup,
            width,
            height,
        );
        scratch.truncate(scratch_len);
        if !ok {
            return false;
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        const V_N_SIZE: usize = 512 + 4;
        let mut v_n_scratch = [0u32; V_N_SIZE];

        let mut magsgn = FrwdStruct32::frwd_init::<0xFF>(coded_data, (lcup - scup) as i32);

        // --- Initial row (y=0) ---------------------------------------------
        {
            let mut prev_v_n: u32 = 0;
            let mut dp_col: usize = 0; // column index in decoded_data
            let mut sp_off: usize = 0; // offset in scratch (pairs of 2)
            let mut vp: usize = 0; // index into v_n_scratch
            let mut x: u32 = 0;

            while x < width {
                let inf = u32::from(scratch[sp_off]);
                let u_q = u32::from(scratch[sp_off + 1]);
                if u_q > mmsbp2 {
                    return false;
                }

                // Sample bit 0
                let mut val: u32 = 0;
                let mut v_n: u32 = 0;
                if inf & (1 << 4) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q - ((inf >> 12) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 8) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[0 * (stride as usize) + dp_col] = val;

                // Sample bit 1
                v_n = 0;
                val = 0;
                if inf & (1 << 5) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q - ((inf >> 13) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 9) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[1 * (stride as usize) + dp_col] = val;
                v_n_scratch[vp] = prev_v_n | v_n;
                prev_v_n = 0;
                dp_col += 1;
                x += 1;
                if x >= width {
                    vp += 1;
                    break;
                }

                // Sample bit 2
                val = 0;
                if inf & (1 << 6) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q - ((inf >> 14) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 10) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[0 * (stride as usize) + dp_col] = val;

                // Sample bit 3
                v_n = 0;
                val = 0;
                if inf & (1 << 7) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q - ((inf >> 15) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 11) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[1 * (stride as usize) + dp_col] = val;
                prev_v_n = v_n;
                dp_col += 1;
                x += 1;

                sp_off += 2;
                vp += 1;
            }
            v_n_scratch[vp] = prev_v_n;
        }

        // --- Non-initial rows (y >= 2) --------------------------------------
        let mut y: u32 = 2;
        while y < height {
            let row_off = ((y >> 1) as usize) * (sstr as usize);
            let mut sp_off: usize = row_off;
            let mut vp: usize = 0;
            let dp_base = (y as usize) * (stride as usize);
            let mut dp_col: usize = 0;
            let mut prev_v_n: u32 = 0;
            let mut x: u32 = 0;

            while x < width {
                let inf = u32::from(scratch[sp_off]);
                let u_q = u32::from(scratch[sp_off + 1]);

                let gamma = {
                    let g = inf & 0xF0;
                    g & g.wrapping_sub(0x10)
                };
                let emax = v_n_scratch[vp] | v_n_scratch[vp + 1];
                let emax = 31 - count_leading_zeros(emax | 2);
                let kappa = if gamma != 0 { emax } else { 1 };
                let u_q_total = u_q + kappa;
                if u_q_total > mmsbp2 {
                    return false;
                }

                // Sample bit 0
                let mut val: u32 = 0;
                let mut v_n: u32 = 0;
                if inf & (1 << 4) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q_total - ((inf >> 12) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 8) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[dp_base + dp_col] = val;

                // Sample bit 1
                v_n = 0;
                val = 0;
                if inf & (1 << 5) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q_total - ((inf >> 13) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 9) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[dp_base + (stride as usize) + dp_col] = val;
                v_n_scratch[vp] = prev_v_n | v_n;
                prev_v_n = 0;
                dp_col += 1;
                x += 1;
                if x >= width {
                    vp += 1;
                    break;
                }

                // Sample bit 2
                val = 0;
                if inf & (1 << 6) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q_total - ((inf >> 14) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 10) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[dp_base + dp_col] = val;

                // Sample bit 3
                v_n = 0;
                val = 0;
                if inf & (1 << 7) != 0 {
                    let ms_val = magsgn.frwd_fetch::<0xFF>();
                    let m_n = u_q_total - ((inf >> 15) & 1);
                    magsgn.frwd_advance(m_n);
                    val = ms_val << 31;
                    v_n = ms_val & ((1u32 << m_n) - 1);
                    v_n |= ((inf >> 11) & 1) << m_n;
                    v_n |= 1;
                    val |= (v_n + 2) << (p - 1);
                }
                decoded_data[dp_base + (stride as usize) + dp_col] = val;
                prev_v_n = v_n;
                dp_col += 1;
                x += 1;

                sp_off += 2;
                vp += 1;
            }
            v_n_scratch[vp] = prev_v_n;

            y += 2;
        }
    }

    // ========================================================================
    // Step 3: SPP + MRP (if num_passes > 1)
    // ========================================================================
    if num_passes > 1 {
        // Re-use scratch for sigma (column-organized significance).
        let mstr = {
            let m = (width + 3) >> 2; // 4 columns per u16
            ((m + 2) + 7) & !7 // multiple of 8
        } as usize;

        // sigma occupies the first part of scratch
        let _sigma_len = mstr * (((height + 3) >> 2) as usize + 2);
        // Re-arrange quad significance → column significance
        {
            let mut y: u32 = 0;
            while y < height {
                let sp_row = ((y >> 1) as usize) * (sstr as usize);
                let dp_row = ((y >> 2) as usize) * mstr;
                let mut col = 0usize;
                let mut x: u32 = 0;
                while x < width {
                    let s0 = u32::from(scratch[sp_row + col * 4]);
                    let s1 = u32::from(scratch[sp_row + col * 4 + 2]);
                    let mut t0 = ((s0 & 0x30) >> 4) | ((s0 & 0xC0) >> 2);
                    t0 |= ((s1 & 0x30) << 4) | ((s1 & 0xC0) << 6);

                    let sp_below = sp_row + (sstr as usize);
                    let s2 = if y + 2 < height {
                        u32::from(scratch[sp_below + col * 4])
                    } else {
                        0
                    };
                    let s3 = if y + 2 < height {
                        u32::from(scratch[sp_below + col * 4 + 2])
                    } else {
                        0
                    };
                    let mut t1 = ((s2 & 0x30) >> 2) | (s2 & 0xC0);
                    t1 |= ((s3 & 0x30) << 6) | ((s3 & 0xC0) << 8);

                    scratch[dp_row + col] = (t0 | t1) as u16;
                    col += 1;
                    x += 4;
                }
                scratch[dp_row + col] = 0; // extra entry on the right
                y += 4;
            }
            // Reset one row below the codeblock
            {
                let dp_row = ((y >> 2) as usize) * mstr;
                let mut col = 0usize;
                let mut x: u32 = 0;
                while x < width {
                    scratch[dp_row + col] = 0;
                    col += 1;
                    x += 4;
                }
                scratch[dp_row + col] = 0;
            }
        }

        // -- Significance Propagation Pass (SPP) -----------------------------
        {
            let mut prev_row_sig = [0u16; 256 + 8];

            let mut sigprop =
                FrwdStruct32::frwd_init::<0x00>(&coded_data[lengths1 as usize..], lengths2 as i32);

            let mut y: u32 = 0;
            while y < height {
                let mut pattern: u32 = 0xFFFF;
                if height - y < 4 {
                    pattern = 0x7777;
                    if height - y < 3 {
                        pattern = 0x3333;
                        if height - y < 2 {
                            pattern = 0x1111;
                        }
                    }
                }

                let mut prev: u32 = 0;
                let sigma_row = ((y >> 2) as usize) * mstr;
                let sigma_next = sigma_row + mstr;
                let dp_base = (y as usize) * (stride as usize);

                let mut prev_sig_idx: usize = 0;
                let mut cur_sig_idx: usize = 0;

                let mut x: u32 = 0;
                while x < width {
                    // Adjust pattern for right edge
                    let s = ojph_max((x as i32) + 4 - (width as i32), 0);
                    let cur_pattern = pattern >> (s * 4);

                    // Load prev_sig (32 bits = 2 consecutive u16)
                    let ps = u32::from(prev_row_sig[prev_sig_idx])
                        | (u32::from(prev_row_sig[prev_sig_idx + 1]) << 16);

                    // Load next sigma row (32 bits)
                    let ns = u32::from(scratch[sigma_next + cur_sig_idx])
                        | (u32::from(if cur_sig_idx + 1 < scratch.len() - sigma_next {
                            scratch[sigma_next + cur_sig_idx + 1]
                        } else {
                            0
                        }) << 16);

                    let mut u = (ps & 0x8888_8888) >> 3; // row on top
                    if !stripe_causal {
                        u |= (ns & 0x1111_1111) << 3; // row below
                    }

                    // Current sigma (32 bits)
                    let cs = u32::from(scratch[sigma_row + cur_sig_idx])
                        | (u32::from(if cur_sig_idx + 1 < scratch.len() - sigma_row {
                            scratch[sigma_row + cur_sig_idx + 1]
                        } else {
                            0
                        }) << 16);

                    // Vertical integration
                    let mut mbr = cs;
                    mbr |= (cs & 0x7777_7777) << 1; // above neighbors
                    mbr |= (cs & 0xEEEE_EEEE) >> 1; // below neighbors
                    mbr |= u;
                    // Horizontal integration
                    let t = mbr;
                    mbr |= t << 4;
                    mbr |= t >> 4;
                    mbr |= prev >> 12; // significance of previous group

                    mbr &= cur_pattern;
                    mbr &= !cs;

                    let mut new_sig = mbr;
                    if new_sig != 0 {
                        let mut cwd = sigprop.frwd_fetch::<0x00>();
                        let mut cnt: u32 = 0;
                        let mut col_mask: u32 = 0xF;
                        let inv_sig = !cs & cur_pattern;

                        let mut i: i32 = 0;
                        while i < 16 {
                            if (col_mask & new_sig) != 0 {
                                // Scan one column
                                let mut sample_mask = 0x1111u32 & col_mask;
                                if new_sig & sample_mask != 0 {
                                    new_sig &= !sample_mask;
                                    if cwd & 1 != 0 {
                                        let t = 0x33u32 << i;
                                        new_sig |= t & inv_sig;
                                    }
                                    cwd >>= 1;
                                    cnt += 1;
                                }

                                sample_mask <<= 1;
                                if new_sig & sample_mask != 0 {
                                    new_sig &= !sample_mask;
                                    if cwd & 1 != 0 {
                                        let t = 0x76u32 << i;
                                        new_sig |= t & inv_sig;
                                    }
                                    cwd >>= 1;
                                    cnt += 1;
                                }

                                sample_mask <<= 1;
                                if new_sig & sample_mask != 0 {
                                    new_sig &= !sample_mask;
                                    if cwd & 1 != 0 {
                                        let t = 0xECu32 << i;
                                        new_sig |= t & inv_sig;
                                    }
                                    cwd >>= 1;
                                    cnt += 1;
                                }

                                sample_mask <<= 1;
                                if new_sig & sample_mask != 0 {
                                    new_sig &= !sample_mask;
                                    if cwd & 1 != 0 {
                                        let t = 0xC8u32 << i;
                                        new_sig |= t & inv_sig;
                                    }
                                    cwd >>= 1;
                                    cnt += 1;
                                }
                            }
                            i += 4;
                            col_mask <<= 4;
                        }

                        if new_sig != 0 {
                            let val = 3u32 << (p - 2);
                            let mut col_mask2: u32 = 0xF;
                            for ci in 0..4u32 {
                                if (col_mask2 & new_sig) != 0 {
                                    let dp_col = (x + ci) as usize;

                                    let mut sample_mask = 0x1111u32 & col_mask2;
                                    if new_sig & sample_mask != 0 {
                                        decoded_data[dp_base + dp_col] = (cwd << 31) | val;
                                        cwd >>= 1;
                                        cnt += 1;
                                    }

                                    sample_mask += sample_mask;
                                    if new_sig & sample_mask != 0 {
                                        decoded_data[dp_base + (stride as usize) + dp_col] =
                                            (cwd << 31) | val;
                                        cwd >>= 1;
                                        cnt += 1;
                                    }

                                    sample_mask += sample_mask;
                                    if new_sig & sample_mask != 0 {
                                        decoded_data[dp_base + 2 * (stride as usize) + dp_col] =
                                            (cwd << 31) | val;
                                        cwd >>= 1;
                                        cnt += 1;
                                    }

                                    sample_mask += sample_mask;
                                    if new_sig & sample_mask != 0 {
                                        decoded_data[dp_base + 3 * (stride as usize) + dp_col] =
                                            (cwd << 31) | val;
                                        cwd >>= 1;
                                        cnt += 1;
                                    }
                                }
                                col_mask2 <<= 4;
                            }
                        }
                        sigprop.frwd_advance(cnt);
                    }

                    new_sig |= cs;
                    prev_row_sig[prev_sig_idx] = new_sig as u16;

                    // Vertical integration for new sig
                    let t = new_sig;
                    let mut ns2 = new_sig;
                    ns2 |= (t & 0x7777) << 1;
                    ns2 |= (t & 0xEEEE) >> 1;
                    prev = (ns2 | u) & 0xF000;

                    x += 4;
                    prev_sig_idx += 1;
                    cur_sig_idx += 1;
                }
                y += 4;
            }
        }

        // -- Magnitude Refinement Pass (MRP) ---------------------------------
        if num_passes > 2 {
            let mut magref =
                RevStruct::rev_init_mrp(coded_data, lengths1 as usize, lengths2 as usize);

            let mut y: u32 = 0;
            while y < height {
                let sigma_row = ((y >> 2) as usize) * mstr;
                let dp_base = (y as usize) * (stride as usize);
                let half = 1u32 << (p - 2);

                let mut i: u32 = 0;
                while i < width {
                    let sig_idx = sigma_row + ((i >> 2) as usize);
                    // Load 32 bits of sigma (two consecutive u16)
                    let sig = u32::from(scratch[sig_idx])
                        | (u32::from(if sig_idx + 1 < scratch.len() {
                            scratch[sig_idx + 1]
                        } else {
                            0
                        }) << 16);

                    let mut cwd = magref.rev_fetch_mrp();

                    if sig != 0 {
                        let mut col_mask: u32 = 0xF;
                        for j in 0..8u32 {
                            if sig & col_mask != 0 {
                                let col = i + j;
                                let mut sample_mask = 0x1111_1111u32 & col_mask;
                                let mut dp_off = dp_base + (col as usize);

                                for _ in 0..4u32 {
                                    if sig & sample_mask != 0 {
                                        let sym = cwd & 1;
                                        let sym = ((1 - sym) << (p - 1)) | half;
                                        decoded_data[dp_off] ^= sym;
                                        cwd >>= 1;
                                    }
                                    sample_mask += sample_mask;
                                    dp_off += stride as usize;
                                }
                            }
                            col_mask <<= 4;
                        }
                    }
                    magref.rev_advance_mrp(population_count(sig));

                    i += 8;
                }
                y += 4;
            }
        }
    }

    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decode_vlc` reads a quad pair's bits from one 32-bit window: the tables' codeword,
    /// u prefix and u suffix lengths must fit `PAIR_VLC_BITS`; and its derived table
    /// fields must be what they stand for.
    #[test]
    fn pair_vlc_bits_bound_the_tables() {
        let t = decoder_tables();
        for e in t.vlc_ctx0.iter().chain(t.vlc_ctx1.iter()) {
            assert_eq!((e >> 22) & !0x380, 0);
        }
        for uvlc in [&t.uvlc_len0[..], &t.uvlc_len1[..]] {
            for e in uvlc {
                let (prefix, suffix) = (e & 7, (e >> 3) & 0xF);
                assert!(prefix <= 6 && suffix <= 10 && e >> 16 == prefix + suffix);
            }
        }
        assert_eq!(PAIR_VLC_BITS, 7 + 7 + 6 + 10);
    }
}
