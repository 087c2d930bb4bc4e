//! Sec. 2.3: with isotropic gradient noise C = σ²I, the paper's SDE (Eq. 5),
//! dθ = −∇L dt + √(ησ²/S) dW, has the stationary density P ∝ exp(−k·L/T) with T = ησ²/S
//! (Eq. 11). The Fokker–Planck equation gives k = 2 (a diffusion √(2D) dW has P ∝ exp(−L/D),
//! here D = T/2), consistent with the OU covariance η/(2S) the paper uses for Eq. 9; the paper's
//! Eq. 10 writes exp(−L/2T), k = 1/2. Which one SGD samples is read off a simulation on the
//! non-quadratic L(θ) = θ²/2 + θ⁴/4: the k whose density gives the measured E(L).
use super::{steps_for, Estimate};
use crate::config::GibbsConfig;
use crate::determinism::Rng;

/// k from the Fokker–Planck equation of the paper's Eq. 5.
pub const DERIVED_EXPONENT: f64 = 2.0;
/// k as the paper's Eq. 10 writes it.
pub const PAPER_EXPONENT: f64 = 0.5;

fn loss(t: f64) -> f64 {
    t * t / 2.0 + t.powi(4) / 4.0
}

/// E(L) under the density ∝ exp(−k·L/T) (Simpson's rule over the range where it is not
/// negligible: up to L = 60·T/k).
pub fn gibbs_mean_loss(k: f64, temperature: f64) -> f64 {
    let c = 60.0 * temperature / k;
    let r = (-1.0 + (1.0 + 4.0 * c).sqrt()).sqrt();
    let n = 20_000;
    let h = 2.0 * r / n as f64;
    let (mut z, mut m) = (0.0, 0.0);
    for i in 0..=n {
        let t = -r + i as f64 * h;
        let w = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let l = loss(t);
        let p = (-k * l / temperature).exp();
        z += w * p;
        m += w * p * l;
    }
    m / z
}

/// The k for which [`gibbs_mean_loss`] equals `mean_loss` (it falls with k; bisection on a log
/// scale over [0.01, 100], NaN outside).
pub fn exponent_for(mean_loss: f64, temperature: f64) -> f64 {
    let (mut lo, mut hi) = (0.01f64.ln(), 100f64.ln());
    let f = |lk: f64| gibbs_mean_loss(lk.exp(), temperature) - mean_loss;
    if !mean_loss.is_finite() || f(lo) < 0.0 || f(hi) > 0.0 {
        return f64::NAN;
    }
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (0.5 * (lo + hi)).exp()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GibbsResult {
    pub temperature: f64,
    /// Steps per chain after burn-in.
    pub steps: usize,
    pub measured: Estimate,
    /// k̂ and the k of measured E(L) ± 2 se.
    pub exponent: f64,
    pub exponent_interval: (f64, f64),
}

pub fn gibbs(cfg: &GibbsConfig, seed: u64) -> GibbsResult {
    let eta = cfg.lr;
    let kick = eta * cfg.noise_variance.sqrt();
    // L'' = 1 at the minimum: the slowest variance relaxes as (1 − η)^{2t}.
    let burn = steps_for(cfg.burn_in, eta, 1.0);
    let steps = steps_for(cfg.measure, eta, 1.0);
    let means: Vec<f64> = (0..cfg.chains)
        .map(|c| {
            let mut rng = Rng::stream(seed, &format!("gibbs/{c}"));
            let mut t = 0.0f64;
            let mut sum = 0.0;
            for s in 0..burn + steps {
                t -= eta * (t + t.powi(3)) + kick * rng.normal();
                if s >= burn {
                    sum += loss(t);
                }
            }
            sum / steps as f64
        })
        .collect();
    let measured = Estimate::of(&means);
    let temperature = cfg.temperature();
    GibbsResult {
        temperature,
        steps,
        measured,
        exponent: exponent_for(measured.mean, temperature),
        exponent_interval: (
            exponent_for(measured.mean + 2.0 * measured.se, temperature),
            exponent_for(measured.mean - 2.0 * measured.se, temperature),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At small T the density is nearly Gaussian with variance T/k, so E(L) → T/(2k).
    #[test]
    fn quadrature_has_the_small_temperature_limit() {
        let t = 1e-4;
        for k in [0.5, 2.0] {
            let m = gibbs_mean_loss(k, t);
            assert!((m / (t / (2.0 * k)) - 1.0).abs() < 1e-3, "k {k}: {m}");
            assert!((exponent_for(m, t) - k).abs() < 1e-6);
        }
    }
}
