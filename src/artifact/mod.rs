//! Stage 5 — artifact: one self-describing HDF5 file per run. Input: a finished run (config,
//! provenance, curves, curvature, final metrics, parameters); output: `<name>.h5` written
//! atomically, carrying a canonical content hash that any reader can recompute.
//!
//! Layout (all names stable; h5py and pandas read it directly):
//! - root attributes: `format`, `content_sha256`, `config_toml`, `provenance.*`
//! - `/curves/{epoch,train_loss,train_acc,val_loss,val_acc,lr,batch_size,wall_time_s}`
//! - `/curvature/{lambda_max,lambda_max_trace,lambda_max_converged,lambda_max_iterations,
//!   frobenius_norm,frobenius_norm_se,frobenius_norm_probes,frobenius_norm_per_param,trace,
//!   trace_se,trace_probes,num_params,eval_indices}`
//! - `/final/{train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,diverged,epochs_completed}`
//! - `/split/{train_indices,val_indices}` (into the 60k training images; test = the first N of
//!   the 10k test images)
//! - `/params/<name>` for every parameter and BatchNorm buffer (`l1.weight`, `bn1.running_mean`,
//!   ...), float32, in the model's own shapes.
mod checkpoint;

pub use checkpoint::{checkpoint_path, load_checkpoint, save_checkpoint, SavedCheckpoint};

use crate::config::RunConfig;
use crate::curvature::Curvature;
use crate::error::{Error, Result};
use crate::files::h5;
use crate::train::Curves;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "three-factors-run/1";
/// The `format` of an experiment's table file (`<experiment>.h5`, written by `report`).
pub const GRID_FORMAT: &str = "three-factors-grid/1";
/// Datasets left out of the content hash: wall-clock times differ on every run.
pub const HASH_EXCLUDE: [&str; 1] = ["/curves/wall_time_s"];
/// Root attributes inside the content hash: the resolved config is part of what a run *is*.
pub const HASH_ATTRS: [&str; 1] = ["config_toml"];

/// Where and how a run was produced. Stored as `provenance.<key>` root attributes; not hashed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance(pub Vec<(String, String)>);

impl Provenance {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn set(&mut self, key: &str, value: impl ToString) {
        let value = value.to_string();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FinalMetrics {
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub diverged: bool,
    pub epochs_completed: i64,
}

/// Everything one run produced.
pub struct RunRecord {
    pub config: RunConfig,
    pub provenance: Provenance,
    pub curves: Curves,
    pub curvature: Option<Curvature>,
    pub final_metrics: FinalMetrics,
    /// (name, shape, float32 values) of every parameter and buffer.
    pub params: Vec<crate::model::NamedValues>,
    /// Indices into the 60k training images of the training and validation subsets, so any
    /// reader can rebuild the exact split.
    pub train_indices: Vec<i64>,
    pub val_indices: Vec<i64>,
}

/// The scalar curvature summary of a run (NaN where the run diverged).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvatureSummary {
    pub lambda_max: f64,
    pub lambda_max_converged: bool,
    pub frobenius_norm: f64,
    pub frobenius_norm_se: f64,
    pub trace: f64,
    pub trace_se: f64,
    pub num_params: i64,
}

/// What `inspect`, `check` and `repro` need from an artifact, with the hash verdict.
#[derive(Debug, Clone)]
pub struct ArtifactSummary {
    pub path: PathBuf,
    pub config: RunConfig,
    pub config_toml: String,
    pub provenance: Provenance,
    pub final_metrics: FinalMetrics,
    pub curvature: CurvatureSummary,
    pub stored_hash: String,
    pub recomputed_hash: String,
}

impl ArtifactSummary {
    pub fn hash_ok(&self) -> bool {
        self.stored_hash == self.recomputed_hash
    }

    /// The summary of a record just written to `path` with content hash `hash`, without reading
    /// the file back.
    pub fn of_record(rec: &RunRecord, path: &Path, hash: &str) -> ArtifactSummary {
        let curvature = match &rec.curvature {
            Some(c) => CurvatureSummary {
                lambda_max: c.lambda_max.lambda_max,
                lambda_max_converged: c.lambda_max.converged,
                frobenius_norm: c.frobenius.value,
                frobenius_norm_se: c.frobenius.standard_error,
                trace: c.trace.value,
                trace_se: c.trace.standard_error,
                num_params: c.num_params,
            },
            None => CurvatureSummary {
                lambda_max: f64::NAN,
                lambda_max_converged: false,
                frobenius_norm: f64::NAN,
                frobenius_norm_se: f64::NAN,
                trace: f64::NAN,
                trace_se: f64::NAN,
                num_params: num_params(&rec.params),
            },
        };
        ArtifactSummary {
            path: path.to_path_buf(),
            config: rec.config.clone(),
            config_toml: rec.config.to_toml(),
            provenance: rec.provenance.clone(),
            final_metrics: rec.final_metrics,
            curvature,
            stored_hash: hash.to_string(),
            recomputed_hash: hash.to_string(),
        }
    }

    /// The one-screen summary `run` and `inspect` print.
    pub fn render(&self) -> String {
        let (c, f, k) = (&self.config, &self.final_metrics, &self.curvature);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "run             {} ({} / {})",
            c.run_name(),
            c.experiment,
            c.profile
        );
        let _ = writeln!(
            s,
            "eta/S           {:.3e}  (eta {}, S {}, {} epochs, width {}, {})",
            c.eta_over_s(),
            c.sgd.lr,
            c.sgd.batch_size,
            c.sgd.epochs,
            c.width,
            c.sgd.schedule
        );
        let _ = writeln!(
            s,
            "accuracy        train {:.4}  val {:.4}  test {:.4}{}",
            f.train_acc,
            f.val_acc,
            f.test_acc,
            if f.diverged { "  DIVERGED" } else { "" }
        );
        let _ = writeln!(
            s,
            "loss            train {:.4}  val {:.4}  test {:.4}",
            f.train_loss, f.val_loss, f.test_loss
        );
        let _ = writeln!(
            s,
            "lambda_max      {:.4}{}",
            k.lambda_max,
            if k.lambda_max_converged {
                ""
            } else {
                "  (power iteration did not converge)"
            }
        );
        let _ = writeln!(
            s,
            "frobenius_norm  {:.4} ± {:.4}  (/D = {:.3e}, D = {})",
            k.frobenius_norm,
            k.frobenius_norm_se,
            k.frobenius_norm / k.num_params as f64,
            k.num_params
        );
        let _ = writeln!(s, "trace           {:.4} ± {:.4}", k.trace, k.trace_se);
        s
    }
}

/// D: the number of trainable parameters among `params` (BatchNorm buffers excluded).
fn num_params(params: &[crate::model::NamedValues]) -> i64 {
    params
        .iter()
        .filter(|(n, _, _)| !n.contains("running_"))
        .map(|(_, _, v)| v.len() as i64)
        .sum()
}

/// Writes the per-epoch curves as one 1-D dataset each under `g`.
fn write_curves(p: &Path, g: &hdf5::Group, c: &Curves) -> Result<()> {
    h5::vector(p, g, "epoch", &c.epoch)?;
    h5::vector(p, g, "train_loss", &c.train_loss)?;
    h5::vector(p, g, "train_acc", &c.train_acc)?;
    h5::vector(p, g, "val_loss", &c.val_loss)?;
    h5::vector(p, g, "val_acc", &c.val_acc)?;
    h5::vector(p, g, "lr", &c.lr)?;
    h5::vector(p, g, "batch_size", &c.batch_size)?;
    h5::vector(p, g, "wall_time_s", &c.wall_time_s)
}

/// Reads what [`write_curves`] wrote.
fn read_curves(p: &Path, g: &hdf5::Group) -> Result<Curves> {
    Ok(Curves {
        epoch: h5::read_vec(p, g, "epoch")?,
        train_loss: h5::read_vec(p, g, "train_loss")?,
        train_acc: h5::read_vec(p, g, "train_acc")?,
        val_loss: h5::read_vec(p, g, "val_loss")?,
        val_acc: h5::read_vec(p, g, "val_acc")?,
        lr: h5::read_vec(p, g, "lr")?,
        batch_size: h5::read_vec(p, g, "batch_size")?,
        wall_time_s: h5::read_vec(p, g, "wall_time_s")?,
    })
}

/// Writes `rec` to `dest` atomically and returns its content hash.
pub fn write_run(dest: &Path, rec: &RunRecord) -> Result<String> {
    h5::create_atomic(dest, |f, p| {
        h5::attr_str(p, f, "format", FORMAT)?;
        h5::attr_str(p, f, "config_toml", &rec.config.to_toml())?;
        for (k, v) in &rec.provenance.0 {
            h5::attr_str(p, f, &format!("provenance.{k}"), v)?;
        }
        write_curves(p, &h5::group(p, f, "curves")?, &rec.curves)?;

        let g = h5::group(p, f, "curvature")?;
        match &rec.curvature {
            Some(cv) => {
                h5::scalar(p, &g, "lambda_max", cv.lambda_max.lambda_max)?;
                h5::vector(p, &g, "lambda_max_trace", &cv.lambda_max.trace)?;
                h5::scalar(p, &g, "lambda_max_converged", cv.lambda_max.converged as u8)?;
                h5::scalar(
                    p,
                    &g,
                    "lambda_max_iterations",
                    cv.lambda_max.iterations as i64,
                )?;
                h5::scalar(p, &g, "frobenius_norm", cv.frobenius.value)?;
                h5::scalar(p, &g, "frobenius_norm_se", cv.frobenius.standard_error)?;
                h5::vector(p, &g, "frobenius_norm_probes", &cv.frobenius.probes)?;
                h5::scalar(
                    p,
                    &g,
                    "frobenius_norm_per_param",
                    cv.frobenius.value / cv.num_params as f64,
                )?;
                h5::scalar(p, &g, "trace", cv.trace.value)?;
                h5::scalar(p, &g, "trace_se", cv.trace.standard_error)?;
                h5::vector(p, &g, "trace_probes", &cv.trace.probes)?;
                h5::scalar(p, &g, "num_params", cv.num_params)?;
                let idx: Vec<i64> = cv.eval_indices.iter().map(|&i| i as i64).collect();
                h5::vector(p, &g, "eval_indices", &idx)?;
            }
            None => {
                for name in [
                    "lambda_max",
                    "frobenius_norm",
                    "frobenius_norm_se",
                    "frobenius_norm_per_param",
                    "trace",
                    "trace_se",
                ] {
                    h5::scalar(p, &g, name, f64::NAN)?;
                }
                h5::scalar(p, &g, "lambda_max_converged", 0u8)?;
                h5::scalar(p, &g, "num_params", num_params(&rec.params))?;
            }
        }

        let m = &rec.final_metrics;
        let g = h5::group(p, f, "final")?;
        for (name, v) in [
            ("train_loss", m.train_loss),
            ("train_acc", m.train_acc),
            ("val_loss", m.val_loss),
            ("val_acc", m.val_acc),
            ("test_loss", m.test_loss),
            ("test_acc", m.test_acc),
        ] {
            h5::scalar(p, &g, name, v)?;
        }
        h5::scalar(p, &g, "diverged", m.diverged as u8)?;
        h5::scalar(p, &g, "epochs_completed", m.epochs_completed)?;

        let g = h5::group(p, f, "split")?;
        h5::vector(p, &g, "train_indices", &rec.train_indices)?;
        h5::vector(p, &g, "val_indices", &rec.val_indices)?;

        let g = h5::group(p, f, "params")?;
        for (name, shape, values) in &rec.params {
            h5::write(p, &g, name, shape, values)?;
        }

        let hash = h5::content_hash(p, f, &HASH_EXCLUDE, &HASH_ATTRS)?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}

/// Reads an artifact's summary and recomputes its content hash.
pub fn read_summary(path: &Path) -> Result<ArtifactSummary> {
    let f = h5::open(path)?;
    let format = h5::read_attr_str(path, &f, "format")?;
    if format != FORMAT {
        return Err(Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!("format is '{format}', expected '{FORMAT}'"),
        });
    }
    let config_toml = h5::read_attr_str(path, &f, "config_toml")?;
    let config = RunConfig::from_toml(&config_toml, path)?;
    let mut provenance = Provenance::default();
    for name in f.attr_names().map_err(Error::hdf5(path, "/"))? {
        if let Some(k) = name.strip_prefix("provenance.") {
            provenance.set(k, h5::read_attr_str(path, &f, &name)?);
        }
    }
    let missing = |g: &str| {
        let path = path.to_path_buf();
        let g = g.to_string();
        move |_| Error::NotAnArtifact {
            path,
            reason: format!("group /{g} is missing"),
        }
    };
    let fin = f.group("final").map_err(missing("final"))?;
    let cur = f.group("curvature").map_err(missing("curvature"))?;
    let r = |g: &hdf5::Group, n: &str| h5::read_f64(path, g, n);
    let u8s = |g: &hdf5::Group, n: &str| -> Result<bool> {
        Ok(h5::read_vec::<u8>(path, g, n)?.first() == Some(&1))
    };
    let i64s = |g: &hdf5::Group, n: &str| -> Result<i64> {
        Ok(h5::read_vec::<i64>(path, g, n)?
            .first()
            .copied()
            .unwrap_or(0))
    };
    let final_metrics = FinalMetrics {
        train_loss: r(&fin, "train_loss")?,
        train_acc: r(&fin, "train_acc")?,
        val_loss: r(&fin, "val_loss")?,
        val_acc: r(&fin, "val_acc")?,
        test_loss: r(&fin, "test_loss")?,
        test_acc: r(&fin, "test_acc")?,
        diverged: u8s(&fin, "diverged")?,
        epochs_completed: i64s(&fin, "epochs_completed")?,
    };
    let curvature = CurvatureSummary {
        lambda_max: r(&cur, "lambda_max")?,
        lambda_max_converged: u8s(&cur, "lambda_max_converged")?,
        frobenius_norm: r(&cur, "frobenius_norm")?,
        frobenius_norm_se: r(&cur, "frobenius_norm_se")?,
        trace: r(&cur, "trace")?,
        trace_se: r(&cur, "trace_se")?,
        num_params: i64s(&cur, "num_params")?,
    };
    let stored_hash = h5::read_attr_str(path, &f, "content_sha256")?;
    let recomputed_hash = h5::content_hash(path, &f, &HASH_EXCLUDE, &HASH_ATTRS)?;
    Ok(ArtifactSummary {
        path: path.to_path_buf(),
        config,
        config_toml,
        provenance,
        final_metrics,
        curvature,
        stored_hash,
        recomputed_hash,
    })
}

/// Reads an artifact and fails unless its stored hash matches its content.
pub fn verify(path: &Path) -> Result<ArtifactSummary> {
    let s = read_summary(path)?;
    if !s.hash_ok() {
        return Err(Error::ContentHashMismatch {
            path: path.to_path_buf(),
            stored: s.stored_hash,
            recomputed: s.recomputed_hash,
        });
    }
    Ok(s)
}
