//! The DICOMweb subcommands: probe, get, store.

use crate::usage_error;
use lumen::dicomweb::native::NativeTransport;
use lumen::dicomweb::probe::{probe as run_probe, Clock, Outcome};
use lumen::dicomweb::{DicomWebClient, ServerConfig};
use lumen::frame_json::{error_record, frame_record};
use lumen::loader;
use lumen::DecodeLimits;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    base: String,
    flags: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

const VALUED: [&str; 6] = [
    "--token", "--header", "--origin", "--study", "--series", "--out",
];

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut out = Args {
        base: String::new(),
        flags: Vec::new(),
        switches: Vec::new(),
        positional: Vec::new(),
    };
    while let Some(a) = it.next() {
        if VALUED.contains(&a.as_str()) {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            out.flags.push((a.clone(), v.clone()));
        } else if a == "--json" {
            out.switches.push(a.clone());
        } else if a.starts_with("--") {
            return Err(format!("unknown option {a}"));
        } else {
            out.positional.push(a.clone());
        }
    }
    if out.positional.is_empty() {
        return Err("needs a BASE_URL".into());
    }
    out.base = out.positional.remove(0);
    Ok(out)
}

impl Args {
    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn client(&self) -> Result<DicomWebClient<NativeTransport>, String> {
        let mut headers = Vec::new();
        for (k, v) in &self.flags {
            if k == "--header" {
                let (name, value) = v
                    .split_once(':')
                    .ok_or_else(|| format!("--header {v:?} is not NAME:VALUE"))?;
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let config = ServerConfig {
            base_url: self.base.clone(),
            bearer_token: self.flag("--token").map(str::to_string),
            headers,
            wado_uri_url: None,
            max_part_bytes: None,
        };
        DicomWebClient::new(config, NativeTransport::new(Duration::from_secs(120)))
            .map_err(|e| e.to_string())
    }
}

struct Wall(std::time::Instant);
impl Clock for Wall {
    fn now_ms(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1e3
    }
}

pub fn probe(args: &[String]) -> ExitCode {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    let client = match a.client() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let report = pollster::block_on(run_probe(
        &client,
        &Wall(std::time::Instant::now()),
        a.flag("--origin"),
    ));
    if a.switches.iter().any(|s| s == "--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.table());
    }
    if report
        .checks
        .iter()
        .any(|c| c.outcome == Outcome::Fail && c.area == "QIDO-RS")
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub fn get(args: &[String]) -> ExitCode {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    let Some(study) = a.flag("--study").map(str::to_string) else {
        return usage_error("get needs --study UID");
    };
    let client = match a.client() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let out: Option<PathBuf> = a.flag("--out").map(PathBuf::from);
    let limits = DecodeLimits::default();
    let mut failed = false;
    pollster::block_on(async {
        let plans = match loader::plan(&client, &study, a.flag("--series")).await {
            Ok(p) => p,
            Err(e) => {
                println!("{}", error_record(&study, None, &e));
                failed = true;
                return;
            }
        };
        for plan in plans {
            let plan = match plan {
                Ok(p) => p,
                Err(e) => {
                    println!("{}", error_record(&study, None, &e));
                    failed = true;
                    continue;
                }
            };
            let sop = plan.sop_instance_uid.clone();
            let result =
                loader::retrieve_instance(
                    &client,
                    &plan,
                    &limits,
                    |frame, decoded| match decoded {
                        Ok(d) => {
                            if let Some(dir) = &out {
                                let dir = dir.join(&sop);
                                let path = dir.join(format!("frame-{frame:06}.raw"));
                                if let Err(e) = std::fs::create_dir_all(&dir)
                                    .and_then(|_| std::fs::write(&path, &d.data))
                                {
                                    println!(
                                        "{}",
                                        error_record(
                                            &sop,
                                            Some(frame),
                                            &format!("cannot write {}: {e}", path.display())
                                        )
                                    );
                                    failed = true;
                                    return;
                                }
                            }
                            let mut record = frame_record(frame, &d);
                            record["sop_instance_uid"] = sop.clone().into();
                            println!("{record}");
                        }
                        Err(e) => {
                            let mut record = error_record(&sop, Some(frame), &e);
                            record["sop_instance_uid"] = sop.clone().into();
                            println!("{record}");
                            failed = true;
                        }
                    },
                )
                .await;
            if let Err(e) = result {
                let mut record = error_record(&sop, None, &e);
                record["sop_instance_uid"] = sop.clone().into();
                println!("{record}");
                failed = true;
            }
        }
    });
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub fn store(args: &[String]) -> ExitCode {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    if a.positional.is_empty() {
        return usage_error("store needs FILE.dcm …");
    }
    let client = match a.client() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let mut ok = true;
    // Batches of about 32 MiB keep each request and the server's memory bounded.
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut size = 0usize;
    let flush = |batch: &mut Vec<Vec<u8>>| -> bool {
        if batch.is_empty() {
            return true;
        }
        let ok = match pollster::block_on(client.store(None, batch)) {
            Ok(outcome) => {
                println!(
                    "{}",
                    serde_json::json!({"status": outcome.status, "stored": outcome.stored.len(), "failed": outcome.failed, "warning": outcome.warning, "unaccounted": outcome.unaccounted})
                );
                outcome.is_complete()
            }
            Err(e) => {
                println!("{}", serde_json::json!({"error": e.to_string()}));
                false
            }
        };
        batch.clear();
        ok
    };
    for f in &a.positional {
        match std::fs::read(f) {
            Ok(bytes) => {
                size += bytes.len();
                batch.push(bytes);
            }
            Err(e) => {
                println!("{}", error_record(f, None, &e));
                ok = false;
            }
        }
        if size > 32 << 20 {
            ok &= flush(&mut batch);
            size = 0;
        }
    }
    ok &= flush(&mut batch);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
