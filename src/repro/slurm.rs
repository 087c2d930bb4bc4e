//! Running a grid on a Slurm cluster: one job array whose task `i` runs grid point `i` with the
//! same self-contained `three-factors run` line that `--plan` prints. Submission and polling go
//! through `sbatch` and `squeue`; artifacts land in a shared output folder.
use crate::error::{Error, Result};
use std::path::Path;
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
    let q = |s: &str| super::grid::shell_quote(s);
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
