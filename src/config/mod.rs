//! Experiments as data: the resolved configuration of one run (everything its numbers depend on
//! besides the platform), read from and written to TOML, validated before anything runs.
mod analysis;
pub mod bounds;
mod experiment;
mod theory;

pub use analysis::{
    Analysis, BasinClaim, Breakdown, BreakdownCriterion, Claim, Contrast, CurveCompare, Figure,
    FigureKind, GroupTable, Interpolation, Test,
};
pub use experiment::{named_by, Axis, Experiment, GridPoint, Override, Profile};
pub use theory::{
    FiniteSumConfig, GibbsConfig, QuadraticConfig, Sampler, SpectrumConfig, Step, TheoryBands,
    TheoryConfig,
};

use crate::data::{DatasetName, SplitSpec};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Learning-rate / batch-size schedules (Table 1 and Fig. 1 of the paper). In every cyclic
/// schedule the maximum is 5× the minimum, and both start a cycle at the high-noise end:
/// cyclic learning rates move η between `lr` and `lr/5`; the cyclic batch size moves S between
/// `batch_size` and `5·batch_size`; so both span the same range of η/S.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Constant,
    /// η multiplied by `decay_factor` every `decay_every` epochs.
    StepDecay,
    /// η = lr for the first half of each cycle, lr/5 for the second.
    CyclicLrDiscrete,
    /// η falls linearly from lr to lr/5 over half a cycle and rises back over the other half.
    CyclicLrTriangular,
    /// S = batch_size for the first half of each cycle, 5·batch_size for the second.
    CyclicBatchDiscrete,
    /// η multiplied by `decay_factor` at each epoch listed in `milestones` (the paper's Fig. 2
    /// schedules: ÷10 at epochs 60, 100, 140, 180 for ResNet-56).
    Milestones,
}

impl ScheduleKind {
    pub const ALL: [ScheduleKind; 6] = [
        ScheduleKind::Constant,
        ScheduleKind::StepDecay,
        ScheduleKind::CyclicLrDiscrete,
        ScheduleKind::CyclicLrTriangular,
        ScheduleKind::CyclicBatchDiscrete,
        ScheduleKind::Milestones,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::StepDecay => "step_decay",
            ScheduleKind::CyclicLrDiscrete => "cyclic_lr_discrete",
            ScheduleKind::CyclicLrTriangular => "cyclic_lr_triangular",
            ScheduleKind::CyclicBatchDiscrete => "cyclic_batch_discrete",
            ScheduleKind::Milestones => "milestones",
        }
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScheduleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown schedule '{s}' (expected one of: {})",
                    Self::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }
}

/// How Hessian-vector products are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HvpMethod {
    /// The exact Hessian (up to rounding): for the MLP's loss Pearlmutter's R-operator written
    /// out (one R-forward and one R-backward pass per product, forward and backward at θ kept),
    /// for any other objective double backward.
    Exact,
    /// Double backward through autograd (exact up to rounding; PyHessian's method), for
    /// comparison with `exact`.
    DoubleBackward,
    /// Central differences of gradients, (∇L(θ+εv) − ∇L(θ−εv)) / 2ε (Wu et al. 2017; the paper).
    FiniteDifference,
}

impl HvpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HvpMethod::Exact => "exact",
            HvpMethod::DoubleBackward => "double_backward",
            HvpMethod::FiniteDifference => "finite_difference",
        }
    }
}

impl FromStr for HvpMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exact" => Ok(HvpMethod::Exact),
            "double_backward" => Ok(HvpMethod::DoubleBackward),
            "finite_difference" => Ok(HvpMethod::FiniteDifference),
            _ => Err(format!(
                "unknown HVP method '{s}' (expected exact, double_backward or finite_difference)"
            )),
        }
    }
}

/// How λ_max is estimated from HVPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EigenMethod {
    /// Power iteration (PyHessian's method).
    #[default]
    Power,
    /// Lanczos (three-term recurrence): the same stopping rule, several times fewer HVPs.
    Lanczos,
}

impl EigenMethod {
    pub fn is_power(&self) -> bool {
        *self == EigenMethod::Power
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate η (> 0).
    pub lr: f64,
    /// Batch size S.
    pub batch_size: usize,
    /// Epochs to train; with `target_train_loss`, the most epochs a run may take.
    pub epochs: usize,
    /// Stop at the first epoch end where the loss of the whole training subset (BatchNorm in
    /// eval mode) is at or below this value, so that minima are compared at equal training loss
    /// (the paper, Sec. 2.2). Runs that use every epoch without reaching it record
    /// `stop_reason = "epochs"` and are excluded from an experiment's analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_train_loss: Option<f64>,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_schedule")]
    pub schedule: ScheduleKind,
    /// Cycle length in epochs for cyclic schedules.
    #[serde(default = "default_cycle")]
    pub cycle_epochs: usize,
    /// Step decay: multiply η by `decay_factor` every `decay_every` epochs.
    #[serde(default = "default_decay_every")]
    pub decay_every: usize,
    #[serde(default = "default_decay_factor")]
    pub decay_factor: f64,
    /// Milestone schedule: η is multiplied by `decay_factor` once each of these many epochs
    /// (ascending) has completed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<usize>,
    /// Keep the model of the epoch with the best validation accuracy and measure that one
    /// (curvature, test accuracy, the final metrics, the stored parameters) instead of the last
    /// epoch's: the paper's Table 1 reports curvature "at the best validation score". Left out
    /// of the stored config when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_best_val: bool,
    /// Train to memorisation (the paper's Fig. 6): stop at the first epoch end where accuracy on
    /// the training labels replaced by random ones (`data.label_noise`) is at or above this
    /// fraction (the paper: 0.999). Runs that use every epoch without getting there record
    /// `stop_reason = "epochs"` and are excluded from an experiment's analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_at_noisy_acc: Option<f64>,
    /// How minibatches are drawn: `reshuffle` (a permutation per epoch; the default, left out
    /// of the stored config) or `independent` (each step S distinct samples drawn afresh).
    #[serde(default, skip_serializing_if = "Sampler::is_default")]
    pub sampler: Sampler,
}

fn default_schedule() -> ScheduleKind {
    ScheduleKind::Constant
}
fn default_cycle() -> usize {
    10
}
fn default_decay_every() -> usize {
    25
}
fn default_decay_factor() -> f64 {
    0.5
}

/// Which BatchNorm reading(s) of "the Hessian of the training loss" to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BnMode {
    /// BatchNorm with its running averages: the network is the fixed function of θ it is used
    /// as after training (PyHessian's convention). Every parameter is included.
    #[default]
    Eval,
    /// BatchNorm with the evaluation subset's own statistics, as one batch: the loss SGD
    /// minimised. Parameters the loss does not depend on in this mode (the biases feeding a
    /// BatchNorm) are left out.
    Batch,
    /// Both, eval first.
    Both,
}

impl BnMode {
    pub fn is_eval(&self) -> bool {
        *self == BnMode::Eval
    }
    /// The single modes this selection measures, in order.
    pub fn modes(self) -> &'static [BnMode] {
        match self {
            BnMode::Eval => &[BnMode::Eval],
            BnMode::Batch => &[BnMode::Batch],
            BnMode::Both => &[BnMode::Eval, BnMode::Batch],
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BnMode::Eval => "eval",
            BnMode::Batch => "batch",
            BnMode::Both => "both",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvatureConfig {
    /// Size of the fixed, seeded evaluation subset of the training set. PyHessian's maintainers
    /// found ~4096 samples necessary for a stable top eigenvalue (PyHessian issue #5).
    pub eval_samples: usize,
    pub hvp: HvpMethod,
    /// Finite-difference step relative to ‖θ‖ (ε = fd_eps·‖θ‖/‖v‖). float32 rounding favours
    /// ≈ eps^(1/3) ≈ 5e-3 (pytorch-hessian-eigenthings); smaller steps lose digits.
    #[serde(default = "default_fd_eps")]
    pub fd_eps: f64,
    /// Power iteration stops when |λ_k − λ_{k−1}| ≤ tol·|λ_k| (PyHessian: 1e-3) or after
    /// `power_max_iters` iterations (PyHessian: 100).
    pub power_tol: f64,
    pub power_max_iters: usize,
    /// `power` (default; left out of the stored config so older artifacts keep their hash) or
    /// `lanczos`; both stop by `power_tol` within `power_max_iters` HVPs.
    #[serde(default, skip_serializing_if = "EigenMethod::is_power")]
    pub lambda_max_method: EigenMethod,
    /// Gaussian probes for ‖H‖_F² = E‖Hv‖².
    pub frobenius_probes: usize,
    /// Rademacher probes for Hutchinson's Tr(H) = E[zᵀHz].
    pub trace_probes: usize,
    /// `eval` (default; left out of the stored config), `batch` or `both`.
    #[serde(default, skip_serializing_if = "BnMode::is_eval")]
    pub bn_mode: BnMode,
    /// When > 0: λ_max and ‖H‖_F (eval mode) are measured a second time on this many samples
    /// (a superset of the evaluation subset), to show how much the subset size biases them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub subset_check_samples: usize,
    /// When > 0: the per-sample gradient covariance C on the evaluation subset (BatchNorm in
    /// eval mode, where per-sample gradients are defined) is estimated with this many Rademacher
    /// probes v, each giving vᵀCv, ‖Cv‖² and vᵀCHv: Tr C, ‖C‖_F and the alignment
    /// Tr(CH)/(‖C‖_F‖H‖_F) the paper's Assumption 2 (C = H) is about.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noise_probes: usize,
}

/// The value of a field the stored config leaves out at its default (so that older artifacts
/// keep their hashes), for reading it by path.
fn skipped_default(path: &str) -> Option<toml::Value> {
    Some(match path {
        "sgd.sampler" => Sampler::default().as_str().into(),
        "sgd.keep_best_val" => false.into(),
        "curvature.bn_mode" => "eval".into(),
        "curvature.lambda_max_method" => "power".into(),
        "curvature.subset_check_samples" | "curvature.noise_probes" => 0.into(),
        "data.dataset" => crate::data::DatasetName::default().as_str().into(),
        "data.label_noise" => 0.0.into(),
        _ => return None,
    })
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_fd_eps() -> f64 {
    5e-3
}

/// What a run trains on besides the split sizes. Left out of the stored config when it is the
/// default (Fashion-MNIST, clean labels), so configs from before it keep their hash.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `fashion_mnist` (the default) or `mnist`.
    #[serde(skip_serializing_if = "DatasetName::is_default")]
    pub dataset: DatasetName,
    /// The fraction of training labels replaced by seeded random ones, in [0, 1) (Fig. 6).
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub label_noise: f64,
}

impl DataConfig {
    pub fn is_default(&self) -> bool {
        *self == DataConfig::default()
    }
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// The widest hidden layer a config may ask for (see `validate`).
pub const MAX_WIDTH: usize = 8192;
/// The most epochs a config may ask for.
pub const MAX_EPOCHS: usize = 100_000;
pub use bounds::{MAX_ITERATIONS, MAX_THREADS};
pub const MAX_PROBES: usize = 100_000;
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Which experiment and profile this run belongs to ("fig3"/"quick", or "adhoc"/"cli");
    /// filled in when a profile is resolved.
    #[serde(default)]
    pub experiment: String,
    #[serde(default)]
    pub profile: String,
    /// Hidden width h of the 784→h→h→h→10 MLP (the paper: 512).
    pub width: usize,
    /// The dataset and label noise (`[data]`); absent means Fashion-MNIST with clean labels.
    #[serde(default, skip_serializing_if = "DataConfig::is_default")]
    pub data: DataConfig,
    pub split: SplitSpec,
    pub sgd: SgdConfig,
    pub curvature: CurvatureConfig,
    pub seed: u64,
    /// Intra-op threads; part of the platform class (reduction order depends on it).
    pub threads: usize,
    /// "cpu", "cuda" or "cuda:N".
    pub device: DeviceSpec,
    /// The point's name within its experiment profile, when it is not the default
    /// `lr<η>_bs<S>_seed<seed>` (points that vary other fields); left out of the stored config
    /// otherwise, so configs of plain η × S grids keep their hash.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub point: String,
    /// Which arm of an experiment this run is (e.g. `cyclic-batch`, `linear-x4`): it names the
    /// point and is how an analysis selects runs (curve comparisons, group tables). Left out of
    /// the stored config when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

/// A device as written in configs and on the command line ("cpu", "cuda", "cuda:N"), parsed once
/// when read; it serialises back to the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceSpec {
    text: String,
    device: tch::Device,
}

impl DeviceSpec {
    pub fn cpu() -> Self {
        DeviceSpec {
            text: "cpu".into(),
            device: tch::Device::Cpu,
        }
    }
    pub fn device(&self) -> tch::Device {
        self.device
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn is_cuda(&self) -> bool {
        matches!(self.device, tch::Device::Cuda(_))
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let device = match s {
            "cpu" => tch::Device::Cpu,
            "cuda" => tch::Device::Cuda(0),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(tch::Device::Cuda)
                .ok_or_else(|| format!("unknown device '{s}' (expected cpu, cuda or cuda:N)"))?,
        };
        Ok(DeviceSpec {
            text: s.to_string(),
            device,
        })
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.text
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl RunConfig {
    /// A small but complete configuration, the base for `three-factors run` without a config.
    pub fn adhoc() -> Self {
        RunConfig {
            experiment: "adhoc".into(),
            profile: "cli".into(),
            width: 128,
            data: DataConfig::default(),
            split: SplitSpec {
                train: 5000,
                val: 1000,
                test: 1000,
            },
            sgd: SgdConfig {
                lr: 0.05,
                batch_size: 128,
                epochs: 5,
                target_train_loss: None,
                momentum: 0.0,
                weight_decay: 0.0,
                schedule: ScheduleKind::Constant,
                cycle_epochs: default_cycle(),
                decay_every: default_decay_every(),
                decay_factor: default_decay_factor(),
                milestones: Vec::new(),
                keep_best_val: false,
                stop_at_noisy_acc: None,
                sampler: Sampler::Reshuffle,
            },
            curvature: CurvatureConfig {
                eval_samples: 1024,
                hvp: HvpMethod::Exact,
                fd_eps: default_fd_eps(),
                power_tol: 1e-3,
                power_max_iters: 100,
                lambda_max_method: EigenMethod::Power,
                frobenius_probes: 8,
                trace_probes: 8,
                bn_mode: BnMode::Eval,
                subset_check_samples: 0,
                noise_probes: 0,
            },
            seed: 0,
            threads: 1,
            device: DeviceSpec::cpu(),
            point: String::new(),
            variant: String::new(),
        }
    }

    pub fn from_toml(text: &str, origin: &std::path::Path) -> Result<Self> {
        let cfg: RunConfig = toml::from_str(text).map_err(|e| Error::Toml {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.validate(&origin.display().to_string())?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("RunConfig serialises")
    }

    pub fn device(&self) -> tch::Device {
        self.device.device()
    }

    /// The value at a dotted field path (`sgd.lr`, `split.train`), as TOML.
    pub fn field(&self, path: &str) -> Option<toml::Value> {
        let mut v = toml::Value::try_from(self).expect("RunConfig serialises");
        for key in path.split('.') {
            match v.as_table_mut()?.remove(key) {
                Some(next) => v = next,
                None => return skipped_default(path),
            }
        }
        Some(v)
    }

    /// Dotted paths of the fields whose values differ between `self` and `other`, in sorted
    /// order.
    pub fn differing_fields(&self, other: &RunConfig) -> Vec<String> {
        fn leaves(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
            match v.as_table() {
                Some(t) => {
                    for (k, v) in t {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(&key, v, out);
                    }
                }
                None => out.push((prefix.to_string(), v.clone())),
            }
        }
        let flat = |c: &RunConfig| {
            let mut out = Vec::new();
            leaves(
                "",
                &toml::Value::try_from(c).expect("RunConfig serialises"),
                &mut out,
            );
            out
        };
        let (a, b) = (flat(self), flat(other));
        let mut keys: Vec<String> = a
            .iter()
            .chain(&b)
            .map(|(k, _)| k.clone())
            // A field one of them leaves out at its default reads as that default.
            .filter(|k| self.field(k) != other.field(k))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// This config with the fields at dotted paths set to new values; a path that names no field,
    /// or a value of the wrong type, is an error naming the field. Not validated.
    pub fn with_fields(&self, fields: &[(String, toml::Value)], origin: &str) -> Result<RunConfig> {
        let mut v = toml::Value::try_from(self).expect("RunConfig serialises");
        for (path, value) in fields {
            let mut t = &mut v;
            let keys: Vec<&str> = path.split('.').collect();
            for k in &keys[..keys.len() - 1] {
                t = t
                    .as_table_mut()
                    .and_then(|t| t.get_mut(*k))
                    .filter(|x| x.is_table())
                    .ok_or_else(|| {
                        Error::config(origin, path.as_str(), "no such field in a run config")
                    })?;
            }
            t.as_table_mut()
                .expect("checked above")
                .insert(keys[keys.len() - 1].to_string(), value.clone());
        }
        v.try_into().map_err(|e: toml::de::Error| {
            let fields: Vec<&str> = fields.iter().map(|(p, _)| p.as_str()).collect();
            Error::config(origin, fields.join(", "), e.message().to_string())
        })
    }

    /// η/S, the noise scale the paper is about.
    pub fn eta_over_s(&self) -> f64 {
        self.sgd.lr / self.sgd.batch_size as f64
    }

    /// η/((1 − μ)·S): with momentum μ, SGD's effective learning rate is η/(1 − μ), so this is
    /// the noise scale runs of different momentum are compared on (Fig. 6); η/S when μ = 0.
    pub fn eta_over_s_eff(&self) -> f64 {
        self.eta_over_s() / (1.0 - self.sgd.momentum)
    }

    /// Rejects configurations that cannot run, naming the field; `origin` names the source.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad = |field: &str, reason: String| Err(Error::config(origin, field, reason));
        if self.seed > i64::MAX as u64 {
            return bad(
                "seed",
                format!(
                    "must be at most {} (TOML and HDF5 store it as a signed 64-bit integer), got {}",
                    i64::MAX,
                    self.seed
                ),
            );
        }
        let s = &self.sgd;
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return bad("sgd.lr", format!("learning rate must be > 0, got {}", s.lr));
        }
        if s.batch_size < 2 {
            return bad(
                "sgd.batch_size",
                format!(
                    "must be ≥ 2 (BatchNorm needs two samples), got {}",
                    s.batch_size
                ),
            );
        }
        let max_batch = if s.schedule == ScheduleKind::CyclicBatchDiscrete {
            s.batch_size.saturating_mul(5)
        } else {
            s.batch_size
        };
        if max_batch > self.split.train {
            return bad(
                "sgd.batch_size",
                format!(
                    "batch size {max_batch} exceeds the {} training samples",
                    self.split.train
                ),
            );
        }
        if s.epochs == 0 || s.epochs > MAX_EPOCHS {
            return bad(
                "sgd.epochs",
                format!(
                    "must be in 1..={MAX_EPOCHS} (the paper trains 300), got {}",
                    s.epochs
                ),
            );
        }
        if !(1..=MAX_EPOCHS).contains(&s.decay_every) {
            return bad(
                "sgd.decay_every",
                format!(
                    "must be in 1..={MAX_EPOCHS} (η is multiplied by decay_factor every decay_every epochs), got {}",
                    s.decay_every
                ),
            );
        }
        if let Some(t) = s.target_train_loss {
            if !(t.is_finite() && t > 0.0) {
                return bad(
                    "sgd.target_train_loss",
                    format!("must be a loss > 0, got {t}"),
                );
            }
        }
        if !(0.0..1.0).contains(&s.momentum) {
            return bad(
                "sgd.momentum",
                format!("must be in [0, 1), got {}", s.momentum),
            );
        }
        if !(s.weight_decay.is_finite() && s.weight_decay >= 0.0) {
            return bad(
                "sgd.weight_decay",
                format!("must be a number ≥ 0, got {}", s.weight_decay),
            );
        }
        if !(2..=MAX_EPOCHS).contains(&s.cycle_epochs) {
            return bad(
                "sgd.cycle_epochs",
                format!("must be in 2..={MAX_EPOCHS}, got {}", s.cycle_epochs),
            );
        }
        if !(s.decay_factor.is_finite() && s.decay_factor > 0.0) {
            return bad(
                "sgd.decay_factor",
                format!("must be > 0, got {}", s.decay_factor),
            );
        }
        if s.schedule == ScheduleKind::Milestones && s.milestones.is_empty() {
            return bad(
                "sgd.milestones",
                "the milestones schedule needs at least one epoch".into(),
            );
        }
        if s.milestones.windows(2).any(|w| w[0] >= w[1]) || s.milestones.first() == Some(&0) {
            return bad(
                "sgd.milestones",
                format!(
                    "must be strictly ascending epochs ≥ 1, got {:?}",
                    s.milestones
                ),
            );
        }
        if let Some(&m) = s.milestones.iter().find(|&&m| m >= s.epochs) {
            return bad(
                "sgd.milestones",
                format!(
                    "milestone {m} is never reached: training has {} epochs",
                    s.epochs
                ),
            );
        }
        if !s.milestones.is_empty() && s.schedule != ScheduleKind::Milestones {
            return bad(
                "sgd.milestones",
                format!(
                    "only the milestones schedule uses them (schedule is {})",
                    s.schedule
                ),
            );
        }
        let noise = self.data.label_noise;
        if !(0.0..1.0).contains(&noise) {
            return bad(
                "data.label_noise",
                format!("must be a fraction in [0, 1), got {noise}"),
            );
        }
        if let Some(t) = s.stop_at_noisy_acc {
            if !(t > 0.0 && t <= 1.0) {
                return bad(
                    "sgd.stop_at_noisy_acc",
                    format!("must be an accuracy in (0, 1], got {t}"),
                );
            }
            if noise == 0.0 {
                return bad(
                    "sgd.stop_at_noisy_acc",
                    "needs random labels to memorise: set data.label_noise > 0".into(),
                );
            }
            if s.keep_best_val {
                return bad(
                    "sgd.stop_at_noisy_acc",
                    "cannot be combined with sgd.keep_best_val (the measured model must be the memorised one)".into(),
                );
            }
            if s.target_train_loss.is_some() {
                return bad(
                    "sgd.stop_at_noisy_acc",
                    "cannot be combined with sgd.target_train_loss (choose one stopping rule)"
                        .into(),
                );
            }
        }
        if noise > 0.0 && (noise * self.split.train as f64).round() < 1.0 {
            return bad(
                "data.label_noise",
                format!(
                    "{noise} of {} training samples replaces no label; use 0 or a larger fraction",
                    self.split.train
                ),
            );
        }
        if self.width == 0 || self.width > MAX_WIDTH {
            return bad(
                "width",
                format!(
                    "must be in 1..={MAX_WIDTH}, got {} (a width of {MAX_WIDTH} is already \
                     {:.1e} parameters, {:.1} GB per float32 copy, and training and curvature \
                     hold several copies)",
                    self.width,
                    crate::model::MlpShape::fashion(MAX_WIDTH).num_params() as f64,
                    crate::model::MlpShape::fashion(MAX_WIDTH).num_params() as f64 * 4e-9
                ),
            );
        }
        if self.split.val == 0 || self.split.test == 0 {
            return bad("split", "val and test must be ≥ 1".into());
        }
        if self.split.train.saturating_add(self.split.val) > crate::data::TRAIN_IMAGES {
            return bad(
                "split.train",
                format!(
                    "train + val = {} + {} exceeds {}'s {} training images",
                    self.split.train,
                    self.split.val,
                    self.data.dataset.title(),
                    crate::data::TRAIN_IMAGES
                ),
            );
        }
        if self.split.test > crate::data::TEST_IMAGES {
            return bad(
                "split.test",
                format!(
                    "{} exceeds {}'s {} test images",
                    self.split.test,
                    self.data.dataset.title(),
                    crate::data::TEST_IMAGES
                ),
            );
        }
        let c = &self.curvature;
        if c.eval_samples < 2 || c.eval_samples > self.split.train {
            return bad(
                "curvature.eval_samples",
                format!(
                    "must be in 2..={} (the training set), got {}",
                    self.split.train, c.eval_samples
                ),
            );
        }
        if c.subset_check_samples != 0
            && !(c.eval_samples < c.subset_check_samples
                && c.subset_check_samples <= self.split.train)
        {
            return bad(
                "curvature.subset_check_samples",
                format!(
                    "must be 0 (off) or in {}..={} (more than eval_samples, at most the training set), got {}",
                    c.eval_samples + 1,
                    self.split.train,
                    c.subset_check_samples
                ),
            );
        }
        if c.noise_probes == 1 || c.noise_probes > 10_000 {
            return bad(
                "curvature.noise_probes",
                format!(
                    "must be 0 (off) or 2..=10000 (a standard error needs two), got {}",
                    c.noise_probes
                ),
            );
        }
        if c.noise_probes != 0 && c.bn_mode == BnMode::Batch {
            return bad(
                "curvature.noise_probes",
                "per-sample gradients are defined in eval mode; set curvature.bn_mode to \"eval\" or \"both\"".into(),
            );
        }
        if c.subset_check_samples != 0 && c.bn_mode == BnMode::Batch {
            return bad(
                "curvature.subset_check_samples",
                "the subset check measures eval mode; set curvature.bn_mode to \"eval\" or \"both\"".into(),
            );
        }
        if !(c.power_tol.is_finite() && c.power_tol > 0.0) {
            return bad(
                "curvature.power_tol",
                format!("tolerance must be a number > 0, got {}", c.power_tol),
            );
        }
        if !(1..=MAX_ITERATIONS).contains(&c.power_max_iters) {
            return bad(
                "curvature.power_max_iters",
                format!(
                    "must be in 1..={MAX_ITERATIONS} (each is a Hessian-vector product), got {}",
                    c.power_max_iters
                ),
            );
        }
        for (field, n) in [
            ("curvature.frobenius_probes", c.frobenius_probes),
            ("curvature.trace_probes", c.trace_probes),
        ] {
            if !(2..=MAX_PROBES).contains(&n) {
                return bad(
                    field,
                    format!(
                        "must be in 2..={MAX_PROBES} (a standard error needs two; each is a \
                         Hessian-vector product), got {n}"
                    ),
                );
            }
        }
        if !(c.fd_eps.is_finite() && c.fd_eps > 0.0) {
            return bad(
                "curvature.fd_eps",
                format!("must be a number > 0, got {}", c.fd_eps),
            );
        }
        if let Err(why) = bounds::threads(self.threads) {
            return bad("threads", why);
        }
        // A net under the checks above (which bound every integer far lower): every value must
        // be storable in the artifact's TOML, whose integers are signed 64-bit.
        if let Err(e) = toml::Value::try_from(self) {
            return bad(
                "config",
                format!("a value does not fit TOML's signed 64-bit integers: {e}"),
            );
        }
        Ok(())
    }

    /// The default name of a run: `lr0.05_bs128_seed0`.
    pub fn default_name(&self) -> String {
        format!(
            "lr{}_bs{}_seed{}",
            self.sgd.lr, self.sgd.batch_size, self.seed
        )
    }

    /// A short stable name for the run's artifact and golden entries: its point name, else
    /// [`RunConfig::default_name`].
    pub fn run_name(&self) -> String {
        if self.point.is_empty() {
            self.default_name()
        } else {
            self.point.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_would_divide_by_zero_hang_or_overflow_are_rejected() {
        type Break = fn(&mut RunConfig);
        let cases: [(&str, Break); 7] = [
            ("sgd.decay_every", |c| c.sgd.decay_every = 0),
            ("sgd.epochs", |c| c.sgd.epochs = usize::MAX),
            ("curvature.power_max_iters", |c| {
                c.curvature.power_max_iters = usize::MAX
            }),
            ("curvature.fd_eps", |c| c.curvature.fd_eps = f64::INFINITY),
            ("seed", |c| c.seed = u64::MAX),
            ("sgd.cycle_epochs", |c| c.sgd.cycle_epochs = usize::MAX),
            ("split.train", |c| c.split.train = usize::MAX),
        ];
        for (field, break_it) in cases {
            let mut c = RunConfig::adhoc();
            break_it(&mut c);
            let e = c.validate("test").unwrap_err().to_string();
            assert!(e.contains(&format!("invalid config: {field}:")), "{e}");
        }
    }

    #[test]
    fn toml_round_trip() {
        let c = RunConfig::adhoc();
        let back = RunConfig::from_toml(&c.to_toml(), std::path::Path::new("x.toml")).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn schedule_names_round_trip() {
        for k in ScheduleKind::ALL {
            assert_eq!(k.as_str().parse::<ScheduleKind>().unwrap(), k);
        }
        assert!("sawtooth"
            .parse::<ScheduleKind>()
            .unwrap_err()
            .contains("cyclic_batch_discrete"));
    }

    #[test]
    fn nonsense_is_rejected_naming_the_field() {
        let mut c = RunConfig::adhoc();
        c.sgd.lr = 0.0;
        assert!(c.validate("t").unwrap_err().to_string().contains("sgd.lr"));
        let mut c = RunConfig::adhoc();
        c.sgd.batch_size = 100_000;
        assert!(c
            .validate("t")
            .unwrap_err()
            .to_string()
            .contains("exceeds the 5000 training samples"));
        let text = RunConfig::adhoc()
            .to_toml()
            .replace("schedule = \"constant\"", "schedule = \"sawtooth\"");
        let e = RunConfig::from_toml(&text, std::path::Path::new("bad.toml")).unwrap_err();
        assert!(
            matches!(e, Error::Toml { .. }) && e.to_string().contains("bad.toml"),
            "{e}"
        );
        let text = RunConfig::adhoc().to_toml().replace("seed = 0\n", "");
        let e = RunConfig::from_toml(&text, std::path::Path::new("m.toml")).unwrap_err();
        assert!(e.to_string().contains("missing field `seed`"), "{e}");
        let text = RunConfig::adhoc()
            .to_toml()
            .replace("device = \"cpu\"", "device = \"tpu\"");
        let e = RunConfig::from_toml(&text, std::path::Path::new("d.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown device 'tpu'"), "{e}");
    }

    #[test]
    fn label_noise_and_memorisation_are_validated_and_default_configs_keep_their_text() {
        let text = RunConfig::adhoc().to_toml();
        assert!(
            !text.contains("[data]") && !text.contains("stop_at_noisy_acc"),
            "{text}"
        );
        for (noise, stop, needle) in [
            (
                1.0,
                None,
                "data.label_noise: must be a fraction in [0, 1), got 1",
            ),
            (-0.1, None, "data.label_noise"),
            (f64::NAN, None, "data.label_noise"),
            (0.0, Some(0.99), "needs random labels to memorise"),
            (
                0.25,
                Some(1.5),
                "sgd.stop_at_noisy_acc: must be an accuracy in (0, 1]",
            ),
            (0.25, Some(0.0), "sgd.stop_at_noisy_acc"),
            (1e-6, None, "replaces no label"),
        ] {
            let mut c = RunConfig::adhoc();
            c.data.label_noise = noise;
            c.sgd.stop_at_noisy_acc = stop;
            let e = c.validate("t").unwrap_err().to_string();
            assert!(e.contains(needle), "{noise} {stop:?}: {e}");
        }
        for (best, target) in [(true, None), (false, Some(0.05))] {
            let mut c = RunConfig::adhoc();
            c.data.label_noise = 0.25;
            c.sgd.stop_at_noisy_acc = Some(0.999);
            c.sgd.keep_best_val = best;
            c.sgd.target_train_loss = target;
            let e = c.validate("t").unwrap_err().to_string();
            assert!(e.contains("cannot be combined"), "{e}");
        }
        let mut c = RunConfig::adhoc();
        c.data = DataConfig {
            dataset: DatasetName::Mnist,
            label_noise: 0.5,
        };
        c.sgd.stop_at_noisy_acc = Some(0.999);
        c.sgd.momentum = 0.9;
        let text = c.to_toml();
        assert!(
            text.contains("dataset = \"mnist\"") && text.contains("label_noise = 0.5"),
            "{text}"
        );
        assert_eq!(
            RunConfig::from_toml(&text, std::path::Path::new("m.toml")).unwrap(),
            c
        );
        assert!((c.eta_over_s_eff() - 10.0 * c.eta_over_s()).abs() < 1e-15);
        let e = RunConfig::from_toml(
            &text.replace("\"mnist\"", "\"cifar\""),
            std::path::Path::new("m.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("m.toml") && e.to_string().contains("cifar"),
            "{e}"
        );
    }

    #[test]
    fn fields_by_dotted_path() {
        let c = RunConfig::adhoc();
        assert_eq!(c.field("split.train"), Some(toml::Value::Integer(5000)));
        assert_eq!(c.field("sgd.nope"), None);
        let d = c
            .with_fields(
                &[
                    ("split.train".into(), toml::Value::Integer(512)),
                    ("sgd.lr".into(), toml::Value::Integer(1)),
                ],
                "t",
            )
            .unwrap();
        assert_eq!((d.split.train, d.sgd.lr), (512, 1.0));
        let e = c
            .with_fields(&[("sgd.nope".into(), toml::Value::Integer(1))], "t")
            .unwrap_err();
        assert!(
            e.to_string().contains("sgd.nope") && e.to_string().contains("unknown field"),
            "{e}"
        );
        let e = c
            .with_fields(&[("nope.x".into(), toml::Value::Integer(1))], "t")
            .unwrap_err();
        assert!(e.to_string().contains("nope.x: no such field"), "{e}");
        let e = c
            .with_fields(&[("width".into(), toml::Value::String("wide".into()))], "t")
            .unwrap_err();
        assert!(e.to_string().contains("width"), "{e}");
    }
}
