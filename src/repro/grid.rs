//! The state of a grid on disk: which points have a verified artifact, and the
//! self-contained `three-factors run` line that produces each one.
use crate::artifact::{self, ArtifactSummary};
use crate::config::GridPoint;
use crate::error::Error;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Status {
    /// The artifact exists, its hash verifies and it holds this point's config.
    Done(Box<ArtifactSummary>),
    Missing,
    /// Present but unusable (partial, corrupt, tampered or another config); it will be re-run.
    Invalid(String),
}

pub fn artifact_path(out: &Path, p: &GridPoint) -> PathBuf {
    out.join(p.file_name())
}

/// Checks one point's artifact.
pub fn status(out: &Path, p: &GridPoint) -> Status {
    let path = artifact_path(out, p);
    if !path.exists() {
        return Status::Missing;
    }
    match artifact::verify(&path) {
        Ok(s) if s.config == p.config => Status::Done(Box::new(s)),
        Ok(s) => Status::Invalid(format!(
            "holds another configuration ({} / {}, {})",
            s.config.experiment,
            s.config.profile,
            s.config.run_name()
        )),
        Err(Error::ContentHashMismatch { .. }) => {
            Status::Invalid("content hash does not verify".into())
        }
        Err(e) => Status::Invalid(e.to_string()),
    }
}

/// The command-line arguments (after the program name) that run point `p` into `out`.
pub fn run_args(
    experiment: &Path,
    p: &GridPoint,
    out: &Path,
    numerics: &str,
    data_dir: Option<&Path>,
) -> Vec<String> {
    let c = &p.config;
    let mut args: Vec<String> = [
        "--numerics",
        numerics,
        "run",
        "--experiment",
        &experiment.display().to_string(),
        "--profile",
        &c.profile,
        "--lr",
        &c.sgd.lr.to_string(),
        "--batch-size",
        &c.sgd.batch_size.to_string(),
        "--seed",
        &c.seed.to_string(),
        "--out",
        &artifact_path(out, p).display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(d) = data_dir {
        args.extend(["--data-dir".to_string(), d.display().to_string()]);
    }
    args.push("--quiet".into());
    args
}

/// Quotes an argument for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
