//! The training checkpoint file, `<artifact>.ckpt` next to the artifact it will become: HDF5
//! with the resolved config and platform class (a checkpoint resumes only the same run on the
//! same class of platform), the batch-order RNG state, the curves so far, and the model and
//! momentum tensors under their parameter paths. Written atomically; removed once the artifact
//! is written.
//!
//! ```text
//! @format = "three-factors-checkpoint/2"   @config_toml   @platform_class
//! /rng[4]  /curves/*  /model/<name>  /velocity/<name>
//! /best/{epoch, val_acc, model/<name>}      (only with sgd.keep_best_val)
//! ```
use super::{read_curves, write_curves};
use crate::error::{Error, Result};
use crate::files::h5;
use crate::model::NamedValues;
use crate::train::{Best, Checkpoint};
use std::path::{Path, PathBuf};

const FORMAT: &str = "three-factors-checkpoint/2";

/// Where the checkpoint of the artifact `artifact` lives: the same path with `.ckpt` appended
/// (not `.h5`, so folder scans for artifacts never pick it up).
pub fn checkpoint_path(artifact: &Path) -> PathBuf {
    let mut s = artifact.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

/// A checkpoint and what it was made for.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedCheckpoint {
    pub checkpoint: Checkpoint,
    pub config_toml: String,
    pub platform_class: String,
}

/// Writes `c` to `path` atomically (a crash mid-write leaves the previous checkpoint).
pub fn save_checkpoint(
    path: &Path,
    c: &Checkpoint,
    config_toml: &str,
    platform_class: &str,
) -> Result<()> {
    h5::create_atomic(path, |f, p| {
        h5::attr_str(p, f, "format", FORMAT)?;
        h5::attr_str(p, f, "config_toml", config_toml)?;
        h5::attr_str(p, f, "platform_class", platform_class)?;
        h5::vector(p, f, "rng", &c.rng)?;
        write_curves(p, &h5::group(p, f, "curves")?, &c.curves)?;
        for (group, list) in [("model", &c.model), ("velocity", &c.velocity)] {
            let g = h5::group(p, f, group)?;
            for (name, shape, values) in list {
                h5::write(p, &g, name, shape, values)?;
            }
        }
        if let Some(b) = &c.best {
            let g = h5::group(p, f, "best")?;
            h5::scalar(p, &g, "epoch", b.epoch)?;
            h5::scalar(p, &g, "val_acc", b.val_acc)?;
            let m = h5::group(p, &g, "model")?;
            for (name, shape, values) in &b.model {
                h5::write(p, &m, name, shape, values)?;
            }
        }
        Ok(())
    })
}

pub(super) fn read_tensors(p: &Path, g: &hdf5::Group) -> Result<Vec<NamedValues>> {
    let mut names = g.member_names().map_err(Error::hdf5(p, g.name()))?;
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let ds = g
                .dataset(&name)
                .map_err(Error::hdf5(p, format!("{}/{name}", g.name())))?;
            let values = ds.read_raw::<f32>().map_err(Error::hdf5(p, ds.name()))?;
            Ok((name, ds.shape(), values))
        })
        .collect()
}

/// Reads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<SavedCheckpoint> {
    let f = h5::open(path)?;
    let format = h5::read_attr_str(path, &f, "format")?;
    if format != FORMAT {
        return Err(Error::Checkpoint(format!(
            "{}: format is '{format}', expected '{FORMAT}'",
            path.display()
        )));
    }
    let rng: Vec<u64> = h5::read_vec(path, &f, "rng")?;
    let rng: [u64; 4] = rng.try_into().map_err(|v: Vec<u64>| {
        Error::Checkpoint(format!(
            "{}: /rng has {} values, expected 4",
            path.display(),
            v.len()
        ))
    })?;
    let group = |name: &str| f.group(name).map_err(Error::hdf5(path, name));
    Ok(SavedCheckpoint {
        config_toml: h5::read_attr_str(path, &f, "config_toml")?,
        platform_class: h5::read_attr_str(path, &f, "platform_class")?,
        checkpoint: Checkpoint {
            rng,
            curves: read_curves(path, &group("curves")?)?,
            model: read_tensors(path, &group("model")?)?,
            velocity: read_tensors(path, &group("velocity")?)?,
            best: if f.link_exists("best") {
                let g = group("best")?;
                let epoch = h5::read_vec::<i64>(path, &g, "epoch")?
                    .first()
                    .copied()
                    .filter(|&e| e >= 1)
                    .ok_or_else(|| {
                        Error::Checkpoint(format!(
                            "{}: /best/epoch is missing or not ≥ 1",
                            path.display()
                        ))
                    })?;
                Some(Best {
                    epoch,
                    val_acc: h5::read_f64(path, &g, "val_acc")?,
                    model: read_tensors(
                        path,
                        &g.group("model").map_err(Error::hdf5(path, "best/model"))?,
                    )?,
                })
            } else {
                None
            },
        },
    })
}
