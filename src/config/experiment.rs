//! An experiment file (`experiments/*.toml`): named profiles, each a base [`RunConfig`] and a
//! grid of (η, S, seed) points. Resolving a profile gives one complete `RunConfig` per point.
use super::RunConfig;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub lr: Vec<f64>,
    pub batch_size: Vec<usize>,
    pub seeds: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Why this profile is sized as it is.
    pub description: String,
    pub grid: Grid,
    /// Everything else; its `sgd.lr`, `sgd.batch_size` and `seed` are replaced per grid point.
    pub base: RunConfig,
    /// Models below this final training accuracy are flagged (the paper kept only models that
    /// reached ≈100 %).
    #[serde(default)]
    pub min_train_acc: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub default_profile: String,
    pub profiles: BTreeMap<String, Profile>,
    #[serde(skip)]
    pub source: PathBuf,
}

/// One grid point: its position and its complete configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GridPoint {
    pub index: usize,
    pub config: RunConfig,
}

impl GridPoint {
    /// The artifact file name for this point.
    pub fn file_name(&self) -> String {
        format!("{}.h5", self.config.run_name())
    }
}

impl Experiment {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut e: Experiment = toml::from_str(&text).map_err(|e| Error::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        e.source = path.to_path_buf();
        if !e.profiles.contains_key(&e.default_profile) {
            return Err(Error::config(
                path.display().to_string(),
                "default_profile",
                format!("no profile named '{}'", e.default_profile),
            ));
        }
        for name in e.profiles.keys() {
            e.resolve(name)?;
        }
        Ok(e)
    }

    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles.get(name).ok_or_else(|| {
            Error::config(
                self.source.display().to_string(),
                "profile",
                format!(
                    "no profile '{name}' (have: {})",
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The profile's base config with experiment and profile names filled in.
    pub fn base(&self, profile: &str) -> Result<RunConfig> {
        let mut c = self.profile(profile)?.base.clone();
        c.experiment = self.name.clone();
        c.profile = profile.to_string();
        Ok(c)
    }

    /// Every grid point of `profile`, η-major then S then seed, each validated.
    pub fn resolve(&self, profile: &str) -> Result<Vec<GridPoint>> {
        let p = self.profile(profile)?;
        let base = self.base(profile)?;
        let mut out = Vec::new();
        for &lr in &p.grid.lr {
            for &bs in &p.grid.batch_size {
                for &seed in &p.grid.seeds {
                    let mut c = base.clone();
                    c.sgd.lr = lr;
                    c.sgd.batch_size = bs;
                    c.seed = seed;
                    c.validate(&format!(
                        "{} profile {profile} (lr={lr}, batch_size={bs}, seed={seed})",
                        self.source.display()
                    ))?;
                    out.push(GridPoint {
                        index: out.len(),
                        config: c,
                    });
                }
            }
        }
        if out.is_empty() {
            return Err(Error::config(
                self.source.display().to_string(),
                format!("profiles.{profile}.grid"),
                "the grid is empty",
            ));
        }
        Ok(out)
    }
}
