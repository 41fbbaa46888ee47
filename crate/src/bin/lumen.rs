//! `lumen`: the native command line over the same core the browser uses.
//!
//! ```text
//! lumen decode FILE.dcm [--out DIR]   one JSON record per frame; --out writes frame-000001.raw …
//! lumen bench FILE.dcm…              median decode time of frame 1 per file, JSON lines
//! lumen probe BASE_URL [--token T] [--header K:V] [--origin O] [--json]
//! lumen get BASE_URL --study UID [--series UID] [--out DIR] [--token T] [--header K:V]
//! lumen store BASE_URL FILE.dcm… [--token T] [--header K:V]
//! lumen render INPUT --out OUT.png [...]  through the GPU path; see render_cmd.rs
//! lumen version
//! ```

mod render_cmd;
mod web;

use lumen::frame_json::{error_record, frame_record};
use lumen::{DecodeLimits, DicomFile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage:
  lumen decode FILE.dcm [--out DIR]
  lumen bench FILE.dcm...
  lumen probe BASE_URL [--token T] [--header K:V] [--origin O] [--json]
  lumen get BASE_URL --study UID [--series UID] [--out DIR] [--token T] [--header K:V]
  lumen store BASE_URL FILE.dcm... [--token T] [--header K:V]
  lumen render INPUT --out OUT.png [--frame N] [--window C,W] [--voi-function linear|linear_exact|sigmoid]
        [--mpr axial|coronal|sagittal|oblique --slice K | --center X,Y,Z --normal x,y,z
         | --axes rx,ry,rz,dx,dy,dz (with --center) --mm-per-pixel M --slab-mm T --slab-mode mip|minip|avg]
        [--interp nearest|linear] [--size WxH] [--rotate DEG] [--flip h|v|hv] [--zoom Z] [--pan X,Y]
        [--invert] [--backend vulkan|gl] [--bench]
  lumen version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("decode") => decode(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("probe") => web::probe(&args[1..]),
        Some("get") => web::get(&args[1..]),
        Some("store") => web::store(&args[1..]),
        Some("render") => render_cmd::run(&args[1..]),
        Some("version") | Some("--version") => {
            println!("lumen {}", lumen::VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn decode(args: &[String]) -> ExitCode {
    let mut file: Option<&str> = None;
    let mut out: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => match it.next() {
                Some(d) => out = Some(PathBuf::from(d)),
                None => return usage_error("--out needs a directory"),
            },
            s if s.starts_with("--") => return usage_error(&format!("unknown option {s}")),
            s if file.is_none() => file = Some(s),
            s => return usage_error(&format!("unexpected argument {s}")),
        }
    }
    let Some(file) = file else {
        return usage_error("decode needs a FILE");
    };
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    let fail = |stdout: &mut std::io::StdoutLock, frame: Option<u32>, e: &dyn std::fmt::Display| {
        let _ = writeln!(stdout, "{}", error_record(file, frame, e));
        ExitCode::FAILURE
    };
    if let Some(dir) = &out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(
                &mut stdout,
                None,
                &format!("cannot create {}: {e}", dir.display()),
            );
        }
    }
    let dicom = match DicomFile::open(Path::new(file)) {
        Ok(d) => d,
        Err(e) => return fail(&mut stdout, None, &e),
    };
    let limits = DecodeLimits::default();
    for index in 0..dicom.number_of_frames() {
        let frame = index + 1;
        let decoded = match dicom.decode_frame(index, &limits) {
            Ok(d) => d,
            Err(e) => return fail(&mut stdout, Some(frame), &e),
        };
        if let Some(dir) = &out {
            let path = dir.join(format!("frame-{frame:06}.raw"));
            if let Err(e) = std::fs::write(&path, &decoded.data) {
                return fail(
                    &mut stdout,
                    Some(frame),
                    &format!("cannot write {}: {e}", path.display()),
                );
            }
        }
        let _ = writeln!(stdout, "{}", frame_record(frame, &decoded));
    }
    ExitCode::SUCCESS
}

pub(crate) fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{msg}\n{USAGE}");
    ExitCode::from(2)
}

/// Median wall time of decoding frame 1 (Part 10 parse included, as in the wasm
/// harness): 2 warm-up runs, then at least 5 runs and 0.3 s.
fn bench(files: &[String]) -> ExitCode {
    if files.is_empty() {
        return usage_error("bench needs at least one FILE");
    }
    let limits = DecodeLimits::default();
    let mut status = ExitCode::SUCCESS;
    for file in files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                println!("{}", error_record(file, None, &e));
                status = ExitCode::FAILURE;
                continue;
            }
        };
        let run = || -> Result<lumen::DecodedFrame, lumen::DecodeError> {
            DicomFile::from_bytes(&bytes)?.decode_frame(0, &limits)
        };
        let first = match run() {
            Ok(f) => f,
            Err(e) => {
                println!("{}", error_record(file, Some(1), &e));
                status = ExitCode::FAILURE;
                continue;
            }
        };
        let _ = run();
        let mut times = Vec::new();
        let start = std::time::Instant::now();
        while times.len() < 5 || start.elapsed().as_secs_f64() < 0.3 {
            let t = std::time::Instant::now();
            let _ = std::hint::black_box(run());
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let pixels = first.info.rows as f64 * first.info.columns as f64;
        println!(
            "{}",
            serde_json::json!({
                "bench": "decode",
                "case": Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                "env": "native",
                "ms": (median * 1000.0).round() / 1000.0,
                "mpix_per_s": ((pixels / median / 1e3) * 10.0).round() / 10.0,
                "runs": times.len(),
                "sha256": lumen::frame_json::sha256_hex(&first.data),
            })
        );
    }
    status
}
