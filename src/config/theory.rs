//! The numerical tests of the paper's theory (Eq. 9 and Sec. 2.3), declared per profile as
//! `[profiles.<p>.theory]`: sizes of the simulations and the (η, S) points they visit, and the
//! bands `check` holds them to. Every band says in its doc where its width comes from.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How minibatches are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Random reshuffling: each epoch a fresh permutation of the training subset, cut into
    /// consecutive batches (the last partial batch dropped). Every sample is seen once per epoch,
    /// so the minibatch noise of an epoch sums to (nearly) zero.
    #[default]
    Reshuffle,
    /// Each step draws S distinct samples uniformly, independently of every other step (the
    /// i.i.d. minibatch noise the SDE of the paper's Eq. 5 assumes).
    Independent,
}

impl Sampler {
    pub const ALL: [Sampler; 2] = [Sampler::Reshuffle, Sampler::Independent];
    pub fn as_str(self) -> &'static str {
        match self {
            Sampler::Reshuffle => "reshuffle",
            Sampler::Independent => "independent",
        }
    }
    pub fn is_default(&self) -> bool {
        *self == Sampler::Reshuffle
    }
}

impl std::str::FromStr for Sampler {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown sampler '{s}' (expected reshuffle or independent)"))
    }
}

/// One SGD setting of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub lr: f64,
    pub batch_size: usize,
}

/// Eigenvalues log-spaced from `lambda_min` to `lambda_max` (both included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectrumConfig {
    pub dim: usize,
    pub lambda_min: f64,
    pub lambda_max: f64,
}

impl SpectrumConfig {
    pub fn eigenvalues(&self) -> Vec<f64> {
        let n = self.dim;
        (0..n)
            .map(|i| {
                let t = if n == 1 {
                    0.0
                } else {
                    i as f64 / (n - 1) as f64
                };
                self.lambda_min * (self.lambda_max / self.lambda_min).powf(t)
            })
            .collect()
    }
}

/// Assumption 1 exactly: SGD on L(θ) = ½ Σ λᵢθᵢ² with Gaussian gradient noise of covariance H/S
/// (Assumption 2 exactly). Each chain starts at the minimum, runs `burn_in` relaxation times of
/// its slowest variance (1 / (2ηλ_min) steps each), then averages L over `measure` more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuadraticConfig {
    pub spectrum: SpectrumConfig,
    pub chains: usize,
    pub burn_in: f64,
    pub measure: f64,
    pub points: Vec<Step>,
}

/// Least squares on a finite data set: xᵢ ~ N(0, diag(λ)), yᵢ = xᵢᵀw* + `noise`·εᵢ, so that the
/// per-sample gradient covariance at the minimum is C ≈ noise²·H (= H at noise 1). Minibatch SGD
/// from the least-squares solution under both samplers; burn-in and measurement in relaxation
/// times as for the quadratic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiniteSumConfig {
    pub samples: usize,
    pub spectrum: SpectrumConfig,
    pub noise: f64,
    pub chains: usize,
    pub burn_in: f64,
    pub measure: f64,
    pub points: Vec<Step>,
}

/// Sec. 2.3: SGD in one dimension on L(θ) = θ²/2 + θ⁴/4 (not quadratic, so the density's form
/// matters, not only its variance) with isotropic Gaussian noise of variance σ²/S, at
/// temperature T = ησ²/S (Eq. 11). The exponent k of P ∝ exp(−k·L/T) is read off the measured
/// E(L): the paper's Eq. 10 writes k = 1/2; the Fokker–Planck equation of its Eq. 5 gives k = 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GibbsConfig {
    pub lr: f64,
    /// σ²/S, the noise variance of one minibatch gradient.
    pub noise_variance: f64,
    pub chains: usize,
    pub burn_in: f64,
    pub measure: f64,
}

impl GibbsConfig {
    pub fn temperature(&self) -> f64 {
        self.lr * self.noise_variance
    }
}

/// What `check` holds the simulations to. Each width is stated with its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheoryBands {
    /// |measured / exact discrete − 1| on every quadratic point. Source: Monte-Carlo error; the
    /// band also fails when it is narrower than 4 standard errors (it could not fail otherwise).
    pub exact_rel: f64,
    /// |measured / Eq. 9 − 1| where η·λ_max ≤ `eq9_max_eta_lambda`: Monte-Carlo error plus the
    /// exact formula's own departure there (per eigenvalue (ηλ/2)/(1 − ηλ/2): at most 0.053 at
    /// ηλ = 0.1, 0.031 weighted over the quick profile's spectrum).
    pub eq9_rel: f64,
    pub eq9_max_eta_lambda: f64,
    /// measured / Eq. 9 − 1 at least this at the largest η·λ_max: Eq. 9 visibly fails there.
    pub eq9_break_min: f64,
    /// |measured / prediction − 1| for independent draws on the finite sum, against the discrete
    /// Lyapunov prediction from the measured H and C. Source: Monte-Carlo error (and, as for
    /// `exact_rel`, at least 4 standard errors wide).
    pub lyapunov_rel: f64,
    /// Reshuffling's excess loss below independent draws' by at least this many combined
    /// standard errors (over chains), at every finite-sum point with η·λ_max(H) at most
    /// `sampler_max_eta_lambda` (beyond it many relaxation times pass within an epoch and
    /// reshuffling's cancellation fades: reported, not claimed).
    pub sampler_z: f64,
    pub sampler_max_eta_lambda: f64,
    /// |k̂ − 2| for the Gibbs exponent (Monte-Carlo error plus the O(η) discretisation bias).
    pub gibbs_abs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheoryConfig {
    pub seed: u64,
    pub quadratic: QuadraticConfig,
    pub finite_sum: FiniteSumConfig,
    pub gibbs: GibbsConfig,
    pub bands: TheoryBands,
}

fn positive(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "theory.{field} must be a positive finite number, got {v}"
        )))
    }
}

impl SpectrumConfig {
    fn validate(&self, field: &str) -> Result<()> {
        positive(&format!("{field}.lambda_min"), self.lambda_min)?;
        positive(&format!("{field}.lambda_max"), self.lambda_max)?;
        if self.dim == 0 || self.dim > 1000 || self.lambda_min > self.lambda_max {
            return Err(Error::Invalid(format!(
                "theory.{field}: dim must be 1..=1000 and lambda_min ≤ lambda_max (got dim {}, {} … {})",
                self.dim, self.lambda_min, self.lambda_max
            )));
        }
        Ok(())
    }
}

fn validate_points(field: &str, points: &[Step], lambda_max: f64, samples: usize) -> Result<()> {
    if points.is_empty() {
        return Err(Error::Invalid(format!("theory.{field}.points is empty")));
    }
    for (i, p) in points.iter().enumerate() {
        positive(&format!("{field}.points[{i}].lr"), p.lr)?;
        if p.lr * lambda_max >= 2.0 {
            return Err(Error::Invalid(format!(
                "theory.{field}.points[{i}]: η·λ_max = {} ≥ 2, SGD diverges on this quadratic",
                p.lr * lambda_max
            )));
        }
        if p.batch_size == 0 || p.batch_size > samples {
            return Err(Error::Invalid(format!(
                "theory.{field}.points[{i}].batch_size must be 1..={samples}, got {}",
                p.batch_size
            )));
        }
    }
    Ok(())
}

fn validate_run(field: &str, chains: usize, burn_in: f64, measure: f64) -> Result<()> {
    positive(&format!("{field}.burn_in"), burn_in)?;
    positive(&format!("{field}.measure"), measure)?;
    if chains < 2 {
        return Err(Error::Invalid(format!(
            "theory.{field}.chains must be at least 2 (the standard error needs two), got {chains}"
        )));
    }
    Ok(())
}

impl TheoryConfig {
    pub fn validate(&self) -> Result<()> {
        let q = &self.quadratic;
        q.spectrum.validate("quadratic.spectrum")?;
        validate_run("quadratic", q.chains, q.burn_in, q.measure)?;
        validate_points("quadratic", &q.points, q.spectrum.lambda_max, usize::MAX)?;
        let f = &self.finite_sum;
        f.spectrum.validate("finite_sum.spectrum")?;
        validate_run("finite_sum", f.chains, f.burn_in, f.measure)?;
        positive("finite_sum.noise", f.noise)?;
        if f.samples <= f.spectrum.dim {
            return Err(Error::Invalid(format!(
                "theory.finite_sum.samples ({}) must exceed the dimension ({})",
                f.samples, f.spectrum.dim
            )));
        }
        // The finite sum's Hessian is the sample covariance, whose top eigenvalue exceeds
        // λ_max; 1.5·λ_max leaves room.
        validate_points(
            "finite_sum",
            &f.points,
            1.5 * f.spectrum.lambda_max,
            f.samples,
        )?;
        let g = &self.gibbs;
        validate_run("gibbs", g.chains, g.burn_in, g.measure)?;
        positive("gibbs.lr", g.lr)?;
        positive("gibbs.noise_variance", g.noise_variance)?;
        if g.lr >= 0.5 {
            return Err(Error::Invalid(format!(
                "theory.gibbs.lr must be below 0.5 (a small-step reading of the SDE), got {}",
                g.lr
            )));
        }
        let b = &self.bands;
        for (k, v) in [
            ("exact_rel", b.exact_rel),
            ("eq9_rel", b.eq9_rel),
            ("eq9_max_eta_lambda", b.eq9_max_eta_lambda),
            ("eq9_break_min", b.eq9_break_min),
            ("lyapunov_rel", b.lyapunov_rel),
            ("sampler_z", b.sampler_z),
            ("sampler_max_eta_lambda", b.sampler_max_eta_lambda),
            ("gibbs_abs", b.gibbs_abs),
        ] {
            positive(&format!("bands.{k}"), v)?;
        }
        Ok(())
    }
}
