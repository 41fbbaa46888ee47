//! The corpus manifest written by scripts/setup-corpus.sh, as the tests read it.
#![allow(dead_code)]

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub files: Vec<Entry>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Entry {
    pub path: String,
    pub transfer_syntax: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub frames: Option<u32>,
    #[serde(default)]
    pub rows: Option<u32>,
    #[serde(default)]
    pub columns: Option<u32>,
    #[serde(default)]
    pub samples_per_pixel: Option<u16>,
    #[serde(default)]
    pub photometric_interpretation: Option<String>,
    #[serde(default)]
    pub lossless: Option<bool>,
    pub reference: Option<String>,
    #[serde(default)]
    pub frame_sha256: Option<Vec<String>>,
    #[serde(default)]
    pub expect_error: Option<bool>,
    #[serde(default)]
    pub reference_decoder: Option<String>,
}

pub fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LUMEN_CORPUS") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var("LUMEN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/lumen")
        });
    cache.join("corpus")
}

pub fn manifest() -> Manifest {
    let path = corpus_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no corpus manifest at {} ({e}): run `bash scripts/setup-corpus.sh` (npm test does it)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("corpus manifest is valid JSON")
}
