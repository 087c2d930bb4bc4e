//! Where the Fashion-MNIST files come from: an ordered look-up of local folders, then a verified
//! download into the user cache. This module (with `determinism`) is the only place that reads
//! environment variables; the rest of the library takes a [`Lookup`] value.
use super::idx::{self, Payload};
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One of the four files, with the SHA-256 and size of its *decompressed* payload. Debian's
/// package re-compresses the upstream gzip files, so only the payload hashes are stable.
#[derive(Debug, Clone, Copy)]
pub struct FileSpec {
    pub name: &'static str,
    pub size: u64,
    pub sha256: &'static str,
}

pub const TRAIN_IMAGES: FileSpec = FileSpec {
    name: "train-images-idx3-ubyte",
    size: 47_040_016,
    sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
};
pub const TRAIN_LABELS: FileSpec = FileSpec {
    name: "train-labels-idx1-ubyte",
    size: 60_008,
    sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
};
pub const TEST_IMAGES: FileSpec = FileSpec {
    name: "t10k-images-idx3-ubyte",
    size: 7_840_016,
    sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
};
pub const TEST_LABELS: FileSpec = FileSpec {
    name: "t10k-labels-idx1-ubyte",
    size: 10_008,
    sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
};
pub const FILES: [FileSpec; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// The dataset's official mirror (Zalando Research's Fashion-MNIST README).
pub const DEFAULT_MIRROR: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// How a file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    DataDir,
    EnvDir,
    Cache,
    System,
    Downloaded,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::DataDir => "--data-dir",
            Source::EnvDir => "$FASHION_MNIST_DIR",
            Source::Cache => "cache",
            Source::System => "system package",
            Source::Downloaded => "downloaded",
        }
    }
}

/// The look-up plan: folders in order, the cache to download into, the mirror, and whether the
/// network may be used.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub dirs: Vec<(Source, PathBuf)>,
    pub cache: PathBuf,
    pub mirror: String,
    pub offline: bool,
}

impl Lookup {
    /// The standard order: `--data-dir`, `$FASHION_MNIST_DIR`, `$XDG_CACHE_HOME/three-factors/
    /// fashion-mnist` (or `~/.cache/...`), then Debian's `dataset-fashion-mnist`. The mirror can
    /// be overridden with `$FASHION_MNIST_MIRROR`; `$THREE_FACTORS_OFFLINE=1` forbids downloads.
    pub fn from_env(data_dir: Option<&Path>) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let cache_root = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        let cache = cache_root.join("three-factors").join("fashion-mnist");
        let mut dirs = Vec::new();
        if let Some(d) = data_dir {
            dirs.push((Source::DataDir, d.to_path_buf()));
        }
        if let Some(d) = var("FASHION_MNIST_DIR") {
            dirs.push((Source::EnvDir, PathBuf::from(d)));
        }
        dirs.push((Source::Cache, cache.clone()));
        dirs.push((Source::System, PathBuf::from(SYSTEM_DIR)));
        Lookup {
            dirs,
            cache,
            mirror: std::env::var("FASHION_MNIST_MIRROR")
                .unwrap_or_else(|_| DEFAULT_MIRROR.to_string()),
            offline: var("THREE_FACTORS_OFFLINE").is_some_and(|v| v != "0"),
        }
    }
}

/// Where one file was found and what it holds.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub spec: FileSpec,
    pub path: PathBuf,
    pub source: Source,
    pub size: u64,
    pub sha256: String,
}

/// The file `name` (gzip or raw) in `dir`, if present.
fn candidate(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
}

/// Reads and verifies one file's payload against its pinned hash and size.
pub fn verify(spec: FileSpec, path: &Path) -> Result<Payload> {
    let payload = idx::read_payload(path)?;
    if payload.bytes.len() as u64 != spec.size || payload.sha256 != spec.sha256 {
        return Err(Error::HashMismatch {
            path: path.to_path_buf(),
            expected: format!("{} ({} bytes)", spec.sha256, spec.size),
            got: format!("{} ({} bytes)", payload.sha256, payload.bytes.len()),
        });
    }
    Ok(payload)
}

/// Finds (or downloads) all four files and returns their verified payloads in [`FILES`] order.
/// A folder that holds a file whose hash does not match is an error, not a reason to look
/// further: the user's copy is corrupt and they should know.
pub fn fetch_all(lookup: &Lookup) -> Result<Vec<(FileRecord, Payload)>> {
    for (source, dir) in &lookup.dirs {
        let found: Vec<_> = FILES
            .iter()
            .filter_map(|s| candidate(dir, s.name))
            .collect();
        if found.len() < FILES.len() {
            continue;
        }
        return FILES
            .iter()
            .zip(found)
            .map(|(spec, path)| {
                let payload = verify(*spec, &path)?;
                Ok((record(*spec, path, *source, &payload), payload))
            })
            .collect();
    }
    let looked: Vec<PathBuf> = lookup.dirs.iter().map(|(_, d)| d.clone()).collect();
    if lookup.offline {
        return Err(Error::DataNotFound {
            looked,
            download: "Download skipped: THREE_FACTORS_OFFLINE is set.".into(),
        });
    }
    let mut out = Vec::new();
    for spec in FILES {
        let (path, payload) = match download(lookup, spec) {
            Ok(x) => x,
            // No network at all reads best as "not found, here is where I looked".
            Err(Error::Download { url, reason }) if out.is_empty() && is_unreachable(&reason) => {
                return Err(Error::DataNotFound {
                    looked,
                    download: format!("Download from {url} failed: {reason}"),
                })
            }
            Err(e) => return Err(e),
        };
        out.push((record(spec, path, Source::Downloaded, &payload), payload));
    }
    Ok(out)
}

fn is_unreachable(reason: &str) -> bool {
    [
        "Connection",
        "connect",
        "resolve",
        "dns",
        "Dns",
        "timed out",
    ]
    .iter()
    .any(|k| reason.contains(k))
}

fn record(spec: FileSpec, path: PathBuf, source: Source, payload: &Payload) -> FileRecord {
    FileRecord {
        spec,
        path,
        source,
        size: payload.bytes.len() as u64,
        sha256: payload.sha256.clone(),
    }
}

/// Downloads `<mirror>/<name>.gz` into the cache through a temporary file in the same folder,
/// verifies the decompressed payload, and only then renames it into place: a partial or corrupt
/// download never stays behind under the final name.
pub fn download(lookup: &Lookup, spec: FileSpec) -> Result<(PathBuf, Payload)> {
    let url = format!("{}/{}.gz", lookup.mirror.trim_end_matches('/'), spec.name);
    let dest = lookup.cache.join(format!("{}.gz", spec.name));
    std::fs::create_dir_all(&lookup.cache).map_err(|e| Error::io(&lookup.cache, e))?;
    let fail = |reason: String| Error::Download {
        url: url.clone(),
        reason,
    };
    let response = ureq::get(&url)
        .timeout(std::time::Duration::from_secs(120))
        .call()
        .map_err(|e| fail(e.to_string()))?;
    let expected_len: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", spec.name))
        .suffix(".part")
        .tempfile_in(&lookup.cache)
        .map_err(|e| Error::io(&lookup.cache, e))?;
    let mut body = Vec::new();
    response
        .into_reader()
        .take(1 << 30)
        .read_to_end(&mut body)
        .map_err(|e| fail(format!("connection dropped: {e}")))?;
    if let Some(n) = expected_len {
        if body.len() as u64 != n {
            return Err(fail(format!("got {} of {n} bytes", body.len())));
        }
    }
    tmp.write_all(&body).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    // Verify from the temporary file, but report errors against the URL and final name.
    let payload = verify(spec, tmp.path()).map_err(|e| match e {
        Error::Truncated { what, .. } => fail(format!("truncated download ({what})")),
        Error::HashMismatch { expected, got, .. } => Error::HashMismatch {
            path: PathBuf::from(&url),
            expected,
            got,
        },
        other => other,
    })?;
    crate::files::persist(tmp, &dest)?;
    Ok((dest, payload))
}
