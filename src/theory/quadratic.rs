//! Assumptions 1 and 2 exactly: SGD on L(θ) = ½ Σ λᵢθᵢ² with Gaussian gradient noise of
//! covariance H/S. In H's eigenbasis each coordinate is an AR(1) process,
//! θᵢ' = (1 − ηλᵢ)θᵢ − η·√(λᵢ/S)·ξ, with stationary variance η / (S(2 − ηλᵢ)), hence
//! E(L) = (η/4S)·Σ λᵢ/(1 − ηλᵢ/2) exactly; Eq. 9's (η/4S)·Tr H is its ηλ → 0 limit.
use super::{steps_for, Estimate};
use crate::config::QuadraticConfig;
use crate::determinism::Rng;

/// The paper's Eq. 9: E(L) = (η / 4S)·Tr H.
pub fn eq9(lr: f64, batch_size: f64, lambdas: &[f64]) -> f64 {
    lr / (4.0 * batch_size) * lambdas.iter().sum::<f64>()
}

/// The exact stationary E(L) of discrete SGD on the quadratic with noise covariance H/S.
pub fn exact_discrete(lr: f64, batch_size: f64, lambdas: &[f64]) -> f64 {
    lr / (4.0 * batch_size)
        * lambdas
            .iter()
            .map(|l| l / (1.0 - lr * l / 2.0))
            .sum::<f64>()
}

/// One (η, S) of the quadratic check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuadraticPoint {
    pub lr: f64,
    pub batch_size: usize,
    /// Steps per chain after burn-in.
    pub steps: usize,
    pub measured: Estimate,
}

/// Simulates every point of `cfg`: `chains` independent chains from θ = 0, each averaging L
/// over its steps after burn-in.
pub fn quadratic(cfg: &QuadraticConfig, seed: u64) -> Vec<QuadraticPoint> {
    let lambdas = cfg.spectrum.eigenvalues();
    cfg.points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let (eta, s) = (p.lr, p.batch_size as f64);
            let burn = steps_for(cfg.burn_in, eta, cfg.spectrum.lambda_min);
            let steps = steps_for(cfg.measure, eta, cfg.spectrum.lambda_min);
            let decay: Vec<f64> = lambdas.iter().map(|l| 1.0 - eta * l).collect();
            let kick: Vec<f64> = lambdas.iter().map(|l| eta * (l / s).sqrt()).collect();
            let means: Vec<f64> = (0..cfg.chains)
                .map(|c| {
                    let mut rng = Rng::stream(seed, &format!("quadratic/{k}/{c}"));
                    let mut x = vec![0.0; lambdas.len()];
                    let mut sum = 0.0;
                    for t in 0..burn + steps {
                        for i in 0..x.len() {
                            x[i] = decay[i] * x[i] - kick[i] * rng.normal();
                        }
                        if t >= burn {
                            sum +=
                                0.5 * x.iter().zip(&lambdas).map(|(x, l)| l * x * x).sum::<f64>();
                        }
                    }
                    sum / steps as f64
                })
                .collect();
            QuadraticPoint {
                lr: eta,
                batch_size: p.batch_size,
                steps,
                measured: Estimate::of(&means),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SpectrumConfig, Step};

    /// On a 2-D quadratic the simulation matches the exact discrete stationary loss within its
    /// Monte-Carlo error (4 se), at a step large enough that Eq. 9 is off by far more.
    #[test]
    fn simulation_matches_the_exact_discrete_loss() {
        let cfg = QuadraticConfig {
            spectrum: SpectrumConfig {
                dim: 2,
                lambda_min: 0.5,
                lambda_max: 1.0,
            },
            chains: 200,
            burn_in: 10.0,
            measure: 200.0,
            points: vec![Step {
                lr: 1.2,
                batch_size: 4,
            }],
        };
        let p = quadratic(&cfg, 11)[0];
        let l = cfg.spectrum.eigenvalues();
        let exact = exact_discrete(1.2, 4.0, &l);
        // (1.2/16)·(0.5/0.7 + 1/0.4)
        assert!((exact - 0.075 * (0.5 / 0.7 + 1.0 / 0.4)).abs() < 1e-12);
        let z = (p.measured.mean - exact) / p.measured.se;
        assert!(
            z.abs() < 4.0,
            "measured {:?} vs exact {exact} (z {z})",
            p.measured
        );
        assert!(
            p.measured.se / exact < 0.01,
            "se too large to tell: {:?}",
            p.measured
        );
        let e9 = eq9(1.2, 4.0, &l);
        assert!(
            (p.measured.mean - e9) / p.measured.se > 20.0,
            "Eq. 9 {e9} not rejected"
        );
    }

    #[test]
    fn closed_forms() {
        let l = [1.0, 3.0];
        assert_eq!(eq9(0.4, 2.0, &l), 0.05 * 4.0);
        // (η/4S)·Σ λ/(1 − ηλ/2) = 0.05·(1/0.8 + 3/0.4)
        assert!((exact_discrete(0.4, 2.0, &l) - 0.05 * (1.25 + 7.5)).abs() < 1e-12);
    }
}
