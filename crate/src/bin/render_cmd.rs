//! `lumen render`: a DICOM file or a one-series folder through the GPU path
//! (`lumen::render`) into an 8-bit PNG, on whatever adapter exists; `--bench`
//! times re-renders instead.

use crate::usage_error;
use lumen::pixel::{
    self, DisplayAttributes, RenderOptions, VoiLutFunction, VoiSelection, VoiWindow,
};
use lumen::render::{
    BackendChoice, Gpu, GpuImage, GpuVolume, ImageSettings, Interpolation, MprSettings, Target,
    View, Zoom,
};
use lumen::volume::{
    MprPlane, PlaneGrid, Slab, SlabMode, SliceGeometry, StandardView, Vec3, VolumeGeometry,
    VoxelData,
};
use lumen::{DecodeLimits, DecodedFrame, DicomFile};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Default)]
struct Options {
    input: Option<PathBuf>,
    out: Option<PathBuf>,
    frame: u32,
    window: Option<(f64, f64)>,
    function: Option<VoiLutFunction>,
    mpr: Option<String>,
    slice: Option<f64>,
    normal: Option<Vec3>,
    center: Option<Vec3>,
    axes: Option<(Vec3, Vec3)>,
    mm_per_pixel: Option<f64>,
    slab_mm: Option<f64>,
    slab_mode: Option<SlabMode>,
    interpolation: Interpolation,
    size: Option<(u32, u32)>,
    rotate: f64,
    flip: (bool, bool),
    zoom: Option<f64>,
    pan: [f64; 2],
    invert: bool,
    backend: BackendChoice,
    bench: bool,
}

fn numbers(s: &str, n: usize, what: &str) -> Result<Vec<f64>, String> {
    let v: Result<Vec<f64>, _> = s.split(',').map(|x| x.trim().parse::<f64>()).collect();
    match v {
        Ok(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
        _ => Err(format!(
            "{what} needs {n} comma-separated numbers, got {s:?}"
        )),
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        frame: 1,
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--frame" => {
                o.frame = value()?
                    .parse()
                    .ok()
                    .filter(|f| *f >= 1)
                    .ok_or("--frame needs a frame number from 1")?
            }
            "--window" => {
                let v = numbers(&value()?, 2, "--window")?;
                o.window = Some((v[0], v[1]));
            }
            "--voi-function" => {
                o.function = Some(match value()?.as_str() {
                    "linear" => VoiLutFunction::Linear,
                    "linear_exact" => VoiLutFunction::LinearExact,
                    "sigmoid" => VoiLutFunction::Sigmoid,
                    f => return Err(format!("unknown VOI LUT function {f}")),
                })
            }
            "--mpr" => {
                let v = value()?;
                if !["axial", "coronal", "sagittal", "oblique"].contains(&v.as_str()) {
                    return Err(format!("unknown --mpr view {v}"));
                }
                o.mpr = Some(v);
            }
            "--slice" => o.slice = Some(numbers(&value()?, 1, "--slice")?[0]),
            "--normal" => {
                let v = numbers(&value()?, 3, "--normal")?;
                o.normal = Some(Vec3::new(v[0], v[1], v[2]));
            }
            "--slab-mm" => o.slab_mm = Some(numbers(&value()?, 1, "--slab-mm")?[0]),
            "--slab-mode" => {
                o.slab_mode = Some(match value()?.as_str() {
                    "mip" => SlabMode::Mip,
                    "minip" => SlabMode::MinIp,
                    "avg" | "average" => SlabMode::Average,
                    m => return Err(format!("unknown slab mode {m}")),
                })
            }
            "--interp" => {
                o.interpolation = match value()?.as_str() {
                    "nearest" => Interpolation::Nearest,
                    "linear" | "trilinear" | "bilinear" => Interpolation::Linear,
                    i => return Err(format!("unknown interpolation {i}")),
                }
            }
            "--size" => {
                let v = value()?;
                let (w, h) = v
                    .split_once(['x', 'X'])
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    .filter(|(w, h): &(u32, u32)| *w > 0 && *h > 0)
                    .ok_or_else(|| format!("--size needs WxH, got {v:?}"))?;
                o.size = Some((w, h));
            }
            "--rotate" => o.rotate = numbers(&value()?, 1, "--rotate")?[0],
            "--flip" => {
                let v = value()?;
                o.flip = (v.contains('h'), v.contains('v'));
            }
            "--center" => {
                let v = numbers(&value()?, 3, "--center")?;
                o.center = Some(Vec3::new(v[0], v[1], v[2]));
            }
            "--axes" => {
                let v = numbers(&value()?, 6, "--axes")?;
                o.axes = Some((Vec3::new(v[0], v[1], v[2]), Vec3::new(v[3], v[4], v[5])));
            }
            "--mm-per-pixel" => {
                let v = numbers(&value()?, 1, "--mm-per-pixel")?[0];
                if v <= 0.0 {
                    return Err(format!("--mm-per-pixel must be positive, got {v}"));
                }
                o.mm_per_pixel = Some(v);
            }
            "--zoom" => o.zoom = Some(numbers(&value()?, 1, "--zoom")?[0]),
            "--pan" => {
                let v = numbers(&value()?, 2, "--pan")?;
                o.pan = [v[0], v[1]];
            }
            "--invert" => o.invert = true,
            "--bench" => o.bench = true,
            "--backend" => {
                o.backend = match value()?.as_str() {
                    "vulkan" => BackendChoice::Vulkan,
                    "gl" => BackendChoice::Gl,
                    "auto" => BackendChoice::Auto,
                    b => return Err(format!("unknown backend {b}")),
                }
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s if o.input.is_none() => o.input = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    if o.input.is_none() {
        return Err("render needs an INPUT file or folder".into());
    }
    if o.out.is_none() && !o.bench {
        return Err("render needs --out OUT.png".into());
    }
    if o.mpr.as_deref() == Some("oblique") && o.normal.is_none() && o.axes.is_none() {
        return Err("--mpr oblique needs --normal x,y,z or --axes rx,ry,rz,dx,dy,dz".into());
    }
    Ok(o)
}

/// One decoded instance: its display attributes, slice geometry per frame, frames.
struct Instance {
    file: DicomFile,
    /// One per frame; the reason when the geometry cannot be read.
    slices: Result<Vec<SliceGeometry>, String>,
}

fn read_input(input: &Path) -> Result<Vec<Instance>, String> {
    let paths: Vec<PathBuf> = if input.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| format!("{}: {e}", input.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    } else {
        vec![input.to_path_buf()]
    };
    let mut out = Vec::new();
    let mut last_error = None;
    for path in &paths {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        match DicomFile::from_bytes(&bytes) {
            Ok(file) => out.push(Instance {
                file,
                slices: SliceGeometry::from_part10(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display())),
            }),
            Err(e) => last_error = Some(format!("{}: {e}", path.display())),
        }
    }
    if out.is_empty() {
        return Err(last_error.unwrap_or_else(|| format!("{}: no DICOM files", input.display())));
    }
    Ok(out)
}

fn voi(o: &Options, attrs: &DisplayAttributes) -> VoiSelection {
    match (o.window, o.function) {
        (Some((c, w)), f) => VoiSelection::Window(VoiWindow::new(c, w, f.unwrap_or_default())),
        (None, Some(f)) => match attrs.windows.first() {
            Some(w) => VoiSelection::Window(VoiWindow::new(w.center, w.width, f)),
            None => VoiSelection::Default,
        },
        (None, None) => VoiSelection::Default,
    }
}

/// A volume from every frame of every instance.
struct Series {
    geometry: VolumeGeometry,
    voxels: VoxelData,
    /// The frame and attributes of the middle slice, for the default window.
    middle: (DecodedFrame, DisplayAttributes),
}

fn build_series(instances: &[Instance]) -> Result<Series, String> {
    let limits = DecodeLimits::default();
    let mut slices = Vec::new();
    let mut frames = Vec::new();
    let mut attrs = Vec::new();
    for inst in instances {
        let geometry = inst
            .slices
            .as_ref()
            .map_err(|e| format!("not a volume: {e}"))?;
        for (index, slice) in geometry.iter().enumerate() {
            let frame = inst
                .file
                .decode_frame(index as u32, &limits)
                .map_err(|e| format!("{}: {e}", slice.label()))?;
            slices.push(slice.clone());
            frames.push(frame);
            attrs.push(inst.file.display.for_frame(index as u32).into_owned());
        }
    }
    let geometry = VolumeGeometry::build(&slices).map_err(|e| format!("not a volume: {e}"))?;
    let refs: Vec<&DecodedFrame> = frames.iter().collect();
    let voxels = VoxelData::from_decoded_frames(&geometry, &refs).map_err(|e| e.to_string())?;
    let mid = geometry.order()[geometry.order().len() / 2];
    let middle = (frames.swap_remove(mid), attrs.swap_remove(mid));
    Ok(Series {
        geometry,
        voxels,
        middle,
    })
}

/// The plane of `--mpr` through `--center` (patient mm), else through voxel
/// `--slice` along the axis closest to its normal (default the middle).
fn plane(o: &Options, volume: &VolumeGeometry) -> Result<MprPlane, String> {
    let view = o.mpr.as_deref().unwrap_or("axial");
    if let (Some(centre), Some((right, down)), "oblique") = (o.center, o.axes, view) {
        return MprPlane::from_axes(centre, right, down)
            .ok_or_else(|| "--axes are zero or parallel".into());
    }
    let normal = match view {
        "axial" => MprPlane::standard(StandardView::Axial, Vec3::ZERO).normal(),
        "coronal" => MprPlane::standard(StandardView::Coronal, Vec3::ZERO).normal(),
        "sagittal" => MprPlane::standard(StandardView::Sagittal, Vec3::ZERO).normal(),
        _ => o
            .normal
            .and_then(|n| n.normalized())
            .ok_or("--normal is zero")?,
    };
    let [nx, ny, nz] = volume.dimensions();
    let mut c = [
        (nx as f64 - 1.0) / 2.0,
        (ny as f64 - 1.0) / 2.0,
        (nz as f64 - 1.0) / 2.0,
    ];
    if let Some(k) = o.slice {
        let axes = [
            volume.row_direction(),
            volume.column_direction(),
            volume.normal(),
        ];
        let axis = (0..3)
            .max_by(|a, b| {
                axes[*a]
                    .dot(normal)
                    .abs()
                    .total_cmp(&axes[*b].dot(normal).abs())
            })
            .unwrap_or(2);
        c[axis] = k;
    }
    let centre = o
        .center
        .unwrap_or_else(|| volume.voxel_to_patient(Vec3::new(c[0], c[1], c[2])));
    Ok(match view {
        "axial" => MprPlane::standard(StandardView::Axial, centre),
        "coronal" => MprPlane::standard(StandardView::Coronal, centre),
        "sagittal" => MprPlane::standard(StandardView::Sagittal, centre),
        _ => MprPlane::from_normal(centre, normal).ok_or("--normal is zero")?,
    })
}

pub fn run(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    match render(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lumen render: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(o: &Options) -> Result<(), String> {
    let input = o.input.as_deref().unwrap_or(Path::new("."));
    let instances = read_input(input)?;
    let gpu = pollster::block_on(Gpu::new(o.backend)).map_err(|e| e.to_string())?;
    let info = gpu.info().clone();
    eprintln!(
        "lumen render: {} on {} ({})",
        info.backend, info.adapter, info.driver
    );

    if o.mpr.is_some() || (o.bench && input.is_dir()) {
        let series = build_series(&instances)?;
        let (frame, attrs) = &series.middle;
        let options = RenderOptions {
            voi: voi(o, attrs),
            invert: o.invert,
            ..RenderOptions::default()
        };
        let grey = pixel::grey_pipeline(frame, attrs, &options).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let volume =
            GpuVolume::upload(&gpu, &series.geometry, &series.voxels).map_err(|e| e.to_string())?;
        let upload_ms = t.elapsed().as_secs_f64() * 1e3;
        drop(series.voxels);
        let (w, h) = o.size.unwrap_or((512, 512));
        let slab = o
            .slab_mm
            .filter(|t| *t > 0.0)
            .map(|t| Slab::new(t, o.slab_mode.unwrap_or(SlabMode::Mip), &series.geometry));
        let settings = MprSettings {
            grid: PlaneGrid::framed(
                plane(o, &series.geometry)?,
                &series.geometry,
                w,
                h,
                o.mm_per_pixel,
                o.pan,
            ),
            interpolation: o.interpolation,
            slab,
            grey,
        };
        if o.bench {
            return bench_mpr(&gpu, &volume, &series.geometry, &settings, upload_ms);
        }
        let target = Target::new(&gpu, w, h).map_err(|e| e.to_string())?;
        volume
            .render(&gpu, &settings, &target)
            .map_err(|e| e.to_string())?;
        let rgba = pollster::block_on(target.read(&gpu)).map_err(|e| e.to_string())?;
        return write_png(o, w, h, &rgba, true);
    }

    // A 2-D frame: the file's frame N, or in a folder the slice --slice (volume
    // order when the folder is a volume, file order otherwise; default the middle).
    let (inst, index) = if instances.len() == 1 {
        (&instances[0], o.frame - 1)
    } else {
        let order: Vec<usize> = {
            let first_frames: Vec<SliceGeometry> = instances
                .iter()
                .filter_map(|i| i.slices.as_ref().ok()?.first().cloned())
                .collect();
            match VolumeGeometry::build(&first_frames) {
                Ok(g) if first_frames.len() == instances.len() => g.order().to_vec(),
                _ => (0..instances.len()).collect(),
            }
        };
        let k = o
            .slice
            .map(|k| k.round().clamp(0.0, (order.len() - 1) as f64) as usize)
            .unwrap_or(order.len() / 2);
        (&instances[order[k]], o.frame - 1)
    };
    let file = &inst.file;
    if index >= file.number_of_frames() {
        return Err(format!(
            "--frame {} but the instance has {} frame(s)",
            o.frame,
            file.number_of_frames()
        ));
    }
    let frame = file
        .decode_frame(index, &DecodeLimits::default())
        .map_err(|e| e.to_string())?;
    let attrs = file.display.for_frame(index);
    let options = RenderOptions {
        voi: voi(o, &attrs),
        invert: o.invert,
        ..RenderOptions::default()
    };
    let mut settings =
        ImageSettings::for_frame(&frame, &attrs, &options).map_err(|e| e.to_string())?;
    settings.interpolation = o.interpolation;
    settings.view = View {
        zoom: o.zoom.map(Zoom::Factor).unwrap_or(Zoom::Fit),
        pan: o.pan,
        rotation_degrees: o.rotate,
        flip_horizontal: o.flip.0,
        flip_vertical: o.flip.1,
        pixel_aspect: attrs.pixel_aspect(),
    };
    let (w, h) = o.size.unwrap_or_else(|| {
        let (c, r) = (
            frame.info.columns as f64,
            frame.info.rows as f64 * settings.view.pixel_aspect,
        );
        let turned = (o.rotate.rem_euclid(180.0) - 90.0).abs() < 45.0;
        let (c, r) = if turned { (r, c) } else { (c, r) };
        (c.round().max(1.0) as u32, r.round().max(1.0) as u32)
    });
    let image = GpuImage::upload(&gpu, &frame, &attrs).map_err(|e| e.to_string())?;
    let grey = settings.grey.is_some();
    if o.bench {
        return bench_image(&gpu, &image, &settings, w, h);
    }
    let target = Target::new(&gpu, w, h).map_err(|e| e.to_string())?;
    image
        .render(&gpu, &settings, &target)
        .map_err(|e| e.to_string())?;
    let rgba = pollster::block_on(target.read(&gpu)).map_err(|e| e.to_string())?;
    write_png(o, w, h, &rgba, grey)
}

fn write_png(o: &Options, w: u32, h: u32, rgba: &[u8], grey: bool) -> Result<(), String> {
    let out = o.out.as_deref().ok_or("no --out")?;
    let (channels, pixels): (u8, Vec<u8>) = if grey {
        (1, rgba.chunks_exact(4).map(|p| p[0]).collect())
    } else {
        (
            3,
            rgba.chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        )
    };
    std::fs::write(out, png(w, h, channels, &pixels))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "{}",
        serde_json::json!({"out": out.display().to_string(), "width": w, "height": h,
            "channels": channels})
    );
    Ok(())
}

/// An 8-bit greyscale (1 channel) or RGB (3 channels) PNG.
fn png(width: u32, height: u32, channels: u8, pixels: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut raw = Vec::with_capacity(pixels.len() + height as usize);
    for row in pixels.chunks_exact(width as usize * channels as usize) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, if channels == 1 { 0 } else { 2 }, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Median milliseconds of `f` over at least 20 runs and 1 s, after 3 warm-ups.
fn median_ms(mut f: impl FnMut(usize) -> Result<(), String>) -> Result<(f64, usize), String> {
    for i in 0..3 {
        f(i)?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 20 || start.elapsed().as_secs_f64() < 1.0 {
        let t = Instant::now();
        f(times.len())?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times.len()))
}

fn report(gpu: &Gpu, case: &str, ms: f64, runs: usize) {
    let i = gpu.info();
    println!(
        "{}",
        serde_json::json!({"bench": "render", "case": case, "backend": i.backend,
            "adapter": i.adapter, "ms": (ms * 1000.0).round() / 1000.0, "runs": runs})
    );
}

fn read_back(gpu: &Gpu, target: &Target) -> Result<(), String> {
    pollster::block_on(target.read(gpu))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// W/L drag: the window moves every frame; only uniforms change.
fn bench_image(
    gpu: &Gpu,
    image: &GpuImage,
    settings: &ImageSettings,
    w: u32,
    h: u32,
) -> Result<(), String> {
    let target = Target::new(gpu, w, h).map_err(|e| e.to_string())?;
    let mut s = settings.clone();
    let base = s
        .grey
        .clone()
        .ok_or("--bench on a 2-D frame needs a greyscale frame")?;
    let (ms, runs) = median_ms(|i| {
        let mut grey = base.clone();
        if let pixel::VoiTransform::Window(wdw) = &mut grey.voi {
            wdw.center += (i % 50) as f64 * 4.0;
            wdw.width = (wdw.width + (i % 7) as f64 * 10.0).max(1.0);
        }
        s.grey = Some(grey);
        image.render(gpu, &s, &target).map_err(|e| e.to_string())?;
        read_back(gpu, &target)
    })?;
    report(
        gpu,
        &format!(
            "W/L re-render {}x{} frame to {w}x{h}, readback included",
            image.columns(),
            image.rows()
        ),
        ms,
        runs,
    );
    Ok(())
}

/// A 3-view MPR (axial, coronal, sagittal, trilinear) and a 20 mm MIP slab.
fn bench_mpr(
    gpu: &Gpu,
    volume: &GpuVolume,
    geometry: &VolumeGeometry,
    settings: &MprSettings,
    upload_ms: f64,
) -> Result<(), String> {
    let (w, h) = (settings.grid.width, settings.grid.height);
    let [nx, ny, nz] = geometry.dimensions();
    report(
        gpu,
        &format!(
            "volume upload {nx}x{ny}x{nz}, {} brick(s)",
            volume.brick_count()
        ),
        upload_ms,
        1,
    );
    let centre = geometry.center();
    let views: Vec<MprSettings> = [
        StandardView::Axial,
        StandardView::Coronal,
        StandardView::Sagittal,
    ]
    .into_iter()
    .map(|v| MprSettings {
        grid: PlaneGrid::framed(
            MprPlane::standard(v, centre),
            geometry,
            w,
            h,
            None,
            [0.0, 0.0],
        ),
        interpolation: Interpolation::Linear,
        slab: None,
        grey: settings.grey.clone(),
    })
    .collect();
    let targets: Vec<Target> = (0..3)
        .map(|_| Target::new(gpu, w, h))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let (ms, runs) = median_ms(|i| {
        for (v, t) in views.iter().zip(&targets) {
            // Scroll: each frame moves the planes by a fraction of a voxel.
            let mut s = v.clone();
            s.grid.plane = s.grid.plane.shifted((i % 10) as f64 * 0.3);
            volume.render(gpu, &s, t).map_err(|e| e.to_string())?;
        }
        for t in &targets {
            read_back(gpu, t)?;
        }
        Ok(())
    })?;
    report(
        gpu,
        &format!("3-view MPR (axial+coronal+sagittal) trilinear, {w}x{h} each, readback included"),
        ms,
        runs,
    );
    let mip = MprSettings {
        slab: Some(Slab::new(20.0, SlabMode::Mip, geometry)),
        ..views[0].clone()
    };
    let steps = mip.slab.map(|s| s.offsets_mm().len()).unwrap_or(1);
    let (ms, runs) = median_ms(|i| {
        let mut s = mip.clone();
        s.grid.plane = s.grid.plane.shifted((i % 10) as f64 * 0.3);
        volume
            .render(gpu, &s, &targets[0])
            .map_err(|e| e.to_string())?;
        read_back(gpu, &targets[0])
    })?;
    report(gpu, &format!("axial 20 mm MIP slab ({steps} trilinear samples per pixel), {w}x{h}, readback included"), ms, runs);
    Ok(())
}
