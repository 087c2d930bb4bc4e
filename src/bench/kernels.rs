//! The measured kernels and the fixed protocol: warm-up runs, then timed repetitions; medians and
//! median absolute deviations. Inputs come from the project RNG, so every device and every peer
//! sees the same model and batch.
use crate::config::HvpMethod;
use crate::curvature::{lanczos, model_objective, power_iteration, Hvp};
use crate::data::Subset;
use crate::determinism::Rng;
use crate::error::{Error, Result};
use crate::model::{Mlp, MlpShape};
use crate::train::Sgd;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// How many untimed and timed repetitions each kernel gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub warmup: usize,
    pub reps: usize,
}

/// One kernel's timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Stable id, e.g. `sgd_step/w512/s25`.
    pub kernel: String,
    /// Samples processed per repetition (for samples/s), or FLOPs for `matmul`.
    pub work: f64,
    pub times_s: Vec<f64>,
    /// Extra per-kernel facts (e.g. power-iteration count).
    pub iterations: i64,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

impl Measurement {
    pub fn median_s(&self) -> f64 {
        median(&self.times_s)
    }
    /// Median absolute deviation, scaled by 1.4826 to estimate a standard deviation.
    pub fn mad_s(&self) -> f64 {
        let m = self.median_s();
        1.4826
            * median(
                &self
                    .times_s
                    .iter()
                    .map(|t| (t - m).abs())
                    .collect::<Vec<_>>(),
            )
    }
    pub fn throughput(&self) -> f64 {
        self.work / self.median_s()
    }
}

/// Waits for the device's queued kernels (a no-op on the CPU): timings of asynchronous CUDA work
/// must end with it.
pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Times `f` under `p`, synchronising the device around every repetition.
pub fn time(p: Protocol, device: Device, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..p.warmup {
        f()?;
    }
    sync(device);
    let mut out = Vec::with_capacity(p.reps);
    for _ in 0..p.reps {
        let t = Instant::now();
        f()?;
        sync(device);
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// Pools `more` into `into`: a kernel already there gets the new repetitions appended (rounds
/// of the same protocol), a new one is added.
pub fn pool(into: &mut Vec<Measurement>, more: Vec<Measurement>) {
    for m in more {
        match into.iter_mut().find(|x| x.kernel == m.kernel) {
            Some(x) => x.times_s.extend(m.times_s),
            None => into.push(m),
        }
    }
}

/// A batch of `n` random inputs and labels from the project RNG.
pub fn random_batch(n: usize, seed: u64, device: Device) -> Subset {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..n * 784).map(|_| rng.normal() as f32).collect();
    let y: Vec<i64> = (0..n).map(|_| rng.below(10) as i64).collect();
    Subset {
        x: Tensor::from_slice(&x)
            .view([n as i64, 784])
            .to_device(device),
        y: Tensor::from_slice(&y).to_device(device),
    }
}

/// Which kernels to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub widths: Vec<usize>,
    pub batch_sizes: Vec<usize>,
    /// Curvature kernels run on this many samples at the largest width.
    pub curvature_samples: usize,
    /// Include λ_max to tolerance 1e-3 (up to 100 iterations; slow on a CPU).
    pub lambda_max: bool,
    /// Evaluation (loss and accuracy, no gradients) runs on this many samples at the largest
    /// width: the size of a quick profile's training subset.
    pub evaluate_samples: usize,
    pub matmul_n: i64,
    /// Run only the kernels whose id contains this text (e.g. `sgd_step/w512/s1000`).
    pub only: Option<String>,
}

impl Suite {
    /// The paper's range: S ∈ {25, 128, 1000}, widths 128 and 512.
    pub fn full() -> Suite {
        Suite {
            widths: vec![128, 512],
            batch_sizes: vec![25, 128, 1000],
            curvature_samples: 1000,
            lambda_max: true,
            evaluate_samples: 10_000,
            matmul_n: 2048,
            only: None,
        }
    }
    /// Seconds, for CI: width 128 only, no λ_max, a smaller matmul.
    pub fn quick() -> Suite {
        Suite {
            widths: vec![128],
            batch_sizes: vec![25, 128, 1000],
            curvature_samples: 1000,
            lambda_max: false,
            evaluate_samples: 10_000,
            matmul_n: 512,
            only: None,
        }
    }
    /// Whether the kernel with this id is part of the run.
    pub fn wants(&self, kernel: &str) -> bool {
        self.only.as_deref().is_none_or(|o| kernel.contains(o))
    }
}

/// Multiply-accumulates per sample of one forward pass of the MLP at `width`: all layers
/// (Σ fan_in·fan_out) and the first layer alone.
fn forward_macs(width: usize) -> (f64, f64) {
    let s = MlpShape::fashion(width);
    let (i, w, c) = (s.input as f64, s.width as f64, s.classes as f64);
    (i * w + (s.hidden as f64 - 1.0) * w * w + w * c, i * w)
}

/// FLOPs of the matrix products one SGD step (or one gradient) of the MLP needs: forward,
/// weight gradients, input gradients of every layer but the first (the data needs none).
pub fn step_flops(width: usize, s: usize) -> f64 {
    let (all, first) = forward_macs(width);
    2.0 * s as f64 * (3.0 * all - first)
}

/// FLOPs of the matrix products one exact HVP needs: per layer two in the R-forward pass, two
/// for R{∂L/∂W} and two for R{∂L/∂h} in the R-backward pass, except the first layer (one and
/// one). Double backward multiplies the same matrices.
pub fn hvp_flops(width: usize, s: usize) -> f64 {
    let (all, first) = forward_macs(width);
    2.0 * s as f64 * (6.0 * all - 4.0 * first)
}

/// The FLOPs of a kernel of the suite, from its id (`eager/` and `pyhessian/` peers do the same
/// arithmetic) and its iteration count; `None` where the count is unknown (PyHessian does not
/// report its iterations). Counted are the matrix products the kernel needs at least (for the
/// curvature kernels: the forward and backward pass at θ once, then `iterations` HVPs), so
/// FLOP/s over the matmul rate is how close a kernel comes to the device's limit.
pub fn kernel_flops(kernel: &str, iterations: i64) -> Option<f64> {
    let id = kernel
        .strip_prefix("eager/")
        .or_else(|| kernel.strip_prefix("pyhessian/"))
        .unwrap_or(kernel);
    let parts: Vec<&str> = id.split('/').collect();
    if let ["matmul", n] = parts[..] {
        return Some(2.0 * n.parse::<f64>().ok()?.powi(3));
    }
    let [name, w, s] = parts[..] else {
        return None;
    };
    let w: usize = w.strip_prefix('w')?.parse().ok()?;
    let s: usize = s.strip_prefix('s')?.parse().ok()?;
    let (all, first) = forward_macs(w);
    let prepare = 2.0 * s as f64 * (2.0 * all - first);
    match name {
        "evaluate" => Some(2.0 * s as f64 * all),
        "sgd_step" | "gradient" => Some(step_flops(w, s)),
        "hvp" | "hvp_double_backward" => Some(hvp_flops(w, s)),
        _ if name.starts_with("power_iteration") || name.starts_with("lambda_max") => {
            (iterations > 0).then(|| prepare + iterations as f64 * hvp_flops(w, s))
        }
        _ => None,
    }
}

/// Measures the suite's kernels one by one, skipping those it does not want.
struct Runner<'a, P: FnMut(&str)> {
    suite: &'a Suite,
    device: Device,
    progress: P,
    out: Vec<Measurement>,
}

impl<P: FnMut(&str)> Runner<'_, P> {
    /// Times `f` (which returns the kernel's iteration count) as `kernel`, doing `work` per call.
    fn measure(
        &mut self,
        kernel: String,
        work: f64,
        p: Protocol,
        mut f: impl FnMut() -> Result<i64>,
    ) -> Result<()> {
        if !self.suite.wants(&kernel) {
            return Ok(());
        }
        (self.progress)(&kernel);
        let mut iterations = 1;
        let times_s = time(p, self.device, || {
            iterations = f()?;
            Ok(())
        })?;
        self.out.push(Measurement {
            kernel,
            work,
            times_s,
            iterations,
        });
        Ok(())
    }
}

/// Runs the suite; `model_seed` fixes weights and batches.
pub fn run_suite(
    suite: &Suite,
    p: Protocol,
    device: Device,
    model_seed: u64,
    progress: impl FnMut(&str),
) -> Result<Vec<Measurement>> {
    let mut r = Runner {
        suite,
        device,
        progress,
        out: Vec::new(),
    };
    let cfg = crate::config::RunConfig::adhoc().sgd;
    for &w in &suite.widths {
        let model = Mlp::new(MlpShape::fashion(w), model_seed, Kind::Float, device);
        for &s in &suite.batch_sizes {
            let batch = random_batch(s, model_seed + s as u64, device);
            let mut sgd = Sgd::new(&cfg);
            // A tiny learning rate keeps the model where it is over hundreds of steps.
            r.measure(format!("sgd_step/w{w}/s{s}"), s as f64, p, || {
                sgd.step(&model, &batch.x, &batch.y, 1e-6).map(|_| 1)
            })?;
        }
    }
    let w = *suite.widths.iter().max().expect("a width");
    let n = suite.curvature_samples;
    let model = Mlp::new(MlpShape::fashion(w), model_seed, Kind::Float, device);
    let data = random_batch(n, model_seed + 7, device);
    let obj = model_objective(&model, &data, crate::model::Mode::Eval);
    r.measure(format!("gradient/w{w}/s{n}"), n as f64, p, || {
        obj.gradient_at(&obj.params).map(|_| 1)
    })?;
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0)?;
    let v = {
        let mut rng = Rng::new(model_seed + 11);
        Tensor::from_slice(
            &(0..obj.dim())
                .map(|_| rng.normal() as f32)
                .collect::<Vec<_>>(),
        )
        .to_device(device)
    };
    r.measure(format!("hvp/w{w}/s{n}"), n as f64, p, || {
        h.apply(&v).map(|_| 1)
    })?;
    // The same product by double backward through autograd (PyHessian's method).
    if suite.wants(&format!("hvp_double_backward/w{w}/s{n}")) {
        let db = Hvp::new(&obj, HvpMethod::DoubleBackward, 0.0)?;
        r.measure(
            format!("hvp_double_backward/w{w}/s{n}"),
            n as f64,
            p,
            || db.apply(&v).map(|_| 1),
        )?;
    }
    // Power iteration includes preparing the HVP at θ (the R-operator's forward and backward
    // pass; the eager peer builds its first-order graph), so each repetition prepares it anew.
    let few = Protocol {
        warmup: p.warmup.min(1),
        reps: p.reps.min(5),
    };
    r.measure(
        format!("power_iteration_20/w{w}/s{n}"),
        n as f64,
        few,
        || {
            let h = Hvp::new(&obj, HvpMethod::Exact, 0.0)?;
            power_iteration(&h, &mut Rng::new(0), 0.0, 20).map(|_| 20)
        },
    )?;
    if suite.lambda_max {
        // λ_max to PyHessian's tolerance by power iteration (the peers' algorithm) and by
        // Lanczos (this harness's faster option), each including preparing the HVP at θ.
        type Method = fn(&Hvp, &mut Rng, f64, usize) -> Result<crate::curvature::TopEigenvalue>;
        let methods: [(&str, Method); 2] = [
            ("lambda_max_tol1e-3", power_iteration),
            ("lambda_max_lanczos_tol1e-3", lanczos),
        ];
        for (name, method) in methods {
            r.measure(format!("{name}/w{w}/s{n}"), n as f64, few, || {
                let h = Hvp::new(&obj, HvpMethod::Exact, 0.0)?;
                Ok(method(&h, &mut Rng::new(0), 1e-3, 100)?.iterations as i64)
            })?;
        }
    }
    let e = suite.evaluate_samples;
    if suite.wants(&format!("evaluate/w{w}/s{e}")) {
        let data = random_batch(e, model_seed + 13, device);
        r.measure(format!("evaluate/w{w}/s{e}"), e as f64, p, || {
            let _ = crate::train::evaluate(&model, &data);
            Ok(1)
        })?;
    }
    let m = suite.matmul_n;
    if suite.wants(&format!("matmul/{m}")) {
        let a = Tensor::randn([m, m], (Kind::Float, device));
        let b = Tensor::randn([m, m], (Kind::Float, device));
        r.measure(format!("matmul/{m}"), 2.0 * (m as f64).powi(3), p, || {
            let _product = a.f_matmul(&b).map_err(Error::torch("matmul"))?;
            Ok(1)
        })?;
    }
    Ok(r.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad() {
        let m = Measurement {
            kernel: "k".into(),
            work: 10.0,
            times_s: vec![1.0, 2.0, 3.0, 4.0, 100.0],
            iterations: 1,
        };
        assert_eq!(m.median_s(), 3.0);
        assert!((m.mad_s() - 1.4826).abs() < 1e-12);
        assert!((m.throughput() - 10.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn kernel_flops_from_ids() {
        // w512: Σ fan_in·fan_out = 784·512 + 2·512² + 512·10 = 930 816; first layer 401 408.
        let (all, first) = (930_816.0, 401_408.0);
        assert_eq!(kernel_flops("matmul/2048", 1), Some(2.0 * 2048f64.powi(3)));
        assert_eq!(
            kernel_flops("sgd_step/w512/s25", 1),
            Some(2.0 * 25.0 * (3.0 * all - first))
        );
        let hvp = 2.0 * 1000.0 * (6.0 * all - 4.0 * first);
        assert_eq!(kernel_flops("hvp/w512/s1000", 1), Some(hvp));
        assert_eq!(kernel_flops("eager/hvp/w512/s1000", 1), Some(hvp));
        assert_eq!(kernel_flops("hvp_double_backward/w512/s1000", 1), Some(hvp));
        let prepare = 2.0 * 1000.0 * (2.0 * all - first);
        assert_eq!(
            kernel_flops("power_iteration_20/w512/s1000", 20),
            Some(prepare + 20.0 * hvp)
        );
        assert_eq!(
            kernel_flops("evaluate/w512/s10000", 1),
            Some(2.0 * 10_000.0 * all)
        );
        // PyHessian does not report its iterations; unknown ids have no count.
        assert_eq!(
            kernel_flops("pyhessian/lambda_max_tol1e-3/w512/s1000", -1),
            None
        );
        assert_eq!(kernel_flops("something/w512/s1000", 1), None);
        assert_eq!(kernel_flops("hvp/wide/s1000", 1), None);
    }

    #[test]
    fn rounds_pool_by_kernel() {
        let m = |k: &str, t: &[f64]| Measurement {
            kernel: k.into(),
            work: 1.0,
            times_s: t.to_vec(),
            iterations: 1,
        };
        let mut all = Vec::new();
        pool(&mut all, vec![m("a", &[1.0, 2.0]), m("b", &[5.0])]);
        pool(
            &mut all,
            vec![m("b", &[6.0]), m("a", &[3.0]), m("c", &[9.0])],
        );
        assert_eq!(
            all,
            vec![
                m("a", &[1.0, 2.0, 3.0]),
                m("b", &[5.0, 6.0]),
                m("c", &[9.0])
            ]
        );
    }
}
