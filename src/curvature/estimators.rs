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

/// Lanczos with full reorthogonalisation: the largest Ritz value of the tridiagonal matrix after
/// k Hessian-vector products, stopped by the same rule as [`power_iteration`] (relative change
/// of the estimate ≤ `tol`). The Krylov space captures the top eigenvalue far sooner than the
/// power method's single vector (error ∝ (λ₂/λ₁)^k for power, roughly its square-root rate for
/// Lanczos), so it needs several times fewer HVPs at equal tolerance; and it estimates the
/// largest eigenvalue even where a negative one dominates in magnitude.
pub fn lanczos(h: &Hvp, rng: &mut Rng, tol: f64, max_iters: usize) -> Result<TopEigenvalue> {
    let (kind, device) = h.kind_device();
    let mut v = random_vector(rng, h.dim(), false, kind, device);
    v = &v / norm(&v);
    // The Krylov basis, one row per vector, grown by doubling so rows are views, never copies;
    // rows past j are never read, so it is not zeroed. 32 rows hold a run at tolerance 1e-3.
    let mut basis = Tensor::empty([32.min(max_iters as i64).max(1), h.dim()], (kind, device));
    let (mut alpha, mut beta): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    let mut trace = Vec::new();
    let mut converged = false;
    for j in 0..max_iters {
        let mut w = h.apply(&v)?;
        let a = dot(&v, &w);
        alpha.push(a);
        // The Ritz values depend on α and β only: test before spending the reorthogonalisation.
        let theta = top_ritz_value(&alpha, &beta);
        let prev = trace.last().copied();
        trace.push(theta);
        if let Some(p) = prev {
            if (theta - p).abs() <= tol * theta.abs() {
                converged = true;
                break;
            }
        }
        if j + 1 == max_iters {
            break;
        }
        if j as i64 == basis.size()[0] {
            let grown = Tensor::empty([2 * j as i64, h.dim()], (kind, device));
            grown.narrow(0, 0, j as i64).copy_(&basis);
            basis = grown;
        }
        basis.get(j as i64).copy_(&v);
        // Full reorthogonalisation against the whole basis as two matrix-vector products
        // (w ← w − Qᵀ(Qw), the subtraction fused into the second), repeated only when it removed
        // most of w ("twice is enough", Kahan–Parlett): keeps the Ritz values free of spurious
        // copies for little more than one pass over the basis.
        let q = basis.narrow(0, 0, j as i64 + 1);
        let mut b = norm(&w);
        for _ in 0..2 {
            let before = b;
            w = w.addmv(&q.tr(), &q.mv(&w).neg());
            b = norm(&w);
            if b > 0.7 * before {
                break;
            }
        }
        if b <= 1e-12 * a.abs().max(1.0) {
            // An invariant subspace: the Ritz values are exact.
            converged = true;
            break;
        }
        beta.push(b);
        v = w / b;
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
