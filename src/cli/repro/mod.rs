//! `repro fig3`: run every grid point of a profile (resumably, `--jobs` at a time, each as its own
//! `three-factors run` process), then collect the table, correlations, `fig3.h5` and the figure.
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use three_factors::config::{Experiment, GridPoint};
use three_factors::report::{self, Row};
use three_factors::repro::grid::{self, Status};

mod slurm;

#[derive(clap::Args, Debug)]
pub struct Fig3Args {
    /// smoke, quick (default) or paper; see experiments/fig3.toml.
    #[arg(long)]
    pub profile: Option<String>,
    /// Output folder (default runs/fig3/<profile>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Grid points run at a time (default: CPU cores / threads per run).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print one self-contained `three-factors run ...` command per grid point and exit.
    #[arg(long, conflicts_with = "collect")]
    pub plan: bool,
    /// Build the table and figure from artifacts already in DIR (produced elsewhere); run nothing.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
    #[arg(long, default_value = "experiments/fig3.toml")]
    pub experiment: PathBuf,
    /// Folder holding the Fashion-MNIST files (passed to every run).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Local multi-GPU: one device per job, round-robin (e.g. cuda:0,cuda:1). Each run sees
    /// only its device (CUDA_VISIBLE_DEVICES), so artifacts are the same on any GPU index.
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Submit the pending grid points to Slurm as one job array instead of running them here.
    #[arg(long)]
    pub slurm: bool,
    /// Slurm partition.
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    /// GPUs per array task (becomes `--gres=gpu:N`; use a profile with device = "cuda").
    #[arg(long, requires = "slurm")]
    pub gpus_per_task: Option<u32>,
    #[arg(long, requires = "slurm")]
    pub cpus_per_task: Option<u32>,
    /// Time limit per task, HH:MM:SS.
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// Print the batch script; submit nothing.
    #[arg(long, requires = "slurm")]
    pub dry_run: bool,
    /// Follow the job until every task has finished, then collect the figure.
    #[arg(long, requires = "slurm")]
    pub wait: bool,
}

pub fn fig3(a: Fig3Args, numerics: &str) -> Result<ExitCode> {
    let exp = Experiment::load(&a.experiment)?;
    let profile = a
        .profile
        .clone()
        .unwrap_or_else(|| exp.default_profile.clone());
    let points = exp.resolve(&profile)?;
    let out = a
        .collect
        .clone()
        .or(a.out.clone())
        .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name).join(&profile));
    let me = std::env::current_exe().context("locating the three-factors binary")?;

    if a.plan {
        for p in &points {
            let args = grid::run_args(&a.experiment, p, &out, numerics, a.data_dir.as_deref());
            let line: Vec<String> = std::iter::once("three-factors".to_string())
                .chain(args)
                .map(|s| grid::shell_quote(&s))
                .collect();
            println!("{}", line.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }

    if a.slurm {
        return slurm::submit_grid(&me, &a, &exp, &profile, &points, &out, numerics);
    }
    if a.collect.is_none() {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("{}: cannot create output folder", out.display()))?;
        let threads = points.iter().map(|p| p.config.threads).max().unwrap_or(1);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let jobs = a.jobs.unwrap_or((cores / threads).max(1)).max(1);
        run_pending(&me, &a, &exp.name, &profile, &points, &out, numerics, jobs)?;
    }
    collect(&exp, &profile, &points, &out)
}

pub(super) fn pending(out: &Path, points: &[GridPoint]) -> (usize, Vec<GridPoint>) {
    let mut todo = Vec::new();
    let mut done = 0;
    for p in points {
        match grid::status(out, p) {
            Status::Done(_) => done += 1,
            Status::Missing => todo.push(p.clone()),
            Status::Invalid(why) => {
                eprintln!("re-running {}: {}", p.config.run_name(), why);
                todo.push(p.clone());
            }
        }
    }
    (done, todo)
}

#[allow(clippy::too_many_arguments)]
fn run_pending(
    me: &Path,
    a: &Fig3Args,
    exp: &str,
    profile: &str,
    points: &[GridPoint],
    out: &Path,
    numerics: &str,
    jobs: usize,
) -> Result<()> {
    let (done, todo) = pending(out, points);
    let mut pending: VecDeque<&GridPoint> = todo.iter().collect();
    eprintln!(
        "{exp}/{profile}: {} grid points, {done} already done, {} to run, {jobs} at a time -> {}",
        points.len(),
        pending.len(),
        out.display()
    );
    if pending.is_empty() {
        return Ok(());
    }
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("{}: cannot create", logs.display()))?;
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "[{elapsed_precise}] [{bar:30}] {pos}/{len} runs (ETA {eta}) {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let mut running: Vec<(&GridPoint, Child, PathBuf)> = Vec::new();
    let mut failed = Vec::new();
    let mut started = 0usize;
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < jobs {
            let Some(p) = pending.pop_front() else { break };
            let log = logs.join(format!("{}.log", p.config.run_name()));
            let file = std::fs::File::create(&log)
                .with_context(|| format!("{}: cannot create", log.display()))?;
            let mut cmd = Command::new(me);
            if !a.devices.is_empty() {
                let dev = &a.devices[started % a.devices.len()];
                cmd.env(
                    "CUDA_VISIBLE_DEVICES",
                    dev.strip_prefix("cuda:").unwrap_or(dev),
                );
            }
            started += 1;
            let child = cmd
                .args(grid::run_args(
                    &a.experiment,
                    p,
                    out,
                    numerics,
                    a.data_dir.as_deref(),
                ))
                .stdout(file.try_clone()?)
                .stderr(file)
                .stdin(Stdio::null())
                .spawn()
                .with_context(|| format!("starting the run for {}", p.config.run_name()))?;
            running.push((p, child, log));
        }
        bar.set_message(
            running
                .iter()
                .map(|(p, _, _)| p.config.run_name())
                .collect::<Vec<_>>()
                .join(", "),
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut still = Vec::new();
        for (p, mut child, log) in running.drain(..) {
            match child.try_wait()? {
                None => still.push((p, child, log)),
                Some(status) => {
                    bar.inc(1);
                    if !status.success() {
                        bar.println(format!(
                            "FAILED {} ({status}); log: {}",
                            p.config.run_name(),
                            log.display()
                        ));
                        failed.push(p.config.run_name());
                    }
                }
            }
        }
        running = still;
    }
    bar.finish_and_clear();
    if !failed.is_empty() {
        bail!(
            "{} grid point(s) failed: {} (logs in {})",
            failed.len(),
            failed.join(", "),
            logs.display()
        );
    }
    Ok(())
}

pub(super) fn collect(
    exp: &Experiment,
    profile: &str,
    points: &[GridPoint],
    out: &Path,
) -> Result<ExitCode> {
    let min_acc = exp.profile(profile)?.min_train_acc;
    let mut rows: Vec<Row> = Vec::new();
    let mut missing = Vec::new();
    for p in points {
        match grid::status(out, p) {
            Status::Done(s) => rows.push(Row::from_summary(&s, min_acc)),
            Status::Missing => missing.push(format!("{} (no artifact)", p.config.run_name())),
            Status::Invalid(why) => missing.push(format!("{} ({why})", p.config.run_name())),
        }
    }
    println!("{}", report::table(&rows));
    for m in &missing {
        println!("MISSING {m}");
    }
    println!("Spearman rank correlation with eta/S (paper: lambda_max < 0, frobenius_norm < 0, val_acc > 0):");
    for (m, rho) in report::correlations(&rows) {
        println!("  {:<15} {rho:+.3}", m.as_str());
    }
    let spread = report::equal_ratio_spread(&rows);
    if !spread.is_empty() {
        println!("\nSpread among runs with equal eta/S:\n{spread}");
    }
    let h5 = out.join("fig3.h5");
    let hash = report::write_grid_h5(&h5, &exp.name, profile, &rows)?;
    let title = format!(
        "{} / {profile}: {} of {} grid points{}",
        exp.name,
        rows.len(),
        points.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing)", missing.len())
        }
    );
    report::plot_fig3(out, "fig3", &title, &rows)?;
    let csv = out.join("fig3.csv");
    report::write_grid_csv(&csv, &rows)?;
    println!("fig3.h5 content_sha256 {hash}");
    println!(
        "wrote {}, {}, {}, {}",
        h5.display(),
        csv.display(),
        out.join("fig3.png").display(),
        out.join("fig3.svg").display()
    );
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
