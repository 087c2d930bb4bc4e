//! The paper's dynamics experiments (Fig. 1, Table 1, Fig. 2, Fig. 5) through the real binary on
//! their smoke profiles: every experiment file resolves its three profiles; a curve comparison
//! that holds on real runs fails once an artifact's curve is doctored; Table 1 measures the
//! best-validation model; Fig. 5 prints its breakdown; each claim kind is gated by `check`.
mod common;

use common::{repo, run_in, Run};
use std::path::Path;
use three_factors::check::Golden;
use three_factors::config::{Experiment, Test};

fn repro(dir: &Path, name: &str, out: &str) -> Run {
    common::repro_smoke(dir, name, out, &[], &[])
}

/// The smoke golden file of `name` with the quick profile's tests and negative results added, all
/// as claims, written to `dir`.
fn golden_with_tests(dir: &Path, name: &str) -> (String, Vec<Test>) {
    let e = Experiment::load(Path::new(&repo(&format!("experiments/{name}.toml")))).unwrap();
    let quick = &e.profiles["quick"];
    let tests: Vec<Test> = quick
        .tests
        .iter()
        .chain(&quick.negative)
        .map(|t| e.analysis.test(t).unwrap())
        .collect();
    let path = repo(&format!("golden/{name}/smoke.toml"));
    let mut g: Golden = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    g.tests = tests.clone();
    let out = dir.join(format!("{name}-tests.toml"));
    std::fs::write(&out, g.to_toml()).unwrap();
    (out.display().to_string(), tests)
}

/// The check line of a finding about `subject`.
fn line<'a>(r: &'a Run, subject: &str) -> Option<&'a str> {
    r.out_lines().into_iter().find(|l| l.starts_with(subject))
}

trait Lines {
    fn out_lines(&self) -> Vec<&str>;
}
impl Lines for Run {
    fn out_lines(&self) -> Vec<&str> {
        std::str::from_utf8(&self.out.stdout)
            .unwrap()
            .lines()
            .collect()
    }
}

#[test]
fn every_dynamics_experiment_has_smoke_quick_and_paper_profiles() {
    for (name, quick_points, tests, negative) in [
        ("fig1", 25, 1, 1),
        ("table1", 25, 6, 3),
        ("fig2", 25, 2, 0),
        ("fig5", 60, 2, 0),
        ("fig4", 12, 1, 1),
        ("fig6", 48, 0, 0),
    ] {
        let e = Experiment::load(Path::new(&repo(&format!("experiments/{name}.toml")))).unwrap();
        let profiles: Vec<&str> = e.profiles.keys().map(String::as_str).collect();
        assert_eq!(profiles, ["paper", "quick", "smoke"], "{name}");
        assert_eq!(e.resolve("quick").unwrap().len(), quick_points, "{name}");
        assert_eq!(e.profiles["quick"].tests.len(), tests, "{name}");
        assert_eq!(e.profiles["quick"].negative.len(), negative, "{name}");
        assert!(
            Path::new(&repo(&format!("golden/{name}/smoke.toml"))).exists(),
            "{name}: no smoke golden file"
        );
    }
}

#[test]
fn fig1_curve_claims_hold_on_real_runs_and_fail_on_a_doctored_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repro(tmp.path(), "fig1", "o");
    r.expect(0);
    let out = r.stdout();
    assert!(
        out.contains("Curves cyclic_batch_vs_cyclic_lr:")
            && out.contains("margin on train_loss (control − matched mean|Δ|)"),
        "{out}"
    );
    let (golden, tests) = golden_with_tests(tmp.path(), "fig1");
    assert_eq!(tests.len(), 2);
    let ok = run_in(tmp.path(), &["check", "o", "--golden", &golden], &[]);
    ok.expect(0);
    for t in &tests {
        let l = line(&ok, t.name()).unwrap_or_else(|| panic!("{}", ok.stdout()));
        assert!(l.ends_with(" ok") && l.contains("claim"), "{l}");
    }

    // Doctor the matched arm of seed 0: its training loss curve moves far from the base arm's.
    let art = tmp.path().join("o/lr0.1_bs16_cyclic-lr_seed0.h5");
    {
        let f = hdf5::File::open_rw(&art).unwrap();
        let ds = f.dataset("curves/train_loss").unwrap();
        let n = ds.size();
        ds.write(&vec![9.0f64; n]).unwrap();
    }
    let bad = run_in(tmp.path(), &["check", "o", "--golden", &golden], &[]);
    bad.expect(1);
    let l = line(&bad, "cyclic_batch_vs_cyclic_lr").unwrap();
    assert!(l.ends_with("FAIL"), "{l}");
    // The other comparison does not involve that run and still holds.
    let l = line(&bad, "constant_low_lr_vs_big_batch").unwrap();
    assert!(l.ends_with(" ok"), "{l}");
}

#[test]
fn table1_measures_the_best_validation_model_and_contrasts_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repro(tmp.path(), "table1", "o");
    r.expect(0);
    let out = r.stdout();
    assert!(
        out.contains("Per variant (mean ± sd over included seeds):"),
        "{out}"
    );
    assert!(out.contains("lambda_max_discrete_lr"), "{out}");
    for entry in std::fs::read_dir(tmp.path().join("o")).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap() == "table1.h5" || p.extension().is_none_or(|e| e != "h5") {
            continue;
        }
        let f = hdf5::File::open(&p).unwrap();
        let val: Vec<f64> = f.dataset("curves/val_acc").unwrap().read_raw().unwrap();
        let epoch: i64 = f
            .dataset("final/measured_epoch")
            .unwrap()
            .read_scalar()
            .unwrap();
        let best = val
            .iter()
            .enumerate()
            .fold(0, |b, (i, &v)| if v > val[b] { i } else { b });
        assert_eq!(epoch as usize, best + 1, "{}: {val:?}", p.display());
        let final_val: f64 = f.dataset("final/val_acc").unwrap().read_scalar().unwrap();
        assert_eq!(final_val, val[best], "{}", p.display());
    }
    // The table's groups, in HDF5 for pandas.
    let f = hdf5::File::open(tmp.path().join("o/table1.h5")).unwrap();
    let n: Vec<f64> = f.dataset("groups/included").unwrap().read_raw().unwrap();
    assert_eq!(n, [2.0; 5]);
    let p: f64 = f
        .dataset("contrast/lambda_max_discrete_lr/p_value")
        .unwrap()
        .read_scalar()
        .unwrap();
    // Two seeds against two: the exact p-value is a multiple of 1/6.
    assert!((p * 6.0 - (p * 6.0).round()).abs() < 1e-9, "p = {p}");

    // The measured direction claimed holds; the opposite direction fails `check` with exit 1.
    let diff: f64 = f
        .dataset("contrast/lambda_max_discrete_lr/diff")
        .unwrap()
        .read_scalar()
        .unwrap();
    assert!(diff.is_finite() && diff != 0.0, "{diff}");
    let (golden, tests) = golden_with_tests(tmp.path(), "table1");
    assert_eq!(tests.len(), 9);
    let Test::Contrast(c) = &tests[0] else {
        panic!("{:?}", tests[0])
    };
    assert_eq!(c.name, "lambda_max_discrete_lr");
    let mut g: Golden = toml::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
    for (sign, code, verdict) in [(diff.signum(), 0, " ok"), (-diff.signum(), 1, "FAIL")] {
        let mut c = c.clone();
        c.sign = sign as i8;
        c.max_p = None;
        g.tests = vec![Test::Contrast(c)];
        let path = tmp.path().join("one.toml");
        std::fs::write(&path, g.to_toml()).unwrap();
        let r = run_in(
            tmp.path(),
            &["check", "o", "--golden", path.to_str().unwrap()],
            &[],
        );
        r.expect(code);
        let l = line(&r, "lambda_max_discrete_lr").unwrap();
        assert!(l.ends_with(verdict), "sign {sign}: {l}");
    }
}

#[test]
fn fig5_breakdown_and_fig2_milestones_run_and_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let r = repro(tmp.path(), "fig5", "o5");
    r.expect(0);
    let out = r.stdout();
    assert!(
        out.contains("Breakdown breaks_earlier_on_less_data: max_val_acc with β")
            && out.contains("Breakdown drops_more_on_less_data:"),
        "{out}"
    );
    assert!(out.contains("split.train = 256: band"), "{out}");
    let f = hdf5::File::open(tmp.path().join("o5/fig5.h5")).unwrap();
    let g = f
        .group("breakdown/breaks_earlier_on_less_data/512")
        .unwrap();
    let beta: Vec<f64> = g.dataset("beta").unwrap().read_raw().unwrap();
    assert_eq!(beta, [1.0, 2.0, 4.0]);
    let mean: Vec<f64> = g.dataset("mean").unwrap().read_raw().unwrap();
    let drop: Vec<f64> = g.dataset("drop").unwrap().read_raw().unwrap();
    assert_eq!(drop[0], 0.0);
    assert!((drop[2] - (mean[0] - mean[2])).abs() < 1e-12, "{drop:?}");

    let r = repro(tmp.path(), "fig2", "o2");
    r.expect(0);
    let f = hdf5::File::open(tmp.path().join("o2/lr0.02_bs16_baseline_seed0.h5")).unwrap();
    let lr: Vec<f64> = f.dataset("curves/lr").unwrap().read_raw().unwrap();
    // η × 0.1 from epoch 3 on (epochs are 1-based in names, 0-based in the schedule).
    assert_eq!(lr.len(), 4);
    assert_eq!(lr[..3], [0.02, 0.02, 0.02]);
    assert!((lr[3] - 0.002).abs() < 1e-12, "{lr:?}");
}

#[test]
fn a_claimed_contrast_or_comparison_of_a_missing_arm_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("experiments/table1.toml")).unwrap();
    let bad = text.replacen("than = \"constant\"", "than = \"konstant\"", 1);
    let path = tmp.path().join("table1.toml");
    std::fs::write(&path, bad).unwrap();
    let msg = Experiment::load(&path).unwrap_err().to_string();
    assert!(
        msg.contains("analysis.contrast.lambda_max_discrete_lr")
            && msg.contains("no point with variant = 'konstant'")
            && msg.contains("discrete-lr, discrete-batch"),
        "{msg}"
    );
    let text = std::fs::read_to_string(repo("experiments/fig1.toml")).unwrap();
    let bad = text.replacen("matched = \"cyclic-lr\"", "matched = \"cyclic-eta\"", 1);
    std::fs::write(tmp.path().join("fig1.toml"), bad).unwrap();
    let msg = Experiment::load(&tmp.path().join("fig1.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("analysis.compare.cyclic_batch_vs_cyclic_lr")
            && msg.contains("no point of variant 'cyclic-eta'"),
        "{msg}"
    );
    // Arms of a comparison must train equally long.
    let bad = text.replacen(
        "{ when = { variant = \"cyclic-lr\" }, set = { \"sgd.schedule\" = \"cyclic_lr_discrete\" } }",
        "{ when = { variant = \"cyclic-lr\" }, set = { \"sgd.schedule\" = \"cyclic_lr_discrete\", \"sgd.epochs\" = 3 } }",
        1,
    );
    assert_ne!(bad, text);
    std::fs::write(tmp.path().join("fig1.toml"), bad).unwrap();
    let msg = Experiment::load(&tmp.path().join("fig1.toml"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("compared curves need equal epochs"), "{msg}");
    // A breakdown's β must scale η and S alike.
    let text = std::fs::read_to_string(repo("experiments/fig5.toml")).unwrap();
    let bad = text.replacen(
        "\"sgd.batch_size\" = [8, 16, 32]",
        "\"sgd.batch_size\" = [8, 16, 24]",
        1,
    );
    assert_ne!(bad, text);
    std::fs::write(tmp.path().join("fig5.toml"), bad).unwrap();
    let msg = Experiment::load(&tmp.path().join("fig5.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("analysis.breakdown.breaks_earlier_on_less_data")
            && msg.contains("scales η by 4 but S by 3"),
        "{msg}"
    );
}
