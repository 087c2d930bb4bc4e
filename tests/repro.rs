//! `repro fig3` through the real binary on the smoke profile: reproducibility across processes,
//! the outputs, `--plan` lines, resuming, `--collect`, and a diverging run.
mod common;

use common::{repo, run_in, Run};
use std::path::{Path, PathBuf};

fn smoke(dir: &Path, out: &str) -> Run {
    common::smoke(dir, out, &[], &[])
}

fn grid_hash(r: &Run) -> String {
    common::grid_hash(r, "fig3")
}

fn check(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["check"];
    a.extend_from_slice(args);
    run_in(dir, &a, &[])
}

#[test]
fn smoke_grid_reproduces_across_processes_and_passes_the_golden_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let a = smoke(tmp.path(), "a");
    let b = smoke(tmp.path(), "b");
    a.expect(0);
    b.expect(0);
    assert_eq!(grid_hash(&a), grid_hash(&b));
    for f in ["fig3.h5", "fig3.csv", "fig3.png", "fig3.svg"] {
        assert!(tmp.path().join("a").join(f).exists(), "{f}");
    }
    assert!(a.stdout().contains("Spearman rank correlation"));
    csv_matches_grid_h5(&tmp.path().join("a"));
    let c = check(
        tmp.path(),
        &["a", "--golden", &repo("golden/fig3/smoke.toml")],
    );
    c.expect(0);
    assert!(c.stdout().contains("PASS: 41 checks"), "{}", c.stdout());
}

/// `fig3.csv` holds the same table as `fig3.h5`'s `/grid`: same columns, same rows, same values.
fn csv_matches_grid_h5(dir: &Path) {
    let csv = std::fs::read_to_string(dir.join("fig3.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    let f = hdf5::File::open(dir.join("fig3.h5")).unwrap();
    let grid = f.group("grid").unwrap();
    let mut names = grid.member_names().unwrap();
    names.sort();
    let mut sorted = header.clone();
    sorted.sort();
    assert_eq!(sorted, names);
    for (i, name) in header.iter().enumerate() {
        let ds = grid.dataset(name).unwrap();
        let want: Vec<String> = match *name {
            "run" | "content_sha256" | "stop_reason" | "exclusion" => ds
                .read_raw::<hdf5::types::VarLenUnicode>()
                .unwrap()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "batch_size" | "seed" | "epochs" => ds
                .read_raw::<i64>()
                .unwrap()
                .iter()
                .map(i64::to_string)
                .collect(),
            "diverged" | "excluded" => ds
                .read_raw::<u8>()
                .unwrap()
                .iter()
                .map(u8::to_string)
                .collect(),
            _ => ds
                .read_raw::<f64>()
                .unwrap()
                .iter()
                .map(f64::to_string)
                .collect(),
        };
        let got: Vec<String> = rows.iter().map(|r| r[i].to_string()).collect();
        assert_eq!(got, want, "column {name}");
    }
}

#[test]
fn plan_lines_are_self_contained_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let p = run_in(
        tmp.path(),
        &[
            "repro",
            "fig3",
            "--profile",
            "smoke",
            "--experiment",
            &repo("experiments/fig3.toml"),
            "--out",
            "o",
            "--plan",
        ],
        &[],
    );
    p.expect(0);
    let stdout = p.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("three-factors --numerics avx2 run --experiment "));
    assert!(
        lines[0].ends_with(
            "--profile smoke --point lr0.02_bs32_seed0 --out o/lr0.02_bs32_seed0.h5 --quiet"
        ),
        "{}",
        lines[0]
    );
    // Running one line by hand produces the artifact the runner would have produced.
    let args: Vec<String> = lines[0]
        .split_whitespace()
        .skip(1)
        .map(String::from)
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_in(tmp.path(), &args, &[]).expect(0);
    let g = run_in(tmp.path(), &["inspect", "o/lr0.02_bs32_seed0.h5"], &[]);
    g.expect(0);
    let golden = std::fs::read_to_string(repo("golden/fig3/smoke.toml")).unwrap();
    let h = common::artifact_hash(&g.stdout());
    assert!(
        golden.contains(&format!("\"lr0.02_bs32_seed0\" = \"{h}\"")),
        "hash {h} not in golden"
    );
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn resume_reruns_only_missing_or_corrupt_points() {
    let tmp = tempfile::tempdir().unwrap();
    smoke(tmp.path(), "o").expect(0);
    let o = tmp.path().join("o");
    let keep: Vec<PathBuf> = ["lr0.02_bs128_seed0.h5", "lr0.1_bs32_seed0.h5"]
        .iter()
        .map(|f| o.join(f))
        .collect();
    let before: Vec<_> = keep.iter().map(|p| mtime(p)).collect();
    std::fs::remove_file(o.join("lr0.02_bs32_seed0.h5")).unwrap();
    let bytes = std::fs::read(o.join("lr0.1_bs128_seed0.h5")).unwrap();
    std::fs::write(o.join("lr0.1_bs128_seed0.h5"), &bytes[..bytes.len() / 3]).unwrap();
    let r = smoke(tmp.path(), "o");
    r.expect(0);
    assert!(
        r.stderr()
            .contains("4 grid points, 2 already done, 2 to run"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains("re-running lr0.1_bs128_seed0"),
        "{}",
        r.stderr()
    );
    // The truncated file is not deleted: it is kept beside the fresh artifact.
    assert!(
        r.stderr()
            .contains("kept as o/lr0.1_bs128_seed0.h5.unusable"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        std::fs::read(o.join("lr0.1_bs128_seed0.h5.unusable")).unwrap(),
        &bytes[..bytes.len() / 3]
    );
    let after: Vec<_> = keep.iter().map(|p| mtime(p)).collect();
    assert_eq!(before, after, "verified artifacts must not be re-run");
    // A finished grid does no training at all.
    let again = smoke(tmp.path(), "o");
    again.expect(0);
    assert!(
        again.stderr().contains("4 already done, 0 to run"),
        "{}",
        again.stderr()
    );
    check(
        tmp.path(),
        &["o", "--golden", &repo("golden/fig3/smoke.toml")],
    )
    .expect(0);
}

#[test]
fn collecting_an_incomplete_grid_marks_the_missing_point() {
    let tmp = tempfile::tempdir().unwrap();
    smoke(tmp.path(), "o").expect(0);
    std::fs::remove_file(tmp.path().join("o/lr0.1_bs128_seed0.h5")).unwrap();
    let c = common::smoke(tmp.path(), "o", &["--collect", "o"], &[]);
    c.expect(1);
    assert!(
        c.stdout()
            .contains("MISSING lr0.1_bs128_seed0 (no artifact)"),
        "{}",
        c.stdout()
    );
}

#[test]
fn a_diverging_run_is_recorded_not_crashed() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_in(
        tmp.path(),
        &[
            "run",
            "--width",
            "16",
            "--train-samples",
            "256",
            "--val-samples",
            "64",
            "--test-samples",
            "64",
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--lr",
            "1e30",
            "--eval-samples",
            "64",
            "--quiet",
            "--out",
            "d.h5",
        ],
        &[],
    );
    r.expect(0);
    assert!(r.stdout().contains("DIVERGED"), "{}", r.stdout());
    let i = run_in(tmp.path(), &["inspect", "d.h5"], &[]);
    i.expect(0);
    assert!(i.stdout().contains("lambda_max      NaN"), "{}", i.stdout());
}
