//! Spectral estimators on an HVP operator: power iteration for λ_max, Hutchinson-style
//! estimators for ‖H‖_F and Tr(H). All random vectors come from the project RNG.
use super::hvp::{dot, norm, Hvp};
use crate::determinism::Rng;
use crate::error::Result;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct PowerIteration {
    pub lambda_max: f64,
    /// Rayleigh quotient vᵀHv at every iteration.
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

fn random_vector(rng: &mut Rng, n: i64, rademacher: bool, kind: Kind, device: Device) -> Tensor {
    let v: Vec<f64> = (0..n)
        .map(|_| {
            if rademacher {
                rng.rademacher()
            } else {
                rng.normal()
            }
        })
        .collect();
    Tensor::from_slice(&v).to_kind(kind).to_device(device)
}

fn kind_device(h: &Hvp) -> (Kind, Device) {
    let p = match h {
        Hvp::Exact { obj, .. } | Hvp::FiniteDifference { obj, .. } => &obj.params[0],
    };
    (p.kind(), p.device())
}

/// Power iteration: v ← Hv/‖Hv‖ until the Rayleigh quotient changes by at most `tol` relative
/// (PyHessian's rule) or `max_iters` is reached. At a minimum H is (nearly) positive
/// semi-definite, so the dominant eigenvalue is the largest one.
pub fn power_iteration(
    h: &Hvp,
    rng: &mut Rng,
    tol: f64,
    max_iters: usize,
) -> Result<PowerIteration> {
    let (kind, device) = kind_device(h);
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
    Ok(PowerIteration {
        lambda_max: trace.last().copied().unwrap_or(f64::NAN),
        iterations: trace.len(),
        trace,
        converged,
    })
}

fn mean_and_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// ‖H‖_F = sqrt(E‖Hv‖²) for v ~ N(0, I) (E[vvᵀ] = I ⇒ E‖Hv‖² = Tr(HᵀH)). The standard error
/// is carried to the square root by the delta method: se(√m) = se(m) / (2√m).
pub fn frobenius_norm(h: &Hvp, rng: &mut Rng, probes: usize) -> Result<ProbeEstimate> {
    let (kind, device) = kind_device(h);
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
    let (kind, device) = kind_device(h);
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
