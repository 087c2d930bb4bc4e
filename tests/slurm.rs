//! The smoke grid on a real one-node Slurm cluster (slurmctld + slurmd + munge on 127.0.0.1,
//! started by ci/slurm-up): submission as a job array, a failing task reported with its log,
//! re-submission of only the missing points, and a collected fig3.h5 identical to a local run.
mod common;

use common::{run_in, Run};
use std::path::{Path, PathBuf};

fn slurm_conf() -> String {
    let up = common::root().join("ci/slurm-up");
    let out = std::process::Command::new(&up)
        .output()
        .expect("run ci/slurm-up");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ci/slurm-up failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("export SLURM_CONF="))
        .expect("SLURM_CONF line")
        .to_string()
}

fn repro(dir: &Path, conf: &str, extra: &[&str]) -> Run {
    let exp = common::repo("experiments/fig3.toml");
    let mut args = vec!["repro", "fig3", "--profile", "smoke", "--experiment", &exp];
    args.extend_from_slice(extra);
    run_in(dir, &args, &[("SLURM_CONF", conf)])
}

fn grid_hash(r: &Run) -> String {
    common::grid_hash(r, "fig3")
}

fn mtimes(paths: &[PathBuf]) -> Vec<std::time::SystemTime> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect()
}

#[test]
fn smoke_grid_on_slurm_resubmits_only_what_is_missing() {
    let conf = slurm_conf();
    let tmp = tempfile::tempdir().unwrap();
    let local = repro(tmp.path(), &conf, &["--out", "local"]);
    local.expect(0);
    let want = grid_hash(&local);

    // A task that cannot write its artifact (a folder is in the way) fails; it is reported with
    // its grid point and its Slurm log, and the collected figure marks it missing.
    let o = tmp.path().join("o");
    std::fs::create_dir_all(o.join("lr0.1_bs32_seed0.h5")).unwrap();
    let r = repro(tmp.path(), &conf, &["--out", "o", "--slurm", "--wait"]);
    r.expect(1);
    let out = r.stdout();
    assert!(out.contains("(array 0,1,2,3)"), "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("FAILED task 2 = grid point lr0.1_bs32_seed0"))
        .unwrap_or_else(|| panic!("{out}"));
    let log = PathBuf::from(failed.rsplit("log: ").next().unwrap());
    assert!(log.starts_with(o.join("slurm")) && log.exists(), "{failed}");
    assert!(out.contains("MISSING lr0.1_bs32_seed0"), "{out}");

    // Clear the obstacle: only task 2 is submitted again; finished points are not touched.
    std::fs::remove_dir(o.join("lr0.1_bs32_seed0.h5")).unwrap();
    let others: Vec<PathBuf> = [
        "lr0.02_bs32_seed0.h5",
        "lr0.02_bs128_seed0.h5",
        "lr0.1_bs128_seed0.h5",
    ]
    .iter()
    .map(|f| o.join(f))
    .collect();
    let before = mtimes(&others);
    let r = repro(tmp.path(), &conf, &["--out", "o", "--slurm", "--wait"]);
    r.expect(0);
    assert!(r.stdout().contains("(array 2)"), "{}", r.stdout());
    assert_eq!(mtimes(&others), before);
    assert_eq!(grid_hash(&r), want);

    // Kill one artifact: re-submission runs exactly that point, and fig3.h5 still equals the
    // local run's.
    std::fs::remove_file(o.join("lr0.02_bs128_seed0.h5")).unwrap();
    let r = repro(tmp.path(), &conf, &["--out", "o", "--slurm", "--wait"]);
    r.expect(0);
    assert!(
        r.stderr().contains("3 already done, 1 to submit"),
        "{}",
        r.stderr()
    );
    assert!(r.stdout().contains("(array 1)"), "{}", r.stdout());
    assert_eq!(grid_hash(&r), want);

    // Nothing left: no job is submitted at all.
    let r = repro(tmp.path(), &conf, &["--out", "o", "--slurm", "--wait"]);
    r.expect(0);
    assert!(!r.stdout().contains("submitted job"), "{}", r.stdout());
}

#[test]
fn dry_run_prints_the_script_and_maps_gpus_to_gres() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_in(
        tmp.path(),
        &[
            "repro",
            "fig3",
            "--profile",
            "smoke",
            "--experiment",
            &common::repo("experiments/fig3.toml"),
            "--out",
            "o",
            "--slurm",
            "--dry-run",
            "--gpus-per-task",
            "2",
            "--partition",
            "gpu",
            "--cpus-per-task",
            "8",
            "--time",
            "02:00:00",
        ],
        &[("SLURM_CONF", "/nonexistent")],
    );
    r.expect(0);
    let s = r.stdout();
    for l in [
        "#SBATCH --array=0,1,2,3",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --time=02:00:00",
    ] {
        assert!(s.contains(l), "missing {l}:\n{s}");
    }
    assert_eq!(s.matches(") exec ").count(), 4);
    assert!(
        !tmp.path().join("o/slurm/fig3-smoke.sbatch").exists(),
        "a dry run writes no script"
    );
}

/// A second `repro --slurm` (or a local `repro`) in a folder whose job is still queued or running
/// is refused: the first `repro` has exited and released the folder's lock, but its tasks would
/// train the same points again and race for their artifacts.
#[test]
fn a_folder_whose_job_still_runs_is_not_submitted_again() {
    let conf = slurm_conf();
    let tmp = tempfile::tempdir().unwrap();
    let r = repro(tmp.path(), &conf, &["--out", "o", "--slurm"]);
    r.expect(0);
    let job = r
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{}", r.stdout()))
        .to_string();
    for extra in [&["--out", "o", "--slurm"][..], &["--out", "o"][..]] {
        let again = repro(tmp.path(), &conf, extra);
        again.expect(2);
        assert!(
            again
                .stderr()
                .contains(&format!("Slurm job {job}, submitted from this folder"))
                && again.stderr().contains("scancel"),
            "{}",
            again.stderr()
        );
    }
    // Once the job has left the queue, the folder is free again and nothing is left to submit.
    let start = std::time::Instant::now();
    loop {
        let q = std::process::Command::new("squeue")
            .args(["-h", "-r", "-j", &job])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(start.elapsed().as_secs() < 600, "job {job} never finished");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let r = repro(tmp.path(), &conf, &["--out", "o", "--slurm", "--wait"]);
    r.expect(0);
    assert!(!r.stdout().contains("submitted job"), "{}", r.stdout());
}
