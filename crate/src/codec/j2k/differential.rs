//! Differential tests: every JPEG 2000 frame of the corpus and bench files that
//! `ht53` takes decodes to the same bytes as openjp2 gives for the whole stream.
//! Skipped (with a note) where the corpus is not on this machine.

use super::*;
use crate::DicomFile;
use core::ffi::c_void;
use std::path::PathBuf;

/// The project's cache (`$LUMEN_CACHE`, else ~/.cache/lumen): corpus and bench files.
pub(super) fn cache() -> PathBuf {
    std::env::var("LUMEN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/lumen")
        })
}

/// The corpus and bench files of one transfer syntax.
pub(super) fn files(ts: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let corpus = cache().join("corpus");
    if let Ok(text) = std::fs::read_to_string(corpus.join("manifest.json")) {
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        for f in m["files"].as_array().into_iter().flatten() {
            if f["transfer_syntax"] == ts {
                out.push(corpus.join(f["path"].as_str().unwrap()));
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(cache().join("bench")) {
        let mut bench: Vec<PathBuf> = dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(&format!("-{ts}.dcm")))
            .collect();
        bench.sort();
        out.extend(bench);
    }
    out
}

/// The fuzz tests' pseudo-random numbers (xorshift64, a fixed seed: runs repeat).
pub(super) fn xorshift() -> impl FnMut() -> u64 {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// A decoded frame's canonical little-endian bytes.
pub(super) fn samples(out: &CodecOutput) -> &[u8] {
    match &out.samples {
        SampleBuf::Le(v) => v,
        _ => panic!("j2k gives little-endian samples"),
    }
}

/// Every frame: (file, frame, whether ht53 took it).
fn check(ts: &str) -> (usize, usize) {
    let (mut ours, mut fallback) = (0, 0);
    for path in files(ts) {
        let Ok(file) = DicomFile::open(&path) else {
            continue;
        };
        for i in 0..file.number_of_frames() {
            let data = file.frame_bytes(i).unwrap();
            let desc = &file.description;
            let Ok(header) = read_header(&data) else {
                fallback += 1;
                continue;
            };
            let fits = part1_fits(&data, &header);
            let got = if fits {
                decode_ht(&data, &header, desc)
            } else {
                None
            };
            let Some(got) = got else {
                fallback += 1;
                eprintln!("fallback: {} frame {i} (fits {fits})", path.display());
                continue;
            };
            ours += 1;
            let want = decode_openjp2(&data, &header, desc).unwrap();
            let (a, b) = (samples(&got), samples(&want));
            assert_eq!(a.len(), b.len(), "{} frame {i}", path.display());
            if let Some(k) = a.iter().zip(b).position(|(x, y)| x != y) {
                eprintln!(
                    "ours {:?}\nref  {:?}",
                    &a[k..(k + 32).min(a.len())],
                    &b[k..(k + 32).min(b.len())]
                );
                let px = k / desc.canonical_sample_bytes() / desc.samples_per_pixel as usize;
                panic!(
                    "{} frame {i}: first difference at pixel ({}, {})",
                    path.display(),
                    px % desc.columns as usize,
                    px / desc.columns as usize
                );
            }
        }
    }
    eprintln!("{ts}: {ours} frames through ht53/t1, {fallback} to openjp2");
    (ours, fallback)
}

#[test]
fn part1_reversible_equals_openjp2() {
    let (ours, _) = check("1.2.840.10008.1.2.4.90");
    if ours == 0 {
        eprintln!("no 4.90 frames found under {}: skipped", cache().display());
    }
}

/// Irreversible part 1 (4.91): t1's values dequantised, the 9/7, ICT and rounding of
/// `dwt97` / `decode_ht`, byte-equal to openjp2 on every frame that takes the path.
#[test]
fn part1_irreversible_equals_openjp2() {
    let (ours, _) = check("1.2.840.10008.1.2.4.91");
    if ours == 0 {
        eprintln!("no 4.91 frames found under {}: skipped", cache().display());
    }
}

/// Byte flips and truncations of 4.90 and 4.91 frames (the bench's 4.91 has precinct
/// partitions) that `part1_fits` admits:
/// `ht53` + `t1` return a picture or `None`, never panic or hang (the MQ decoders
/// read 0xFF past their segments; every index is checked or bounded by geometry).
#[test]
fn part1_fuzz_never_panics() {
    let mut frames = Vec::new();
    let paths = files("1.2.840.10008.1.2.4.90");
    for path in paths.into_iter().chain(files("1.2.840.10008.1.2.4.91")) {
        let Ok(file) = DicomFile::open(&path) else {
            continue;
        };
        let data = file.frame_bytes(0).unwrap().into_owned();
        // Small frames many times, large ones a few.
        if data.len() < 400_000 {
            frames.push((data, file.description.clone()));
        }
    }
    if frames.is_empty() {
        eprintln!("no 4.90 frames found under {}: skipped", cache().display());
        return;
    }
    let mut rand = xorshift();
    let (mut runs, mut decoded) = (0, 0);
    for round in 0..6000 {
        let (orig, desc) = &frames[round % frames.len()];
        if orig.len() > 100_000 && round % 20 != 0 {
            continue;
        }
        let mut data = orig.clone();
        let header_end = read_header(&data).map(|h| h.first_sot).unwrap_or(0);
        match rand() % 4 {
            // Truncation somewhere in the tile data (the fits-check then declines
            // unless the EOC survives), or truncation with a fresh EOC.
            0 => {
                let at = header_end + (rand() as usize) % (data.len() - header_end);
                data.truncate(at);
                if rand() % 2 == 0 {
                    data.extend_from_slice(&[0xFF, 0xD9]);
                }
            }
            // Flips in the packet data.
            _ => {
                for _ in 0..1 + rand() % 8 {
                    let at = header_end + (rand() as usize) % (data.len() - header_end);
                    data[at] ^= 1 << (rand() % 8);
                }
            }
        }
        let Ok(header) = read_header(&data) else {
            continue;
        };
        if part1_fits(&data, &header) {
            runs += 1;
            decoded += decode_ht(&data, &header, desc).is_some() as usize;
        }
    }
    eprintln!("fuzz: {runs} mutated frames through ht53/t1, {decoded} gave a picture");
    assert!(runs > 2000);
}

unsafe extern "C" fn mem_write(buf: *mut c_void, n: usize, user: *mut c_void) -> usize {
    let out = &mut *(user as *mut Vec<u8>);
    out.extend_from_slice(core::slice::from_raw_parts(buf as *const u8, n));
    n
}

/// A one-layer reversible (5/3) J2K codestream of a grey image from openjp2's
/// encoder, with code-block style `mode` (Table A.19 bits), lossless (`rate` 0) or
/// truncated to a compression ratio.
fn encode(w: u32, h: u32, prec: u32, pixels: &[i32], mode: i32, rate: f32) -> Vec<u8> {
    encode_resolutions(w, h, prec, pixels, mode, rate, 6)
}

/// `encode` with `resolutions` resolution levels (one more than decompositions).
fn encode_resolutions(
    w: u32,
    h: u32,
    prec: u32,
    pixels: &[i32],
    mode: i32,
    rate: f32,
    resolutions: i32,
) -> Vec<u8> {
    use openjp2::image::{opj_image_comptparm, opj_image_create, opj_image_destroy};
    let mut out = Vec::new();
    unsafe {
        let mut parm = opj_image_comptparm {
            dx: 1,
            dy: 1,
            w,
            h,
            x0: 0,
            y0: 0,
            prec,
            bpp: prec,
            sgnd: 0,
        };
        let image = opj_image_create(1, &mut parm, openjp2::OPJ_CLRSPC_GRAY);
        (*image).x1 = w;
        (*image).y1 = h;
        (*image).comps_mut().unwrap()[0]
            .data_mut()
            .unwrap()
            .copy_from_slice(pixels);
        let mut params = openjp2::opj_cparameters_t::default();
        opj_set_default_encoder_parameters(&mut params);
        params.tcp_numlayers = 1;
        params.tcp_rates[0] = rate;
        params.cp_disto_alloc = 1;
        params.irreversible = 0;
        params.mode = mode;
        params.numresolution = resolutions;
        let codec = opj_create_compress(OPJ_CODEC_J2K);
        assert!(opj_setup_encoder(codec, &mut params, image) != 0);
        let stream = opj_stream_create(1 << 16, 0);
        opj_stream_set_user_data(stream, &mut out as *mut Vec<u8> as *mut c_void, None);
        opj_stream_set_write_function(stream, Some(mem_write));
        assert!(opj_start_compress(codec, image, stream) != 0);
        assert!(opj_encode(codec, stream) != 0);
        assert!(opj_end_compress(codec, stream) != 0);
        opj_stream_destroy(stream);
        opj_destroy_codec(codec);
        opj_image_destroy(image);
    }
    out
}

/// A decoded 16-bit grey frame's samples.
fn words(out: &CodecOutput) -> Vec<i32> {
    samples(out)
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as i32)
        .collect()
}

/// The 5/3 synthesis (`dwt53`, its last level streamed into output rows) on odd,
/// thin and tiny images with as many decompositions as openjp2 allows: samples equal
/// openjp2's and the source.
#[test]
fn part1_small_and_odd_sizes_equal_openjp2() {
    let sizes: [(u32, u32); 11] = [
        (1, 1),
        (1, 9),
        (9, 1),
        (2, 2),
        (3, 5),
        (5, 3),
        (2, 33),
        (33, 2),
        (17, 33),
        (65, 31),
        (129, 7),
    ];
    for (w, h) in sizes {
        let mut seed = w * 7919 + h;
        let pixels: Vec<i32> = (0..w * h)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 20) as i32
            })
            .collect();
        // openjp2 wants each resolution at least one sample wide and high.
        let resolutions = 1 + (w.min(h).ilog2() as i32).min(5);
        let cs = encode_resolutions(w, h, 12, &pixels, 0, 0.0, resolutions);
        let header = read_header(&cs).unwrap();
        let desc = PixelDescription::grey(h, w, 16, 12);
        assert!(part1_fits(&cs, &header), "{w}x{h}");
        let got = decode_ht(&cs, &header, &desc).expect("declined");
        let want = decode_openjp2(&cs, &header, &desc).unwrap();
        assert!(
            samples(&got) == samples(&want),
            "{w}x{h}, {resolutions} resolutions"
        );
        assert!(words(&got) == pixels, "{w}x{h} is not lossless");
    }
}

/// Every code-block style option (and all of them at once) on streams from
/// openjp2's encoder, with partial stripes and code-blocks: `t1` equals openjp2.
#[test]
fn part1_code_block_styles_equal_openjp2() {
    let (w, h) = (203u32, 117u32);
    let mut seed = 12345u32;
    let pixels: Vec<i32> = (0..w * h)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let (x, y) = (i % w, i / w);
            // Smooth areas, edges and noise: many bit planes and all passes.
            let base = if (x / 40 + y / 30) % 2 == 0 {
                600
            } else {
                3000
            };
            (base + (x * 7 + y * 3) as i32 + (seed >> 24) as i32) & 0xFFF
        })
        .collect();
    let desc = PixelDescription::grey(h, w, 16, 12);
    for mode in [0, 1, 2, 4, 8, 16, 32, 1 | 4, 1 | 2 | 8, 2 | 4 | 32, 63] {
        let cs = encode(w, h, 12, &pixels, mode, 0.0);
        let header = read_header(&cs).unwrap();
        assert_eq!(header.cb_style, mode as u8);
        assert!(part1_fits(&cs, &header), "mode {mode:#x}");
        let got = decode_ht(&cs, &header, &desc).expect("t1 declined");
        let want = decode_openjp2(&cs, &header, &desc).unwrap();
        assert!(samples(&got) == samples(&want), "mode {mode:#x} differs");
        assert!(words(&got) == pixels, "mode {mode:#x} is not lossless");
    }
    // Truncated code-blocks (a rate below lossless): reconstruction at OpenJPEG's
    // mid-points (`oneplushalf`, then halved), the values its irreversible path
    // scales by the step size.
    for mode in [0, 1 | 4, 63] {
        for rate in [4.0, 12.0, 40.0] {
            let cs = encode(w, h, 12, &pixels, mode, rate);
            let header = read_header(&cs).unwrap();
            assert!(part1_fits(&cs, &header), "mode {mode:#x}");
            let got = decode_ht(&cs, &header, &desc).expect("t1 declined");
            let want = decode_openjp2(&cs, &header, &desc).unwrap();
            assert!(
                samples(&got) == samples(&want),
                "mode {mode:#x} rate {rate} differs"
            );
            // Truncated indeed: not the original pixels.
            let back: Vec<i32> = samples(&got)
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as i32)
                .collect();
            assert!(
                back != pixels,
                "mode {mode:#x} rate {rate} came out lossless"
            );
        }
    }
}
