//! Where a dataset's files (Fashion-MNIST, MNIST) come from: an ordered look-up of local folders, then a verified
//! download into the user cache. This module (with `determinism`) is the only place that reads
//! environment variables; the rest of the library takes a [`Lookup`] value.
use super::idx::{self, Payload};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One of the four files, with the SHA-256 and size of its *decompressed* payload. Debian's
/// package re-compresses the upstream gzip files, so only the payload hashes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec {
    pub name: &'static str,
    pub size: u64,
    pub sha256: &'static str,
}

const fn spec(name: &'static str, size: u64, sha256: &'static str) -> FileSpec {
    FileSpec { name, size, sha256 }
}

/// Fashion-MNIST's four files (hashes measured on Debian's `dataset-fashion-mnist`).
pub const FILES: [FileSpec; 4] = [
    spec(
        "train-images-idx3-ubyte",
        47_040_016,
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    spec(
        "train-labels-idx1-ubyte",
        60_008,
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    spec(
        "t10k-images-idx3-ubyte",
        7_840_016,
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    spec(
        "t10k-labels-idx1-ubyte",
        10_008,
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

/// MNIST's four files: the SHA-256 of LeCun's decompressed payloads, as pinned by two
/// independent public projects (MNIST is not packaged for Debian, so not measured here).
pub const MNIST_FILES: [FileSpec; 4] = [
    spec(
        "train-images-idx3-ubyte",
        47_040_016,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    spec(
        "train-labels-idx1-ubyte",
        60_008,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    spec(
        "t10k-images-idx3-ubyte",
        7_840_016,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    spec(
        "t10k-labels-idx1-ubyte",
        10_008,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];

/// Fashion-MNIST's official mirror (Zalando Research's Fashion-MNIST README).
pub const DEFAULT_MIRROR: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";
/// The MNIST mirror PyTorch's torchvision downloads from (LeCun's page no longer serves files).
pub const MNIST_MIRROR: &str = "https://ossci-datasets.s3.amazonaws.com/mnist";
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which IDX dataset a run trains on. Both have 60k training and 10k test images of 28×28
/// pixels in 10 classes; they differ in files, hashes, mirrors and pixel statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetName {
    #[default]
    FashionMnist,
    Mnist,
}

impl DatasetName {
    pub const ALL: [DatasetName; 2] = [DatasetName::FashionMnist, DatasetName::Mnist];

    /// The name in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "fashion_mnist",
            DatasetName::Mnist => "mnist",
        }
    }
    /// The name people write.
    pub fn title(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "Fashion-MNIST",
            DatasetName::Mnist => "MNIST",
        }
    }
    pub fn is_default(&self) -> bool {
        *self == DatasetName::FashionMnist
    }
    pub fn files(self) -> [FileSpec; 4] {
        match self {
            DatasetName::FashionMnist => FILES,
            DatasetName::Mnist => MNIST_FILES,
        }
    }
    /// The folder name under the cache, and the environment variables' stem.
    fn slug(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Mnist => "mnist",
        }
    }
    /// `FASHION_MNIST_DIR` / `MNIST_DIR`: a folder holding the four files.
    pub fn dir_var(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "FASHION_MNIST_DIR",
            DatasetName::Mnist => "MNIST_DIR",
        }
    }
    /// `FASHION_MNIST_MIRROR` / `MNIST_MIRROR`: where to download from instead.
    pub fn mirror_var(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "FASHION_MNIST_MIRROR",
            DatasetName::Mnist => "MNIST_MIRROR",
        }
    }
    pub fn default_mirror(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => DEFAULT_MIRROR,
            DatasetName::Mnist => MNIST_MIRROR,
        }
    }
    /// The Debian package's folder, where there is one.
    pub fn system_dir(self) -> Option<&'static str> {
        match self {
            DatasetName::FashionMnist => Some(SYSTEM_DIR),
            DatasetName::Mnist => None,
        }
    }
    /// Per-pixel normalisation on the [0, 1] scale: the training images' mean and standard
    /// deviation (the constants torchvision examples use).
    pub fn mean_std(self) -> (f64, f64) {
        match self {
            DatasetName::FashionMnist => (0.2860, 0.3530),
            DatasetName::Mnist => (0.1307, 0.3081),
        }
    }
    fn fix(self) -> String {
        let package = match self.system_dir() {
            Some(_) => "install the Debian package `dataset-fashion-mnist`, or ",
            None => "",
        };
        format!(
            "{package}set {} (or --data-dir) to a folder holding the four files (.gz or raw), or {} to a mirror that serves them",
            self.dir_var(),
            self.mirror_var()
        )
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown dataset '{s}' (expected fashion_mnist or mnist)"))
    }
}

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
    /// How `data verify` names the source; the environment variable is the dataset's own.
    pub fn describe(self, dataset: DatasetName) -> String {
        match self {
            Source::EnvDir => format!("${}", dataset.dir_var()),
            other => other.as_str().to_string(),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Source::DataDir => "--data-dir",
            Source::EnvDir => "$<DATASET>_DIR",
            Source::Cache => "cache",
            Source::System => "system package",
            Source::Downloaded => "downloaded",
        }
    }
}

/// The look-up plan: which dataset, folders in order, the cache to download into, the mirror,
/// and whether the network may be used.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub dataset: DatasetName,
    pub dirs: Vec<(Source, PathBuf)>,
    pub cache: PathBuf,
    pub mirror: String,
    pub offline: bool,
}

impl Lookup {
    /// The standard order: `--data-dir`, `$FASHION_MNIST_DIR` (`$MNIST_DIR`),
    /// `$XDG_CACHE_HOME/three-factors/fashion-mnist` (`.../mnist`; or `~/.cache/...`), then
    /// Debian's `dataset-fashion-mnist` (MNIST has no package). The mirror can be overridden with
    /// `$FASHION_MNIST_MIRROR` (`$MNIST_MIRROR`); `$THREE_FACTORS_OFFLINE=1` forbids downloads.
    pub fn from_env(dataset: DatasetName, data_dir: Option<&Path>) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let cache_root = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        let cache = cache_root.join("three-factors").join(dataset.slug());
        let mut dirs = Vec::new();
        if let Some(d) = data_dir {
            dirs.push((Source::DataDir, d.to_path_buf()));
        }
        if let Some(d) = var(dataset.dir_var()) {
            dirs.push((Source::EnvDir, PathBuf::from(d)));
        }
        dirs.push((Source::Cache, cache.clone()));
        if let Some(d) = dataset.system_dir() {
            dirs.push((Source::System, PathBuf::from(d)));
        }
        Lookup {
            dataset,
            dirs,
            cache,
            mirror: std::env::var(dataset.mirror_var())
                .ok()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| dataset.default_mirror().to_string()),
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
/// further: the user's copy is corrupt and they should know. So is a folder the user named
/// (`--data-dir`, `$FASHION_MNIST_DIR`) that is missing or incomplete.
pub fn fetch_all(lookup: &Lookup) -> Result<Vec<(FileRecord, Payload)>> {
    let files = lookup.dataset.files();
    for (source, dir) in &lookup.dirs {
        let found: Vec<_> = files
            .iter()
            .filter_map(|s| candidate(dir, s.name))
            .collect();
        if found.len() < files.len() {
            // A folder the user named must hold the data: falling back to another copy (or a
            // download) would train on something they did not ask for.
            if matches!(source, Source::DataDir | Source::EnvDir) {
                let how = match source {
                    Source::DataDir => "--data-dir".to_string(),
                    _ => format!("${}", lookup.dataset.dir_var()),
                };
                let why = if !dir.is_dir() {
                    "no such folder".to_string()
                } else {
                    let missing: Vec<&str> = files
                        .iter()
                        .filter(|s| candidate(dir, s.name).is_none())
                        .map(|s| s.name)
                        .collect();
                    format!("missing {} (.gz or raw)", missing.join(", "))
                };
                return Err(Error::Invalid(format!(
                    "{} ({how}): {why}; it must hold {}'s four files",
                    dir.display(),
                    lookup.dataset.title()
                )));
            }
            continue;
        }
        return files
            .iter()
            .zip(found)
            .map(|(spec, path)| {
                let payload = verify(*spec, &path)?;
                Ok((record(*spec, path, *source, &payload), payload))
            })
            .collect();
    }
    let looked: Vec<PathBuf> = lookup.dirs.iter().map(|(_, d)| d.clone()).collect();
    let not_found = |looked, download| Error::DataNotFound {
        dataset: lookup.dataset.title(),
        looked,
        download,
        fix: lookup.dataset.fix(),
    };
    if lookup.offline {
        return Err(not_found(
            looked,
            "Download skipped: THREE_FACTORS_OFFLINE is set.".into(),
        ));
    }
    let mut out = Vec::new();
    for spec in files {
        let (path, payload) = match download(lookup, spec) {
            Ok(x) => x,
            // No network at all reads best as "not found, here is where I looked".
            Err(Error::Download { url, reason }) if out.is_empty() && is_unreachable(&reason) => {
                return Err(not_found(
                    looked,
                    format!("Download from {url} failed: {reason}"),
                ))
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
    std::fs::create_dir_all(&lookup.cache).map_err(|e| Error::write(&lookup.cache, e))?;
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
    // Verify from the temporary file, but report errors against the URL and final name.
    let payload = crate::files::write_with(&dest, false, |tmp| {
        std::fs::write(tmp, &body).map_err(|e| Error::write(&dest, e))?;
        verify(spec, tmp).map_err(|e| match e {
            Error::Truncated { what, .. } => fail(format!("truncated download ({what})")),
            Error::HashMismatch { expected, got, .. } => Error::HashMismatch {
                path: PathBuf::from(&url),
                expected,
                got,
            },
            other => other,
        })
    })?;
    Ok((dest, payload))
}
