//! The GPU renderer (`lumen::render`) against its CPU references: `pixel` for 2-D
//! frames, `volume`'s resampler for MPR. Every test body runs on each backend
//! that has an adapter — Vulkan (lavapipe) and GL (EGL surfaceless llvmpipe) on
//! Mesa — and fails when neither exists. Which adapters ran is printed
//! (`cargo test --test render -- --nocapture`).
//!
//! Tolerances, and why:
//! - Grey levels: within 1 of `pixel` (the brief's bound), and nearly always
//!   equal. The shaders compute in f32 what `pixel` computes in f64; values are
//!   centred exactly before any float arithmetic, so `255·p` is off by less than
//!   5e-5, and the GPU quantises `floor(255·p + 1e-4)` where the CPU has
//!   `floor(255·p + 1e-9)`: a pixel can differ by one level only when `255·p`
//!   lies just below an integer. The counts of such pixels are printed. Both
//!   backends set the same bound; SIGMOID adds the shader's `exp` error (a few
//!   ulp) and stays within it.
//! - Palette and RGB: exact (integer arithmetic in the shader).
//! - MPR nearest on the real head CT along its axes: the values equal the voxels
//!   exactly (read back as f32, which holds any 16-bit value exactly).
//! - MPR trilinear and slabs: grey levels within 1 of the CPU resampler + `pixel`,
//!   values within 0.05 (HU): the f32 sample position is off by ~1e-5 voxel,
//!   times CT gradients of up to ~2000 HU per voxel. Pixels with a sample within 1e-4
//!   voxel of the volume's edge are left out: f32 geometry cannot decide on which
//!   side such a sample falls (their number is printed; at most 2 % of a view,
//!   where a column of the output grid runs along the volume's face).
//! - Bricked volumes (forced small bricks): MIP/MinIP/nearest identical to the
//!   single-texture render; average within 1e-3 (another summation order).
//! - The corpus renders at the frame's own size; nothing is downsized (the
//!   largest frames are 1955 × 1841).

mod common;

use lumen::pixel::{
    self, DisplayAttributes, GreyPipeline, ModalityTransform, RenderOptions, VoiLutFunction,
    VoiSelection, VoiWindow,
};
use lumen::render::{
    self, BackendChoice, Gpu, GpuImage, GpuVolume, ImageSettings, Interpolation, MprSettings,
    Target, View, Zoom,
};
use lumen::volume::{
    self, MprPlane, PlaneGrid, Slab, SlabMode, SliceGeometry, Vec3, VolumeGeometry, VoxelData,
    VoxelVolume,
};
use lumen::{DecodeLimits, DecodedFrame, DicomFile};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

// ---------------------------------------------------------------- backends

/// One test at a time on the GPU: the software rasterisers use every core.
static GPU_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    GPU_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every backend with an adapter; panics when there is none.
fn backends() -> Vec<(&'static str, Gpu)> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (name, choice) in [("vulkan", BackendChoice::Vulkan), ("gl", BackendChoice::Gl)] {
        match pollster::block_on(Gpu::new(choice)) {
            Ok(gpu) => {
                let i = gpu.info();
                eprintln!(
                    "[render] {name}: {} ({}; 2-D ≤ {}, 3-D ≤ {})",
                    i.adapter, i.driver, i.max_texture_2d, i.max_texture_3d
                );
                out.push((name, gpu));
            }
            Err(e) => {
                eprintln!("[render] {name}: no adapter ({e})");
                missing.push(name);
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no GPU adapter on Vulkan or GL: install libvulkan1 mesa-vulkan-drivers libegl1 \
         libegl-mesa0 libgl1-mesa-dri (scripts/setup.sh does)"
    );
    out
}

fn read(gpu: &Gpu, target: &Target) -> Vec<u8> {
    pollster::block_on(target.read(gpu)).expect("readback")
}

/// RGBA bytes → RGB.
fn rgb_of(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// A values target's pixels → (value, inside).
fn values_of(bytes: &[u8]) -> Vec<(f32, bool)> {
    bytes
        .chunks_exact(16)
        .map(|p| {
            let u = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
            (f32::from_bits(u(0)), u(4) == 1)
        })
        .collect()
}

/// Largest difference and how many bytes differ.
fn compare(a: &[u8], b: &[u8]) -> (u8, usize) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0, 0), |(max, n), (x, y)| {
        let d = x.abs_diff(*y);
        (max.max(d), n + (d > 0) as usize)
    })
}

// ---------------------------------------------------------------- 2-D frames

fn open(rel: &str) -> (DecodedFrame, DisplayAttributes) {
    let path = common::corpus_dir().join(rel);
    let file = DicomFile::open(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let frame = file
        .decode_frame(0, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    let attrs = file.display.for_frame(0).into_owned();
    (frame, attrs)
}

/// The GPU's RGB rendering of `frame` at its own size, frame pixel = output pixel.
fn gpu_rgb(
    gpu: &Gpu,
    frame: &DecodedFrame,
    attrs: &DisplayAttributes,
    options: &RenderOptions,
    interpolation: Interpolation,
) -> Result<Vec<u8>, lumen::render::RenderError> {
    let image = GpuImage::upload(gpu, frame, attrs)?;
    let mut settings = ImageSettings::for_frame(frame, attrs, options)?;
    settings.view = View::identity();
    settings.interpolation = interpolation;
    let target = Target::new(gpu, frame.info.columns, frame.info.rows)?;
    image.render(gpu, &settings, &target)?;
    Ok(rgb_of(&read(gpu, &target)))
}

#[test]
fn every_corpus_frame_matches_the_cpu_pipeline() {
    let _guard = lock();
    let gpus = backends();
    let manifest = common::manifest();
    let start = std::time::Instant::now();
    // Per backend: frames compared, frames exact, pixels off by one, largest difference.
    let mut stats = vec![(0usize, 0usize, 0usize, 0u8); gpus.len()];
    let mut undecodable = 0;
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for entry in &manifest.files {
        if entry.reference.is_none() || entry.expect_error == Some(true) {
            continue;
        }
        let path = common::corpus_dir().join(&entry.path);
        let Ok(file) = DicomFile::open(&path) else {
            undecodable += 1;
            continue;
        };
        let Ok(frame) = file.decode_frame(0, &DecodeLimits::default()) else {
            undecodable += 1;
            continue;
        };
        let attrs = file.display.for_frame(0);
        let options = RenderOptions::default();
        let cpu = pixel::render_rgb8(&frame, &attrs, &options);
        for (b, (name, gpu)) in gpus.iter().enumerate() {
            let got = gpu_rgb(gpu, &frame, &attrs, &options, Interpolation::Nearest);
            match (&cpu, got) {
                (Ok(want), Ok(got)) => {
                    let (max, n) = compare(want, &got);
                    let s = &mut stats[b];
                    s.0 += 1;
                    s.1 += (n == 0) as usize;
                    s.2 += n;
                    s.3 = s.3.max(max);
                    if n > 0 && b == 0 {
                        eprintln!("[render] {name} {}: {n} samples off by {max}", entry.path);
                    }
                    if max > 1 {
                        failures.push(format!(
                            "{name} {}: off by {max} on {n} samples",
                            entry.path
                        ));
                    }
                }
                (Err(_), Err(_)) => {
                    if b == 0 {
                        refused.push(entry.path.clone());
                    }
                }
                (Ok(_), Err(e)) => failures.push(format!("{name} {}: GPU failed: {e}", entry.path)),
                (Err(e), Ok(_)) => failures.push(format!(
                    "{name} {}: CPU refused ({e}), GPU drew",
                    entry.path
                )),
            }
        }
    }
    for ((name, _), (n, exact, off, max)) in gpus.iter().zip(&stats) {
        eprintln!(
            "[render] corpus on {name}: {n} frames, {exact} identical to pixel, {off} samples off by one, largest difference {max}"
        );
    }
    eprintln!(
        "[render] corpus: {undecodable} not decodable (corpus.rs covers those), refused by both CPU and GPU: {refused:?}; {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        stats.iter().all(|s| s.0 > 400),
        "too few frames compared: {stats:?}"
    );
}

const CT_SMALL: &str = "files/pydicom/CT_small.dcm";
const CT512: &str = "files/pydicom-data/693_UNCR.dcm";
const MR_SMALL: &str = "files/pydicom/MR_small.dcm";
const MONO1: &str = "files/pydicom-data/RG3_UNCR.dcm";
const VOI_LUT: &str = "files/pydicom-data/vlut_04.dcm";
const MODALITY_LUT: &str = "files/pydicom-data/mlut_18.dcm";
const FRACTIONAL_RESCALE: &str = "files/pydicom-data/MR2_UNCR.dcm";
const INT32_TINY_SLOPE: &str = "files/generated/edge/int32-signed-ct.dcm";
const PALETTE: &str = "files/pydicom-data/OT-PAL-8-face.dcm";
const RGB: &str = "files/pydicom-data/US1_UNCR.dcm";

fn window(c: f64, w: f64, f: VoiLutFunction) -> RenderOptions {
    RenderOptions {
        voi: VoiSelection::Window(VoiWindow::new(c, w, f)),
        ..RenderOptions::default()
    }
}

#[test]
fn every_voi_function_window_and_inversion_matches_pixel() {
    let _guard = lock();
    let gpus = backends();
    use VoiLutFunction::*;
    let cases: Vec<(&str, RenderOptions)> = vec![
        (CT512, window(40.0, 400.0, Linear)),
        (CT512, window(40.0, 1.0, Linear)),
        (CT512, window(40.5, 2.0, Linear)),
        (CT512, window(-600.0, 1500.0, LinearExact)),
        (CT512, window(40.0, 0.5, LinearExact)),
        (CT512, window(40.0, 400.0, Sigmoid)),
        (CT512, window(300.0, 3.0, Sigmoid)),
        (
            CT_SMALL,
            RenderOptions {
                invert: true,
                ..window(40.0, 80.0, Linear)
            },
        ),
        (MR_SMALL, window(600.0, 1600.0, Sigmoid)),
        (MONO1, RenderOptions::default()),
        (MONO1, window(550.0, 1024.0, Sigmoid)),
        (
            MONO1,
            RenderOptions {
                invert: true,
                ..RenderOptions::default()
            },
        ),
        (
            VOI_LUT,
            RenderOptions {
                voi: VoiSelection::FileLut(0),
                ..RenderOptions::default()
            },
        ),
        (
            VOI_LUT,
            RenderOptions {
                voi: VoiSelection::FileLut(0),
                invert: true,
                ..RenderOptions::default()
            },
        ),
        (MODALITY_LUT, RenderOptions::default()),
        (MODALITY_LUT, window(32768.0, 30000.0, Linear)),
        (FRACTIONAL_RESCALE, window(2000.0, 500.0, Linear)),
        (
            FRACTIONAL_RESCALE,
            RenderOptions {
                voi: VoiSelection::MinMax,
                ..RenderOptions::default()
            },
        ),
        (INT32_TINY_SLOPE, window(40.0, 400.0, Linear)),
        (INT32_TINY_SLOPE, RenderOptions::default()),
    ];
    for (rel, options) in &cases {
        let (frame, attrs) = open(rel);
        let want = pixel::render_rgb8(&frame, &attrs, options).unwrap();
        for (name, gpu) in &gpus {
            let got = gpu_rgb(gpu, &frame, &attrs, options, Interpolation::Nearest).unwrap();
            let (max, n) = compare(&want, &got);
            eprintln!(
                "[render] {name} {rel} {:?}: {n} samples off, largest {max}",
                options.voi
            );
            assert!(
                max <= 1,
                "{name} {rel} {options:?}: off by {max} on {n} samples"
            );
        }
    }
    // Palette and RGB are integer arithmetic: exact.
    for rel in [PALETTE, RGB] {
        let (frame, attrs) = open(rel);
        let want = pixel::render_rgb8(&frame, &attrs, &RenderOptions::default()).unwrap();
        for (name, gpu) in &gpus {
            let got = gpu_rgb(
                gpu,
                &frame,
                &attrs,
                &RenderOptions::default(),
                Interpolation::Nearest,
            )
            .unwrap();
            assert_eq!(compare(&want, &got), (0, 0), "{name} {rel}");
        }
    }
}

/// The CPU reference of bilinear display interpolation: stored values
/// interpolated between texel centres (clamp to edge), then `pixel`'s pipeline.
#[test]
fn zoom_rotation_flips_and_bilinear_interpolation() {
    let _guard = lock();
    let gpus = backends();
    let (frame, attrs) = open(CT_SMALL);
    let options = window(40.0, 400.0, VoiLutFunction::Linear);
    let cpu = pixel::render_grey8(&frame, &attrs, &options).unwrap();
    let pipeline = pixel::grey_pipeline(&frame, &attrs, &options).unwrap();
    let (c, r) = (frame.info.columns as usize, frame.info.rows as usize);
    for (name, gpu) in &gpus {
        let image = GpuImage::upload(gpu, &frame, &attrs).unwrap();
        let draw = |view: View, interpolation, w: u32, h: u32| {
            let settings = ImageSettings {
                grey: Some(pipeline.clone()),
                view,
                interpolation,
            };
            let target = Target::new(gpu, w, h).unwrap();
            image.render(gpu, &settings, &target).unwrap();
            read(gpu, &target)
                .chunks_exact(4)
                .map(|p| p[0])
                .collect::<Vec<u8>>()
        };
        // Rotated 90° clockwise then mirrored left-right (a transpose), nearest,
        // zoom 2: output (x, y) shows frame pixel (y/2, x/2) exactly.
        let view = View {
            zoom: Zoom::Factor(2.0),
            rotation_degrees: 90.0,
            flip_horizontal: true,
            ..View::identity()
        };
        let got = draw(view, Interpolation::Nearest, 2 * r as u32, 2 * c as u32);
        for y in 0..2 * c {
            for x in 0..2 * r {
                let (i, j) = (y / 2, x / 2);
                assert_eq!(
                    got[y * 2 * r + x],
                    cpu[j * c + i],
                    "{name} rotated ({x}, {y})"
                );
            }
        }
        // Horizontal flip and 180° cancel into a vertical flip.
        let view = View {
            rotation_degrees: 180.0,
            flip_horizontal: true,
            ..View::identity()
        };
        let got = draw(view, Interpolation::Nearest, c as u32, r as u32);
        for y in 0..r {
            assert_eq!(
                &got[y * c..(y + 1) * c],
                &cpu[(r - 1 - y) * c..(r - y) * c],
                "{name} row {y}"
            );
        }
        // Bilinear at a free rotation, zoom and pan, with a pixel aspect of 1.5,
        // against the CPU bilinear reference.
        let view = View {
            zoom: Zoom::Factor(2.3),
            pan: [7.25, -3.5],
            rotation_degrees: 33.0,
            pixel_aspect: 1.5,
            ..View::default()
        };
        let (w, h) = (300, 260);
        let got = draw(view, Interpolation::Linear, w, h);
        // The CPU reference is the fallback renderer itself (render::cpu).
        let settings = ImageSettings {
            grey: Some(pipeline.clone()),
            view,
            interpolation: Interpolation::Linear,
        };
        let want: Vec<u8> = render::cpu::render_rgba(&frame, &attrs, &settings, w, h)
            .unwrap()
            .chunks_exact(4)
            .map(|p| p[0])
            .collect();
        let (max, n) = compare(&want, &got);
        eprintln!("[render] {name} bilinear, rotated 33°: {n} pixels off, largest {max}");
        assert!(max <= 1, "{name}: bilinear off by {max} on {n} pixels");
        // The default view fits the frame: at half size, output pixel (x, y) is
        // centred on frame point (2x + 1, 2y + 1), in frame pixel (2x + 1, 2y + 1).
        let got = draw(
            View::default(),
            Interpolation::Nearest,
            c as u32 / 2,
            r as u32 / 2,
        );
        assert_eq!(got[0], cpu[c + 1]);
        assert_eq!(got[(c / 2) * (r / 2) - 1], cpu[c * r - 1]);
    }
}

/// The CPU fallback renderer draws what the GPU draws: grey, MONOCHROME1,
/// palette and RGB frames, in a zoomed, rotated, flipped, panned view, nearest and
/// linear; and the pixel probe reads the stored values back from the texture.
#[test]
fn the_cpu_fallback_renderer_and_the_probe_match_the_gpu() {
    let _guard = lock();
    let gpus = backends();
    let view = View {
        zoom: Zoom::Factor(1.7),
        pan: [5.5, -9.0],
        rotation_degrees: 270.0,
        flip_vertical: true,
        ..View::default()
    };
    for rel in [CT_SMALL, MONO1, PALETTE, RGB] {
        let (frame, attrs) = open(rel);
        for (name, gpu) in &gpus {
            let image = GpuImage::upload(gpu, &frame, &attrs).unwrap();
            for interpolation in [Interpolation::Nearest, Interpolation::Linear] {
                let mut settings =
                    ImageSettings::for_frame(&frame, &attrs, &RenderOptions::default()).unwrap();
                // Nearest at zoom 2: every sample lies a quarter texel from an edge,
                // so f32 (GPU) and f64 (CPU) cannot pick different texels.
                settings.view = View {
                    pixel_aspect: attrs.pixel_aspect(),
                    zoom: match interpolation {
                        Interpolation::Nearest => Zoom::Factor(2.0),
                        Interpolation::Linear => view.zoom,
                    },
                    pan: match interpolation {
                        Interpolation::Nearest => [6.0, -9.0],
                        Interpolation::Linear => view.pan,
                    },
                    ..view
                };
                settings.interpolation = interpolation;
                let (w, h) = (240, 200);
                let target = Target::new(gpu, w, h).unwrap();
                image.render(gpu, &settings, &target).unwrap();
                let got = read(gpu, &target);
                let want = render::cpu::render_rgba(&frame, &attrs, &settings, w, h).unwrap();
                let (max, n) = compare(&want, &got);
                eprintln!("[render] {name} {rel} {interpolation:?}: CPU fallback {n} bytes off, largest {max}");
                assert!(
                    max <= 1,
                    "{name} {rel} {interpolation:?}: off by {max} on {n} bytes"
                );
            }
            // Probe: a few texels read back equal the decoded stored values.
            let (c, r) = (frame.info.columns, frame.info.rows);
            let spp = frame.info.samples_per_pixel as usize;
            let bytes = frame.data.len() / (c as usize * r as usize * spp);
            for (x, y) in [(0, 0), (c / 2, r / 3), (c - 1, r - 1)] {
                let got = pollster::block_on(image.read_texel(gpu, x, y)).unwrap();
                let at = (y as usize * c as usize + x as usize) * spp;
                let want: Vec<i64> = (0..spp)
                    .map(|k| {
                        let b = &frame.data[(at + k) * bytes..(at + k + 1) * bytes];
                        match (bytes, frame.info.pixel_representation) {
                            (1, 0) => b[0] as i64,
                            (2, 0) => u16::from_le_bytes([b[0], b[1]]) as i64,
                            (2, _) => i16::from_le_bytes([b[0], b[1]]) as i64,
                            _ => panic!("{rel}: unexpected sample size {bytes}"),
                        }
                    })
                    .collect();
                assert_eq!(got, want, "{name} {rel} texel ({x}, {y})");
            }
        }
    }
}

// ---------------------------------------------------------------- MPR

struct HeadCt {
    volume: VolumeGeometry,
    voxels: VoxelVolume<i16>,
    data: VoxelData,
    pipeline: GreyPipeline,
}

fn load_head_ct() -> HeadCt {
    let dir = common::corpus_dir().join("files/invesalius-ct/series");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "no head CT at {} ({e}): run scripts/setup-corpus.sh",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut slices = Vec::new();
    let mut frames = Vec::new();
    let mut attrs = None;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        slices.extend(SliceGeometry::from_part10(&bytes).unwrap());
        let file = DicomFile::from_bytes(&bytes).unwrap();
        attrs.get_or_insert_with(|| file.display.clone());
        frames.push(file.decode_frame(0, &DecodeLimits::default()).unwrap());
    }
    let volume = VolumeGeometry::build(&slices).unwrap();
    let refs: Vec<&DecodedFrame> = frames.iter().collect();
    let data = VoxelData::from_decoded_frames(&volume, &refs).unwrap();
    let VoxelData::I16(voxels) = data.clone() else {
        panic!("the head CT is signed 16-bit")
    };
    let pipeline = pixel::grey_pipeline(
        &frames[0],
        &attrs.unwrap(),
        &window(40.0, 400.0, VoiLutFunction::Linear),
    )
    .unwrap();
    HeadCt {
        volume,
        voxels,
        data,
        pipeline,
    }
}

/// GPU values and grey levels of one MPR view.
fn gpu_mpr(gpu: &Gpu, vol: &GpuVolume, settings: &MprSettings) -> (Vec<(f32, bool)>, Vec<u8>) {
    let (w, h) = (settings.grid.width, settings.grid.height);
    let values = Target::new_values(gpu, w, h).unwrap();
    vol.render(gpu, settings, &values).unwrap();
    let grey = Target::new(gpu, w, h).unwrap();
    vol.render(gpu, settings, &grey).unwrap();
    (
        values_of(&read(gpu, &values)),
        read(gpu, &grey).chunks_exact(4).map(|p| p[0]).collect(),
    )
}

fn cpu_interpolation(i: Interpolation) -> volume::Interpolation {
    match i {
        Interpolation::Nearest => volume::Interpolation::Nearest,
        Interpolation::Linear => volume::Interpolation::Trilinear,
    }
}

/// Pixels whose samples lie within 1e-4 voxel of the volume's edge (or, for
/// nearest, of a voxel border): f32 cannot tell which side they are on.
fn undecidable(volume: &VolumeGeometry, settings: &MprSettings) -> Vec<bool> {
    let grid = &settings.grid;
    let offsets = settings.slab.map(|s| s.offsets_mm()).unwrap_or(vec![0.0]);
    let n = volume.dimensions();
    let normal = grid.plane.normal();
    let mut out = Vec::new();
    for py in 0..grid.height {
        for px in 0..grid.width {
            let c = grid.pixel_center(px, py);
            out.push(offsets.iter().any(|o| {
                let v = volume.patient_to_voxel(c + normal * *o).to_array();
                (0..3).any(|a| {
                    let edge =
                        (v[a] + 0.5).abs() < 1e-4 || (v[a] - (n[a] as f64 - 0.5)).abs() < 1e-4;
                    let border = settings.interpolation == Interpolation::Nearest
                        && ((v[a] + 0.5) - (v[a] + 0.5).round()).abs() < 1e-4;
                    edge || border
                })
            }));
        }
    }
    out
}

/// Compares a GPU MPR view with the CPU resampler + `pixel`: returns (largest
/// value difference, grey pixels off, largest grey difference, pixels skipped).
fn check_mpr(
    name: &str,
    what: &str,
    gpu: &Gpu,
    vol: &GpuVolume,
    ct: &HeadCt,
    settings: &MprSettings,
) -> (f64, usize, u8, usize) {
    let options = volume::ResampleOptions {
        interpolation: cpu_interpolation(settings.interpolation),
        slab: settings.slab,
        values: volume::ValueSpace::Stored,
        background: f64::NAN,
    };
    let cpu = volume::resample(&ct.volume, &ct.voxels, &settings.grid, &options).unwrap();
    let skip = undecidable(&ct.volume, settings);
    let (values, grey) = gpu_mpr(gpu, vol, settings);
    let (mut max_value, mut off, mut max_grey, mut skipped) = (0f64, 0, 0u8, 0);
    for (i, want) in cpu.values.iter().enumerate() {
        if skip[i] {
            skipped += 1;
            continue;
        }
        let (got, inside) = values[i];
        assert_eq!(
            inside,
            !want.is_nan(),
            "{name} {what}: pixel {i} inside? CPU {want}"
        );
        if inside {
            max_value = max_value.max((got as f64 - want).abs());
        }
        let g = ct.pipeline.grey8(*want);
        let d = g.abs_diff(grey[i]);
        off += (d > 0) as usize;
        max_grey = max_grey.max(d);
    }
    eprintln!("[render] {name} {what}: values within {max_value:.2e}, {off} grey pixels off (largest {max_grey}), {skipped} edge pixels skipped");
    (max_value, off, max_grey, skipped)
}

#[test]
fn head_ct_axis_aligned_nearest_equals_the_voxels() {
    let _guard = lock();
    let gpus = backends();
    let ct = load_head_ct();
    let (volume, voxels) = (&ct.volume, &ct.voxels);
    let [nx, ny, nz] = volume.dimensions();
    let [di, dj] = volume.pixel_spacing_ij();
    let dk = 1.5;
    let mid = |n: usize| (n as f64 - 1.0) / 2.0;
    for (name, gpu) in &gpus {
        let vol = GpuVolume::upload(gpu, volume, &ct.data).unwrap();
        assert_eq!(vol.brick_count(), 1);
        let settings = |grid| MprSettings {
            grid,
            interpolation: Interpolation::Nearest,
            slab: None,
            grey: ct.pipeline.clone(),
        };
        for k in [0usize, 53, 107] {
            let c = volume.voxel_to_patient(Vec3::new(mid(nx), mid(ny), k as f64));
            let s = settings(PlaneGrid::new(MprPlane::axial(c), nx as u32, ny as u32, di));
            let (values, _) = gpu_mpr(gpu, &vol, &s);
            for j in 0..ny {
                for i in 0..nx {
                    assert_eq!(
                        values[j * nx + i],
                        (voxels.get(i, j, k) as f32, true),
                        "{name} axial k={k} ({i}, {j})"
                    );
                }
            }
            check_mpr(name, &format!("axial k={k}"), gpu, &vol, &ct, &s);
        }
        for j in [0usize, 128, 255] {
            let c = volume.voxel_to_patient(Vec3::new(mid(nx), j as f64, mid(nz)));
            let grid = PlaneGrid {
                plane: MprPlane::coronal(c),
                width: nx as u32,
                height: nz as u32,
                spacing: [di, dk],
            };
            let (values, _) = gpu_mpr(gpu, &vol, &settings(grid));
            for py in 0..nz {
                for i in 0..nx {
                    assert_eq!(
                        values[py * nx + i],
                        (voxels.get(i, j, nz - 1 - py) as f32, true),
                        "{name} coronal j={j}"
                    );
                }
            }
        }
        for i in [0usize, 128, 255] {
            let c = volume.voxel_to_patient(Vec3::new(i as f64, mid(ny), mid(nz)));
            let grid = PlaneGrid {
                plane: MprPlane::sagittal(c),
                width: ny as u32,
                height: nz as u32,
                spacing: [dj, dk],
            };
            let s = settings(grid);
            let (values, _) = gpu_mpr(gpu, &vol, &s);
            for py in 0..nz {
                for j in 0..ny {
                    assert_eq!(
                        values[py * ny + j],
                        (voxels.get(i, j, nz - 1 - py) as f32, true),
                        "{name} sagittal i={i}"
                    );
                }
            }
            let (_, _, max_grey, _) =
                check_mpr(name, &format!("sagittal i={i}"), gpu, &vol, &ct, &s);
            assert!(max_grey <= 1);
        }
    }
}

#[test]
fn head_ct_oblique_trilinear_and_slabs_match_the_cpu_resampler() {
    let _guard = lock();
    let gpus = backends();
    let ct = load_head_ct();
    let volume = &ct.volume;
    let centre = volume.center();
    let oblique = MprPlane::from_normal(centre, Vec3::new(0.3, -0.4, 1.0)).unwrap();
    let cases: Vec<(&str, MprPlane, Option<Slab>)> = vec![
        ("oblique trilinear", oblique, None),
        (
            "axial 20 mm MIP",
            MprPlane::axial(centre),
            Some(Slab::new(20.0, SlabMode::Mip, volume)),
        ),
        (
            "oblique 20 mm MIP",
            oblique,
            Some(Slab::new(20.0, SlabMode::Mip, volume)),
        ),
        (
            "sagittal 10 mm MinIP",
            MprPlane::sagittal(centre),
            Some(Slab::new(10.0, SlabMode::MinIp, volume)),
        ),
        (
            "coronal 10 mm average",
            MprPlane::coronal(centre),
            Some(Slab::new(10.0, SlabMode::Average, volume)),
        ),
    ];
    for (name, gpu) in &gpus {
        let vol = GpuVolume::upload(gpu, volume, &ct.data).unwrap();
        for (what, plane, slab) in &cases {
            let settings = MprSettings {
                grid: PlaneGrid::new(*plane, 256, 256, 1.0),
                interpolation: Interpolation::Linear,
                slab: *slab,
                grey: ct.pipeline.clone(),
            };
            let (max_value, _, max_grey, skipped) =
                check_mpr(name, what, gpu, &vol, &ct, &settings);
            assert!(max_value < 0.05, "{name} {what}: values off by {max_value}");
            assert!(max_grey <= 1, "{name} {what}: grey off by {max_grey}");
            assert!(
                skipped < 256 * 256 / 50,
                "{name} {what}: {skipped} pixels skipped"
            );
        }
    }
}

#[test]
fn a_volume_past_the_3d_limit_is_bricked_and_renders_the_same() {
    let _guard = lock();
    let gpus = backends();
    let ct = load_head_ct();
    let volume = &ct.volume;
    let centre = volume.center();
    let oblique = MprPlane::from_normal(centre, Vec3::new(0.3, -0.4, 1.0)).unwrap();
    for (name, gpu) in &gpus {
        let whole = GpuVolume::upload(gpu, volume, &ct.data).unwrap();
        gpu.set_max_brick(100);
        let bricked = GpuVolume::upload(gpu, volume, &ct.data).unwrap();
        gpu.set_max_brick(u32::MAX);
        // Sides of 100 overlapping by one: 256 → 0..100, 99..199, 198..256; 108 → 0..100, 99..108.
        assert_eq!(bricked.brick_count(), 3 * 3 * 2, "{name}");
        for (interpolation, slab) in [
            (Interpolation::Nearest, None),
            (Interpolation::Linear, None),
            (
                Interpolation::Linear,
                Some(Slab::new(20.0, SlabMode::Mip, volume)),
            ),
            (
                Interpolation::Linear,
                Some(Slab::new(20.0, SlabMode::MinIp, volume)),
            ),
            (
                Interpolation::Nearest,
                Some(Slab::new(20.0, SlabMode::Average, volume)),
            ),
        ] {
            let settings = MprSettings {
                grid: PlaneGrid::new(oblique, 200, 180, 1.2),
                interpolation,
                slab,
                grey: ct.pipeline.clone(),
            };
            let (a, ga) = gpu_mpr(gpu, &whole, &settings);
            let (b, gb) = gpu_mpr(gpu, &bricked, &settings);
            let average = matches!(
                slab,
                Some(Slab {
                    mode: SlabMode::Average,
                    ..
                })
            );
            let max = a
                .iter()
                .zip(&b)
                .map(|(x, y)| {
                    assert_eq!(x.1, y.1, "{name}: inside flags differ");
                    (x.0 - y.0).abs()
                })
                .fold(0f32, f32::max);
            if average {
                assert!(max < 1e-3, "{name} {interpolation:?} {slab:?}: {max}");
                assert!(compare(&ga, &gb).0 <= 1);
            } else {
                assert_eq!(max, 0.0, "{name} {interpolation:?} {slab:?}");
                assert_eq!(ga, gb, "{name} {interpolation:?} {slab:?}");
            }
        }
        eprintln!(
            "[render] {name}: {} bricks render as one texture",
            bricked.brick_count()
        );
    }
}

/// A synthetic series with irregular spacing (a missing slice) and a rescale that
/// differs per slice: values are modality values, interpolated per tap.
#[test]
fn irregular_spacing_and_per_slice_rescale_match_the_cpu_resampler() {
    let _guard = lock();
    let gpus = backends();
    let zs: Vec<f64> = (0..24)
        .filter(|k| *k != 9)
        .map(|k| 1.5 * k as f64)
        .collect();
    let (nx, ny) = (40usize, 36usize);
    let slices: Vec<SliceGeometry> = zs
        .iter()
        .enumerate()
        .map(|(k, z)| SliceGeometry {
            sop_instance_uid: format!("1.2.826.0.1.{k}"),
            frame_number: None,
            image_position: Vec3::new(-20.0, -15.0, *z),
            row_direction: Vec3::X,
            column_direction: Vec3::Y,
            pixel_spacing: [0.9, 1.1],
            slice_thickness: None,
            spacing_between_slices: None,
            rows: ny as u32,
            columns: nx as u32,
            rescale_slope: 1.0 + 0.25 * (k % 3) as f64,
            rescale_intercept: -1024.0 + 8.0 * k as f64,
            frame_of_reference_uid: Some("1.2.3".into()),
            acquisition_number: None,
            stack_id: None,
            temporal_position_index: None,
        })
        .collect();
    let volume = VolumeGeometry::build(&slices).unwrap();
    assert!(!volume.is_uniform() && volume.rescale_varies());
    let nz = zs.len();
    let data: Vec<i16> = (0..nx * ny * nz)
        .map(|n| ((n * 7919 % 2000) as i16) - 300 + ((n % nx) as i16) * 10)
        .collect();
    let voxels = VoxelVolume::new([nx, ny, nz], data).unwrap();
    let pipeline = GreyPipeline {
        modality: ModalityTransform::IDENTITY,
        voi: pixel::VoiTransform::Window(VoiWindow::new(100.0, 1500.0, VoiLutFunction::Linear)),
        invert: false,
    };
    let plane = MprPlane::from_normal(volume.center(), Vec3::new(0.1, 0.8, 0.5)).unwrap();
    for (name, gpu) in &gpus {
        let vol = GpuVolume::upload(gpu, &volume, &VoxelData::I16(voxels.clone())).unwrap();
        for (interpolation, slab) in [
            (Interpolation::Linear, None),
            (
                Interpolation::Linear,
                Some(Slab::new(6.0, SlabMode::Average, &volume)),
            ),
        ] {
            let settings = MprSettings {
                grid: PlaneGrid::new(plane, 64, 60, 0.7),
                interpolation,
                slab,
                grey: pipeline.clone(),
            };
            let cpu = volume::resample(
                &volume,
                &voxels,
                &settings.grid,
                &volume::ResampleOptions {
                    interpolation: cpu_interpolation(interpolation),
                    slab,
                    values: volume::ValueSpace::Modality,
                    background: f64::NAN,
                },
            )
            .unwrap();
            let skip = undecidable(&volume, &settings);
            let (values, grey) = gpu_mpr(gpu, &vol, &settings);
            let (mut max_value, mut max_grey, mut inside) = (0f64, 0u8, 0);
            for (i, want) in cpu.values.iter().enumerate() {
                if skip[i] {
                    continue;
                }
                assert_eq!(values[i].1, !want.is_nan(), "{name} pixel {i}");
                if !want.is_nan() {
                    inside += 1;
                    max_value = max_value.max((values[i].0 as f64 - want).abs());
                }
                max_grey = max_grey.max(pipeline.grey8(*want).abs_diff(grey[i]));
            }
            eprintln!("[render] {name} irregular, per-slice rescale, {slab:?}: {inside} pixels, values within {max_value:.2e}, grey within {max_grey}");
            assert!(inside > 1000);
            assert!(
                max_value < 0.01 && max_grey <= 1,
                "{name}: {max_value} {max_grey}"
            );
        }
    }
}
