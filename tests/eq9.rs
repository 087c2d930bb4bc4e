//! `repro eq9` through the real binary: the theory checks are simulated, written as `theory.h5`,
//! reused, gated by the golden file (hash, configuration, bands) and fail when doctored; the
//! runs record their sampler and the per-sample gradient covariance; bad theory tables are clear
//! errors naming the field.
mod common;

use common::{repo, run_in};
use std::path::Path;
use three_factors::artifact;

fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(start))
}

#[test]
fn eq9_smoke_is_gated_and_a_doctored_theory_file_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let r = common::repro_smoke(d, "eq9", "out", &[], &[]);
    r.expect(0);
    let out = r.stdout();
    for needle in [
        "Eq. 9 on a quadratic",
        "Least squares on N = 256 samples",
        "Sec. 2.3, isotropic noise",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let bands: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Theory bands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(bands.len(), 8, "{bands:?}");
    assert!(bands.iter().all(|l| l.ends_with(" ok")), "{bands:?}");
    assert!(
        r.stderr().contains("simulating quadratic"),
        "{}",
        r.stderr()
    );
    for f in [
        "theory.h5",
        "theory.csv",
        "eq9_theory.png",
        "eq9_theory.svg",
    ] {
        assert!(d.join("out").join(f).exists(), "{f}");
    }
    let csv = std::fs::read_to_string(d.join("out/theory.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 + 2 + 1, "{csv}");

    let golden = repo("golden/eq9/smoke.toml");
    let ok = run_in(d, &["check", "out", "--golden", &golden], &[]);
    ok.expect(0);
    let cfg = line(&ok.stdout(), "theory.h5                  theory config")
        .unwrap()
        .to_string();
    assert!(cfg.ends_with(" ok") && cfg.contains("same"), "{cfg}");
    assert!(line(&ok.stdout(), "gibbs_exponent").is_some_and(|l| l.ends_with(" ok")));

    // Collecting again simulates nothing twice.
    let again = common::repro_smoke(d, "eq9", "out", &[], &[]);
    again.expect(0);
    assert!(!again.stderr().contains("simulating"), "{}", again.stderr());

    // A golden file with other theory sizes: the file was not simulated as it says.
    let text = std::fs::read_to_string(&golden).unwrap();
    let other = text.replacen("chains = 40", "chains = 41", 1);
    assert_ne!(text, other);
    let g2 = d.join("other.toml");
    std::fs::write(&g2, other).unwrap();
    let r = run_in(d, &["check", "out", "--golden", g2.to_str().unwrap()], &[]);
    r.expect(1);
    let l = line(&r.stdout(), "theory.h5                  theory config")
        .unwrap()
        .to_string();
    assert!(l.contains("differs") && l.ends_with("FAIL"), "{l}");

    // Doctor a measured value so that Eq. 9 looks exact at η·λ_max = 1.5: the hash fails, and
    // so does the band that Eq. 9 breaks there.
    let theory = d.join("out/theory.h5");
    let kept = std::fs::read(&theory).unwrap();
    {
        let f = hdf5::File::open_rw(&theory).unwrap();
        let ds = f.dataset("quadratic/mean").unwrap();
        let mut v: Vec<f64> = ds.read_raw().unwrap();
        let e9: Vec<f64> = f.dataset("quadratic/eq9").unwrap().read_raw().unwrap();
        let last = v.len() - 1;
        v[last] = e9[last];
        ds.write_raw(&v).unwrap();
    }
    let r = run_in(d, &["check", "out", "--golden", &golden], &[]);
    r.expect(1);
    let s = r.stdout();
    assert!(
        line(&s, "theory.h5                  stored hash = content")
            .is_some_and(|l| l.ends_with("FAIL")),
        "{s}"
    );
    assert!(
        line(&s, "quadratic_eq9_breaks").is_some_and(|l| l.ends_with("FAIL")),
        "{s}"
    );

    // A folder without the theory file the golden file lists is an error (exit 2).
    std::fs::remove_file(&theory).unwrap();
    let r = run_in(d, &["check", "out", "--golden", &golden], &[]);
    r.expect(2);
    assert!(r.stderr().contains("missing theory.h5"), "{}", r.stderr());
    std::fs::write(&theory, kept).unwrap();
    run_in(d, &["check", "out", "--golden", &golden], &[]).expect(0);

    // The runs: the sampler is stored only when not the default, and C was measured.
    let ind = artifact::read_summary(&d.join("out/lr0.1_bs32_independent_seed0.h5")).unwrap();
    let resh = artifact::read_summary(&d.join("out/lr0.1_bs32_reshuffle_seed0.h5")).unwrap();
    assert!(
        ind.config_toml.contains("sampler = \"independent\""),
        "{}",
        ind.config_toml
    );
    assert!(
        !resh.config_toml.contains("sampler"),
        "{}",
        resh.config_toml
    );
    assert_ne!(ind.final_metrics.train_loss, resh.final_metrics.train_loss);
    for s in [&ind, &resh] {
        let n = s.noise.expect("noise measured");
        assert_eq!(n.probes, 4);
        assert!(
            n.trace > 0.0 && n.frobenius_norm > 0.0 && n.trace_ch.is_finite(),
            "{n:?}"
        );
        let a = n.alignment(s.curvature.frobenius_norm);
        assert!(a > 0.0 && a <= 1.5, "alignment {a}");
    }

    // `noise` on the trained runs measures C again from the stored models: the same subset and
    // probe stream, so the same numbers as during the run, bit for bit.
    let r = run_in(d, &["noise", "out", "--probes", "4", "--out", "n.csv"], &[]);
    r.expect(0);
    let table = std::fs::read_to_string(d.join("n.csv")).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows[0].starts_with("run,eta_over_s,trace,noise_trace,"),
        "{table}"
    );
    let resh_row = rows
        .iter()
        .find(|l| l.starts_with("lr0.1_bs32_reshuffle_seed0,"))
        .unwrap();
    let trace_c: f64 = resh_row.split(',').nth(3).unwrap().parse().unwrap();
    assert_eq!(trace_c, resh.noise.unwrap().trace, "{resh_row}");
    let r = run_in(d, &["noise", "out", "--probes", "1", "--out", "m.csv"], &[]);
    r.expect(2);
    assert!(
        r.stderr().contains("--probes: must be in 2..=10000"),
        "{}",
        r.stderr()
    );
    assert!(!d.join("m.csv").exists());
}

#[test]
fn bad_theory_tables_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("experiments/eq9.toml")).unwrap();
    for (from, to, needle) in [
        (
            "{ lr = 1.5, batch_size = 150 }",
            "{ lr = 2.5, batch_size = 150 }",
            "theory.quadratic.points[2]: η·λ_max = 2.5 ≥ 2",
        ),
        (
            "chains = 20, burn_in",
            "chains = 1, burn_in",
            "theory.finite_sum.chains must be at least 2",
        ),
        (
            "gibbs_abs = 0.3",
            "gibbs_abs = -0.3",
            "theory.bands.gibbs_abs must be a positive",
        ),
    ] {
        let bad = text.replacen(from, to, 1);
        assert_ne!(bad, text, "{from}");
        let path = tmp.path().join("eq9.toml");
        std::fs::write(&path, bad).unwrap();
        let r = run_in(
            tmp.path(),
            &[
                "repro",
                "eq9",
                "--profile",
                "smoke",
                "--experiment",
                path.to_str().unwrap(),
                "--out",
                "o",
            ],
            &[],
        );
        r.expect(2);
        assert!(r.stderr().contains(needle), "{needle}: {}", r.stderr());
        assert!(
            r.stderr().contains("profiles.smoke.theory"),
            "{}",
            r.stderr()
        );
        assert!(!Path::new(&tmp.path().join("o/theory.h5")).exists());
    }
}
