//! Least squares on a finite data set, the setting where SGD's minibatch noise is real rather
//! than added: L(w) = (1/2N)·Σ (xᵢᵀw − yᵢ)², H = XᵀX/N, and at the least-squares solution the
//! per-sample gradients gᵢ = xᵢrᵢ have covariance C = (1/N)·Σ rᵢ²xᵢxᵢᵀ (their mean is zero).
//! With yᵢ = xᵢᵀw* + σεᵢ, C ≈ σ²H. Independent minibatches of S distinct samples have noise
//! covariance C·(N − S)/(S(N − 1)), and the discrete process' stationary covariance solves
//! Σ = (I − ηH)Σ(I − ηH) + η²·that, so E(L − L*) = ½·Tr(HΣ). Random reshuffling has no such
//! formula: within an epoch its minibatch noise sums to zero.
use super::dense::{discrete_lyapunov, eigenvalues, matmul, solve_spd, trace};
use super::{steps_for, Estimate};
use crate::config::{FiniteSumConfig, Sampler};
use crate::determinism::Rng;
use crate::error::{Error, Result};

/// A generated least-squares problem at its solution.
#[derive(Debug, Clone, PartialEq)]
pub struct LeastSquares {
    pub n: usize,
    pub d: usize,
    /// Row-major N×d inputs.
    pub x: Vec<f64>,
    /// Residuals xᵢᵀŵ − yᵢ at the least-squares solution ŵ.
    pub r: Vec<f64>,
    pub h: Vec<f64>,
    pub c: Vec<f64>,
    /// H's eigenvalues, ascending.
    pub h_eigenvalues: Vec<f64>,
}

impl LeastSquares {
    /// The data set of `cfg` at `seed` (its own stream: the same for every point and sampler).
    pub fn generate(cfg: &FiniteSumConfig, seed: u64) -> Result<LeastSquares> {
        let (n, d) = (cfg.samples, cfg.spectrum.dim);
        let scale: Vec<f64> = cfg
            .spectrum
            .eigenvalues()
            .iter()
            .map(|l| l.sqrt())
            .collect();
        let mut rng = Rng::stream(seed, "finite_sum/data");
        let mut x = vec![0.0; n * d];
        let mut y = vec![0.0; n];
        for i in 0..n {
            for j in 0..d {
                x[i * d + j] = scale[j] * rng.normal();
            }
            // w* = 0: the excess loss does not depend on it.
            y[i] = cfg.noise * rng.normal();
        }
        let mut h = vec![0.0; d * d];
        let mut xty = vec![0.0; d];
        for i in 0..n {
            let row = &x[i * d..(i + 1) * d];
            for a in 0..d {
                xty[a] += row[a] * y[i] / n as f64;
                for b in 0..d {
                    h[a * d + b] += row[a] * row[b] / n as f64;
                }
            }
        }
        let w = solve_spd(&h, &xty, d).ok_or_else(|| {
            Error::Invalid("theory.finite_sum: XᵀX is singular; use more samples".into())
        })?;
        let r: Vec<f64> = (0..n)
            .map(|i| (0..d).map(|j| x[i * d + j] * w[j]).sum::<f64>() - y[i])
            .collect();
        let mut c = vec![0.0; d * d];
        for i in 0..n {
            let row = &x[i * d..(i + 1) * d];
            for a in 0..d {
                for b in 0..d {
                    c[a * d + b] += r[i] * r[i] * row[a] * row[b] / n as f64;
                }
            }
        }
        let h_eigenvalues = eigenvalues(&h, d);
        Ok(LeastSquares {
            n,
            d,
            x,
            r,
            h,
            c,
            h_eigenvalues,
        })
    }

    pub fn trace_h(&self) -> f64 {
        trace(&self.h, self.d)
    }
    pub fn trace_c(&self) -> f64 {
        trace(&self.c, self.d)
    }

    /// Eq. 9 with this problem's Hessian.
    pub fn eq9(&self, lr: f64, batch_size: usize) -> f64 {
        lr / (4.0 * batch_size as f64) * self.trace_h()
    }

    /// E(L − L*) of discrete SGD with independent minibatches of `batch_size` distinct samples,
    /// from the measured H and C: the discrete Lyapunov equation with the minibatch noise at the
    /// minimum (`state_dependent` false: the OU reading of Eq. 5), or exactly (true): the
    /// minibatch Hessian H_B also fluctuates, so away from the minimum the noise grows by
    /// (H_B − H)δ, and Σ = E_B[(I − ηH_B)Σ(I − ηH_B)] + η²·C_S, solved as a fixed point of
    /// Lyapunov solves.
    pub fn lyapunov_excess(&self, lr: f64, batch_size: usize, state_dependent: bool) -> f64 {
        let (n, d, s) = (self.n as f64, self.d, batch_size as f64);
        // Var of a mean of S distinct draws from N: (N − S)/(S(N − 1)) × the population's.
        let f = (n - s) / (s * (n - 1.0));
        let q: Vec<f64> = self.c.iter().map(|c| c * lr * lr * f).collect();
        let a: Vec<f64> = (0..d * d)
            .map(|k| f64::from(u8::from(k / d == k % d)) - lr * self.h[k])
            .collect();
        let mut sigma = discrete_lyapunov(&a, &q, d);
        if state_dependent {
            let mut converged = false;
            for _ in 0..200 {
                // (1/N)·Σᵢ xᵢ(xᵢᵀΣxᵢ)xᵢᵀ − HΣH: the covariance of H_B's rows over one draw.
                let hsh = matmul(&matmul(&self.h, &sigma, d), &self.h, d);
                let mut extra = vec![0.0; d * d];
                for i in 0..self.n {
                    let row = &self.x[i * d..(i + 1) * d];
                    let quad: f64 = (0..d)
                        .map(|a| row[a] * (0..d).map(|b| sigma[a * d + b] * row[b]).sum::<f64>())
                        .sum();
                    for a in 0..d {
                        for b in 0..d {
                            extra[a * d + b] += row[a] * quad * row[b] / n;
                        }
                    }
                }
                let total: Vec<f64> = (0..d * d)
                    .map(|k| q[k] + lr * lr * f * (extra[k] - hsh[k]))
                    .collect();
                let next = discrete_lyapunov(&a, &total, d);
                let change: f64 = next.iter().zip(&sigma).map(|(x, y)| (x - y).abs()).sum();
                let size: f64 = next.iter().map(|x| x.abs()).sum();
                sigma = next;
                if change <= 1e-13 * size {
                    converged = true;
                    break;
                }
            }
            if !converged {
                // The second-moment recursion is unstable (or too slow): no prediction.
                return f64::NAN;
            }
        }
        0.5 * trace(&matmul(&self.h, &sigma, d), d)
    }

    /// One chain of minibatch SGD from the solution: the mean excess loss over the measured
    /// epochs' steps.
    fn chain(
        &self,
        lr: f64,
        s: usize,
        sampler: Sampler,
        epochs: (usize, usize),
        rng: &mut Rng,
    ) -> f64 {
        let (n, d) = (self.n, self.d);
        let m = n / s;
        let mut delta = vec![0.0; d];
        let mut g = vec![0.0; d];
        let mut hd = vec![0.0; d];
        let (mut sum, mut count) = (0.0, 0usize);
        for epoch in 0..epochs.0 + epochs.1 {
            let order = match sampler {
                Sampler::Reshuffle => rng.permutation(n),
                Sampler::Independent => Vec::new(),
            };
            for step in 0..m {
                let batch = match sampler {
                    Sampler::Reshuffle => order[step * s..(step + 1) * s].to_vec(),
                    Sampler::Independent => rng.distinct(n, s),
                };
                g.iter_mut().for_each(|v| *v = 0.0);
                for &i in &batch {
                    let row = &self.x[i * d..(i + 1) * d];
                    let e = row.iter().zip(&delta).map(|(a, b)| a * b).sum::<f64>() + self.r[i];
                    for j in 0..d {
                        g[j] += row[j] * e;
                    }
                }
                for j in 0..d {
                    delta[j] -= lr * g[j] / s as f64;
                }
                if epoch >= epochs.0 {
                    for (a, out) in hd.iter_mut().enumerate() {
                        *out = (0..d).map(|b| self.h[a * d + b] * delta[b]).sum();
                    }
                    sum += 0.5 * hd.iter().zip(&delta).map(|(a, b)| a * b).sum::<f64>();
                    count += 1;
                }
            }
        }
        sum / count as f64
    }
}

/// One (η, S) of the finite-sum check, under both samplers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FiniteSumPoint {
    pub lr: f64,
    pub batch_size: usize,
    /// ⌊N/S⌋ steps per epoch (the last partial batch dropped, as in training).
    pub steps_per_epoch: usize,
    /// Epochs averaged per chain after burn-in.
    pub epochs: usize,
    pub independent: Estimate,
    pub reshuffle: Estimate,
}

/// Simulates every point of `cfg` under both samplers (whole epochs, so reshuffling's
/// within-epoch cycle is averaged over completely).
pub fn finite_sum(cfg: &FiniteSumConfig, seed: u64) -> Result<Vec<FiniteSumPoint>> {
    let ls = LeastSquares::generate(cfg, seed)?;
    let lambda_min = ls.h_eigenvalues[0];
    Ok(cfg
        .points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let m = ls.n / p.batch_size;
            let epochs = |relax: f64| steps_for(relax, p.lr, lambda_min).div_ceil(m);
            let (burn, measure) = (epochs(cfg.burn_in), epochs(cfg.measure));
            let run = |sampler: Sampler| {
                let means: Vec<f64> = (0..cfg.chains)
                    .map(|c| {
                        let name = format!("finite_sum/{k}/{}/{c}", sampler.as_str());
                        let mut rng = Rng::stream(seed, &name);
                        ls.chain(p.lr, p.batch_size, sampler, (burn, measure), &mut rng)
                    })
                    .collect();
                Estimate::of(&means)
            };
            FiniteSumPoint {
                lr: p.lr,
                batch_size: p.batch_size,
                steps_per_epoch: m,
                epochs: measure,
                independent: run(Sampler::Independent),
                reshuffle: run(Sampler::Reshuffle),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpectrumConfig;

    fn cfg() -> FiniteSumConfig {
        FiniteSumConfig {
            samples: 64,
            spectrum: SpectrumConfig {
                dim: 3,
                lambda_min: 0.5,
                lambda_max: 1.0,
            },
            noise: 1.0,
            chains: 40,
            burn_in: 10.0,
            measure: 100.0,
            points: vec![crate::config::Step {
                lr: 0.2,
                batch_size: 4,
            }],
        }
    }

    /// At the solution the mean gradient is zero, so C is the covariance; C ≈ σ²H.
    #[test]
    fn generated_problem_has_c_near_h() {
        let ls = LeastSquares::generate(&cfg(), 1).unwrap();
        let g: Vec<f64> = (0..ls.d)
            .map(|j| (0..ls.n).map(|i| ls.x[i * ls.d + j] * ls.r[i]).sum::<f64>())
            .collect();
        assert!(g.iter().all(|v| v.abs() < 1e-9), "{g:?}");
        let q = ls.trace_c() / ls.trace_h();
        assert!((0.5..2.0).contains(&q), "Tr C / Tr H = {q}");
    }

    /// Independent draws sit on the exact second-moment prediction (4 se), above the one with the
    /// noise at the minimum only; reshuffling below both.
    #[test]
    fn independent_draws_match_lyapunov() {
        let c = cfg();
        let p = finite_sum(&c, 2).unwrap()[0];
        let ls = LeastSquares::generate(&c, 2).unwrap();
        let pred = ls.lyapunov_excess(0.2, 4, true);
        let additive = ls.lyapunov_excess(0.2, 4, false);
        assert!(additive < pred, "{additive} vs {pred}");
        let z = (p.independent.mean - pred) / p.independent.se;
        assert!(z.abs() < 4.0, "{:?} vs {pred}", p.independent);
        assert!(p.reshuffle.mean < p.independent.mean, "{p:?}");
    }
}
