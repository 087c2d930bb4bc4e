//! The per-sample gradient covariance C of the training loss, the matrix the paper's Assumption 2
//! sets equal to H. On the evaluation subset of n samples with per-sample losses ℓᵢ and gradients
//! gᵢ (BatchNorm in eval mode, so each ℓᵢ depends on its own sample only),
//! C = (1/n)·Σ gᵢgᵢᵀ − ḡḡᵀ. Never formed: with J the n×D Jacobian of (ℓᵢ), a probe v gives
//! Jv by the double-backward trick (J v = ∂/∂u (Jᵀu)·v), then Cv = Jᵀ((Jv − mean Jv)/n) by one
//! more backward. Each Rademacher probe yields vᵀCv (Hutchinson: E = Tr C), ‖Cv‖²
//! (E = ‖C‖_F²) and (Cv)ᵀHv (E = Tr CH), so the alignment Tr(CH)/(‖C‖_F‖H‖_F) (1 when C ∝ H)
//! comes from the same probes.
use super::estimators::{mean_and_se, random_vector, ProbeEstimate};
use super::hvp::{dot, flatten, Hvp};
use crate::data::Subset;
use crate::determinism::Rng;
use crate::error::{Error, Result};
use crate::model::{Mlp, Mode};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq)]
pub struct GradientNoise {
    /// Tr C.
    pub trace: ProbeEstimate,
    /// ‖C‖_F.
    pub frobenius: ProbeEstimate,
    /// Tr(CH).
    pub trace_ch: ProbeEstimate,
}

impl GradientNoise {
    /// Tr(CH) / (‖C‖_F·‖H‖_F): the cosine between C and H as matrices (1 when C ∝ H).
    pub fn alignment(&self, hessian_frobenius: f64) -> f64 {
        self.trace_ch.value / (self.frobenius.value * hessian_frobenius)
    }
}

/// The per-sample Jacobian of a model's losses on `data` (eval mode), as products.
pub struct PerSample {
    params: Vec<Tensor>,
    losses: Tensor,
    u: Tensor,
    /// Jᵀu as a function of u (graph kept), flattened.
    ju: Tensor,
}

impl PerSample {
    /// `params` are the objective's parameters (every parameter of the model in eval mode, in
    /// the model's order, each requiring grad).
    pub fn new(model: &Mlp, data: &Subset, params: &[Tensor]) -> Result<PerSample> {
        let refs: Vec<&Tensor> = params.iter().collect();
        let logits = model.forward_with(&refs, &data.x, Mode::Eval);
        let losses =
            logits.cross_entropy_loss::<Tensor>(&data.y, None, tch::Reduction::None, -100, 0.0);
        let u = losses.zeros_like().detach().set_requires_grad(true);
        let ju = Tensor::f_run_backward(&[&(&u * &losses).sum(losses.kind())], params, true, true)
            .map_err(Error::torch("per-sample Jᵀu"))?;
        Ok(PerSample {
            params: params.iter().map(Tensor::shallow_clone).collect(),
            ju: flatten(&ju),
            losses,
            u,
        })
    }

    pub fn n(&self) -> i64 {
        self.losses.size()[0]
    }

    /// J v: every sample's gradient along `v`.
    pub fn jv(&self, v: &Tensor) -> Result<Tensor> {
        let s = (&self.ju * v.detach()).sum(self.ju.kind());
        let g = Tensor::f_run_backward(&[&s], &[&self.u], true, false)
            .map_err(Error::torch("per-sample Jv"))?;
        Ok(g[0].shallow_clone())
    }

    /// Jᵀ w: the gradient of Σ wᵢℓᵢ.
    pub fn jtw(&self, w: &Tensor) -> Result<Tensor> {
        let s = (&self.losses * w.detach()).sum(self.losses.kind());
        let g = Tensor::f_run_backward(&[&s], &self.params, true, false)
            .map_err(Error::torch("per-sample Jᵀw"))?;
        Ok(flatten(&g))
    }

    /// C v.
    pub fn cv(&self, v: &Tensor) -> Result<Tensor> {
        let jv = self.jv(v)?;
        let centred = (&jv - jv.mean(jv.kind())) / self.n() as f64;
        self.jtw(&centred)
    }
}

/// Estimates Tr C, ‖C‖_F and Tr(CH) with `probes` Rademacher probes from `rng`; `h` is the HVP of
/// the same loss at the same point.
pub fn gradient_noise(
    per: &PerSample,
    h: &Hvp,
    rng: &mut Rng,
    probes: usize,
) -> Result<GradientNoise> {
    let p0 = &per.params[0];
    let (mut tr, mut fro, mut tch_) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..probes {
        let v = random_vector(rng, h.dim(), true, p0.kind(), p0.device());
        let cv = per.cv(&v)?;
        tr.push(dot(&v, &cv));
        fro.push(dot(&cv, &cv));
        tch_.push(dot(&cv, &h.apply(&v)?));
    }
    let estimate = |xs: Vec<f64>| {
        let (value, standard_error) = mean_and_se(&xs);
        ProbeEstimate {
            value,
            standard_error,
            probes: xs,
        }
    };
    let sq = estimate(fro);
    let value = sq.value.max(0.0).sqrt();
    Ok(GradientNoise {
        trace: estimate(tr),
        frobenius: ProbeEstimate {
            value,
            standard_error: sq.standard_error / (2.0 * value).max(f64::MIN_POSITIVE),
            probes: sq.probes,
        },
        trace_ch: estimate(tch_),
    })
}
