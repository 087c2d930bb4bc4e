//! `repro <experiment>`: run every point of a profile (resumably, locally `--jobs` at a time or
//! on Slurm), then collect its table, correlations and figure; `repro list`.
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use three_factors::config::{DeviceSpec, Experiment};
use three_factors::determinism::Numerics;
use three_factors::layout::Layout;
use three_factors::repro::grid::pending;
use three_factors::repro::slurm::{self, Resources};
use three_factors::repro::{self, PoolEvent, ReproPlan};

#[derive(clap::Args, Debug)]
pub struct ReproArgs {
    /// The experiment (`experiments/<name>.toml`), or `list` to list them all.
    pub name: Option<String>,
    /// An experiment file anywhere (instead of a name).
    #[arg(long)]
    pub experiment: Option<PathBuf>,
    /// The profile (default: the experiment's, e.g. quick).
    #[arg(long)]
    pub profile: Option<String>,
    /// Output folder (default runs/<experiment>/<profile>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Points run at a time (default: CPU cores / threads per run).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print one self-contained `three-factors run ...` command per point and exit.
    #[arg(long, conflicts_with = "collect")]
    pub plan: bool,
    /// Build the table and figure from artifacts already in DIR (produced elsewhere); run nothing.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
    /// Folder holding the Fashion-MNIST files (passed to every run).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Local multi-GPU: one device per job, round-robin (e.g. cuda:0,cuda:1). Each run sees
    /// only its device (CUDA_VISIBLE_DEVICES), so artifacts are the same on any GPU index.
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<DeviceSpec>,
    /// Submit the pending points to Slurm as one job array instead of running them here.
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
    /// `repro list`: the benchmark history its time estimates come from (default
    /// bench/history.h5 beside the experiments).
    #[arg(long)]
    pub history: Option<PathBuf>,
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "[{{elapsed_precise}}] [{{bar:30}}] {{pos}}/{{len}} {what} (ETA {{eta}}) {{msg}}"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    bar
}

pub fn repro(a: ReproArgs, numerics: Numerics) -> Result<ExitCode> {
    let layout = Layout::discover();
    let path = match (&a.experiment, a.name.as_deref()) {
        (None, Some("list")) => return list(&layout, &a),
        (Some(p), _) => p.clone(),
        (None, Some(name)) => layout.experiment(name),
        (None, None) => {
            bail!("name an experiment (`repro fig3`), pass --experiment FILE, or run `repro list`")
        }
    };
    let exp = Experiment::load(&path)?;
    if let Some(name) = a.name.as_deref().filter(|n| *n != exp.name) {
        bail!(
            "{}: holds experiment '{}', not '{name}'",
            path.display(),
            exp.name
        );
    }
    let program = std::env::current_exe().context("locating the three-factors binary")?;
    if let Some(dir) = &a.collect {
        if !dir.is_dir() {
            bail!(
                "--collect {}: {}; it must be a folder of artifacts produced elsewhere",
                dir.display(),
                if dir.exists() {
                    "not a folder"
                } else {
                    "no such folder"
                }
            );
        }
    }
    let out = a.collect.clone().or(a.out.clone());
    let plan = ReproPlan::new(
        exp,
        a.profile.as_deref(),
        out,
        numerics,
        a.data_dir.clone(),
        program,
    )?
    .with_devices(a.devices.clone())?;

    if a.plan {
        for p in &plan.points {
            outln!("{}", plan.command_line("three-factors", p));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Held until this process ends: deciding what to run, running or submitting it, and
    // writing the table and figure.
    let (lock, removed) = plan.lock()?;
    if !lock.held() {
        errln!(
            "warning: {}: this file system cannot lock files; nothing stops a second repro here",
            plan.out.display()
        );
    }
    if removed > 0 {
        errln!(
            "removed {removed} temporary file(s) an interrupted writer left in {}",
            plan.out.display()
        );
    }
    if a.collect.is_none() && !a.dry_run {
        slurm::refuse_while_active(&plan.out)?;
    }
    if a.slurm {
        return submit(plan.absolute()?, &a);
    }
    if a.collect.is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = a.jobs.unwrap_or(cores / plan.threads()).max(1);
        let todo = announce(&plan, &format!("to run, {jobs} at a time"), false)?;
        if !todo.is_empty() {
            let bar = bar(todo.len(), "runs");
            let failed = repro::run_local(&plan, &todo, jobs, |e| match e {
                PoolEvent::Running(names) => bar.set_message(names.join(", ")),
                PoolEvent::Finished {
                    point,
                    ok,
                    status,
                    log,
                    log_error,
                } => {
                    bar.inc(1);
                    if let Some(e) = log_error {
                        bar.println(format!("warning: {point}: its log was not kept: {e}"));
                    }
                    if !ok {
                        bar.println(format!("FAILED {point} ({status}); log: {}", log.display()));
                    }
                }
            })?;
            bar.finish_and_clear();
            if !failed.is_empty() {
                bail!(
                    "{} point(s) failed: {} (logs in {})",
                    failed.len(),
                    failed.join(", "),
                    plan.out.join("logs").display()
                );
            }
        }
    }
    collect(&plan)
}

/// Says what is done and what will run; returns the points to run.
/// `dry`: change nothing in the folder.
fn announce(
    plan: &ReproPlan,
    how: &str,
    dry: bool,
) -> Result<Vec<three_factors::config::GridPoint>> {
    let p = pending(plan, !dry)?;
    super::output::emit(true, format_args!("{}", p.render(plan, how)));
    Ok(p.todo)
}

fn collect(plan: &ReproPlan) -> Result<ExitCode> {
    let c = repro::collect(plan, |name| match name.strip_prefix("theory/") {
        Some(part) => errln!("simulating {part}"),
        None => errln!("interpolating {name}"),
    })?;
    out!(
        "{}",
        c.render(&plan.experiment.name, &plan.experiment.analysis.x)
    );
    if !c.theory_holds {
        errln!("theory bands failed (FAIL lines above)");
    }
    Ok(if c.complete() && c.theory_holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn submit(plan: ReproPlan, a: &ReproArgs) -> Result<ExitCode> {
    let todo = announce(&plan, "to submit", a.dry_run)?;
    if todo.is_empty() {
        return collect(&plan);
    }
    let res = Resources {
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task,
        time: a.time.clone(),
    };
    let s = slurm::prepare(&plan, &todo, &res);
    if a.dry_run {
        out!("{}", s.script);
        return Ok(ExitCode::SUCCESS);
    }
    let job = slurm::submit_prepared(&s)?;
    let indices: Vec<String> = s.indices.iter().map(usize::to_string).collect();
    outln!(
        "submitted job {job} (array {}) from {}",
        indices.join(","),
        s.path.display()
    );
    if !a.wait {
        outln!(
            "follow with: squeue -j {job}; then: three-factors repro {} --profile {} --collect {}",
            plan.experiment.name,
            plan.profile,
            plan.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let bar = bar(todo.len(), "tasks finished");
    slurm::wait(&job, todo.len(), |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    let failed = slurm::failed_tasks(&plan, &todo, &job);
    for f in &failed {
        outln!("{f}");
    }
    let code = collect(&plan)?;
    Ok(if failed.is_empty() {
        code
    } else {
        ExitCode::from(1)
    })
}

fn list(layout: &Layout, a: &ReproArgs) -> Result<ExitCode> {
    // The history `bench` records into here when there is one, else the shipped one.
    let history = a.history.clone().unwrap_or_else(|| {
        Some(Layout::working_bench_history())
            .filter(|h| h.is_file())
            .unwrap_or_else(|| layout.bench_history())
    });
    let entries = repro::catalog(layout, &history)?;
    if entries.is_empty() {
        bail!(
            "{}: no experiment files",
            layout.experiments_dir().display()
        );
    }
    for e in &entries {
        outln!("{}", e.render());
    }
    let broken = entries.iter().any(|e| e.experiment.is_err());
    Ok(if broken {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
