//! Cross-cutting — layout: where the files the program ships with are found (experiment files,
//! golden files, the peer benchmark script, the Python with torch for the peers). In a checkout
//! that is the working directory; for an installed binary, `<prefix>/share/three-factors` next to
//! `<prefix>/bin`; `THREE_FACTORS_SHARE` overrides both. The only module that decides this.
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The environment variable naming the folder that holds `experiments/` and `golden/`.
pub const SHARE_VAR: &str = "THREE_FACTORS_SHARE";

/// The environment variable naming the Python (with torch 2.11) that runs the peers; the Nix
/// apps set it to the flake's Python.
pub const PYTHON_VAR: &str = "THREE_FACTORS_PYTHON";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The folder holding `experiments/`, `golden/` and `bench/peers.py`.
    pub root: PathBuf,
}

impl Layout {
    /// `$THREE_FACTORS_SHARE`; else the working directory when it holds `experiments/` (a
    /// checkout); else `<exe>/../share/three-factors` when that exists; else the working
    /// directory (so errors name the relative paths a checkout would have).
    pub fn discover() -> Layout {
        if let Some(d) = std::env::var_os(SHARE_VAR).filter(|d| !d.is_empty()) {
            return Layout { root: d.into() };
        }
        if Path::new("experiments").is_dir() {
            return Layout { root: ".".into() };
        }
        let installed = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("share/three-factors")))
            .filter(|d| d.join("experiments").is_dir());
        Layout {
            root: installed.unwrap_or_else(|| ".".into()),
        }
    }

    fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        if self.root == Path::new(".") {
            rel.as_ref().to_path_buf()
        } else {
            self.root.join(rel)
        }
    }

    pub fn experiments_dir(&self) -> PathBuf {
        self.join("experiments")
    }

    /// `experiments/<name>.toml`.
    pub fn experiment(&self, name: &str) -> PathBuf {
        self.experiments_dir().join(format!("{name}.toml"))
    }

    /// The golden file of an experiment's profile: `golden/<experiment>/<profile>.toml`.
    pub fn golden(&self, experiment: &str, profile: &str) -> PathBuf {
        self.join("golden")
            .join(experiment)
            .join(format!("{profile}.toml"))
    }

    /// The benchmark history, `bench/history.h5`.
    pub fn bench_history(&self) -> PathBuf {
        self.join("bench/history.h5")
    }

    /// Where `bench` records (and `bench compare`/`report` read) by default: `bench/history.h5`
    /// when the working directory is a checkout, else `three-factors-bench.h5` there (an
    /// installed share folder is read-only).
    pub fn working_bench_history() -> PathBuf {
        if Path::new("bench").is_dir() && Path::new("experiments").is_dir() {
            "bench/history.h5".into()
        } else {
            "three-factors-bench.h5".into()
        }
    }

    /// The peer benchmark script, `bench/peers.py`.
    pub fn peer_script(&self) -> PathBuf {
        self.join("bench/peers.py")
    }

    /// The Python that runs the peers: `$THREE_FACTORS_PYTHON`; else the checkout's `.venv`
    /// (made by `ci/bootstrap --peers`) when present; else `python3` from `PATH`.
    pub fn python(&self) -> PathBuf {
        if let Some(p) = std::env::var_os(PYTHON_VAR).filter(|p| !p.is_empty()) {
            return p.into();
        }
        let venv = self.join(".venv/bin/python");
        if venv.exists() {
            venv
        } else {
            "python3".into()
        }
    }

    /// Every experiment file, sorted by name.
    pub fn experiment_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.experiments_dir();
        let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_convention() {
        let l = Layout {
            root: "/opt/tf/share/three-factors".into(),
        };
        assert_eq!(
            l.golden("fig3", "smoke"),
            Path::new("/opt/tf/share/three-factors/golden/fig3/smoke.toml")
        );
        assert_eq!(
            l.experiment("fig5"),
            Path::new("/opt/tf/share/three-factors/experiments/fig5.toml")
        );
        let here = Layout { root: ".".into() };
        assert_eq!(
            here.golden("fig3", "quick"),
            Path::new("golden/fig3/quick.toml")
        );
    }
}
