//! `check` and `golden bless` through the real binary on the smoke profile: regressions exit 1,
//! bad inputs exit 2 with a message naming them, and bless shows its diff.
mod common;

use common::{repo, run_in, Run};
use std::path::Path;
use three_factors::check::Golden;

fn check(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["check"];
    a.extend_from_slice(args);
    run_in(dir, &a, &[])
}

fn load_golden(path: &Path) -> Golden {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const SMOKE: &str = "golden/fig3/smoke.toml";

#[test]
fn check_fails_with_exit_1_on_tampering_band_and_hash_changes() {
    let tmp = tempfile::tempdir().unwrap();
    common::smoke(tmp.path(), "o", &[], &[]).expect(0);
    let g = load_golden(Path::new(&repo(SMOKE)));

    // A tampered artifact: its stored hash no longer matches its content.
    let art = tmp.path().join("o/lr0.1_bs32_seed0.h5");
    {
        let f = hdf5::File::open_rw(&art).unwrap();
        f.dataset("final/val_acc")
            .unwrap()
            .write_scalar(&0.99f64)
            .unwrap();
    }
    let r = check(
        tmp.path(),
        &["o/lr0.1_bs32_seed0.h5", "--golden", &repo(SMOKE)],
    );
    r.expect(1);
    let fails = |r: &Run, needles: &[&str]| {
        r.stdout()
            .lines()
            .any(|l| l.ends_with("FAIL") && needles.iter().all(|n| l.contains(n)))
    };
    assert!(fails(&r, &["stored hash = content"]), "{}", r.stdout());
    assert!(fails(&r, &["val_acc", "0.990000"]), "{}", r.stdout());

    // A metric outside its band: a fifth of λ_max's expected value (band ×/÷2.4: the run's value
    // is then 5× the expected one).
    let mut moved = g.clone();
    moved
        .bands
        .get_mut("lr0.02_bs32_seed0")
        .unwrap()
        .get_mut("lambda_max")
        .unwrap()
        .expected *= 0.2;
    std::fs::write(tmp.path().join("moved.toml"), moved.to_toml()).unwrap();
    let r = check(
        tmp.path(),
        &["o/lr0.02_bs32_seed0.h5", "--golden", "moved.toml"],
    );
    r.expect(1);
    assert!(fails(&r, &["lambda_max", "×/÷2.4"]), "{}", r.stdout());
    assert!(r.stdout().contains("FAIL: 1 of "), "{}", r.stdout());

    // A hash change: the golden file expects another hash on every platform class.
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
        fails(&r, &["content_sha256", "000000000000"]),
        "{}",
        r.stdout()
    );

    // An unknown platform class falls back to bands and says so.
    let mut other = g.clone();
    let h = other.hashes.pop_first().unwrap().1;
    other.hashes.clear();
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
fn check_errors_exit_2_naming_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    common::smoke(tmp.path(), "o", &[], &[]).expect(0);
    std::fs::write(
        tmp.path().join("broken.toml"),
        "experiment = \"fig3\"\nprofile = [",
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join("short")).unwrap();
    for f in ["lr0.02_bs32_seed0.h5", "lr0.1_bs32_seed0.h5"] {
        std::fs::copy(
            tmp.path().join("o").join(f),
            tmp.path().join("short").join(f),
        )
        .unwrap();
    }
    let (smoke, quick) = (repo(SMOKE), repo("golden/fig3/quick.toml"));
    let cases: &[(&[&str], &str)] = &[
        (
            &["o", "--golden", "broken.toml"],
            "broken.toml: TOML syntax error",
        ),
        (
            &["o", "--golden", &quick],
            "artifact is from fig3/smoke, the golden file is for fig3/quick",
        ),
        (
            &["o/nope.h5", "--golden", &smoke],
            "o/nope.h5: artifact does not exist",
        ),
        (
            &["short", "--golden", &smoke],
            "missing artifact for grid point lr0.02_bs128_seed0",
        ),
        (&["o", "--golden", "absent.toml"], "absent.toml"),
    ];
    for (args, needle) in cases {
        let r = check(tmp.path(), args);
        r.expect(2);
        assert!(r.stderr().contains(needle), "{args:?}: {}", r.stderr());
    }
}

fn bless_smoke(dir: &Path, golden: &str) -> Run {
    bless_smoke_with(dir, golden, &[])
}

fn bless_smoke_with(dir: &Path, golden: &str, extra: &[&str]) -> Run {
    bless_smoke_from(dir, "o", golden, extra)
}

/// `golden bless` of fig3's smoke profile from the artifacts in `dir/from`.
fn bless_smoke_from(dir: &Path, from: &str, golden: &str, extra: &[&str]) -> Run {
    let exp = repo("experiments/fig3.toml");
    let mut args = vec![
        "golden",
        "bless",
        "--profile",
        "smoke",
        "--experiment",
        &exp,
        "--from",
        from,
        "--golden",
        golden,
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args, &[])
}

/// `golden bless --add-platform` records a second platform's hashes and changes nothing else,
/// never replaces recorded hashes, and refuses a platform on which a band fails.
#[test]
fn add_platform_records_another_platforms_hashes_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    // The same configs under native CPU numerics: another platform class.
    common::smoke(tmp.path(), "o", &["--numerics", "native"], &[]).expect(0);
    let s =
        three_factors::artifact::read_summary(&tmp.path().join("o/lr0.1_bs32_seed0.h5")).unwrap();
    let class = s.provenance.get("platform_class").unwrap().to_string();
    let committed = load_golden(Path::new(&repo(SMOKE)));
    assert!(!committed.hashes.contains_key(&class), "{class}");
    let g = tmp.path().join("g.toml");
    std::fs::write(&g, committed.to_toml()).unwrap();

    let r = bless_smoke_with(tmp.path(), "g.toml", &["--add-platform"]);
    r.expect(0);
    let blessed_with_native = tmp.path().join("g-native.toml");
    std::fs::copy(&g, &blessed_with_native).unwrap();
    let mut blessed = load_golden(&g);
    assert_eq!(blessed.hashes[&class]["lr0.1_bs32_seed0"], s.stored_hash);
    assert_eq!(blessed.hashes[&class].len(), 5, "4 runs and fig3.h5");
    assert_eq!(
        blessed.reproduced_on[&class],
        [three_factors::platform::cpu_model()]
    );
    blessed.hashes.remove(&class);
    blessed.reproduced_on.remove(&class);
    pretty_assertions::assert_eq!(blessed.to_toml(), committed.to_toml());
    let again = bless_smoke_with(tmp.path(), "g.toml", &["--add-platform"]);
    again.expect(0);
    assert!(
        again.stdout().contains("g.toml: unchanged"),
        "{}",
        again.stdout()
    );

    // Recorded hashes are never replaced by --add-platform.
    let mut other = load_golden(&g);
    other
        .hashes
        .get_mut(&class)
        .unwrap()
        .insert("lr0.02_bs32_seed0".into(), "0".repeat(64));
    std::fs::write(&g, other.to_toml()).unwrap();
    let r = bless_smoke_with(tmp.path(), "g.toml", &["--add-platform"]);
    r.expect(2);
    assert!(
        r.stderr()
            .contains("is recorded with other hashes (lr0.02_bs32_seed0)"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        load_golden(&g).to_toml(),
        other.to_toml(),
        "nothing written"
    );

    // A band that fails on the new platform: refused, nothing written.
    let mut moved = committed.clone();
    moved
        .bands
        .get_mut("lr0.1_bs32_seed0")
        .unwrap()
        .get_mut("val_acc")
        .unwrap()
        .expected = 0.1;
    std::fs::write(&g, moved.to_toml()).unwrap();
    let r = bless_smoke_with(tmp.path(), "g.toml", &["--add-platform"]);
    r.expect(2);
    assert!(
        r.stderr().contains("cannot claim that platform")
            && r.stderr()
                .contains("lr0.1_bs32_seed0 val_acc: expected 0.100000"),
        "{}",
        r.stderr()
    );
    assert_eq!(load_golden(&g).to_toml(), moved.to_toml());

    // Another profile's configs (a golden file blessed from other configs): refused.
    let mut stale = committed.clone();
    stale.configs_sha256 = "0".repeat(64);
    std::fs::write(&g, stale.to_toml()).unwrap();
    let r = bless_smoke_with(tmp.path(), "g.toml", &["--add-platform"]);
    r.expect(2);
    assert!(
        r.stderr().contains("was blessed from other configs"),
        "{}",
        r.stderr()
    );

    // After a change of arithmetic: a full bless from this machine's default class that drops
    // the other classes' hashes (here the native class recorded above), and says which.
    common::smoke(tmp.path(), "p", &[], &[]).expect(0);
    let fresh =
        three_factors::artifact::read_summary(&tmp.path().join("p/lr0.1_bs32_seed0.h5")).unwrap();
    let default_class = fresh.provenance.get("platform_class").unwrap().to_string();
    std::fs::write(&g, load_golden(&blessed_with_native).to_toml()).unwrap();
    let r = bless_smoke_from(tmp.path(), "p", "g.toml", &["--drop-other-platforms"]);
    r.expect(0);
    let dropped = load_golden(&g);
    assert_eq!(
        dropped.hashes.keys().collect::<Vec<_>>(),
        [&default_class],
        "only the blessing platform's hashes remain"
    );
    assert_eq!(
        dropped.hashes[&default_class]["lr0.1_bs32_seed0"],
        fresh.stored_hash
    );
    assert!(
        r.stdout().contains(&format!("- [hashes.\"{class}\"]")),
        "{}",
        r.stdout()
    );
    // It is a full bless: --add-platform and it exclude each other.
    let r = bless_smoke_with(
        tmp.path(),
        "g.toml",
        &["--add-platform", "--drop-other-platforms"],
    );
    r.expect(2);
    assert!(r.stderr().contains("cannot be used with"), "{}", r.stderr());

    // A folder mixing two platforms (one run of the committed class among native ones):
    // refused, whatever the mode, as its hashes cannot be one class's.
    std::fs::copy(
        tmp.path().join("p/lr0.02_bs32_seed0.h5"),
        tmp.path().join("o/lr0.02_bs32_seed0.h5"),
    )
    .unwrap();
    std::fs::write(&g, committed.to_toml()).unwrap();
    for extra in [&["--add-platform"][..], &[], &["--drop-other-platforms"]] {
        let r = bless_smoke_with(tmp.path(), "g.toml", extra);
        r.expect(2);
        assert!(
            r.stderr().contains("come from 2 platform classes"),
            "{extra:?}: {}",
            r.stderr()
        );
        assert_eq!(load_golden(&g).to_toml(), committed.to_toml());
    }
}

#[test]
fn bless_shows_the_diff_and_is_the_only_writer() {
    let tmp = tempfile::tempdir().unwrap();
    common::smoke(tmp.path(), "o", &[], &[]).expect(0);
    let committed = load_golden(Path::new(&repo(SMOKE)));
    let s =
        three_factors::artifact::read_summary(&tmp.path().join("o/lr0.1_bs32_seed0.h5")).unwrap();
    let class = s.provenance.get("platform_class").unwrap().to_string();
    assert!(
        committed.hashes.contains_key(&class),
        "{SMOKE} has no hashes for this machine's class {class}"
    );
    let this_device = three_factors::platform::cpu_model();
    let g = tmp.path().join("g.toml");

    // A moved band is re-centred (and shown); the same hashes add this machine to the devices
    // they were reproduced on; other classes are kept.
    let mut golden = committed.clone();
    let band = golden
        .bands
        .get_mut("lr0.1_bs32_seed0")
        .unwrap()
        .get_mut("val_acc")
        .unwrap();
    band.expected = 0.5;
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
    let blessed = load_golden(&g);
    assert_eq!(
        blessed.reproduced_on[&class],
        ["Some Other CPU".to_string(), this_device.clone()]
    );
    assert_eq!(blessed.hashes, committed.hashes);
    assert_eq!(blessed.science, committed.science);
    for (run, bands) in &committed.bands {
        for (metric, b) in bands {
            let got = blessed.bands[run][metric].expected;
            assert!(
                (got - b.expected).abs() <= 1e-4 * b.expected.abs(),
                "{run} {metric}: {got}"
            );
        }
    }
    // Unchanged a second time: nothing written.
    let again = bless_smoke(tmp.path(), "g.toml");
    again.expect(0);
    assert!(
        again.stdout().contains("g.toml: unchanged"),
        "{}",
        again.stdout()
    );

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

    // Other classes' hashes are kept while the resolved configs are the same, and dropped when
    // they changed (they were hashes of other runs).
    let mut golden = committed.clone();
    let fake = "cpu-x86_64-other-avx2-t1-libtorch2.11.0".to_string();
    golden
        .hashes
        .insert(fake.clone(), golden.hashes[&class].clone());
    std::fs::write(&g, golden.to_toml()).unwrap();
    bless_smoke(tmp.path(), "g.toml").expect(0);
    assert!(load_golden(&g).hashes.contains_key(&fake));
    golden.configs_sha256 = "0".repeat(64);
    std::fs::write(&g, golden.to_toml()).unwrap();
    let r = bless_smoke(tmp.path(), "g.toml");
    r.expect(0);
    let blessed = load_golden(&g);
    assert_eq!(blessed.hashes.keys().collect::<Vec<_>>(), [&class]);
    assert_eq!(blessed.configs_sha256, committed.configs_sha256);
    assert!(
        r.stdout().contains(&format!("- [hashes.\"{fake}\"]")),
        "{}",
        r.stdout()
    );
}
