//! The DICOMweb client against a real Orthanc (Debian orthanc + orthanc-dicomweb, started
//! by scripts/orthanc.sh on 127.0.0.1, loaded with the corpus through our STOW-RS), and
//! against small fake servers on loopback for what Orthanc never does (stalls, lies,
//! 401s, other origins).

mod common;

use common::{corpus_dir, manifest};
use lumen::dicomweb::json::tags;
use lumen::dicomweb::native::NativeTransport;
use lumen::dicomweb::probe::{probe, Clock, Outcome};
use lumen::dicomweb::{DicomWebClient, DicomWebError, QidoQuery, ServerConfig};
use lumen::frame_json::sha256_hex;
use lumen::{loader, DecodeLimits, DicomFile};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the corpus put on the server: SOP Instance UID → (study, series, file).
struct Loaded {
    base: String,
    instances: BTreeMap<String, (String, String, PathBuf)>,
}

fn sop_uids(path: &PathBuf) -> Option<(String, String, String)> {
    let obj = dicom_object::open_file(path).ok()?;
    let s = |t| {
        obj.element(t)
            .ok()?
            .to_str()
            .ok()
            .map(|v| v.trim_end_matches(['\0', ' ']).to_string())
    };
    Some((
        s(dicom_dictionary_std::tags::STUDY_INSTANCE_UID)?,
        s(dicom_dictionary_std::tags::SERIES_INSTANCE_UID)?,
        s(dicom_dictionary_std::tags::SOP_INSTANCE_UID)?,
    ))
}

/// Starts Orthanc (idempotent) and stores every decodable corpus file once.
fn server() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let base = match std::env::var("LUMEN_DICOMWEB_URL") {
            Ok(u) => u,
            Err(_) => {
                let script =
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/orthanc.sh");
                let out = std::process::Command::new("bash")
                    .arg(&script)
                    .arg("start")
                    .output()
                    .expect("run scripts/orthanc.sh");
                assert!(
                    out.status.success(),
                    "Orthanc did not start: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
        };
        let client = client_for(&base, None);
        let mut instances = BTreeMap::new();
        let mut pending: Vec<(String, String, String, PathBuf)> = Vec::new();
        for e in manifest().files {
            if e.reference.is_none() {
                continue;
            }
            let path = corpus_dir().join(&e.path);
            let Some((study, series, sop)) = sop_uids(&path) else {
                continue;
            };
            // pydicom's test files reuse UIDs; the server keeps the first copy, so do we.
            if instances.contains_key(&sop) || pending.iter().any(|p| p.2 == sop) {
                continue;
            }
            pending.push((study, series, sop, path));
        }
        // Batches of about 24 MiB; a batch the server does not fully take is retried
        // file by file, so that a file the server refuses is named, not guessed.
        let mut refused = Vec::new();
        let mut batch: Vec<(String, String, String, PathBuf)> = Vec::new();
        let mut size = 0u64;
        let mut flush =
            |batch: &mut Vec<(String, String, String, PathBuf)>,
             instances: &mut BTreeMap<String, (String, String, PathBuf)>| {
                let bytes: Vec<Vec<u8>> =
                    batch.iter().map(|b| std::fs::read(&b.3).unwrap()).collect();
                let outcome = pollster::block_on(client.store(None, &bytes)).expect("STOW-RS");
                let stored: BTreeSet<String> = if outcome.is_complete() {
                    batch.iter().map(|b| b.2.clone()).collect()
                } else {
                    let mut ok = BTreeSet::new();
                    for (b, one) in batch.iter().zip(&bytes) {
                        match pollster::block_on(client.store(None, std::slice::from_ref(one))) {
                            Ok(o) if o.is_complete() => {
                                ok.insert(b.2.clone());
                            }
                            Ok(o) => refused.push(format!(
                                "{} (HTTP {}, failed {:?})",
                                b.3.display(),
                                o.status,
                                o.failed
                            )),
                            Err(e) => refused.push(format!("{}: {e}", b.3.display())),
                        }
                    }
                    ok
                };
                for (study, series, sop, path) in batch.drain(..) {
                    if stored.contains(&sop) {
                        instances.insert(sop, (study, series, path));
                    }
                }
            };
        for item in pending {
            size += std::fs::metadata(&item.3).map(|m| m.len()).unwrap_or(0);
            batch.push(item);
            if size > 24 << 20 {
                flush(&mut batch, &mut instances);
                size = 0;
            }
        }
        flush(&mut batch, &mut instances);
        eprintln!(
            "stored {} instances; the server refused {}: {}",
            instances.len(),
            refused.len(),
            refused.join("; ")
        );
        // Orthanc refuses a data set whose encoding contradicts its meta group
        // (pydicom's SC_rgb_jpeg.dcm); anything more is a regression.
        assert!(
            refused.len() <= 2,
            "the server refused {} files:\n{}",
            refused.len(),
            refused.join("\n")
        );
        Loaded { base, instances }
    })
}

fn client_for(base: &str, token: Option<&str>) -> DicomWebClient<NativeTransport> {
    let config = ServerConfig {
        base_url: base.to_string(),
        bearer_token: token.map(str::to_string),
        headers: vec![("X-Lumen-Test".into(), "1".into())],
        wado_uri_url: Some(base.replace("/dicom-web", "/wado")),
        max_part_bytes: None,
    };
    DicomWebClient::new(config, NativeTransport::new(Duration::from_secs(60))).unwrap()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// The invesalius head CT series: 108 slices of one study with known attributes.
fn ct_study() -> (String, String) {
    let s = server();
    let (study, series, _) = s
        .instances
        .values()
        .find(|(_, _, p)| p.to_string_lossy().contains("invesalius-ct"))
        .expect("CT in corpus")
        .clone();
    (study, series)
}

#[test]
fn qido_studies_match_types() {
    let s = server();
    let c = client_for(&s.base, None);
    let all = block(c.search_studies(&QidoQuery::new().include("all"))).unwrap();
    let studies: BTreeSet<&String> = s.instances.values().map(|(st, _, _)| st).collect();
    assert_eq!(all.len(), studies.len(), "every stored study is listed");
    let (ct, _) = ct_study();
    let rec = all
        .iter()
        .find(|r| r.study_instance_uid == ct)
        .unwrap()
        .clone();
    let has = |q: QidoQuery| {
        block(c.search_studies(&q))
            .unwrap()
            .iter()
            .any(|r| r.study_instance_uid == ct)
    };
    let pid = rec.patient_id.clone().expect("CT has a PatientID");
    assert!(
        has(QidoQuery::new().matching("PatientID", &pid)),
        "exact PatientID"
    );
    assert!(
        has(QidoQuery::new().matching("PatientID", &format!("{}*", &pid[..pid.len() / 2]))),
        "wildcard *"
    );
    let mut q = pid.clone();
    q.replace_range(q.len() - 1.., "?");
    assert!(
        has(QidoQuery::new().matching("PatientID", &q)),
        "wildcard ?"
    );
    let date = rec.study_date.clone().expect("CT has a StudyDate");
    assert!(
        has(QidoQuery::new().matching("StudyDate", &format!("{date}-{date}"))),
        "closed range"
    );
    assert!(
        has(QidoQuery::new().matching("StudyDate", &format!("-{date}"))),
        "open start"
    );
    assert!(
        has(QidoQuery::new().matching("StudyDate", &format!("{date}-"))),
        "open end"
    );
    assert!(
        !has(QidoQuery::new().matching("StudyDate", "19000101-19000102")),
        "range excludes"
    );
    let other = all.iter().find(|r| r.study_instance_uid != ct).unwrap();
    let list = block(c.search_studies(&QidoQuery::new().matching(
        "StudyInstanceUID",
        &format!("{ct},{}", other.study_instance_uid),
    )))
    .unwrap();
    assert_eq!(list.len(), 2, "UID list");
    assert!(
        has(QidoQuery::new().matching("StudyInstanceUID", &ct).fuzzy()),
        "fuzzymatching accepted"
    );
    // includefield by keyword and by tag; limit/offset paging covers everything once.
    let sets = block(
        c.search(
            "studies",
            &QidoQuery::new()
                .matching("StudyInstanceUID", &ct)
                .include("00081030")
                .include("ModalitiesInStudy"),
        ),
    )
    .unwrap();
    assert!(
        sets[0].contains(tags::STUDY_DESCRIPTION) && sets[0].contains(tags::MODALITIES_IN_STUDY),
        "includefield"
    );
    let mut paged = BTreeSet::new();
    let mut offset = 0;
    loop {
        let page = block(c.search_studies(&QidoQuery::new().limit(7).offset(offset))).unwrap();
        assert!(page.len() <= 7);
        if page.is_empty() {
            break;
        }
        offset += page.len() as u32;
        paged.extend(page.into_iter().map(|r| r.study_instance_uid));
    }
    assert_eq!(
        paged.len(),
        studies.len(),
        "limit/offset pages cover every study once"
    );
    // No match is an empty list, not an error.
    assert!(block(
        c.search_studies(&QidoQuery::new().matching("PatientID", "no-such-patient-xyz"))
    )
    .unwrap()
    .is_empty());
}

#[test]
fn qido_series_and_instances_relational() {
    let s = server();
    let c = client_for(&s.base, None);
    let (study, series) = ct_study();
    let se = block(c.search_series(Some(&study), &QidoQuery::new())).unwrap();
    assert!(se
        .iter()
        .any(|r| r.series_instance_uid == series && r.modality.as_deref() == Some("CT")));
    let inst = block(c.search_instances(Some(&study), Some(&series), &QidoQuery::new())).unwrap();
    assert_eq!(inst.len(), 108, "the head CT has 108 slices");
    let flat = block(
        c.search_instances(
            None,
            None,
            &QidoQuery::new()
                .matching("SeriesInstanceUID", &series)
                .limit(500),
        ),
    )
    .unwrap();
    assert_eq!(flat.len(), 108);
    let all_series =
        block(c.search_series(None, &QidoQuery::new().matching("Modality", "CT"))).unwrap();
    assert!(all_series.iter().any(|r| r.series_instance_uid == series));
}

#[test]
fn metadata_levels_and_missing_transfer_syntax() {
    let s = server();
    let c = client_for(&s.base, None);
    let (study, series) = ct_study();
    let st = block(c.metadata(&study, None, None)).unwrap();
    let se = block(c.metadata(&study, Some(&series), None)).unwrap();
    // The study also holds the corpus's per-syntax variants of some slices; the
    // server's storage outlives a run, so it may hold variants an earlier corpus had:
    // study metadata lists what QIDO lists, every instance this run stored included.
    let listed: BTreeSet<String> = block(c.search_instances(Some(&study), None, &QidoQuery::new()))
        .unwrap()
        .into_iter()
        .map(|r| r.sop_instance_uid)
        .collect();
    let in_metadata: BTreeSet<String> = st
        .iter()
        .map(|m| m.string(tags::SOP_INSTANCE_UID).unwrap().to_string())
        .collect();
    assert_eq!(
        st.len(),
        in_metadata.len(),
        "an instance twice in study metadata"
    );
    assert_eq!(in_metadata, listed);
    for (sop, (st, _, path)) in &s.instances {
        if *st == study {
            assert!(
                in_metadata.contains(sop),
                "{} missing from study metadata",
                path.display()
            );
        }
    }
    assert_eq!(se.len(), 108);
    let sop = se[0].string(tags::SOP_INSTANCE_UID).unwrap().to_string();
    let one = block(c.metadata(&study, Some(&series), Some(&sop))).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].int(tags::ROWS), Some(256));
    assert_eq!(one[0].floats(tags::PIXEL_SPACING).len(), 2);
    let d = loader::pixel_description(&one[0]).unwrap();
    assert_eq!(
        (d.rows, d.columns, d.bits_allocated, d.pixel_representation),
        (256, 256, 16, 1)
    );
    // FIELD-NOTES: Orthanc's metadata never says the transfer syntax.
    assert!(one[0].string(tags::TRANSFER_SYNTAX_UID).is_none());
}

/// `lumen get`'s path (metadata → frames → decode) gives the bytes `lumen decode` gives
/// from the original file, for every corpus instance on the server.
#[test]
fn retrieved_frames_equal_file_decodes() {
    let s = server();
    let c = client_for(&s.base, None);
    let limits = DecodeLimits::default();
    let studies: BTreeSet<String> = s.instances.values().map(|(st, _, _)| st.clone()).collect();
    let mut frames = 0;
    let mut bad = Vec::new();
    let mut fell_back = 0;
    for study in &studies {
        let plans = block(loader::plan(&c, study, None)).unwrap();
        for plan in plans {
            let plan = match plan {
                Ok(p) => p,
                Err(e) => {
                    bad.push(format!("{study}: {e}"));
                    continue;
                }
            };
            let Some((_, _, path)) = s.instances.get(&plan.sop_instance_uid) else {
                continue;
            };
            let file = DicomFile::open(path).unwrap();
            let r = block(loader::retrieve_instance(
                &c,
                &plan,
                &limits,
                |n, decoded| {
                    frames += 1;
                    let want = file
                        .decode_frame(n - 1, &limits)
                        .map(|f| sha256_hex(&f.data));
                    match (decoded, want) {
                        (Ok(d), Ok(w)) if sha256_hex(&d.data) == w => {}
                        (Ok(_), Ok(_)) => bad.push(format!(
                            "{} frame {n}: bytes differ from the file's",
                            path.display()
                        )),
                        (Err(e), _) => bad.push(format!("{} frame {n}: {e}", path.display())),
                        (Ok(_), Err(e)) => bad.push(format!(
                            "{} frame {n}: file does not decode: {e}",
                            path.display()
                        )),
                    }
                },
            ));
            if let Err(e) = r {
                bad.push(format!("{}: {e}", path.display()));
            }
            let _ = &mut fell_back;
        }
    }
    assert!(frames > 400, "only {frames} frames retrieved");
    assert!(
        bad.is_empty(),
        "{} problem(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn frames_fall_back_and_sniff_mislabelled_htj2k() {
    let s = server();
    let c = client_for(&s.base, None);
    let htj2k = s
        .instances
        .iter()
        .find(|(_, (_, _, p))| {
            manifest().files.iter().any(|e| {
                corpus_dir().join(&e.path) == *p && e.transfer_syntax == "1.2.840.10008.1.2.4.201"
            })
        })
        .expect("an HTJ2K file on the server");
    let (sop, (study, series, _)) = htj2k;
    let mut got = Vec::new();
    let r = block(c.retrieve_frames(study, series, sop, &[1], None, |f| got.push(f))).unwrap();
    // FIELD-NOTES: Orthanc refuses transfer-syntax=* for HTJ2K (500), and its default
    // reply is the raw HTJ2K codestream labelled as Explicit VR Little Endian.
    assert!(r.fell_back, "{r:?}");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].transfer_syntax.codec(),
        lumen::codec::Codec::Jpeg2000
    );
    assert!(got[0].mislabelled, "label {:?}", got[0].content_type);
}

#[test]
fn bulk_data_rendered_thumbnail_instance_and_wado_uri() {
    let s = server();
    let c = client_for(&s.base, None);
    // Palette LUT data arrive as BulkDataURI (FIELD-NOTES); fetch and compare with the file.
    let (sop, (study, series, path)) = s
        .instances
        .iter()
        .find(|(_, (_, _, p))| p.ends_with("pydicom/examples_palette.dcm"))
        .expect("palette file");
    let md = block(c.metadata(study, Some(series), Some(sop))).unwrap();
    let uri = md[0]
        .bulk_data_uri(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA)
        .expect("LUT as BulkDataURI")
        .to_string();
    let lut = block(c.bulk_data(&uri)).unwrap();
    let file = DicomFile::open(path).unwrap();
    let red = &file.palette.as_ref().unwrap().red;
    let words: Vec<u16> = lut
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(&words[..red.data.len()], &red.data[..]);
    // A relative BulkDataURI resolves against the base.
    let relative = uri.replacen(&format!("{}/", c.base_url()), "", 1);
    if relative != uri {
        assert_eq!(block(c.bulk_data(&relative)).unwrap(), lut);
    }
    let (ct, jpeg) = block(c.rendered(study, series, sop, None, "image/jpeg")).unwrap();
    assert!(
        ct.starts_with("image/jpeg") && jpeg.starts_with(&[0xFF, 0xD8]),
        "{ct}"
    );
    let (ct, thumb) = block(c.thumbnail(study, series, sop, "image/jpeg")).unwrap();
    assert!(
        ct.starts_with("image/jpeg") && !thumb.is_empty(),
        "thumbnail falls back to rendered: {ct}"
    );
    let original = std::fs::read(path).unwrap();
    let whole = block(c.instance(study, series, sop)).unwrap();
    assert_eq!(
        DicomFile::from_bytes(&whole)
            .unwrap()
            .decode_frame(0, &DecodeLimits::default())
            .unwrap()
            .data,
        file.decode_frame(0, &DecodeLimits::default()).unwrap().data
    );
    let legacy = block(c.wado_uri(study, series, sop)).unwrap();
    assert_eq!(legacy.len(), whole.len());
    assert!(original.len() > 0);
}

#[test]
fn stow_reports_partial_success() {
    let s = server();
    let c = client_for(&s.base, None);
    let (_, (_, _, path)) = s.instances.iter().next().unwrap();
    let good = std::fs::read(path).unwrap();
    let outcome = block(c.store(None, &[good, b"this is not DICOM".to_vec()])).unwrap();
    assert_eq!(outcome.stored.len(), 1, "{outcome:?}");
    assert!(!outcome.is_complete());
    // Orthanc refuses the bad part without listing it in 00081198 (FIELD-NOTES).
    assert_eq!(outcome.failed.len() + outcome.unaccounted, 1, "{outcome:?}");
}

struct Wall(Instant);
impl Clock for Wall {
    fn now_ms(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1e3
    }
}

#[test]
fn probe_reports_orthancs_quirks() {
    let s = server();
    let c = client_for(&s.base, None);
    let report = block(probe(
        &c,
        &Wall(Instant::now()),
        Some("http://127.0.0.1:9999"),
    ));
    let table = report.table();
    let check = |area: &str, name: &str| {
        report
            .find(area, name)
            .unwrap_or_else(|| panic!("no check {area}/{name}\n{table}"))
            .clone()
    };
    assert_eq!(
        check("QIDO-RS", "studies (includefield").outcome,
        Outcome::Pass,
        "{table}"
    );
    assert_eq!(
        check("WADO-RS", "thumbnail").outcome,
        Outcome::Warn,
        "thumbnail missing\n{table}"
    );
    assert_eq!(
        check("WADO-RS", "Transfer Syntax UID").outcome,
        Outcome::Warn,
        "metadata without transfer syntax\n{table}"
    );
    assert_eq!(
        check("CORS", "GET from").outcome,
        Outcome::Fail,
        "no CORS\n{table}"
    );
    let frames: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.area == "WADO-RS frames" && c.name.starts_with("frames"))
        .collect();
    assert!(!frames.is_empty(), "{table}");
    assert!(
        report.checks.iter().any(|c| c.area == "QIDO match types"
            && c.name.contains("StudyDate closed")
            && c.outcome == Outcome::Pass),
        "{table}"
    );
}

// ---- fake servers on loopback -------------------------------------------------------

/// Serves `replies` in order, one per connection, recording each request's head.
fn fake_server(replies: Vec<Vec<u8>>, stall: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((mut sock, _)) = listener.accept() else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let n = sock.read(&mut buf).unwrap_or(0);
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..n]).to_string());
            if stall {
                std::thread::sleep(Duration::from_secs(5));
                continue;
            }
            let _ = sock.write_all(&reply);
        }
    });
    (base, seen)
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

#[test]
fn credentials_go_only_to_the_configured_origin() {
    let (other, seen_other) = fake_server(
        vec![http(
            "200 OK",
            "Content-Type: application/octet-stream\r\n",
            b"lut",
        )],
        false,
    );
    let (base, seen_base) = fake_server(
        vec![http(
            "200 OK",
            "Content-Type: application/octet-stream\r\n",
            b"lut",
        )],
        false,
    );
    let c = client_for(&format!("{base}/dicom-web"), Some("secret-token"));
    assert_eq!(
        block(c.bulk_data(&format!("{other}/bulk/1"))).unwrap(),
        b"lut"
    );
    assert_eq!(block(c.bulk_data("bulk/2")).unwrap(), b"lut");
    let to_other = seen_other.lock().unwrap()[0].to_ascii_lowercase();
    let to_base = seen_base.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        !to_other.contains("authorization") && !to_other.contains("x-lumen-test"),
        "{to_other}"
    );
    assert!(
        to_base.contains("authorization: bearer secret-token")
            && to_base.contains("get /dicom-web/bulk/2"),
        "{to_base}"
    );
}

#[test]
fn unauthorised_is_an_authentication_error_without_the_token() {
    let (base, _) = fake_server(
        vec![http(
            "401 Unauthorized",
            "Content-Type: text/plain\r\n",
            b"token expired",
        )],
        false,
    );
    let c = client_for(&format!("{base}/dicom-web"), Some("secret-token"));
    let err = block(c.search_studies(&QidoQuery::new())).unwrap_err();
    assert!(err.is_authentication(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("token expired") && text.contains("GET"),
        "{text}"
    );
    assert!(!text.contains("secret-token"), "{text}");
}

#[test]
fn a_stalled_server_times_out_in_bounded_time() {
    let (base, _) = fake_server(vec![Vec::new()], true);
    let config = ServerConfig {
        base_url: format!("{base}/dicom-web"),
        ..Default::default()
    };
    let c = DicomWebClient::new(config, NativeTransport::new(Duration::from_millis(800))).unwrap();
    let t = Instant::now();
    let err = block(c.search_studies(&QidoQuery::new())).unwrap_err();
    assert!(
        matches!(
            err,
            DicomWebError::Timeout { .. } | DicomWebError::Transport { .. }
        ),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn truncated_and_malformed_replies_are_clear_errors() {
    let body = b"--b\r\nContent-Type: application/octet-stream\r\n\r\nframe-one\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nframe-tw";
    let mut cut = format!("HTTP/1.1 200 OK\r\nContent-Type: multipart/related; type=\"application/octet-stream\"; boundary=b\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    cut.extend_from_slice(body);
    let (base, _) = fake_server(
        vec![
            cut,
            http(
                "200 OK",
                "Content-Type: application/dicom+json\r\n",
                b"[{\"0020000D\": {\"vr\": \"UI\", \"Value\": [",
            ),
        ],
        false,
    );
    let c = client_for(&format!("{base}/dicom-web"), None);
    let mut parts = 0;
    let err = block(c.retrieve_frames("1", "2", "3", &[1, 2], None, |_| parts += 1)).unwrap_err();
    assert_eq!(parts, 1);
    assert!(err.to_string().contains("1 complete part(s)"), "{err}");
    let err = block(c.search_studies(&QidoQuery::new())).unwrap_err();
    assert!(matches!(err, DicomWebError::Body { .. }), "{err}");
}

#[test]
fn oversized_parts_and_cancelled_requests_stop_early() {
    let part = vec![7u8; 3 << 20];
    let mut body = b"--b\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    body.extend_from_slice(&part);
    body.extend_from_slice(b"\r\n--b--\r\n");
    let reply = http(
        "200 OK",
        "Content-Type: multipart/related; type=\"application/octet-stream\"; boundary=b\r\n",
        &body,
    );
    let big_json = http(
        "200 OK",
        "Content-Type: application/dicom+json\r\n",
        &vec![b' '; 3 << 20],
    );
    let (base, _) = fake_server(vec![reply.clone(), reply, big_json], false);
    let config = ServerConfig {
        base_url: format!("{base}/dicom-web"),
        max_part_bytes: Some(1 << 20),
        ..Default::default()
    };
    let c = DicomWebClient::new(config, NativeTransport::new(Duration::from_secs(10))).unwrap();
    let err = block(c.retrieve_frames("1", "2", "3", &[1], None, |_| {})).unwrap_err();
    assert!(err.to_string().contains("part"), "{err}");
    let cancel = lumen::dicomweb::transport::CancelToken::new();
    cancel.cancel();
    let err = block(c.retrieve_frames("1", "2", "3", &[1], Some(&cancel), |_| {})).unwrap_err();
    assert!(matches!(err, DicomWebError::Cancelled { .. }), "{err}");
    // A cancelled request is never sent, so the next reply answers the next request:
    // the second multipart reply is consumed by this one, then the oversized JSON.
    let _ = block(c.retrieve_frames("1", "2", "3", &[1], None, |_| {}));
    let err = block(c.search_studies(&QidoQuery::new())).unwrap_err();
    assert!(
        err.to_string()
            .contains("larger than the 1048576-byte limit"),
        "{err}"
    );
}
