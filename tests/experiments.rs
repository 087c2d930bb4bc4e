//! Experiments as data through the real binary: an experiment file the harness has no code for
//! (zipped points times an axis over `split.train`, its own analysis) goes through `repro`,
//! `--plan`, `--collect`, `--slurm --dry-run`, `golden bless` and `check`; `repro list`; and an
//! installed layout (`<prefix>/bin` + `<prefix>/share/three-factors`) used from another folder.
mod common;

use common::{repo, run_bin, run_in, Run};
use std::path::Path;

const TINY: &str = r#"
name = "tiny"
description = "Two zipped (η, S) pairs times two training-set sizes"
default_profile = "t"

[analysis]
x = "split.train"
log_x = false
correlate = ["val_acc", "lambda_max"]
equal_x_spread = false
figure = { panels = ["val_acc", "lambda_max"], colour = "lr" }

[profiles.t]
description = "Seconds: width 8, one epoch"
zip = { "sgd.lr" = [0.02, 0.1], "sgd.batch_size" = [32, 64] }
axes = [{ field = "split.train", values = [256, 512] }]
seeds = [0]
[profiles.t.base]
width = 8
split = { train = 512, val = 128, test = 128 }
sgd = { lr = 0.05, batch_size = 32, epochs = 1 }
curvature = { eval_samples = 64, hvp = "exact", power_tol = 1e-2, power_max_iters = 5, frobenius_probes = 2, trace_probes = 2 }
seed = 0
threads = 1
device = "cpu"
"#;

const POINTS: [&str; 4] = [
    "lr0.02_bs32_train256_seed0",
    "lr0.02_bs32_train512_seed0",
    "lr0.1_bs64_train256_seed0",
    "lr0.1_bs64_train512_seed0",
];

fn tiny(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["repro", "--experiment", "tiny.toml"];
    args.extend_from_slice(extra);
    run_in(dir, &args, &[])
}

#[test]
fn an_experiment_declared_as_data_runs_plans_collects_blesses_and_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("tiny.toml"), TINY).unwrap();

    let r = tiny(d, &["--out", "o", "--jobs", "2"]);
    r.expect(0);
    let hash = common::grid_hash(&r, "tiny");
    for p in POINTS {
        assert!(d.join("o").join(format!("{p}.h5")).exists(), "{p}");
    }
    for f in ["tiny.h5", "tiny.csv", "tiny.png", "tiny.svg"] {
        assert!(d.join("o").join(f).exists(), "{f}");
    }
    assert!(
        r.stdout()
            .contains("Spearman rank correlation with split.train"),
        "{}",
        r.stdout()
    );
    let csv = std::fs::read_to_string(d.join("o/tiny.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "split.train")
        .expect("split.train column");
    let trains: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap())
        .collect();
    assert_eq!(trains, ["256", "512", "256", "512"]);

    let plan = tiny(d, &["--out", "o", "--plan"]);
    plan.expect(0);
    let lines: Vec<String> = plan.stdout().lines().map(String::from).collect();
    assert_eq!(lines.len(), 4);
    for (l, p) in lines.iter().zip(POINTS) {
        assert!(l.contains(&format!("--point {p} --out o/{p}.h5")), "{l}");
    }

    let c = tiny(d, &["--collect", "o"]);
    c.expect(0);
    assert_eq!(common::grid_hash(&c, "tiny"), hash);

    let s = tiny(d, &["--out", "o2", "--slurm", "--dry-run"]);
    s.expect(0);
    assert!(
        s.stdout().contains("#SBATCH --array=0,1,2,3"),
        "{}",
        s.stdout()
    );
    assert_eq!(s.stdout().matches(") exec ").count(), 4);

    let b = run_in(
        d,
        &[
            "golden",
            "bless",
            "--experiment",
            "tiny.toml",
            "--profile",
            "t",
            "--from",
            "o",
            "--golden",
            "g.toml",
        ],
        &[],
    );
    b.expect(0);
    let g: three_factors::check::Golden =
        toml::from_str(&std::fs::read_to_string(d.join("g.toml")).unwrap()).unwrap();
    assert_eq!(
        (g.experiment.as_str(), g.profile.as_str(), g.x.as_str()),
        ("tiny", "t", "split.train")
    );
    let hashes = g.hashes.values().next().unwrap();
    assert_eq!(hashes["tiny.h5"], hash);
    assert_eq!(hashes.len(), 5);

    let k = run_in(d, &["check", "o", "--golden", "g.toml"], &[]);
    k.expect(0);
    assert!(k.stdout().contains("PASS"), "{}", k.stdout());
    assert!(
        k.stdout()
            .lines()
            .any(|l| l.contains("tiny.h5") && l.ends_with("ok")),
        "{}",
        k.stdout()
    );
}

#[test]
fn bad_experiment_files_exit_2_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases = [
        (
            TINY.replace("x = \"split.train\"", "x = \"width\""),
            "analysis.x: 'width' is not a numeric column",
        ),
        (
            TINY.replace("[256, 512]", "[256, 100000]"),
            "split.train=100000",
        ),
        (
            TINY.replace("\"sgd.batch_size\" = [32, 64]", "\"sgd.batch_size\" = [32]"),
            "zip.\"sgd.batch_size\"",
        ),
        (
            TINY.replace("panels = [\"val_acc\"", "panels = [\"accuracy\""),
            "unknown metric 'accuracy'",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(d.join("tiny.toml"), text).unwrap();
        let r = tiny(d, &["--plan"]);
        r.expect(2);
        assert!(r.stderr().contains(needle), "{needle}: {}", r.stderr());
    }
}

#[test]
fn repro_list_names_each_experiment_with_its_profiles_and_work() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir_all(share.join("experiments")).unwrap();
    std::fs::write(share.join("experiments/tiny.toml"), TINY).unwrap();
    std::fs::copy(
        repo("experiments/fig3.toml"),
        share.join("experiments/fig3.toml"),
    )
    .unwrap();
    let env = [("THREE_FACTORS_SHARE", share.to_str().unwrap())];
    let r = run_in(tmp.path(), &["repro", "list"], &env);
    r.expect(0);
    let out = r.stdout();
    for needle in [
        "fig3  (",
        "tiny  (",
        "smoke       4 points",
        "quick      48 points",
        "t           4 points",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // 2 × 256 + 2 × 512 samples × 1 epoch.
    assert!(out.contains("1.536e3 sample-epochs"), "{out}");
    // The same experiment by name, found through THREE_FACTORS_SHARE.
    let p = run_in(tmp.path(), &["repro", "tiny", "--plan"], &env);
    p.expect(0);
    assert_eq!(p.stdout().lines().count(), 4);
}

#[test]
fn an_installed_binary_finds_its_experiments_and_golden_files_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let share = prefix.join("share/three-factors");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    let bin = prefix.join("bin/three-factors");
    std::fs::copy(common::bin(), &bin).unwrap();
    for dir in ["experiments", "golden/fig3", "bench"] {
        std::fs::create_dir_all(share.join(dir)).unwrap();
        for e in std::fs::read_dir(common::root().join(dir)).unwrap() {
            let e = e.unwrap();
            if e.path().is_file() {
                std::fs::copy(e.path(), share.join(dir).join(e.file_name())).unwrap();
            }
        }
    }
    let work = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&work).unwrap();
    let bin = bin.to_str().unwrap();
    let r = run_bin(
        bin,
        &work,
        &[
            "repro",
            "fig3",
            "--profile",
            "smoke",
            "--out",
            "o",
            "--jobs",
            "2",
        ],
        &[],
    );
    r.expect(0);
    let k = run_bin(bin, &work, &["check", "o"], &[]);
    k.expect(0);
    let golden = share.join("golden/fig3/smoke.toml");
    assert!(
        k.stdout()
            .contains(&format!("golden: {}", golden.display())),
        "{}",
        k.stdout()
    );
    assert!(k.stdout().contains("PASS"), "{}", k.stdout());
    let l = run_bin(bin, &work, &["repro", "list"], &[]);
    l.expect(0);
    assert!(
        l.stdout()
            .contains(&share.join("experiments/fig3.toml").display().to_string()),
        "{}",
        l.stdout()
    );

    // `bench` records into the working directory (an installed share folder is read-only), and
    // its peers run under $THREE_FACTORS_PYTHON, which is how the Nix apps hand over their Python.
    let bench = [
        "bench",
        "--quick",
        "--only",
        "sgd_step/w128/s25",
        "--reps",
        "2",
    ];
    run_bin(bin, &work, &bench, &[]).expect(0);
    assert!(work.join("three-factors-bench.h5").is_file());
    let report = run_bin(bin, &work, &["bench", "report"], &[]);
    report.expect(0);
    assert!(
        report.stdout().contains("sgd_step/w128/s25"),
        "{}",
        report.stdout()
    );
    let peers = [&bench[..], &["--peers"]].concat();
    let p = run_bin(
        bin,
        &work,
        &peers,
        &[("THREE_FACTORS_PYTHON", "/nonexistent/python3")],
    );
    p.expect(2);
    assert!(
        p.stderr().contains("/nonexistent/python3"),
        "{}",
        p.stderr()
    );
}
