//! Spectral estimators on an HVP operator: power iteration for λ_max, Hutchinson-style
//! estimators for ‖H‖_F and Tr(H). All random vectors come from the project RNG.
use super::hvp::{dot, norm, Hvp};
use crate::determinism::Rng;
use crate::error::Result;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct TopEigenvalue {
    pub lambda_max: f64,
    /// The estimate after every iteration (power: the Rayleigh quotient vᵀHv; Lanczos: the
    /// largest Ritz value).
    pub trace: Vec<f64>,
    pub converged: bool,
    pub iterations: usize,
}

/// Mean of probe values and the standard error of that mean.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEstimate {
    pub value: f64,
    pub standard_error: f64,
    pub probes: Vec<f64>,
}

pub(crate) fn random_vector(
    rng: &mut Rng,
    n: i64,
    rademacher: bool,
    kind: Kind,
    device: Device,
) -> Tensor {
    let v = if rademacher {
        Tensor::from_slice(&(0..n).map(|_| rng.rademacher()).collect::<Vec<f64>>())
    } else {
        rng.normal_tensor(n as usize)
    };
    v.to_kind(kind).to_device(device)
}

/// Power iteration: v ← Hv/‖Hv‖ until the Rayleigh quotient changes by at most `tol` relative
/// (PyHessian's rule) or `max_iters` is reached. At a minimum H is (nearly) positive
/// semi-definite, so the dominant eigenvalue is the largest one.
pub fn power_iteration(
    h: &Hvp,
    rng: &mut Rng,
    tol: f64,
    max_iters: usize,
) -> Result<TopEigenvalue> {
    let (kind, device) = h.kind_device();
    let mut v = random_vector(rng, h.dim(), false, kind, device);
    v = &v / norm(&v);
    let mut trace = Vec::new();
    let mut converged = false;
    for _ in 0..max_iters {
        let hv = h.apply(&v)?;
        let lambda = dot(&v, &hv);
        let prev = trace.last().copied();
        trace.push(lambda);
        let n = norm(&hv);
        if n == 0.0 || !n.is_finite() {
            break;
        }
        v = hv / n;
        if let Some(p) = prev {
            if (lambda - p).abs() <= tol * lambda.abs() {
                converged = true;
                break;
            }
        }
    }
    Ok(TopEigenvalue {
        lambda_max: trace.last().copied().unwrap_or(f64::NAN),
        iterations: trace.len(),
        trace,
        converged,
    })
}

/// Lanczos: the largest Ritz value of the tridiagonal matrix after k Hessian-vector products,
/// stopped by the same rule as [`power_iteration`] (relative change of the estimate ≤ `tol`).
/// The Krylov space captures the top eigenvalue far sooner than the power method's single vector
/// (error ∝ (λ₂/λ₁)^k for power, roughly its square-root rate for Lanczos), so it needs several
/// times fewer HVPs at equal tolerance; and it estimates the largest eigenvalue even where a
/// negative one dominates in magnitude.
///
/// The three-term recurrence in Paige's stable order (w ← Hv − βv₋₁, α = v·w, w ← w − αv), without
/// reorthogonalisation against the older vectors: only the largest Ritz value is wanted, and the
/// loss of orthogonality finite precision brings only adds copies of Ritz values that have
/// already converged (Paige), never a value above the spectrum. Full reorthogonalisation, which
/// this used before, read the whole basis twice per step: on a 2-core CPU about 10 % of a λ_max
/// at 1000 samples, for the same estimate.
pub fn lanczos(h: &Hvp, rng: &mut Rng, tol: f64, max_iters: usize) -> Result<TopEigenvalue> {
    let (kind, device) = h.kind_device();
    let mut v = random_vector(rng, h.dim(), false, kind, device);
    v = &v / norm(&v);
    let mut v_prev: Option<Tensor> = None;
    let (mut alpha, mut beta): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut trace = Vec::new();
    let mut converged = false;
    for _ in 0..max_iters {
        let mut w = h.apply(&v)?;
        if let (Some(p), Some(&b)) = (&v_prev, beta.last()) {
            w = w.g_add_(&(p * -b));
        }
        let a = dot(&v, &w);
        alpha.push(a);
        let theta = top_ritz_value(&alpha, &beta);
        let prev = trace.last().copied();
        trace.push(theta);
        if let Some(p) = prev {
            if (theta - p).abs() <= tol * theta.abs() {
                converged = true;
                break;
            }
        }
        if alpha.len() == max_iters {
            break;
        }
        w = w.g_add_(&(&v * -a));
        let b = norm(&w);
        if b <= 1e-12 * a.abs().max(1.0) {
            // An invariant subspace: the Ritz values are exact.
            converged = true;
            break;
        }
        beta.push(b);
        v_prev = Some(std::mem::replace(&mut v, w / b));
    }
    Ok(TopEigenvalue {
        lambda_max: trace.last().copied().unwrap_or(f64::NAN),
        iterations: trace.len(),
        trace,
        converged,
    })
}

/// The largest eigenvalue of the symmetric tridiagonal matrix with diagonal `alpha` and
/// off-diagonal `beta` (`beta.len() == alpha.len() - 1`).
fn top_ritz_value(alpha: &[f64], beta: &[f64]) -> f64 {
    let k = alpha.len() as i64;
    let t = Tensor::zeros([k, k], (Kind::Double, Device::Cpu));
    for (i, &a) in alpha.iter().enumerate() {
        let _ = t.get(i as i64).get(i as i64).fill_(a);
    }
    for (i, &b) in beta.iter().take(alpha.len() - 1).enumerate() {
        let (i, j) = (i as i64, i as i64 + 1);
        let _ = t.get(i).get(j).fill_(b);
        let _ = t.get(j).get(i).fill_(b);
    }
    t.linalg_eigvalsh("L").max().double_value(&[])
}

pub(crate) fn mean_and_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// ‖H‖_F = sqrt(E‖Hv‖²) for v ~ N(0, I) (E[vvᵀ] = I ⇒ E‖Hv‖² = Tr(HᵀH)). The standard error
/// is carried to the square root by the delta method: se(√m) = se(m) / (2√m).
pub fn frobenius_norm(h: &Hvp, rng: &mut Rng, probes: usize) -> Result<ProbeEstimate> {
    let (kind, device) = h.kind_device();
    let mut xs = Vec::with_capacity(probes);
    for _ in 0..probes {
        let v = random_vector(rng, h.dim(), false, kind, device);
        let hv = h.apply(&v)?;
        xs.push(dot(&hv, &hv));
    }
    let (m, se) = mean_and_se(&xs);
    let value = m.max(0.0).sqrt();
    Ok(ProbeEstimate {
        value,
        standard_error: if value > 0.0 {
            se / (2.0 * value)
        } else {
            f64::NAN
        },
        probes: xs,
    })
}

/// Hutchinson's estimator Tr(H) = E[zᵀHz] with Rademacher z.
pub fn hutchinson_trace(h: &Hvp, rng: &mut Rng, probes: usize) -> Result<ProbeEstimate> {
    let (kind, device) = h.kind_device();
    let mut xs = Vec::with_capacity(probes);
    for _ in 0..probes {
        let z = random_vector(rng, h.dim(), true, kind, device);
        xs.push(dot(&z, &h.apply(&z)?));
    }
    let (value, standard_error) = mean_and_se(&xs);
    Ok(ProbeEstimate {
        value,
        standard_error,
        probes: xs,
    })
}
