//! Stage 4 — curvature: the width of the minimum SGD ended in. Input: a trained model and a
//! fixed, seeded evaluation subset of the training set; output: λ_max (power iteration), ‖H‖_F
//! and Tr(H) (random probes), each with its trace or standard error.
//!
//! BatchNorm is in eval mode here: in train mode the loss of one sample depends on the whole
//! batch's statistics, so "the Hessian of the loss" would include derivatives through the batch
//! mean and variance and change with the evaluation batch. In eval mode the network is a fixed
//! function of θ at the running averages the trained model will be used with, which is the
//! minimum whose width the paper relates to generalisation (PyHessian makes the same choice).
mod estimators;
mod hvp;

pub use estimators::{
    frobenius_norm, hutchinson_trace, lanczos, power_iteration, ProbeEstimate, TopEigenvalue,
};
pub use hvp::{dot, flatten, norm, unflatten, Hvp, Objective};

use crate::config::{CurvatureConfig, EigenMethod};
use crate::data::{index_tensor, Subset};
use crate::determinism::Rng;
use crate::error::Result;
use crate::model::{cross_entropy, Mlp, Mode};

#[derive(Debug, Clone, PartialEq)]
pub struct Curvature {
    pub lambda_max: TopEigenvalue,
    pub frobenius: ProbeEstimate,
    pub trace: ProbeEstimate,
    /// D, the number of parameters (Table 1 reports ‖H‖_F / D).
    pub num_params: i64,
    /// Indices (into the training subset) of the evaluation samples.
    pub eval_indices: Vec<usize>,
}

/// The seeded evaluation subset: the first `n` of a permutation of the training subset.
pub fn eval_subset(train: &Subset, n: usize, seed: u64) -> (Subset, Vec<usize>) {
    let mut idx = Rng::stream(seed, "eval-subset").permutation(train.len());
    idx.truncate(n);
    (train.select(&index_tensor(&idx, train.x.device())), idx)
}

/// The training loss of `model` on `data` (BatchNorm in eval mode) as an [`Objective`].
pub fn model_objective<'a>(model: &'a Mlp, data: &'a Subset) -> Objective<'a> {
    Objective {
        params: model.param_tensors(),
        loss: Box::new(move |p| {
            cross_entropy(&model.forward_with(p, &data.x, Mode::Eval), &data.y)
        }),
    }
}

/// Measures λ_max, ‖H‖_F and Tr(H) of the training loss at the model's parameters.
pub fn measure(model: &Mlp, train: &Subset, cfg: &CurvatureConfig, seed: u64) -> Result<Curvature> {
    let (data, eval_indices) = eval_subset(train, cfg.eval_samples, seed);
    let obj = model_objective(model, &data);
    let h = Hvp::new(&obj, cfg.hvp, cfg.fd_eps)?;
    let mut rng = Rng::stream(seed, "power");
    let lambda_max = match cfg.lambda_max_method {
        EigenMethod::Power => power_iteration(&h, &mut rng, cfg.power_tol, cfg.power_max_iters)?,
        EigenMethod::Lanczos => lanczos(&h, &mut rng, cfg.power_tol, cfg.power_max_iters)?,
    };
    let frobenius = frobenius_norm(
        &h,
        &mut Rng::stream(seed, "frobenius"),
        cfg.frobenius_probes,
    )?;
    let trace = hutchinson_trace(&h, &mut Rng::stream(seed, "trace"), cfg.trace_probes)?;
    Ok(Curvature {
        lambda_max,
        frobenius,
        trace,
        num_params: obj.dim(),
        eval_indices,
    })
}

#[cfg(test)]
mod tests;
