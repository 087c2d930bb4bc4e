//! Running an experiment on a Slurm cluster: one job array whose task `i` runs point `i` with the
//! same self-contained `three-factors run` line that `--plan` prints. Submission and polling go
//! through `sbatch` and `squeue`; artifacts land in a shared output folder.
use super::grid::{status, Status};
use super::ReproPlan;
use crate::config::GridPoint;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Resources requested for each array task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub partition: Option<String>,
    /// Mapped to `--gres=gpu:N`.
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// `HH:MM:SS`.
    pub time: Option<String>,
}

/// The batch script: `#SBATCH` header, then a `case` on `SLURM_ARRAY_TASK_ID` that `exec`s the
/// task's command. `tasks` are (grid index, full command line).
pub fn batch_script(
    job_name: &str,
    tasks: &[(usize, Vec<String>)],
    res: &Resources,
    log_dir: &Path,
) -> String {
    let q = |s: &str| super::plan::shell_quote(s);
    let indices: Vec<String> = tasks.iter().map(|(i, _)| i.to_string()).collect();
    let mut s = String::from("#!/bin/bash\n");
    s += &format!("#SBATCH --job-name={}\n", q(job_name));
    s += &format!("#SBATCH --array={}\n", indices.join(","));
    s += &format!(
        "#SBATCH --output={}\n",
        q(&log_dir.join("%A_%a.log").display().to_string())
    );
    s += "#SBATCH --ntasks=1\n";
    if let Some(p) = &res.partition {
        s += &format!("#SBATCH --partition={}\n", q(p));
    }
    if let Some(c) = res.cpus_per_task {
        s += &format!("#SBATCH --cpus-per-task={c}\n");
    }
    if let Some(g) = res.gpus_per_task {
        s += &format!("#SBATCH --gres=gpu:{g}\n");
    }
    if let Some(t) = &res.time {
        s += &format!("#SBATCH --time={}\n", q(t));
    }
    s += "set -euo pipefail\ncase \"$SLURM_ARRAY_TASK_ID\" in\n";
    for (i, cmd) in tasks {
        let line: Vec<String> = cmd.iter().map(|a| q(a)).collect();
        s += &format!("  {i}) exec {} ;;\n", line.join(" "));
    }
    s += "  *) echo \"three-factors: no grid point for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n";
    s
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().map_err(|e| {
        Error::Invalid(format!(
            "{what}: cannot run ({e}); is Slurm installed and SLURM_CONF set?"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Submits `script` with `sbatch --parsable`; returns the job id.
pub fn submit(script: &Path) -> Result<String> {
    let id = run(
        Command::new("sbatch").arg("--parsable").arg(script),
        "sbatch",
    )?;
    Ok(id.split(';').next().unwrap_or_default().to_string())
}

/// Array tasks of `job` still pending or running (0 once the job has left the queue).
pub fn active_tasks(job: &str) -> usize {
    run(
        Command::new("squeue").args(["-h", "-r", "-j", job, "-o", "%i"]),
        "squeue",
    )
    .map(|s| s.lines().filter(|l| !l.trim().is_empty()).count())
    .unwrap_or(0)
}

/// A job array ready to submit: the script, where it is written, and its tasks' point indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub script: String,
    pub path: PathBuf,
    pub indices: Vec<usize>,
}

/// The job array for `todo` (points of `plan`, whose paths must be absolute): script in
/// `<out>/slurm/<experiment>-<profile>.sbatch`, task logs beside it.
pub fn prepare(plan: &ReproPlan, todo: &[GridPoint], res: &Resources) -> Submission {
    let log_dir = plan.out.join("slurm");
    let tasks: Vec<(usize, Vec<String>)> = todo
        .iter()
        .map(|p| {
            let mut cmd = vec![plan.program.display().to_string()];
            cmd.extend(plan.run_args(p));
            (p.index, cmd)
        })
        .collect();
    let name = format!("{}-{}", plan.experiment.name, plan.profile);
    Submission {
        script: batch_script(&format!("three-factors-{name}"), &tasks, res, &log_dir),
        path: log_dir.join(format!("{name}.sbatch")),
        indices: todo.iter().map(|p| p.index).collect(),
    }
}

/// Writes the script atomically and submits it; returns the job id, which is also recorded in
/// `<out>/slurm/job` for [`refuse_while_active`].
pub fn submit_prepared(s: &Submission) -> Result<String> {
    crate::files::write(&s.path, s.script.as_bytes())?;
    let job = submit(&s.path)?;
    crate::files::write(&job_file(&s.path), format!("{job}\n").as_bytes())?;
    Ok(job)
}

/// Where the id of the last job submitted for a folder is kept: beside its script.
fn job_file(script: &Path) -> PathBuf {
    crate::files::parent_dir(script).join("job")
}

/// Refuses to run or submit points in `out` while the job last submitted from it still has
/// tasks queued or running: they would train the same points twice and race for their
/// artifacts. (`repro`'s folder lock ends with the process that submitted; the job does not.)
/// A folder whose job has left the queue, or a machine without Slurm, is not held.
pub fn refuse_while_active(out: &Path) -> Result<()> {
    let path = job_file(&out.join("slurm").join("x"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let job = text.trim();
    if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    let active = active_tasks(job);
    if active > 0 {
        return Err(Error::Invalid(format!(
            "{}: Slurm job {job}, submitted from this folder, still has {active} task(s) queued or running; wait for it (`squeue -j {job}`, or `repro --collect` once it is done) or cancel it (`scancel {job}`)",
            out.display()
        )));
    }
    Ok(())
}

/// Follows `job` until it has left the queue, reporting how many of its `tasks` finished.
pub fn wait(job: &str, tasks: usize, mut on_progress: impl FnMut(usize)) {
    loop {
        let active = active_tasks(job);
        on_progress(tasks.saturating_sub(active));
        if active == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// A task that ended without a verified artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedTask {
    pub index: usize,
    pub point: GridPoint,
    pub log: PathBuf,
}

impl std::fmt::Display for FailedTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.point.config;
        write!(
            f,
            "FAILED task {} = grid point {} (lr {}, batch size {}, seed {}); log: {}",
            self.index,
            self.point.name(),
            c.sgd.lr,
            c.sgd.batch_size,
            c.seed,
            self.log.display()
        )
    }
}

/// The tasks of `job` (for `todo`) whose point has no verified artifact.
pub fn failed_tasks(plan: &ReproPlan, todo: &[GridPoint], job: &str) -> Vec<FailedTask> {
    todo.iter()
        .filter(|p| !matches!(status(&plan.out, p), Status::Done(_)))
        .map(|p| FailedTask {
            index: p.index,
            point: p.clone(),
            log: plan
                .out
                .join("slurm")
                .join(format!("{job}_{}.log", p.index)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_has_array_resources_and_one_case_per_task() {
        let tasks = vec![
            (
                0,
                vec![
                    "/bin/tf".to_string(),
                    "run".into(),
                    "--lr".into(),
                    "0.1".into(),
                ],
            ),
            (3, vec!["/bin/tf".to_string(), "run".into()]),
        ];
        let res = Resources {
            partition: Some("gpu".into()),
            gpus_per_task: Some(1),
            cpus_per_task: Some(4),
            time: Some("01:00:00".into()),
        };
        let s = batch_script(
            "tf-fig3-smoke",
            &tasks,
            &res,
            Path::new("/shared/out/slurm"),
        );
        for line in [
            "#SBATCH --array=0,3",
            "#SBATCH --output=/shared/out/slurm/%A_%a.log",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --time=01:00:00",
            "  0) exec /bin/tf run --lr 0.1 ;;",
            "  3) exec /bin/tf run ;;",
        ] {
            assert!(s.contains(line), "missing {line:?} in\n{s}");
        }
    }
}
