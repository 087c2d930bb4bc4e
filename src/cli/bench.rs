//! `bench`: run the kernels under the fixed protocol and append to the history (optionally with
//! peers side by side); `bench compare` (exit 1 on a slowdown) and `bench report`.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use three_factors::bench::{self, history, Fingerprint, Measurement, Protocol, Suite};
use three_factors::config::parse_device;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub action: Option<BenchAction>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Intra-op threads (default: all cores); peers use the same number.
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 10)]
    pub reps: usize,
    /// Width 128 only, no λ_max to tolerance, a small matmul: seconds, for CI.
    #[arg(long)]
    pub quick: bool,
    /// Also time PyTorch eager and PyHessian on the same model and batches (needs
    /// `ci/bootstrap --peers`).
    #[arg(long)]
    pub peers: bool,
    /// Python with torch 2.11 for the peers (default .venv/bin/python).
    #[arg(long)]
    pub python: Option<PathBuf>,
    #[arg(long, default_value = "bench/history.h5")]
    pub history: PathBuf,
    /// Alternate the Rust kernels and the peers in this many rounds (each with its warm-up and
    /// reps/rounds timed repetitions) and pool the times, so that a slow spell of a shared
    /// machine hits both sides alike (default: 3 with --peers, else 1).
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Run only the kernels whose id contains this text, e.g. `sgd_step/w512/s1000` (peers
    /// too); for profiling one kernel.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchAction {
    /// Compare a run with a baseline; exit 1 when a kernel is slower beyond threshold and noise.
    Compare {
        #[arg(long, default_value = "bench/history.h5")]
        history: PathBuf,
        /// Run to judge, `<fingerprint>/run-NNNN` (default: the newest run in the file).
        #[arg(long)]
        run: Option<String>,
        /// Baseline run (default: the previous run of the same fingerprint).
        #[arg(long)]
        baseline: Option<String>,
        /// Relative slowdown that counts, besides 3 combined MADs (TorchBench: 7 %).
        #[arg(long, default_value_t = 0.07)]
        threshold: f64,
    },
    /// Table of every fingerprint's latest run, and a PNG plot.
    Report {
        #[arg(long, default_value = "bench/history.h5")]
        history: PathBuf,
        /// Where to write the plot (default: next to the history, report.png).
        #[arg(long)]
        plot: Option<PathBuf>,
    },
}

pub fn bench(a: BenchArgs, numerics: &str) -> Result<ExitCode> {
    match a.action {
        Some(BenchAction::Compare {
            history,
            run,
            baseline,
            threshold,
        }) => compare(&history, run, baseline, threshold),
        Some(BenchAction::Report { history, plot }) => report(&history, plot),
        None => run(&a, numerics),
    }
}

fn run(a: &BenchArgs, numerics: &str) -> Result<ExitCode> {
    let device = parse_device(&a.device).map_err(anyhow::Error::msg)?;
    if let tch::Device::Cuda(_) = device {
        if !tch::Cuda::is_available() {
            bail!("--device {}: libtorch sees no CUDA device (build with --features cuda against a CUDA libtorch)", a.device);
        }
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    tch::set_num_threads(threads as i32);
    let suite = Suite {
        only: a.only.clone(),
        ..if a.quick {
            Suite::quick()
        } else {
            Suite::full()
        }
    };
    let rounds = a.rounds.unwrap_or(if a.peers { 3 } else { 1 }).max(1);
    let p = Protocol {
        warmup: a.warmup,
        reps: a.reps.div_ceil(rounds),
    };
    let fp = Fingerprint::collect(device, threads, numerics);
    eprintln!(
        "bench on {} [{}], protocol: {rounds} round(s) of {} warm-up + {} timed reps",
        fp.label(),
        fp.id(),
        p.warmup,
        p.reps
    );
    // The weights and batches the peers time, written once for every round.
    let scratch = tempfile::tempdir()?;
    let inputs = scratch.path().join("peer-inputs.h5");
    if a.peers {
        bench::write_peer_inputs(&inputs, &suite, 0)?;
    }
    let mut ms = Vec::new();
    for round in 1..=rounds {
        let rust = bench::run_suite(&suite, p, device, 0, |k| {
            eprintln!("  [{round}/{rounds}] {k}")
        })?;
        bench::pool(&mut ms, rust);
        if a.peers {
            bench::pool(&mut ms, peers(a, &suite, threads, p, &inputs)?);
        }
    }
    if ms.is_empty() {
        bail!(
            "--only '{}' matches no kernel of this suite (ids look like sgd_step/w512/s25, \
             gradient/w512/s1000, hvp/w512/s1000, power_iteration_20/w512/s1000, matmul/2048)",
            a.only.as_deref().unwrap_or_default()
        );
    }
    println!(
        "{:<44} {:>12} {:>10} {:>16}",
        "kernel", "median ms", "MAD ms", "samples/s"
    );
    for m in &ms {
        let rate = if m.kernel.contains("matmul/") {
            format!("{:.1} GFLOP/s", m.throughput() / 1e9)
        } else {
            format!("{:.0}", m.throughput())
        };
        println!(
            "{:<44} {:>12.3} {:>10.3} {:>16}",
            m.kernel,
            m.median_s() * 1e3,
            m.mad_s() * 1e3,
            rate
        );
    }
    if a.peers {
        println!(
            "\nSide by side (same process tree, {threads} threads, libtorch {}):",
            fp.get("libtorch_version")
        );
        for r in bench::ratios(&ms, &suite) {
            let verdict = match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "  {:<58} {:>7.2}  {:<7} {verdict}",
                r.what, r.value, r.target
            );
        }
    }
    let key = history::append(
        &a.history,
        &fp,
        &three_factors::repro::utc_timestamp(std::time::SystemTime::now()),
        &ms,
    )?;
    println!("recorded {key} in {}", a.history.display());
    Ok(ExitCode::SUCCESS)
}

fn peers(
    a: &BenchArgs,
    suite: &Suite,
    threads: usize,
    p: Protocol,
    inputs: &Path,
) -> Result<Vec<Measurement>> {
    let python = a
        .python
        .clone()
        .unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    let script = Path::new("bench/peers.py");
    if !script.exists() {
        bail!(
            "{}: peer script not found (run from the repository root)",
            script.display()
        );
    }
    eprintln!("  peers: {} {}", python.display(), script.display());
    let out = Command::new(&python)
        .arg(script)
        .args([
            "--model",
            &inputs.display().to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .args([
            "--warmup",
            &p.warmup.to_string(),
            "--reps",
            &p.reps.to_string(),
            "--device",
            &a.device,
        ])
        .args(["--matmul", &suite.matmul_n.to_string()])
        .args(suite.only.iter().flat_map(|o| ["--only", o.as_str()]))
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "peer benchmarks failed ({}); `ci/bootstrap --peers` installs torch with the libraries `import torch` needs, and PyHessian:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(bench::parse_peer_lines(
        &String::from_utf8_lossy(&out.stdout),
        suite,
    ))
}

fn find<'a>(runs: &'a [history::Run], key: &str) -> Result<&'a history::Run> {
    runs.iter().find(|r| r.key() == key).with_context(|| {
        format!(
            "no run '{key}' in the history (have: {})",
            runs.iter().map(|r| r.key()).collect::<Vec<_>>().join(", ")
        )
    })
}

fn compare(
    path: &Path,
    run: Option<String>,
    baseline: Option<String>,
    threshold: f64,
) -> Result<ExitCode> {
    let runs = history::read(path)?;
    let current = match &run {
        Some(k) => find(&runs, k)?,
        None => runs
            .iter()
            .max_by(|a, b| a.time.cmp(&b.time).then(a.run_id.cmp(&b.run_id)))
            .context("the history is empty")?,
    };
    let base = match &baseline {
        Some(k) => find(&runs, k)?,
        None => runs
            .iter()
            .filter(|r| r.fingerprint_id == current.fingerprint_id && r.run_id < current.run_id)
            .max_by(|a, b| a.run_id.cmp(&b.run_id))
            .with_context(|| {
                format!(
                    "{} has no earlier run of fingerprint {} to compare with; pass --baseline",
                    path.display(),
                    current.fingerprint_id
                )
            })?,
    };
    println!(
        "{} vs baseline {} (slower if Δ > max({:.0} %, 3 × combined MAD))",
        current.key(),
        base.key(),
        threshold * 100.0
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8} {:>12}  verdict",
        "kernel", "baseline ms", "current ms", "ratio", "allowed ms"
    );
    let verdicts = bench::compare(base, current, threshold);
    for v in &verdicts {
        println!(
            "{:<44} {:>12.3} {:>12.3} {:>8.3} {:>12.3}  {}",
            v.kernel,
            v.baseline_s * 1e3,
            v.current_s * 1e3,
            v.ratio,
            v.allowed_s * 1e3,
            if v.slower { "SLOWER" } else { "ok" }
        );
    }
    let slower = verdicts.iter().filter(|v| v.slower).count();
    if slower > 0 {
        println!("REGRESSION: {slower} kernel(s) slower");
        Ok(ExitCode::from(1))
    } else {
        println!("ok: no kernel slower");
        Ok(ExitCode::SUCCESS)
    }
}

fn report(path: &Path, plot: Option<PathBuf>) -> Result<ExitCode> {
    let runs = history::read(path)?;
    let mut latest: Vec<&history::Run> = Vec::new();
    for r in &runs {
        match latest
            .iter_mut()
            .find(|l| l.fingerprint_id == r.fingerprint_id)
        {
            Some(l) if l.run_id < r.run_id => *l = r,
            Some(_) => {}
            None => latest.push(r),
        }
    }
    if latest.is_empty() {
        bail!("{}: no runs recorded", path.display());
    }
    for (i, r) in latest.iter().enumerate() {
        println!(
            "[{i}] {} {} — {} ({} runs), {}",
            r.fingerprint_id,
            r.run_id,
            r.fingerprint.label(),
            runs.iter()
                .filter(|x| x.fingerprint_id == r.fingerprint_id)
                .count(),
            r.time
        );
    }
    let mut kernels: Vec<String> = Vec::new();
    for r in &latest {
        for m in &r.measurements {
            if !kernels.contains(&m.kernel) {
                kernels.push(m.kernel.clone());
            }
        }
    }
    print!("{:<44}", "kernel (median ms)");
    for i in 0..latest.len() {
        print!(" {:>12}", format!("[{i}]"));
    }
    println!();
    for k in &kernels {
        print!("{k:<44}");
        for r in &latest {
            match r.get(k) {
                Some(m) => print!(" {:>12.3}", m.median_s() * 1e3),
                None => print!(" {:>12}", "-"),
            }
        }
        println!();
    }
    let plot = plot.unwrap_or_else(|| path.with_file_name("report.png"));
    three_factors::report::plot_bench(
        &plot,
        &kernels,
        &latest
            .iter()
            .map(|r| (r.fingerprint.label(), r.measurements.clone()))
            .collect::<Vec<_>>(),
    )?;
    println!("wrote {}", plot.display());
    Ok(ExitCode::SUCCESS)
}
