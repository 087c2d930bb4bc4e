//! Stage 5 — artifact: one self-describing HDF5 file per run. Input: a finished run (config,
//! provenance, curves, curvature, final metrics, parameters); output: `<name>.h5` written
//! atomically, carrying a canonical content hash that any reader can recompute.
//!
//! Layout (all names stable; h5py and pandas read it directly):
//! - root attributes: `format`, `content_sha256`, `config_toml`, `provenance.*` (the hash covers
//!   `config_toml` and `provenance.platform_class`)
//! - `/curves/{epoch,minibatch_loss,minibatch_acc,train_loss,train_acc,val_loss,val_acc,lr,
//!   batch_size,wall_time_s}` (`minibatch_*`: the epoch's running averages in train mode;
//!   `train_*`/`val_*`: the model at the epoch's end on the whole subset, eval mode)
//! - `/curvature` (BatchNorm eval mode) and `/curvature_batch` (batch statistics), each as the
//!   config's `curvature.bn_mode` asks: `{bn_mode,parameters,excluded,lambda_max,
//!   lambda_max_trace,lambda_max_converged,lambda_max_iterations,frobenius_norm,
//!   frobenius_norm_se,frobenius_norm_probes,frobenius_norm_per_param,trace,trace_se,
//!   trace_probes,num_params,eval_indices}`
//! - `/curvature_subset_check/{eval_samples,lambda_max,frobenius_norm}` when configured
//! - `/curvature_noise/{probes,trace,frobenius_norm,trace_ch (each with _se),*_probes}`: the
//!   per-sample gradient covariance C (eval mode) when `curvature.noise_probes` > 0
//! - `/final/{train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,diverged,
//!   epochs_completed,steps,stop_reason}` (the final model, eval mode, whole subsets)
//! - `/norms/<name>`: ‖·‖_F of every weight (`l1.weight`, `bn1.weight`, ...) and the mean
//!   running standard deviation of each BatchNorm (`bn1.running_std`)
//! - `/split/{train_indices,val_indices}` (into the 60k training images; test = the first N of
//!   the 10k test images); with label noise also `/split/{noisy_positions,noisy_labels,
//!   true_labels}` (positions in the training subset), `/curves/{noisy_acc,clean_acc}` and
//!   `/final/{noisy_acc,clean_acc}`
//! - `/params/<name>` for every parameter and BatchNorm buffer (`l1.weight`, `bn1.running_mean`,
//!   ...), float32, in the model's own shapes.
mod checkpoint;
pub mod line;
pub mod theory;

pub use checkpoint::{checkpoint_path, load_checkpoint, save_checkpoint, SavedCheckpoint};

use crate::config::BnMode;
use crate::config::RunConfig;
use crate::curvature::{Curvature, Measured, SubsetCheck};
use crate::error::{Error, Result};
use crate::files::h5;
use crate::train::{Curves, StopReason};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Version 2: whole-training-set curves and final metrics, `stop_reason`/`steps`, the
/// batch-mode curvature group and per-tensor norms. Version 3: the platform class is inside the
/// content hash (it decides which golden hashes a run is compared with).
pub const FORMAT: &str = "three-factors-run/3";
/// The `format` of an experiment's table file (`<experiment>.h5`, written by `report`).
pub const GRID_FORMAT: &str = "three-factors-grid/1";
/// Datasets left out of the content hash: wall-clock times differ on every run.
pub const HASH_EXCLUDE: [&str; 1] = ["/curves/wall_time_s"];
/// Root attributes inside the content hash: the resolved config is part of what a run *is*, and
/// the platform class decides how `check` judges it (which golden hashes apply), so neither can
/// be edited without the hash showing it.
pub const HASH_ATTRS: [&str; 2] = ["config_toml", "provenance.platform_class"];

/// Where and how a run was produced. Stored as `provenance.<key>` root attributes; only
/// `platform_class` is hashed (see [`HASH_ATTRS`]).
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

/// The measured model's loss and accuracy on each subset (BatchNorm in eval mode; `train_*` over
/// the whole training subset, not the last epoch's minibatches), and how training ended. The
/// measured model is the last epoch's, or with `sgd.keep_best_val` the best-validation epoch's
/// (`measured_epoch`, stored as `/final/measured_epoch` only then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinalMetrics {
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub diverged: bool,
    pub epochs_completed: i64,
    pub steps: i64,
    pub stop_reason: StopReason,
    pub measured_epoch: Option<i64>,
    /// With label noise: accuracy on the replaced labels (against them) and on the clean rest
    /// of the training subset (`/final/noisy_acc`, `/final/clean_acc`).
    pub noisy_acc: Option<f64>,
    pub clean_acc: Option<f64>,
}

/// Everything one run produced.
pub struct RunRecord {
    pub config: RunConfig,
    pub provenance: Provenance,
    pub curves: Curves,
    /// `None` where the run diverged.
    pub curvature: Option<Measured>,
    pub final_metrics: FinalMetrics,
    /// (name, shape, float32 values) of every parameter and buffer.
    pub params: Vec<crate::model::NamedValues>,
    /// Indices into the 60k training images of the training and validation subsets, so any
    /// reader can rebuild the exact split.
    pub train_indices: Vec<i64>,
    pub val_indices: Vec<i64>,
    /// The training labels replaced by random ones (`/split/noisy_positions`: positions in the
    /// training subset; `noisy_labels`, `true_labels`).
    pub noise: Option<crate::data::LabelNoise>,
}

/// The scalar curvature summary of a run under one BatchNorm reading (NaN where the run
/// diverged or the mode was not measured).
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

/// The per-sample gradient covariance C (eval mode) when measured (`/curvature_noise`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseSummary {
    pub probes: i64,
    pub trace: f64,
    pub trace_se: f64,
    pub frobenius_norm: f64,
    pub frobenius_norm_se: f64,
    pub trace_ch: f64,
    pub trace_ch_se: f64,
}

impl NoiseSummary {
    pub fn of(n: &crate::curvature::GradientNoise) -> Self {
        NoiseSummary {
            probes: n.trace.probes.len() as i64,
            trace: n.trace.value,
            trace_se: n.trace.standard_error,
            frobenius_norm: n.frobenius.value,
            frobenius_norm_se: n.frobenius.standard_error,
            trace_ch: n.trace_ch.value,
            trace_ch_se: n.trace_ch.standard_error,
        }
    }
    /// Tr(CH) / (‖C‖_F·‖H‖_F).
    pub fn alignment(&self, hessian_frobenius: f64) -> f64 {
        self.trace_ch / (self.frobenius_norm * hessian_frobenius)
    }
}

/// What `inspect`, `check` and `repro` need from an artifact, with the hash verdict.
#[derive(Debug, Clone)]
pub struct ArtifactSummary {
    pub path: PathBuf,
    pub config: RunConfig,
    pub config_toml: String,
    pub provenance: Provenance,
    pub final_metrics: FinalMetrics,
    /// BatchNorm eval mode.
    pub curvature: CurvatureSummary,
    /// BatchNorm batch statistics.
    pub curvature_batch: CurvatureSummary,
    pub subset_check: Option<SubsetCheck>,
    pub noise: Option<NoiseSummary>,
    /// (name, value) as stored under `/norms`.
    pub norms: Vec<(String, f64)>,
    /// The per-epoch curves (`/curves`).
    pub curves: Curves,
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
        let mode = |m: BnMode| match rec.curvature.as_ref().and_then(|c| c.mode(m)) {
            Some(c) => CurvatureSummary::of(c),
            None => CurvatureSummary::missing(num_params(&rec.params)),
        };
        ArtifactSummary {
            path: path.to_path_buf(),
            config: rec.config.clone(),
            config_toml: rec.config.to_toml(),
            provenance: rec.provenance.clone(),
            final_metrics: rec.final_metrics,
            curvature: mode(BnMode::Eval),
            curvature_batch: mode(BnMode::Batch),
            subset_check: rec.curvature.as_ref().and_then(|c| c.subset_check),
            noise: rec
                .curvature
                .as_ref()
                .and_then(|c| c.noise.as_ref())
                .map(NoiseSummary::of),
            norms: norms(&rec.params),
            curves: rec.curves.clone(),
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
            "eta/S           {:.3e}  (eta {}, S {}, ≤ {} epochs, width {}, {})",
            c.eta_over_s(),
            c.sgd.lr,
            c.sgd.batch_size,
            c.sgd.epochs,
            c.width,
            c.sgd.schedule
        );
        let _ = writeln!(
            s,
            "stopped         {} after {} epochs, {} steps{}",
            f.stop_reason.as_str(),
            f.epochs_completed,
            f.steps,
            c.sgd
                .target_train_loss
                .map(|t| format!(" (target train loss {t})"))
                .unwrap_or_default()
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
        if let Some(n) = &self.noise {
            let _ = writeln!(
                s,
                "gradient noise  Tr C {:.4} ± {:.4} (Tr C / Tr H {:.3}), ‖C‖_F {:.4}, alignment Tr(CH)/(‖C‖_F‖H‖_F) {:.3}  ({} probes)",
                n.trace,
                n.trace_se,
                n.trace / k.trace,
                n.frobenius_norm,
                n.alignment(k.frobenius_norm),
                n.probes
            );
        }
        let b = &self.curvature_batch;
        if b.lambda_max.is_finite() {
            let _ = writeln!(
                s,
                "batch-stat BN   lambda_max {:.4}  frobenius_norm {:.4}  trace {:.2}  (D = {})",
                b.lambda_max, b.frobenius_norm, b.trace, b.num_params
            );
        }
        if let Some(c) = &self.subset_check {
            let _ = writeln!(
                s,
                "subset check    {} samples: lambda_max {:.4} ({:+.1} %), frobenius_norm {:.4} ({:+.1} %)",
                c.eval_samples,
                c.lambda_max,
                100.0 * (c.lambda_max / k.lambda_max - 1.0),
                c.frobenius_norm,
                100.0 * (c.frobenius_norm / k.frobenius_norm - 1.0)
            );
        }
        s
    }
}

impl CurvatureSummary {
    fn of(c: &Curvature) -> Self {
        CurvatureSummary {
            lambda_max: c.lambda_max.lambda_max,
            lambda_max_converged: c.lambda_max.converged,
            frobenius_norm: c.frobenius.value,
            frobenius_norm_se: c.frobenius.standard_error,
            trace: c.trace.value,
            trace_se: c.trace.standard_error,
            num_params: c.num_params,
        }
    }
    fn missing(num_params: i64) -> Self {
        CurvatureSummary {
            lambda_max: f64::NAN,
            lambda_max_converged: false,
            frobenius_norm: f64::NAN,
            frobenius_norm_se: f64::NAN,
            trace: f64::NAN,
            trace_se: f64::NAN,
            num_params,
        }
    }
}

/// The group a BatchNorm reading's curvature is stored in.
pub fn curvature_group(mode: BnMode) -> &'static str {
    match mode {
        BnMode::Batch => "curvature_batch",
        _ => "curvature",
    }
}

/// What `/norms` holds: ‖·‖_F of every weight tensor and, per BatchNorm, the mean of
/// √(running_var + ε) over its units (`bn{i}.running_std`), so a trend in curvature can be told
/// apart from weight-norm growth (the loss is invariant to the scale of a weight feeding a
/// BatchNorm, and the curvature along it scales as 1/‖W‖²).
pub fn norms(params: &[crate::model::NamedValues]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (name, _, v) in params {
        if name.ends_with(".weight") {
            let ss: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            out.push((name.clone(), ss.sqrt()));
        } else if let Some(bn) = name.strip_suffix(".running_var") {
            let sd: f64 = v
                .iter()
                .map(|&x| (f64::from(x) + crate::model::BN_EPS).sqrt())
                .sum();
            out.push((format!("{bn}.running_std"), sd / v.len().max(1) as f64));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The names under `/norms` for a model with `hidden` BatchNorm layers.
pub fn norm_names(hidden: usize) -> Vec<String> {
    let mut v: Vec<String> = (1..=hidden + 1).map(|i| format!("l{i}.weight")).collect();
    for i in 1..=hidden {
        v.push(format!("bn{i}.weight"));
        v.push(format!("bn{i}.running_std"));
    }
    v.sort();
    v
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
    h5::vector(p, g, "minibatch_loss", &c.minibatch_loss)?;
    h5::vector(p, g, "minibatch_acc", &c.minibatch_acc)?;
    h5::vector(p, g, "train_loss", &c.train_loss)?;
    h5::vector(p, g, "train_acc", &c.train_acc)?;
    h5::vector(p, g, "val_loss", &c.val_loss)?;
    h5::vector(p, g, "val_acc", &c.val_acc)?;
    h5::vector(p, g, "lr", &c.lr)?;
    h5::vector(p, g, "batch_size", &c.batch_size)?;
    h5::vector(p, g, "wall_time_s", &c.wall_time_s)?;
    // Only runs with label noise have these (older artifacts keep their layout and hash).
    if !c.noisy_acc.is_empty() {
        h5::vector(p, g, "noisy_acc", &c.noisy_acc)?;
        h5::vector(p, g, "clean_acc", &c.clean_acc)?;
    }
    Ok(())
}

/// Reads what [`write_curves`] wrote.
fn read_curves(p: &Path, g: &hdf5::Group) -> Result<Curves> {
    Ok(Curves {
        epoch: h5::read_vec(p, g, "epoch")?,
        minibatch_loss: h5::read_vec(p, g, "minibatch_loss")?,
        minibatch_acc: h5::read_vec(p, g, "minibatch_acc")?,
        train_loss: h5::read_vec(p, g, "train_loss")?,
        train_acc: h5::read_vec(p, g, "train_acc")?,
        val_loss: h5::read_vec(p, g, "val_loss")?,
        val_acc: h5::read_vec(p, g, "val_acc")?,
        lr: h5::read_vec(p, g, "lr")?,
        batch_size: h5::read_vec(p, g, "batch_size")?,
        wall_time_s: h5::read_vec(p, g, "wall_time_s")?,
        noisy_acc: optional(p, g, "noisy_acc")?,
        clean_acc: optional(p, g, "clean_acc")?,
    })
}

/// A dataset that only some artifacts have: empty where absent.
fn optional(p: &Path, g: &hdf5::Group, name: &str) -> Result<Vec<f64>> {
    if g.link_exists(name) {
        h5::read_vec(p, g, name)
    } else {
        Ok(Vec::new())
    }
}

/// Writes one BatchNorm reading's curvature into `g` (NaNs where it was not measured).
fn write_curvature(
    p: &Path,
    g: &hdf5::Group,
    mode: BnMode,
    cv: Option<&Curvature>,
    eval_indices: Option<&[usize]>,
    all_params: i64,
) -> Result<()> {
    h5::text(p, g, "bn_mode", mode.as_str())?;
    let Some(cv) = cv else {
        for name in [
            "lambda_max",
            "frobenius_norm",
            "frobenius_norm_se",
            "frobenius_norm_per_param",
            "trace",
            "trace_se",
        ] {
            h5::scalar(p, g, name, f64::NAN)?;
        }
        h5::scalar(p, g, "lambda_max_converged", 0u8)?;
        return h5::scalar(p, g, "num_params", all_params);
    };
    h5::strings(p, g, "parameters", &cv.parameters)?;
    h5::strings(p, g, "excluded", &cv.excluded)?;
    h5::scalar(p, g, "lambda_max", cv.lambda_max.lambda_max)?;
    h5::vector(p, g, "lambda_max_trace", &cv.lambda_max.trace)?;
    h5::scalar(p, g, "lambda_max_converged", cv.lambda_max.converged as u8)?;
    h5::scalar(
        p,
        g,
        "lambda_max_iterations",
        cv.lambda_max.iterations as i64,
    )?;
    h5::scalar(p, g, "frobenius_norm", cv.frobenius.value)?;
    h5::scalar(p, g, "frobenius_norm_se", cv.frobenius.standard_error)?;
    h5::vector(p, g, "frobenius_norm_probes", &cv.frobenius.probes)?;
    h5::scalar(
        p,
        g,
        "frobenius_norm_per_param",
        cv.frobenius.value / cv.num_params as f64,
    )?;
    h5::scalar(p, g, "trace", cv.trace.value)?;
    h5::scalar(p, g, "trace_se", cv.trace.standard_error)?;
    h5::vector(p, g, "trace_probes", &cv.trace.probes)?;
    h5::scalar(p, g, "num_params", cv.num_params)?;
    let idx: Vec<i64> = eval_indices
        .unwrap_or_default()
        .iter()
        .map(|&i| i as i64)
        .collect();
    h5::vector(p, g, "eval_indices", &idx)
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

        for &mode in rec.config.curvature.bn_mode.modes() {
            let g = h5::group(p, f, curvature_group(mode))?;
            let measured = rec.curvature.as_ref().and_then(|c| c.mode(mode));
            let indices = rec.curvature.as_ref().map(|c| &c.eval_indices[..]);
            write_curvature(p, &g, mode, measured, indices, num_params(&rec.params))?;
        }
        if let Some(c) = rec.curvature.as_ref().and_then(|c| c.subset_check) {
            let g = h5::group(p, f, "curvature_subset_check")?;
            h5::scalar(p, &g, "eval_samples", c.eval_samples as i64)?;
            h5::scalar(p, &g, "lambda_max", c.lambda_max)?;
            h5::scalar(p, &g, "frobenius_norm", c.frobenius_norm)?;
        }
        if let Some(n) = rec.curvature.as_ref().and_then(|c| c.noise.as_ref()) {
            let g = h5::group(p, f, "curvature_noise")?;
            let s = NoiseSummary::of(n);
            h5::scalar(p, &g, "probes", s.probes)?;
            for (name, v) in [
                ("trace", s.trace),
                ("trace_se", s.trace_se),
                ("frobenius_norm", s.frobenius_norm),
                ("frobenius_norm_se", s.frobenius_norm_se),
                ("trace_ch", s.trace_ch),
                ("trace_ch_se", s.trace_ch_se),
            ] {
                h5::scalar(p, &g, name, v)?;
            }
            h5::vector(p, &g, "trace_probes", &n.trace.probes)?;
            h5::vector(p, &g, "frobenius_probes", &n.frobenius.probes)?;
            h5::vector(p, &g, "trace_ch_probes", &n.trace_ch.probes)?;
        }
        let g = h5::group(p, f, "norms")?;
        for (name, v) in norms(&rec.params) {
            h5::scalar(p, &g, &name, v)?;
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
        h5::scalar(p, &g, "steps", m.steps)?;
        h5::text(p, &g, "stop_reason", m.stop_reason.as_str())?;
        if let Some(e) = m.measured_epoch {
            h5::scalar(p, &g, "measured_epoch", e)?;
        }
        if let (Some(noisy), Some(clean)) = (m.noisy_acc, m.clean_acc) {
            h5::scalar(p, &g, "noisy_acc", noisy)?;
            h5::scalar(p, &g, "clean_acc", clean)?;
        }

        let g = h5::group(p, f, "split")?;
        h5::vector(p, &g, "train_indices", &rec.train_indices)?;
        h5::vector(p, &g, "val_indices", &rec.val_indices)?;
        if let Some(nz) = &rec.noise {
            let pos: Vec<i64> = nz.positions.iter().map(|&i| i as i64).collect();
            h5::vector(p, &g, "noisy_positions", &pos)?;
            h5::vector(p, &g, "noisy_labels", &nz.labels)?;
            h5::vector(p, &g, "true_labels", &nz.original)?;
        }

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
            reason: if format.starts_with("three-factors-run/") {
                format!(
                    "format is '{format}', expected '{FORMAT}': written by an older version; run it again (`repro` re-runs such points)"
                )
            } else {
                format!("format is '{format}', expected '{FORMAT}'")
            },
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
        steps: i64s(&fin, "steps")?,
        stop_reason: {
            let text = h5::read_strings(path, &fin, "stop_reason")?.join("");
            StopReason::parse(&text).ok_or_else(|| Error::NotAnArtifact {
                path: path.to_path_buf(),
                reason: format!("/final/stop_reason is '{text}'"),
            })?
        },
        measured_epoch: if fin.link_exists("measured_epoch") {
            Some(i64s(&fin, "measured_epoch")?)
        } else {
            None
        },
        noisy_acc: optional(path, &fin, "noisy_acc")?.first().copied(),
        clean_acc: optional(path, &fin, "clean_acc")?.first().copied(),
    };
    let d = num_params_of(path, &f)?;
    let read_mode = |mode: BnMode| -> Result<CurvatureSummary> {
        let Ok(cur) = f.group(curvature_group(mode)) else {
            return Ok(CurvatureSummary::missing(d));
        };
        Ok(CurvatureSummary {
            lambda_max: r(&cur, "lambda_max")?,
            lambda_max_converged: u8s(&cur, "lambda_max_converged")?,
            frobenius_norm: r(&cur, "frobenius_norm")?,
            frobenius_norm_se: r(&cur, "frobenius_norm_se")?,
            trace: r(&cur, "trace")?,
            trace_se: r(&cur, "trace_se")?,
            num_params: i64s(&cur, "num_params")?,
        })
    };
    let subset_check = match f.group("curvature_subset_check") {
        Ok(g) => Some(SubsetCheck {
            eval_samples: i64s(&g, "eval_samples")? as usize,
            lambda_max: r(&g, "lambda_max")?,
            frobenius_norm: r(&g, "frobenius_norm")?,
        }),
        Err(_) => None,
    };
    let noise = match f.group("curvature_noise") {
        Ok(g) => Some(NoiseSummary {
            probes: i64s(&g, "probes")?,
            trace: r(&g, "trace")?,
            trace_se: r(&g, "trace_se")?,
            frobenius_norm: r(&g, "frobenius_norm")?,
            frobenius_norm_se: r(&g, "frobenius_norm_se")?,
            trace_ch: r(&g, "trace_ch")?,
            trace_ch_se: r(&g, "trace_ch_se")?,
        }),
        Err(_) => None,
    };
    let norms = match f.group("norms") {
        Ok(g) => {
            let mut names = g.member_names().map_err(Error::hdf5(path, "/norms"))?;
            names.sort();
            names
                .into_iter()
                .map(|n| Ok((n.clone(), r(&g, &n)?)))
                .collect::<Result<Vec<_>>>()?
        }
        Err(_) => Vec::new(),
    };
    let (curvature, curvature_batch) = (read_mode(BnMode::Eval)?, read_mode(BnMode::Batch)?);
    let stored_hash = h5::read_attr_str(path, &f, "content_sha256")?;
    let recomputed_hash = h5::content_hash(path, &f, &HASH_EXCLUDE, &HASH_ATTRS)?;
    Ok(ArtifactSummary {
        path: path.to_path_buf(),
        config,
        config_toml,
        provenance,
        final_metrics,
        curvature,
        curvature_batch,
        subset_check,
        noise,
        norms,
        curves: read_curves(path, &f.group("curves").map_err(missing("curves"))?)?,
        stored_hash,
        recomputed_hash,
    })
}

/// D, from the stored parameters' shapes (for summaries of runs without a curvature group).
fn num_params_of(path: &Path, f: &hdf5::File) -> Result<i64> {
    let g = f.group("params").map_err(Error::hdf5(path, "/params"))?;
    let mut d = 0;
    for n in g.member_names().map_err(Error::hdf5(path, "/params"))? {
        if !n.contains("running_") {
            let ds = g
                .dataset(&n)
                .map_err(Error::hdf5(path, format!("/params/{n}")))?;
            d += ds.size() as i64;
        }
    }
    Ok(d)
}

/// The stored model of an artifact (`/params/*`: every parameter and BatchNorm buffer, by name)
/// and its split (`/split/train_indices`, `/split/val_indices`).
pub struct StoredModel {
    pub params: Vec<crate::model::NamedValues>,
    pub train_indices: Vec<i64>,
    pub val_indices: Vec<i64>,
}

/// Reads what [`StoredModel`] holds from an artifact (without checking its hash; use
/// [`verify`] for that).
pub fn read_model(path: &Path) -> Result<StoredModel> {
    let f = h5::open(path)?;
    let group = |g: &str| {
        f.group(g).map_err(|_| Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!("group /{g} is missing"),
        })
    };
    let split = group("split")?;
    Ok(StoredModel {
        params: checkpoint::read_tensors(path, &group("params")?)?,
        train_indices: h5::read_vec(path, &split, "train_indices")?,
        val_indices: h5::read_vec(path, &split, "val_indices")?,
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
