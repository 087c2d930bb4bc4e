//! `bench`: run the kernels under the fixed protocol and append to the history (optionally with
//! peers side by side); `bench compare` (exit 1 on a slowdown) and `bench report`.
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use three_factors::bench::export::Format as ExportFormat;
use three_factors::bench::{self, history, render, BenchPlan, Fingerprint, Peers, Protocol, Suite};
use three_factors::config::DeviceSpec;
use three_factors::determinism::Numerics;
use three_factors::files::{self, output::appended, Replace};
use three_factors::layout::Layout;

/// `bench report --csv`'s table, recognised by its header.
const REPORT_CSV: Replace = Replace::Ours {
    what: "a bench report CSV",
    is: |p| files::output::starts_with(p, &[b"kernel,fingerprint,device,label,run,"]),
};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub action: Option<BenchAction>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Intra-op threads (default: all cores); peers use the same number.
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 3, value_parser = parse_warmup)]
    pub warmup: usize,
    /// Timed repetitions per kernel (at least 1).
    #[arg(long, default_value_t = 10, value_parser = parse_reps)]
    pub reps: usize,
    /// Width 128 only, no λ_max to tolerance, a small matmul: seconds, for CI.
    #[arg(long)]
    pub quick: bool,
    /// Also time PyTorch eager and PyHessian on the same model and batches (needs
    /// `ci/bootstrap --peers`).
    #[arg(long)]
    pub peers: bool,
    /// Python with torch 2.11 for the peers (default $THREE_FACTORS_PYTHON, else the checkout's
    /// .venv/bin/python, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// History to append to (default: bench/history.h5 in a checkout, else
    /// three-factors-bench.h5 in the working directory).
    #[arg(long)]
    pub history: Option<PathBuf>,
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
        /// History to read (default: as for `bench`).
        #[arg(long)]
        history: Option<PathBuf>,
        /// Run to judge, `<fingerprint>/run-NNNN` (default: the newest run in the file).
        #[arg(long)]
        run: Option<String>,
        /// Baseline run (default: the previous run of the same fingerprint).
        #[arg(long)]
        baseline: Option<String>,
        /// Relative slowdown that counts, besides 3 combined MADs (TorchBench: 7 %).
        #[arg(long, default_value_t = 0.07, value_parser = parse_threshold)]
        threshold: f64,
    },
    /// Cross-device table (latest run of each fingerprint: median ± MAD and speed-up over a
    /// reference device) with a PNG plot and optionally CSV; or one kernel over time (--trend).
    Report {
        /// History to read (default: as for `bench`).
        #[arg(long)]
        history: Option<PathBuf>,
        /// Where to write the plot (default: next to the history, report.png; with --trend,
        /// trend.png and trend.svg).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The device the others are compared with: a fingerprint id (or its start) or part of
        /// its label, e.g. H200 (default: the first column).
        #[arg(long, value_name = "DEVICE")]
        reference: Option<String>,
        /// Also write the table as CSV (one row per kernel and device).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Instead: every run's median ± MAD of this kernel (e.g. hvp/w512/s1000), per device,
        /// as text and a line plot over time.
        #[arg(long, value_name = "KERNEL")]
        trend: Option<String>,
    },
    /// Add the runs of other histories (e.g. a GPU machine's `ci/gpu-bench` output) to one
    /// history: runs already there are skipped, a different run under an existing id is an
    /// error; atomic.
    Merge {
        /// Histories to read.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// The history to add them to (created when missing).
        #[arg(long)]
        into: PathBuf,
    },
    /// One run as JSON for continuous-benchmarking services (Bencher, github-action-benchmark).
    Export {
        /// History to read (default: as for `bench`).
        #[arg(long)]
        history: Option<PathBuf>,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The run, `<fingerprint id>/<run id>` (default: the newest).
        #[arg(long)]
        run: Option<String>,
        /// Write here (atomically) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Timed repetitions: at least one (a run without times would be refused by every reader).
fn parse_reps(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    three_factors::config::bounds::count(n, 1, MAX_REPS, "repetitions").map(|_| n)
}

/// Warm-up repetitions: none is fine.
fn parse_warmup(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    three_factors::config::bounds::count(n, 0, MAX_REPS, "repetitions").map(|_| n)
}

/// The most repetitions of one kernel (each can take seconds).
const MAX_REPS: usize = 100_000;

/// A relative slowdown: a finite fraction in [0, 10] (0.07 = 7 %; 10 = eleven times slower).
fn parse_threshold(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=10.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a relative slowdown in [0, 10] (0.07 = 7 %)"
        ))
    }
}

pub fn bench(a: BenchArgs, numerics: Numerics) -> Result<ExitCode> {
    match a.action {
        Some(BenchAction::Compare {
            history,
            run,
            baseline,
            threshold,
        }) => compare(
            &history.unwrap_or_else(Layout::working_bench_history),
            run,
            baseline,
            threshold,
        ),
        Some(BenchAction::Report {
            history,
            plot,
            reference,
            csv,
            trend,
        }) => report(
            &history.unwrap_or_else(Layout::working_bench_history),
            plot,
            reference.as_deref(),
            csv,
            trend.as_deref(),
        ),
        Some(BenchAction::Merge { sources, into }) => merge(&sources, &into),
        Some(BenchAction::Export {
            history,
            format,
            run,
            out,
        }) => {
            let history = history.unwrap_or_else(Layout::working_bench_history);
            if let Some(p) = &out {
                files::vet_output(
                    p,
                    &[&history],
                    Replace::Ours {
                        what: "a benchmark export",
                        is: bench::export::is_export,
                    },
                )?;
            }
            let runs = history::read(&history)?;
            let run = match run {
                Some(k) => history::find(&runs, &k)?,
                None => history::select_newest(&runs)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", history.display()))?,
            };
            let text = bench::export::export(run, format);
            match out {
                Some(p) => {
                    three_factors::files::write(&p, text.as_bytes())?;
                    errln!(
                        "wrote {} ({} kernels of {})",
                        p.display(),
                        run.measurements.len(),
                        run.key()
                    );
                }
                None => out!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        None => run(a, numerics),
    }
}

fn run(a: BenchArgs, numerics: Numerics) -> Result<ExitCode> {
    three_factors::config::bounds::device(&a.device)
        .map_err(|why| anyhow::anyhow!("--device: {why}"))?;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    three_factors::config::bounds::threads(threads)
        .map_err(|why| anyhow::anyhow!("--threads: {why}"))?;
    let suite = if a.quick {
        Suite::quick()
    } else {
        Suite::full()
    };
    let rounds = a.rounds.unwrap_or(if a.peers { 3 } else { 1 }).max(1);
    let layout = Layout::discover();
    let plan = BenchPlan {
        suite: Suite {
            only: a.only.clone(),
            ..suite
        },
        protocol: Protocol {
            warmup: a.warmup,
            reps: a.reps.div_ceil(rounds),
        },
        rounds,
        device: a.device.clone(),
        threads,
        peers: a.peers.then(|| Peers {
            python: a.python.clone().unwrap_or_else(|| layout.python()),
            script: layout.peer_script(),
        }),
    };
    let fp = Fingerprint::collect(a.device.device(), threads, numerics);
    errln!(
        "bench on {} [{}], protocol: {rounds} round(s) of {} warm-up + {} timed reps",
        fp.label(),
        fp.id(),
        plan.protocol.warmup,
        plan.protocol.reps
    );
    let ms = bench::run_rounds(&plan, |round, k| errln!("  [{round}/{rounds}] {k}"))?;
    if ms.is_empty() {
        bail!(
            "--only '{}' matches no kernel of this suite (ids look like sgd_step/w512/s25, \
             gradient/w512/s1000, hvp/w512/s1000, power_iteration_20/w512/s1000, matmul/2048)",
            a.only.as_deref().unwrap_or_default()
        );
    }
    out!("{}", render::measurements(&ms));
    if a.peers {
        outln!(
            "\nSide by side (same process tree, {threads} threads, libtorch {}):",
            fp.get("libtorch_version")
        );
        out!("{}", render::ratios(&bench::ratios(&ms, &plan.suite)));
    }
    let path = a
        .history
        .clone()
        .unwrap_or_else(Layout::working_bench_history);
    let key = history::append(&path, &fp, &three_factors::platform::now(), &ms)?;
    outln!("recorded {key} in {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn compare(
    path: &Path,
    run: Option<String>,
    baseline: Option<String>,
    threshold: f64,
) -> Result<ExitCode> {
    let runs = history::read(path)?;
    let (current, base) = history::select(&runs, run.as_deref(), baseline.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let verdicts = bench::compare(base, current, threshold);
    out!(
        "{}",
        render::comparison(current, base, threshold, &verdicts)
    );
    let slower = verdicts.iter().filter(|v| v.slower).count();
    Ok(if slower > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(
    history: &Path,
    plot: Option<PathBuf>,
    reference: Option<&str>,
    csv: Option<PathBuf>,
    trend: Option<&str>,
) -> Result<ExitCode> {
    if let Some(csv) = &csv {
        files::vet_output(csv, &[history], REPORT_CSV)?;
    }
    if let Some(p) = &plot {
        // The plot's own extension decides; a trend writes both .png and .svg of its stem.
        let written: Vec<PathBuf> = match (trend, p.extension().and_then(|e| e.to_str())) {
            (Some(_), Some("png" | "svg")) => {
                vec![p.with_extension("png"), p.with_extension("svg")]
            }
            (Some(_), _) => vec![appended(p, "png"), appended(p, "svg")],
            (None, _) => vec![p.clone()],
        };
        for w in &written {
            files::vet_output(w, &[history], files::output::FIGURE)?;
        }
    }
    let runs = history::read(history)?;
    if runs.is_empty() {
        bail!("{}: no runs recorded", history.display());
    }
    if let Some(kernel) = trend {
        let t = render::trend(&runs, kernel);
        if t.is_empty() {
            bail!(
                "{}: no run measured '{kernel}' (kernel ids look like sgd_step/w512/s25, hvp/w512/s1000)",
                history.display()
            );
        }
        out!("{}", render::trend_table(kernel, &t));
        // `--plot t.png` or `t.svg` or `t`: both t.png and t.svg are written.
        let stem = plot
            .map(|p| match p.extension().and_then(|e| e.to_str()) {
                Some("png" | "svg") => p.with_extension(""),
                _ => p,
            })
            .unwrap_or_else(|| history.with_file_name("trend"));
        render::trend_plot(kernel, &t, &stem)?;
        outln!("wrote {0}.png and {0}.svg", stem.display());
        return Ok(ExitCode::SUCCESS);
    }
    let x = render::CrossDevice::new(&runs, reference)
        .map_err(|e| anyhow::anyhow!("{}: {e}", history.display()))?;
    out!("{}", render::report(&x));
    let plot = plot.unwrap_or_else(|| history.with_file_name("report.png"));
    render::report_plot(&x, &plot)?;
    outln!("wrote {}", plot.display());
    if let Some(csv) = csv {
        three_factors::files::write(&csv, render::report_csv(&x).as_bytes())?;
        outln!("wrote {}", csv.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn merge(sources: &[PathBuf], into: &Path) -> Result<ExitCode> {
    let srcs: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    let m = history::merge(into, &srcs)?;
    for k in &m.added {
        outln!("added    {k}");
    }
    for (old, new) in &m.rekeyed {
        outln!("re-keyed {old} -> {new} (a per-file run number another run held)");
    }
    outln!(
        "{}: {} run(s) added, {} already present{}",
        into.display(),
        m.added.len(),
        m.present,
        if m.added.is_empty() {
            "; unchanged"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
