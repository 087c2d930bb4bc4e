//! Stage 4 — curvature: the width of the minimum SGD ended in. Input: a trained model and a
//! fixed, seeded evaluation subset of the training set; output: λ_max (power iteration or
//! Lanczos), ‖H‖_F and Tr(H) (random probes), each with its trace or standard error, under one or
//! both readings of BatchNorm (`curvature.bn_mode`):
//!
//! - **eval**: BatchNorm with its running averages. The network is a fixed function of θ, the
//!   one the trained model is used as (PyHessian's convention); every parameter is included.
//! - **batch**: BatchNorm with the evaluation subset's own statistics (one batch of
//!   `eval_samples`, running averages untouched, so deterministic): the training-mode loss SGD
//!   minimised. The biases feeding a BatchNorm cancel in it (zero gradient, never moved by SGD),
//!   so they are left out and the artifact lists them.
mod estimators;
mod hvp;
pub mod interpolate;
mod noise;
mod rop;

pub use estimators::{
    frobenius_norm, hutchinson_trace, lanczos, power_iteration, ProbeEstimate, TopEigenvalue,
};
pub use hvp::{dot, flatten, norm, unflatten, Hvp, MlpLoss, Objective};
pub use noise::{gradient_noise, GradientNoise, PerSample};
pub use rop::MlpHvp;

use crate::config::{BnMode, CurvatureConfig, EigenMethod};
use crate::data::{index_tensor, Subset};
use crate::determinism::Rng;
use crate::error::Result;
use crate::model::{cross_entropy, Mlp, Mode};

/// The curvature under one BatchNorm reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Curvature {
    /// `Eval` or `Batch`.
    pub bn_mode: BnMode,
    pub lambda_max: TopEigenvalue,
    pub frobenius: ProbeEstimate,
    pub trace: ProbeEstimate,
    /// D, the number of parameters included (Table 1 reports ‖H‖_F / D).
    pub num_params: i64,
    /// The parameters the Hessian is taken over, in order, and those left out.
    pub parameters: Vec<String>,
    pub excluded: Vec<String>,
}

/// λ_max and ‖H‖_F (eval mode) on a larger evaluation subset, to size the subset's bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubsetCheck {
    pub eval_samples: usize,
    pub lambda_max: f64,
    pub frobenius_norm: f64,
}

/// Everything [`measure`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// One per mode of `curvature.bn_mode`, in its order.
    pub modes: Vec<Curvature>,
    pub subset_check: Option<SubsetCheck>,
    /// The per-sample gradient covariance (eval mode), when `curvature.noise_probes` > 0.
    pub noise: Option<GradientNoise>,
    /// Indices (into the training subset) of the evaluation samples.
    pub eval_indices: Vec<usize>,
}

impl Measured {
    pub fn mode(&self, mode: BnMode) -> Option<&Curvature> {
        self.modes.iter().find(|c| c.bn_mode == mode)
    }
}

/// The seeded evaluation subset: the first `n` of a permutation of the training subset.
pub fn eval_subset(train: &Subset, n: usize, seed: u64) -> (Subset, Vec<usize>) {
    let mut idx = Rng::stream(seed, "eval-subset").permutation(train.len());
    idx.truncate(n);
    (train.select(&index_tensor(&idx, train.x.device())), idx)
}

/// The model's forward mode for a BatchNorm reading.
fn forward_mode(mode: BnMode) -> Mode {
    match mode {
        BnMode::Batch => Mode::Batch,
        _ => Mode::Eval,
    }
}

/// The indices (into `model.params`) of the parameters the loss depends on in `mode`.
pub fn included(model: &Mlp, mode: Mode) -> Vec<usize> {
    let flat = match mode {
        Mode::Eval => Vec::new(),
        Mode::Batch | Mode::Train => model.flat_with_batch_statistics(),
    };
    (0..model.params.len())
        .filter(|&i| !flat.contains(&model.params[i].0))
        .collect()
}

/// The training loss of `model` on `data` with BatchNorm in `mode` (`Eval` or `Batch`), as an
/// [`Objective`] over the parameters [`included`] in that mode; the others stay fixed.
pub fn model_objective<'a>(model: &'a Mlp, data: &'a Subset, mode: Mode) -> Objective<'a> {
    let keep = included(model, mode);
    Objective {
        params: keep
            .iter()
            .map(|&i| model.params[i].1.shallow_clone())
            .collect(),
        mlp: Some(MlpLoss {
            model,
            data,
            mode,
            keep: keep.clone(),
        }),
        loss: Box::new(move |p| {
            let mut all: Vec<&tch::Tensor> = model.params.iter().map(|(_, t)| t).collect();
            for (k, &i) in keep.iter().enumerate() {
                all[i] = p[k];
            }
            cross_entropy(&model.forward_with(&all, &data.x, mode), &data.y)
        }),
    }
}

/// λ_max by the configured method, then ‖H‖_F and Tr(H) with the given probe counts (0: not
/// measured), each from its own seeded stream.
fn spectrum(
    h: &Hvp,
    cfg: &CurvatureConfig,
    seed: u64,
    probes: (usize, usize),
) -> Result<(TopEigenvalue, Option<ProbeEstimate>, Option<ProbeEstimate>)> {
    let mut rng = Rng::stream(seed, "power");
    let top = match cfg.lambda_max_method {
        EigenMethod::Power => power_iteration(h, &mut rng, cfg.power_tol, cfg.power_max_iters)?,
        EigenMethod::Lanczos => lanczos(h, &mut rng, cfg.power_tol, cfg.power_max_iters)?,
    };
    let frobenius = match probes.0 {
        0 => None,
        n => Some(frobenius_norm(h, &mut Rng::stream(seed, "frobenius"), n)?),
    };
    let trace = match probes.1 {
        0 => None,
        n => Some(hutchinson_trace(h, &mut Rng::stream(seed, "trace"), n)?),
    };
    Ok((top, frobenius, trace))
}

/// The per-sample gradient covariance on `data` (eval mode), from `probes` probes of the
/// run's "noise" stream; `obj` and `h` are the eval-mode objective and its HVP on `data`.
fn noise_at(
    model: &Mlp,
    data: &Subset,
    obj: &Objective,
    h: &Hvp,
    seed: u64,
    probes: usize,
) -> Result<GradientNoise> {
    let per = PerSample::new(model, data, &obj.params)?;
    gradient_noise(&per, h, &mut Rng::stream(seed, "noise"), probes)
}

/// The per-sample gradient covariance of a trained model on the run's own evaluation subset
/// (the subset and probe stream its curvature used), as `curvature.noise_probes = probes` would
/// have measured it during the run.
pub fn gradient_noise_of(
    model: &Mlp,
    train: &Subset,
    cfg: &CurvatureConfig,
    seed: u64,
    probes: usize,
) -> Result<GradientNoise> {
    let (data, _) = eval_subset(train, cfg.eval_samples, seed);
    let obj = model_objective(model, &data, Mode::Eval);
    let h = Hvp::new(&obj, cfg.hvp, cfg.fd_eps)?;
    noise_at(model, &data, &obj, &h, seed, probes)
}

/// Measures λ_max, ‖H‖_F and Tr(H) of the training loss at the model's parameters, for each
/// BatchNorm reading `cfg.bn_mode` asks for, and the subset-size check when configured.
pub fn measure(model: &Mlp, train: &Subset, cfg: &CurvatureConfig, seed: u64) -> Result<Measured> {
    let (data, eval_indices) = eval_subset(train, cfg.eval_samples, seed);
    let mut modes = Vec::new();
    let mut noise = None;
    for &bn_mode in cfg.bn_mode.modes() {
        let mode = forward_mode(bn_mode);
        let obj = model_objective(model, &data, mode);
        let h = Hvp::new(&obj, cfg.hvp, cfg.fd_eps)?;
        let (lambda_max, frobenius, trace) =
            spectrum(&h, cfg, seed, (cfg.frobenius_probes, cfg.trace_probes))?;
        if bn_mode == BnMode::Eval && cfg.noise_probes > 0 {
            noise = Some(noise_at(model, &data, &obj, &h, seed, cfg.noise_probes)?);
        }
        let keep = included(model, mode);
        let names = |inside: bool| -> Vec<String> {
            (0..model.params.len())
                .filter(|i| keep.contains(i) == inside)
                .map(|i| model.params[i].0.clone())
                .collect()
        };
        modes.push(Curvature {
            bn_mode,
            lambda_max,
            frobenius: frobenius.expect("probes > 0 (validated)"),
            trace: trace.expect("probes > 0 (validated)"),
            num_params: obj.dim(),
            parameters: names(true),
            excluded: names(false),
        });
    }
    let subset_check = match cfg.subset_check_samples {
        0 => None,
        n => {
            let (data, _) = eval_subset(train, n, seed);
            let obj = model_objective(model, &data, Mode::Eval);
            let h = Hvp::new(&obj, cfg.hvp, cfg.fd_eps)?;
            let (top, frobenius, _) = spectrum(&h, cfg, seed, (cfg.frobenius_probes, 0))?;
            Some(SubsetCheck {
                eval_samples: n,
                lambda_max: top.lambda_max,
                frobenius_norm: frobenius.map_or(f64::NAN, |f| f.value),
            })
        }
    };
    Ok(Measured {
        modes,
        subset_check,
        noise,
        eval_indices,
    })
}

#[cfg(test)]
mod tests;
