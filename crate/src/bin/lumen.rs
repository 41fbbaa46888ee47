//! `lumen`: the native command line over the same core the browser uses.
//!
//! ```text
//! lumen decode FILE.dcm [--out DIR]   one JSON record per frame; --out writes frame-000001.raw …
//! lumen version
//! ```

use lumen::frame_json::{error_record, frame_record};
use lumen::{DecodeLimits, DicomFile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage:\n  lumen decode FILE.dcm [--out DIR]\n  lumen version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("decode") => decode(&args[1..]),
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

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{msg}\n{USAGE}");
    ExitCode::from(2)
}
