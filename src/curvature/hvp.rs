//! Hessian-vector products of a scalar objective over a list of parameter tensors: exact (the
//! MLP's R-operator where the objective is the MLP's loss, else double backward through
//! autograd) or by central finite differences of gradients.
use super::rop::MlpHvp;
use crate::config::HvpMethod;
use crate::data::Subset;
use crate::error::{Error, Result};
use crate::model::{Mlp, Mode};
use tch::{Device, Kind, Tensor};

/// L(θ') for parameters θ' in the same order and shapes as the objective's `params`.
pub type LossFn<'a> = Box<dyn Fn(&[&Tensor]) -> Tensor + 'a>;

/// A scalar function of parameters: the thing whose Hessian is measured.
pub struct Objective<'a> {
    /// The point θ (each `requires_grad`).
    pub params: Vec<Tensor>,
    pub loss: LossFn<'a>,
    /// Set when the objective is the MLP's mean cross-entropy: lets `exact` use the
    /// hand-written R-operator ([`MlpHvp`]) instead of double backward.
    pub mlp: Option<MlpLoss<'a>>,
}

/// The MLP loss an [`Objective`] is: the model (at θ), the samples, the BatchNorm reading and
/// the indices (into `model.params`) of the parameters in `Objective::params`, in order.
pub struct MlpLoss<'a> {
    pub model: &'a Mlp,
    pub data: &'a Subset,
    pub mode: Mode,
    pub keep: Vec<usize>,
}

impl Objective<'_> {
    pub fn dim(&self) -> i64 {
        self.params.iter().map(|p| p.numel() as i64).sum()
    }

    fn loss_at(&self, params: &[Tensor]) -> Tensor {
        let refs: Vec<&Tensor> = params.iter().collect();
        (self.loss)(&refs)
    }

    /// ∇L at `params`, flattened.
    pub fn gradient_at(&self, params: &[Tensor]) -> Result<Tensor> {
        let loss = self.loss_at(params);
        let g = Tensor::f_run_backward(&[&loss], params, false, false)
            .map_err(Error::torch("gradient"))?;
        Ok(flatten(&g))
    }
}

/// Concatenates tensors into one flat vector.
///
/// # Shapes
/// each `[..]` → `[Σ numel]`.
pub fn flatten(ts: &[Tensor]) -> Tensor {
    Tensor::cat(&ts.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(), 0)
}

/// Splits a flat vector into tensors shaped like `like`.
pub fn unflatten(flat: &Tensor, like: &[Tensor]) -> Vec<Tensor> {
    let mut out = Vec::with_capacity(like.len());
    let mut off = 0;
    for t in like {
        let n = t.numel() as i64;
        out.push(flat.narrow(0, off, n).view(t.size().as_slice()));
        off += n;
    }
    out
}

/// v·w in the vectors' own precision (one BLAS dot; MKL's reduction order is fixed by the
/// numerics caps and the thread count, so the result is deterministic).
pub fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.dot(b).double_value(&[])
}

pub fn norm(a: &Tensor) -> f64 {
    dot(a, a).sqrt()
}

/// A prepared HVP operator v ↦ Hv at a fixed θ.
pub enum Hvp<'o, 'a> {
    /// The MLP's R-operator: forward and backward pass at θ kept, one R-forward and one
    /// R-backward pass per product.
    ROperator {
        obj: &'o Objective<'a>,
        op: Box<MlpHvp>,
    },
    /// The first-order gradient graph is built once (`create_graph`) and reused for every v,
    /// so each product costs one backward pass through it (as PyHessian does).
    DoubleBackward {
        obj: &'o Objective<'a>,
        grads: Vec<Tensor>,
    },
    FiniteDifference {
        obj: &'o Objective<'a>,
        eps_rel: f64,
        theta_norm: f64,
    },
}

impl<'o, 'a> Hvp<'o, 'a> {
    pub fn new(obj: &'o Objective<'a>, method: HvpMethod, fd_eps: f64) -> Result<Self> {
        Ok(match (method, &obj.mlp) {
            (HvpMethod::Exact, Some(m)) => Hvp::ROperator {
                op: Box::new(MlpHvp::new(m.model, m.data, m.mode, &m.keep)?),
                obj,
            },
            (HvpMethod::Exact | HvpMethod::DoubleBackward, _) => {
                let loss = obj.loss_at(&obj.params);
                let grads = Tensor::f_run_backward(&[&loss], &obj.params, true, true)
                    .map_err(Error::torch("gradient"))?;
                Hvp::DoubleBackward { grads, obj }
            }
            (HvpMethod::FiniteDifference, _) => Hvp::FiniteDifference {
                theta_norm: norm(&flatten(
                    &obj.params.iter().map(|p| p.detach()).collect::<Vec<_>>(),
                )),
                eps_rel: fd_eps,
                obj,
            },
        })
    }

    fn objective(&self) -> &Objective<'a> {
        match self {
            Hvp::ROperator { obj, .. }
            | Hvp::DoubleBackward { obj, .. }
            | Hvp::FiniteDifference { obj, .. } => obj,
        }
    }

    pub fn dim(&self) -> i64 {
        self.objective().dim()
    }

    /// The parameters' element kind and device (that of the vectors `apply` takes).
    pub fn kind_device(&self) -> (Kind, Device) {
        let p = &self.objective().params[0];
        (p.kind(), p.device())
    }

    /// Hv for a flat `v` of length D.
    pub fn apply(&self, v: &Tensor) -> Result<Tensor> {
        match self {
            Hvp::ROperator { op, .. } => op.apply(v),
            Hvp::DoubleBackward { obj, grads } => {
                // Σ_i ⟨∂L/∂θ_i, v_i⟩ differentiated again: v enters as the gradient's weights.
                let gv = grads
                    .iter()
                    .zip(unflatten(&v.detach(), grads))
                    .map(|(g, vi)| (g * vi).sum(g.kind()))
                    .reduce(|a, b| a + b)
                    .expect("at least one parameter");
                let hv = Tensor::f_run_backward(&[&gv], &obj.params, true, false)
                    .map_err(Error::torch("hvp double backward"))?;
                Ok(flatten(&hv))
            }
            Hvp::FiniteDifference {
                obj,
                eps_rel,
                theta_norm,
            } => {
                // ε relative to ‖θ‖ and scaled by 1/‖v‖, so the perturbation εv has norm
                // eps_rel·‖θ‖ whatever v's length (Wu et al. 2017).
                let eps = eps_rel * theta_norm.max(1.0) / norm(v).max(f64::MIN_POSITIVE);
                let shifted = |sign: f64| -> Result<Tensor> {
                    let dv = unflatten(&(v * (sign * eps)), &obj.params);
                    let p: Vec<Tensor> = tch::no_grad(|| {
                        obj.params
                            .iter()
                            .zip(&dv)
                            .map(|(p, d)| (p + d).detach().set_requires_grad(true))
                            .collect()
                    });
                    Ok(obj.gradient_at(&p)?.detach())
                };
                let (gp, gm) = (shifted(1.0)?, shifted(-1.0)?);
                Ok((gp - gm) / (2.0 * eps))
            }
        }
    }
}
