//! `repro fig3`, `check` and `golden bless` through the real binary on the smoke profile.
mod common;

use common::{run_in, Run};
use std::path::{Path, PathBuf};

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

fn smoke(dir: &Path, out: &str) -> Run {
    run_in(
        dir,
        &[
            "repro",
            "fig3",
            "--profile",
            "smoke",
            "--experiment",
            &repo("experiments/fig3.toml"),
            "--out",
            out,
            "--jobs",
            "2",
        ],
        &[],
    )
}

fn grid_hash(r: &Run) -> String {
    r.stdout()
        .lines()
        .find_map(|l| l.strip_prefix("fig3.h5 content_sha256 "))
        .expect("grid hash")
        .to_string()
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
    assert!(c.stdout().contains("PASS: 29 checks"), "{}", c.stdout());
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
            "run" | "content_sha256" => ds
                .read_raw::<hdf5::types::VarLenUnicode>()
                .unwrap()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "batch_size" | "seed" => ds
                .read_raw::<i64>()
                .unwrap()
                .iter()
                .map(i64::to_string)
                .collect(),
            "diverged" | "flagged" => ds
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
        lines[0].ends_with("--out o/lr0.02_bs32_seed0.h5 --quiet"),
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
    let h = g
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("content_sha256  "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
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
fn check_fails_with_exit_1_on_tampering_band_and_hash_changes() {
    let tmp = tempfile::tempdir().unwrap();
    smoke(tmp.path(), "o").expect(0);
    let golden = std::fs::read_to_string(repo("golden/fig3/smoke.toml")).unwrap();

    // A tampered artifact: its stored hash no longer matches its content.
    let art = tmp.path().join("o/lr0.1_bs32_seed0.h5");
    {
        let f = hdf5::File::open_rw(&art).unwrap();
        let ds = f.dataset("final/val_acc").unwrap();
        ds.write_scalar(&0.99f64).unwrap();
    }
    let r = check(
        tmp.path(),
        &[
            "o/lr0.1_bs32_seed0.h5",
            "--golden",
            &repo("golden/fig3/smoke.toml"),
        ],
    );
    r.expect(1);
    assert!(
        r.stdout()
            .lines()
            .any(|l| l.contains("stored hash = content") && l.ends_with("FAIL")),
        "{}",
        r.stdout()
    );
    assert!(
        r.stdout()
            .lines()
            .any(|l| l.contains("val_acc") && l.contains("0.990000") && l.ends_with("FAIL")),
        "{}",
        r.stdout()
    );

    // A metric outside its band: triple λ_max's expected value (band ±60 %).
    let g: three_factors::check::Golden = toml::from_str(&golden).unwrap();
    let mut moved = g.clone();
    let band = moved
        .bands
        .get_mut("lr0.02_bs32_seed0")
        .unwrap()
        .get_mut("lambda_max")
        .unwrap();
    band.expected *= 3.0;
    std::fs::write(tmp.path().join("moved.toml"), moved.to_toml()).unwrap();
    let r = check(
        tmp.path(),
        &["o/lr0.02_bs32_seed0.h5", "--golden", "moved.toml"],
    );
    r.expect(1);
    assert!(
        r.stdout()
            .lines()
            .any(|l| l.contains("lambda_max") && l.contains("±60%") && l.ends_with("FAIL")),
        "{}",
        r.stdout()
    );
    assert!(r.stdout().contains("FAIL: 1 of 7 checks"), "{}", r.stdout());

    // A hash change: the golden file expects another hash on this platform.
    let mut rehashed = g.clone();
    for h in rehashed.hashes.values_mut() {
        h.insert("lr0.02_bs32_seed0".into(), "0".repeat(64));
    }
    std::fs::write(tmp.path().join("rehashed.toml"), rehashed.to_toml()).unwrap();
    let r = check(
        tmp.path(),
        &["o/lr0.02_bs32_seed0.h5", "--golden", "rehashed.toml"],
    );
    r.expect(1);
    assert!(
        r.stdout().lines().any(|l| l.contains("content_sha256")
            && l.contains("000000000000")
            && l.ends_with("FAIL")),
        "{}",
        r.stdout()
    );

    // An unknown platform class falls back to bands and says so.
    let mut other = g.clone();
    let h = other.hashes.pop_first().unwrap().1;
    other
        .hashes
        .insert("cuda-NVIDIA_H200-libtorch2.11.0".into(), h);
    std::fs::write(tmp.path().join("other.toml"), other.to_toml()).unwrap();
    let r = check(
        tmp.path(),
        &["o/lr0.02_bs32_seed0.h5", "--golden", "other.toml"],
    );
    r.expect(0);
    assert!(
        r.stdout().contains("has no golden hashes")
            && r.stdout().contains("checking tolerance bands only"),
        "{}",
        r.stdout()
    );
}

#[test]
fn check_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    smoke(tmp.path(), "o").expect(0);
    std::fs::write(
        tmp.path().join("broken.toml"),
        "experiment = \"fig3\"\nprofile = [",
    )
    .unwrap();
    let r = check(tmp.path(), &["o", "--golden", "broken.toml"]);
    r.expect(2);
    assert!(
        r.stderr().contains("broken.toml: TOML syntax error"),
        "{}",
        r.stderr()
    );

    let r = check(
        tmp.path(),
        &["o", "--golden", &repo("golden/fig3/quick.toml")],
    );
    r.expect(2);
    assert!(
        r.stderr()
            .contains("artifact is from fig3/smoke, the golden file is for fig3/quick"),
        "{}",
        r.stderr()
    );

    let r = check(
        tmp.path(),
        &["o/nope.h5", "--golden", &repo("golden/fig3/smoke.toml")],
    );
    r.expect(2);
    assert!(
        r.stderr().contains("o/nope.h5: artifact does not exist"),
        "{}",
        r.stderr()
    );

    std::fs::remove_file(tmp.path().join("o/lr0.1_bs128_seed0.h5")).unwrap();
    let r = check(
        tmp.path(),
        &["o", "--golden", &repo("golden/fig3/smoke.toml")],
    );
    r.expect(2);
    assert!(
        r.stderr()
            .contains("missing artifact for grid point lr0.1_bs128_seed0"),
        "{}",
        r.stderr()
    );
    // Collecting an incomplete grid marks the missing point instead of failing silently.
    let c = run_in(
        tmp.path(),
        &[
            "repro",
            "fig3",
            "--profile",
            "smoke",
            "--experiment",
            &repo("experiments/fig3.toml"),
            "--collect",
            "o",
        ],
        &[],
    );
    c.expect(1);
    assert!(
        c.stdout()
            .contains("MISSING lr0.1_bs128_seed0 (no artifact)"),
        "{}",
        c.stdout()
    );
}

fn load_golden(path: &Path) -> three_factors::check::Golden {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bless_smoke(dir: &Path, golden: &str) -> Run {
    run_in(
        dir,
        &[
            "golden",
            "bless",
            "--profile",
            "smoke",
            "--experiment",
            &repo("experiments/fig3.toml"),
            "--from",
            "o",
            "--golden",
            golden,
        ],
        &[],
    )
}

#[test]
fn bless_shows_the_diff_and_is_the_only_writer() {
    let tmp = tempfile::tempdir().unwrap();
    smoke(tmp.path(), "o").expect(0);
    let committed = load_golden(Path::new(&repo("golden/fig3/smoke.toml")));
    let class = committed.hashes.keys().next().unwrap().clone();
    let this_device = three_factors::determinism::cpu_model();
    let g = tmp.path().join("g.toml");

    // A moved band is re-centred (and shown); the same hashes add this machine to the devices
    // they were reproduced on.
    let mut golden = committed.clone();
    golden
        .bands
        .get_mut("lr0.1_bs32_seed0")
        .unwrap()
        .get_mut("val_acc")
        .unwrap()
        .expected = 0.5;
    golden
        .reproduced_on
        .insert(class.clone(), vec!["Some Other CPU".into()]);
    std::fs::write(&g, golden.to_toml()).unwrap();
    let r = bless_smoke(tmp.path(), "g.toml");
    r.expect(0);
    assert!(
        r.stdout().contains("- expected = 0.5\n+ expected = 0.625"),
        "{}",
        r.stdout()
    );
    let mut blessed = load_golden(&g);
    assert_eq!(
        blessed.reproduced_on[&class],
        ["Some Other CPU".to_string(), this_device.clone()]
    );
    let mut want = committed.clone();
    blessed.reproduced_on.clear();
    want.reproduced_on.clear();
    assert_eq!(blessed, want);

    // Changed hashes start the list afresh.
    let mut golden = committed.clone();
    golden
        .hashes
        .get_mut(&class)
        .unwrap()
        .insert("lr0.1_bs32_seed0".into(), "0".repeat(64));
    golden
        .reproduced_on
        .insert(class.clone(), vec!["Some Other CPU".into()]);
    std::fs::write(&g, golden.to_toml()).unwrap();
    bless_smoke(tmp.path(), "g.toml").expect(0);
    assert_eq!(load_golden(&g).reproduced_on[&class], [this_device]);
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
