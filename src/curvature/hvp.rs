//! Hessian-vector products of a scalar objective over a list of parameter tensors, exact (double
//! backward) or by central finite differences of gradients.
use crate::config::HvpMethod;
use crate::error::{Error, Result};
use tch::Tensor;

/// L(θ') for parameters θ' in the same order and shapes as the objective's `params`.
pub type LossFn<'a> = Box<dyn Fn(&[&Tensor]) -> Tensor + 'a>;

/// A scalar function of parameters: the thing whose Hessian is measured.
pub struct Objective<'a> {
    /// The point θ (each `requires_grad`).
    pub params: Vec<Tensor>,
    pub loss: LossFn<'a>,
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
    pub fn gradient_at(&self, params: &[Tensor], create_graph: bool) -> Result<Tensor> {
        let loss = self.loss_at(params);
        let g = Tensor::f_run_backward(&[&loss], params, create_graph, create_graph)
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
    /// The first-order gradient graph is built once (`create_graph`) and reused for every v,
    /// so each product costs one backward pass through it (as PyHessian does).
    Exact {
        obj: &'o Objective<'a>,
        grad: Tensor,
    },
    FiniteDifference {
        obj: &'o Objective<'a>,
        eps_rel: f64,
        theta_norm: f64,
    },
}

impl<'o, 'a> Hvp<'o, 'a> {
    pub fn new(obj: &'o Objective<'a>, method: HvpMethod, fd_eps: f64) -> Result<Self> {
        Ok(match method {
            HvpMethod::Exact => Hvp::Exact {
                grad: obj.gradient_at(&obj.params, true)?,
                obj,
            },
            HvpMethod::FiniteDifference => Hvp::FiniteDifference {
                theta_norm: norm(&flatten(
                    &obj.params.iter().map(|p| p.detach()).collect::<Vec<_>>(),
                )),
                eps_rel: fd_eps,
                obj,
            },
        })
    }

    pub fn dim(&self) -> i64 {
        match self {
            Hvp::Exact { obj, .. } | Hvp::FiniteDifference { obj, .. } => obj.dim(),
        }
    }

    /// Hv for a flat `v` of length D.
    pub fn apply(&self, v: &Tensor) -> Result<Tensor> {
        match self {
            Hvp::Exact { obj, grad } => {
                let gv = (grad * v.detach()).sum(grad.kind());
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
                    Ok(obj.gradient_at(&p, false)?.detach())
                };
                let (gp, gm) = (shifted(1.0)?, shifted(-1.0)?);
                Ok((gp - gm) / (2.0 * eps))
            }
        }
    }
}
