//! The library's one error type. Every variant names the file, dataset, parameter or grid point
//! involved, so a message alone tells the user what to fix.
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- data ------------------------------------------------------------------------------
    /// A failed read, or (`op` = "write") a failed write. The cause is in the message rather
    /// than a `source`, so a chain printed with `{:#}` does not repeat it.
    #[error("{path}: cannot {op}: {cause}")]
    Io {
        path: PathBuf,
        op: &'static str,
        cause: std::io::Error,
    },
    #[error("{path}: truncated ({what})")]
    Truncated { path: PathBuf, what: String },
    #[error("{path}: bad IDX magic number {found:#010x}, expected {expected:#010x} ({kind})")]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        kind: &'static str,
    },
    #[error("{path}: bad dimensions {found:?}, expected {expected}")]
    BadDimensions {
        path: PathBuf,
        found: Vec<u32>,
        expected: String,
    },
    #[error("{path}: label {label} at index {index} is out of range 0..=9")]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
    },
    #[error("{images}: {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
    },
    #[error("{path}: SHA-256 of the decompressed payload is {got}, expected {expected}")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        got: String,
    },
    #[error("{url}: download failed: {reason}")]
    Download { url: String, reason: String },
    #[error("{dataset} not found. Looked in:\n{}\n{download}\nFix: {fix}", looked.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n"))]
    DataNotFound {
        dataset: &'static str,
        looked: Vec<PathBuf>,
        download: String,
        fix: String,
    },

    // ---- config ----------------------------------------------------------------------------
    #[error("{origin}: invalid config: {field}: {reason}")]
    Config {
        origin: String,
        field: String,
        reason: String,
    },
    #[error("{path}: TOML syntax error: {message}")]
    Toml { path: PathBuf, message: String },

    // ---- numerics --------------------------------------------------------------------------
    #[error("libtorch error in {op}: {source}")]
    Torch {
        op: String,
        #[source]
        source: tch::TchError,
    },
    #[error("determinism: {0}")]
    Determinism(String),

    // ---- artifacts -------------------------------------------------------------------------
    #[error("{path}: HDF5 error at {object}: {message}")]
    Hdf5 {
        path: PathBuf,
        object: String,
        message: String,
    },
    #[error("{path}: not a three-factors artifact: {reason}")]
    NotAnArtifact { path: PathBuf, reason: String },
    #[error("{path}: content hash mismatch: stored {stored}, recomputed {recomputed}")]
    ContentHashMismatch {
        path: PathBuf,
        stored: String,
        recomputed: String,
    },

    #[error("checkpoint: {0}")]
    Checkpoint(String),

    // ---- golden / repro --------------------------------------------------------------------
    #[error("{path}: {reason}")]
    Golden { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
    /// An output path the command refuses (a device or other special file, one of its own
    /// inputs, a file it did not write, a missing folder), or a writer that failed on it.
    #[error("{path}: {reason}")]
    Output { path: PathBuf, reason: String },
}

impl Error {
    /// A failed read (or an I/O failure that is neither clearly a read nor a write).
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op: "read",
            cause,
        }
    }

    /// A failed write (creating, writing, renaming or removing a file or folder).
    pub fn write(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op: "write",
            cause,
        }
    }

    pub fn output(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Output {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn config(
        origin: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Config {
            origin: origin.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn torch(op: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let op = op.into();
        move |source| Error::Torch { op, source }
    }

    pub fn hdf5(
        path: impl Into<PathBuf>,
        object: impl Into<String>,
    ) -> impl FnOnce(hdf5::Error) -> Self {
        let (path, object) = (path.into(), object.into());
        move |e| Error::Hdf5 {
            path,
            object,
            message: e.to_string(),
        }
    }
}
