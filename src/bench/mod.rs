//! Bench — throughput of the two kernels the harness exists for (one SGD step of the paper's MLP,
//! one Hessian-vector product) plus power iteration and the device's matmul limit, under a fixed
//! protocol; a device fingerprint; an HDF5 history across runs and machines; regression
//! comparison; and side-by-side peers (PyTorch eager, PyHessian) run in the same process tree.
mod compare;
pub mod export;
mod fingerprint;
pub mod history;
mod kernels;
pub mod render;

pub use compare::{compare, Verdict};
pub use fingerprint::Fingerprint;
pub use kernels::{
    hvp_flops, kernel_flops, pool, random_batch, run_suite, step_flops, sync, time, Measurement,
    Protocol, Suite,
};

use crate::error::{Error, Result};
use crate::files::h5;
use crate::model::{Mlp, MlpShape};
use std::path::Path;
use tch::{Device, Kind};

/// Writes the weights and batches the peers time: the same model (seed) and the same inputs
/// as [`run_suite`]'s largest width.
pub fn write_peer_inputs(path: &Path, suite: &Suite, model_seed: u64) -> Result<()> {
    let w = *suite.widths.iter().max().expect("a width");
    let model = Mlp::new(MlpShape::fashion(w), model_seed, Kind::Float, Device::Cpu);
    h5::create_atomic(path, |f, p| {
        h5::attr_str(p, f, "format", "three-factors-peer-inputs/1")?;
        f.new_attr::<i64>()
            .create("width")
            .and_then(|a| a.write_scalar(&(w as i64)))
            .map_err(Error::hdf5(p, "@width"))?;
        let g = h5::group(p, f, "params")?;
        for (name, t) in model.named_tensors() {
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            let v = Vec::<f32>::try_from(t.detach().reshape([-1]))
                .map_err(Error::torch("params to host"))?;
            h5::write(p, &g, name, &shape, &v)?;
        }
        let batches = h5::group(p, f, "batches")?;
        let put = |g: &hdf5::Group, n: usize, seed: u64| -> Result<()> {
            let b = random_batch(n, seed, Device::Cpu);
            let x =
                Vec::<f32>::try_from(b.x.reshape([-1])).map_err(Error::torch("batch to host"))?;
            let y = Vec::<i64>::try_from(&b.y).map_err(Error::torch("labels to host"))?;
            h5::write(p, g, "x", &[n, 784], &x)?;
            h5::vector(p, g, "y", &y)
        };
        for &s in &suite.batch_sizes {
            let g = h5::group(p, &batches, &format!("s{s}"))?;
            put(&g, s, model_seed + s as u64)?;
        }
        let g = h5::group(p, f, "curvature")?;
        put(&g, suite.curvature_samples, model_seed + 7)?;
        let g = h5::group(p, f, "evaluate")?;
        put(&g, suite.evaluate_samples, model_seed + 13)?;
        Ok(())
    })
}

/// Parses the peer script's `peer <kernel> <iterations> <seconds>...` lines.
pub fn parse_peer_lines(text: &str, suite: &Suite) -> Vec<Measurement> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == "peer").then_some(())?;
            let kernel = it.next()?.to_string();
            let iterations: i64 = it.next()?.parse().ok()?;
            let times_s: Vec<f64> = it.filter_map(|t| t.parse().ok()).collect();
            let work = if kernel.contains("/matmul/") {
                2.0 * (suite.matmul_n as f64).powi(3)
            } else {
                kernel
                    .rsplit("/s")
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN)
            };
            Some(Measurement {
                kernel,
                work,
                times_s,
                iterations,
            })
        })
        .collect()
}

/// One line of the side-by-side table.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub what: String,
    pub value: f64,
    /// e.g. "≥ 1.5" — the target, when there is one.
    pub target: String,
    pub met: Option<bool>,
}

/// The ratios the project tracks, from Rust and peer measurements of the same run.
pub fn ratios(ms: &[Measurement], suite: &Suite) -> Vec<Ratio> {
    let w = *suite.widths.iter().max().expect("a width");
    let n = suite.curvature_samples;
    let med = |k: &str| ms.iter().find(|m| m.kernel == k).map(|m| m.median_s());
    let mut out = Vec::new();
    let mut push = |what: String, v: Option<f64>, target: &str, met: &dyn Fn(f64) -> bool| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            out.push(Ratio {
                what,
                value: v,
                target: target.into(),
                met: (!target.is_empty()).then(|| met(v)),
            });
        }
    };
    let div = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    for &s in &suite.batch_sizes {
        let (target, min) = match s {
            25 => ("≥ 1.5", 1.5),
            1000 => ("≥ 1.0", 1.0),
            _ => ("", 0.0),
        };
        push(
            format!("SGD step w{w} S={s}: eager time / Rust time"),
            div(
                med(&format!("eager/sgd_step/w{w}/s{s}")),
                med(&format!("sgd_step/w{w}/s{s}")),
            ),
            target,
            &|v| v >= min,
        );
    }
    // Curvature kernels on n samples at width w: `over(a, b)` is a's median over b's.
    let at = |k: &str| med(&format!("{k}/w{w}/s{n}"));
    let over = |a: &str, b: &str| div(at(a), at(b));
    let any = &|_: f64| true;
    push(
        format!("HVP / gradient, Rust (w{w}, {n} samples)"),
        over("hvp", "gradient"),
        "≤ 2.5",
        &|v| v <= 2.5,
    );
    push(
        format!("HVP / gradient, eager (w{w}, {n} samples)"),
        over("eager/hvp", "eager/gradient"),
        "",
        any,
    );
    push(
        format!("HVP w{w}: eager double backward / Rust"),
        over("eager/hvp", "hvp"),
        "≥ 1.1",
        &|v| v >= 1.1,
    );
    push(
        format!("HVP w{w}: Rust double backward / Rust R-operator"),
        over("hvp_double_backward", "hvp"),
        "",
        any,
    );
    push(
        "20 power iterations: eager / Rust".to_string(),
        over("eager/power_iteration_20", "power_iteration_20"),
        "≥ 1.1",
        &|v| v >= 1.1,
    );
    // Same algorithm on both sides (power iteration, same stopping rule): no target; the
    // difference is the HVP's.
    push(
        "λ_max tol 1e-3, power both sides: eager / Rust".to_string(),
        over("eager/lambda_max_tol1e-3", "lambda_max_tol1e-3"),
        "",
        any,
    );
    // What a user gets from each tool at equal tolerance: Rust's Lanczos against the eager
    // power loop and PyHessian's eigenvalues().
    push(
        "λ_max tol 1e-3: eager power loop / Rust Lanczos".to_string(),
        over("eager/lambda_max_tol1e-3", "lambda_max_lanczos_tol1e-3"),
        "≥ 1.3",
        &|v| v >= 1.3,
    );
    push(
        "λ_max tol 1e-3: PyHessian eigenvalues() / Rust Lanczos".to_string(),
        over("pyhessian/lambda_max_tol1e-3", "lambda_max_lanczos_tol1e-3"),
        "≥ 2.5",
        &|v| v >= 2.5,
    );
    let e = suite.evaluate_samples;
    push(
        format!("Evaluation w{w}, {e} samples, no gradients: eager / Rust"),
        div(
            med(&format!("eager/evaluate/w{w}/s{e}")),
            med(&format!("evaluate/w{w}/s{e}")),
        ),
        "",
        any,
    );
    let m = suite.matmul_n;
    if let (Some(step), Some(mm)) = (
        med(&format!("sgd_step/w{w}/s1000")),
        ms.iter().find(|x| x.kernel == format!("matmul/{m}")),
    ) {
        push(
            format!("SGD step w{w} S=1000: achieved FLOP/s / matmul FLOP/s"),
            Some(step_flops(w, 1000) / step / mm.throughput()),
            "",
            any,
        );
    }
    out
}

/// The PyTorch-eager and PyHessian peers: which Python runs which script.
#[derive(Debug, Clone, PartialEq)]
pub struct Peers {
    pub python: std::path::PathBuf,
    pub script: std::path::PathBuf,
}

/// A validated benchmark run.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub suite: Suite,
    /// Per round: warm-up and timed repetitions.
    pub protocol: Protocol,
    /// The Rust kernels and the peers alternate in this many rounds; times are pooled.
    pub rounds: usize,
    pub device: crate::config::DeviceSpec,
    pub threads: usize,
    pub peers: Option<Peers>,
}

/// Times the peers once under `p` on the weights and batches in `inputs`.
fn run_peers(plan: &BenchPlan, peers: &Peers, inputs: &Path) -> Result<Vec<Measurement>> {
    if !peers.script.exists() {
        return Err(Error::Invalid(format!(
            "{}: peer script not found (run from the repository root, or set THREE_FACTORS_SHARE)",
            peers.script.display()
        )));
    }
    let p = plan.protocol;
    let mut cmd = std::process::Command::new(&peers.python);
    cmd.arg(&peers.script)
        .args(["--model", &inputs.display().to_string()])
        .args(["--threads", &plan.threads.to_string()])
        .args([
            "--warmup",
            &p.warmup.to_string(),
            "--reps",
            &p.reps.to_string(),
        ])
        .args(["--device", plan.device.as_str()])
        .args(["--matmul", &plan.suite.matmul_n.to_string()])
        .args(plan.suite.only.iter().flat_map(|o| ["--only", o.as_str()]));
    let out = cmd.output().map_err(|e| Error::io(&peers.python, e))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "peer benchmarks failed ({}); `ci/bootstrap --peers` installs torch with the libraries `import torch` needs, and PyHessian:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(parse_peer_lines(
        &String::from_utf8_lossy(&out.stdout),
        &plan.suite,
    ))
}

/// Runs the plan: in each round the Rust kernels, then the peers; the repetitions of each kernel
/// pooled over the rounds. `progress` hears each kernel as it starts, with its round.
pub fn run_rounds(
    plan: &BenchPlan,
    mut progress: impl FnMut(usize, &str),
) -> Result<Vec<Measurement>> {
    tch::set_num_threads(plan.threads as i32);
    // The weights and batches the peers time, written once for every round.
    let scratch = tempfile::Builder::new()
        .prefix("three-factors-peers.")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let inputs = scratch.path().join("peer-inputs.h5");
    if plan.peers.is_some() {
        write_peer_inputs(&inputs, &plan.suite, 0)?;
    }
    let mut ms = Vec::new();
    for round in 1..=plan.rounds {
        let rust = run_suite(&plan.suite, plan.protocol, plan.device.device(), 0, |k| {
            progress(round, k)
        })?;
        pool(&mut ms, rust);
        if let Some(peers) = &plan.peers {
            progress(
                round,
                &format!(
                    "peers: {} {}",
                    peers.python.display(),
                    peers.script.display()
                ),
            );
            pool(&mut ms, run_peers(plan, peers, &inputs)?);
        }
    }
    Ok(ms)
}
