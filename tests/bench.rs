//! `bench`, `bench compare` and `bench report` through the real binary (quick suite). These
//! assert outcomes (exit codes, verdicts, files), never timings.
mod common;

use common::run_in;
use three_factors::bench::{history, Measurement};

const QUICK: &[&str] = &[
    "bench",
    "--quick",
    "--warmup",
    "1",
    "--reps",
    "5",
    "--threads",
    "1",
    "--history",
    "h.h5",
];

#[test]
fn unchanged_recording_passes_compare_and_a_synthetic_20_percent_slowdown_fails_it() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_in(tmp.path(), QUICK, &[]);
    a.expect(0);
    // Run ids are the time and a content digest: run-<digits of the time>-<6 hex>.
    let first_key = a
        .stdout()
        .lines()
        .find_map(|l| {
            Some(
                l.strip_prefix("recorded ")?
                    .strip_suffix(" in h.h5")?
                    .to_string(),
            )
        })
        .unwrap_or_else(|| panic!("{}", a.stdout()));
    let id = first_key.split_once("/run-").unwrap().1;
    assert!(
        id.len() == 16 + 1 + 6 && id.as_bytes()[8] == b'T' && id.as_bytes()[15] == b'Z',
        "{first_key}"
    );
    // A second recording of the same measurements must not read as a regression. (A real rerun
    // is checked by hand on a quiet machine, see the README: on this shared 2-core machine other
    // tests run alongside, and timing-based assertions would be flaky.)
    let path = tmp.path().join("h.h5");
    let first = history::read(&path).unwrap().pop().unwrap();
    let key = history::append(
        &path,
        &first.fingerprint,
        "9999-01-01T00:00:00Z",
        &first.measurements,
    )
    .unwrap();
    assert!(
        key.contains("/run-99990101T000000Z-") && key != first_key,
        "same fingerprint, next run: {key}"
    );
    let c = run_in(tmp.path(), &["bench", "compare", "--history", "h.h5"], &[]);
    c.expect(0);
    assert!(
        c.stdout().contains("ok: no kernel slower"),
        "{}",
        c.stdout()
    );

    // The newest run with every time scaled by 1.2, recorded as a new run: a regression.
    let runs = history::read(&path).unwrap();
    let last = runs.last().unwrap();
    let slowed: Vec<Measurement> = last
        .measurements
        .iter()
        .map(|m| Measurement {
            times_s: m.times_s.iter().map(|t| t * 1.2).collect(),
            ..m.clone()
        })
        .collect();
    let key = history::append(&path, &last.fingerprint, "9999-12-31T00:00:00Z", &slowed).unwrap();
    assert!(key.contains("/run-99991231T000000Z-"), "{key}");
    let d = run_in(tmp.path(), &["bench", "compare", "--history", "h.h5"], &[]);
    d.expect(1);
    assert!(d.stdout().contains("REGRESSION"), "{}", d.stdout());
    assert!(
        d.stdout()
            .lines()
            .any(|l| l.contains("1.200") && l.ends_with("SLOWER")),
        "{}",
        d.stdout()
    );

    // A named baseline works too, and a missing one is an error naming what exists.
    let base = first_key.clone();
    run_in(
        tmp.path(),
        &[
            "bench",
            "compare",
            "--history",
            "h.h5",
            "--run",
            &key,
            "--baseline",
            &base,
        ],
        &[],
    )
    .expect(1);
    let e = run_in(
        tmp.path(),
        &[
            "bench",
            "compare",
            "--history",
            "h.h5",
            "--baseline",
            "nope/run-0001",
        ],
        &[],
    );
    e.expect(2);
    assert!(
        e.stderr().contains("no run 'nope/run-0001'"),
        "{}",
        e.stderr()
    );

    let r = run_in(tmp.path(), &["bench", "report", "--history", "h.h5"], &[]);
    r.expect(0);
    assert!(
        r.stdout().contains("sgd_step/w128/s25") && r.stdout().contains("(3 runs)"),
        "{}",
        r.stdout()
    );
    assert!(tmp.path().join("report.png").exists());
}

#[test]
fn cuda_paths_are_honest_without_a_gpu() {
    let has_gpu = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    // This test binary does not keep libtorch_cuda linked (no `cuda` feature), so libtorch must
    // not claim a GPU; with the feature on a GPU machine it must see one.
    assert_eq!(tch::Cuda::is_available(), has_gpu && cfg!(feature = "cuda"));
    if !tch::Cuda::is_available() {
        let tmp = tempfile::tempdir().unwrap();
        let r = run_in(
            tmp.path(),
            &["bench", "--device", "cuda", "--quick", "--history", "h.h5"],
            &[],
        );
        r.expect(2);
        assert!(
            r.stderr()
                .contains("--device: cuda requested but libtorch sees 0 CUDA device(s)"),
            "{}",
            r.stderr()
        );
        let r = run_in(
            tmp.path(),
            &["run", "--device", "cuda:0", "--epochs", "1", "--quiet"],
            &[],
        );
        r.expect(2);
        assert!(
            r.stderr()
                .contains("cuda:0 requested but libtorch sees 0 CUDA device(s)"),
            "{}",
            r.stderr()
        );
        assert!(!tmp.path().join("h.h5").exists());
    }
}

/// `--only` runs just the kernels whose id contains the text; `--rounds` splits the timed
/// repetitions over rounds and pools them; an `--only` that matches nothing is an error naming
/// the option, and records nothing.
#[test]
fn only_selects_kernels_by_id_and_rounds_pool_repetitions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = QUICK.to_vec();
    args.extend(["--only", "sgd_step/w128/s1000", "--rounds", "2"]);
    run_in(tmp.path(), &args, &[]).expect(0);
    let runs = history::read(&tmp.path().join("h.h5")).unwrap();
    let kernels: Vec<&str> = runs[0]
        .measurements
        .iter()
        .map(|m| m.kernel.as_str())
        .collect();
    assert_eq!(kernels, ["sgd_step/w128/s1000"]);
    // --reps 5 over 2 rounds: 3 per round.
    assert_eq!(runs[0].measurements[0].times_s.len(), 6);

    let mut args = QUICK.to_vec();
    *args.last_mut().unwrap() = "other.h5";
    args.extend(["--only", "no-such-kernel"]);
    let r = run_in(tmp.path(), &args, &[]);
    r.expect(2);
    assert!(
        r.stderr()
            .contains("--only 'no-such-kernel' matches no kernel"),
        "{}",
        r.stderr()
    );
    assert!(!tmp.path().join("other.h5").exists());
}
