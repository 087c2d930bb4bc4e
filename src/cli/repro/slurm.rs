//! `repro fig3 --slurm`: submit the grid points that lack a verified artifact as one job array,
//! optionally follow it to the end, report failed tasks with their logs, and collect.
use super::{collect, pending, Fig3Args};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::process::ExitCode;
use three_factors::config::{Experiment, GridPoint};
use three_factors::repro::grid::{self, Status};
use three_factors::repro::slurm::{self as sl, Resources};

fn absolute(p: &Path) -> Result<std::path::PathBuf> {
    p.canonicalize()
        .with_context(|| format!("{}: cannot resolve", p.display()))
}

pub fn submit_grid(
    me: &Path,
    a: &Fig3Args,
    exp: &Experiment,
    profile: &str,
    points: &[GridPoint],
    out: &Path,
    numerics: &str,
) -> Result<ExitCode> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("{}: cannot create output folder", out.display()))?;
    // Tasks run elsewhere, in another working directory: every path in the script is absolute.
    let out = absolute(out)?;
    let experiment = absolute(&a.experiment)?;
    let data_dir = a.data_dir.as_deref().map(absolute).transpose()?;
    let log_dir = out.join("slurm");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("{}: cannot create", log_dir.display()))?;

    let (done, todo) = pending(&out, points);
    eprintln!(
        "{}/{profile}: {} grid points, {done} already done, {} to submit",
        exp.name,
        points.len(),
        todo.len()
    );
    if todo.is_empty() {
        return collect(exp, profile, points, &out);
    }
    let tasks: Vec<(usize, Vec<String>)> = todo
        .iter()
        .map(|p| {
            let mut cmd = vec![me.display().to_string()];
            cmd.extend(grid::run_args(
                &experiment,
                p,
                &out,
                numerics,
                data_dir.as_deref(),
            ));
            (p.index, cmd)
        })
        .collect();
    let res = Resources {
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task,
        time: a.time.clone(),
    };
    let script = sl::batch_script(
        &format!("three-factors-{}-{profile}", exp.name),
        &tasks,
        &res,
        &log_dir,
    );
    if a.dry_run {
        print!("{script}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = log_dir.join(format!("{}-{profile}.sbatch", exp.name));
    three_factors::atomic::write(&path, script.as_bytes())?;
    let job = sl::submit(&path)?;
    let indices: Vec<String> = tasks.iter().map(|(i, _)| i.to_string()).collect();
    println!(
        "submitted job {job} (array {}) from {}",
        indices.join(","),
        path.display()
    );
    if !a.wait {
        println!("follow with: squeue -j {job}; then: three-factors repro fig3 --profile {profile} --collect {}", out.display());
        return Ok(ExitCode::SUCCESS);
    }

    let bar = ProgressBar::new(tasks.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "[{elapsed_precise}] [{bar:30}] {pos}/{len} tasks finished (ETA {eta})",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    loop {
        let active = sl::active_tasks(&job);
        bar.set_position((tasks.len().saturating_sub(active)) as u64);
        if active == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    bar.finish_and_clear();
    let mut failed = 0;
    for p in &todo {
        if !matches!(grid::status(&out, p), Status::Done(_)) {
            failed += 1;
            let c = &p.config;
            println!(
                "FAILED task {} = grid point {} (lr {}, batch size {}, seed {}); log: {}",
                p.index,
                c.run_name(),
                c.sgd.lr,
                c.sgd.batch_size,
                c.seed,
                log_dir.join(format!("{job}_{}.log", p.index)).display()
            );
        }
    }
    let code = collect(exp, profile, points, &out)?;
    Ok(if failed > 0 { ExitCode::from(1) } else { code })
}
