//! `run` and `inspect` through the real binary: determinism across processes, artifact
//! contents, bad input, and what an interrupted run leaves behind.
mod common;

use common::{run_in, Run};
use std::path::Path;

/// A run small enough for a test (~1 s) that still exercises every stage.
const SMALL: &[&str] = &[
    "run",
    "--width",
    "16",
    "--train-samples",
    "512",
    "--val-samples",
    "256",
    "--test-samples",
    "256",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--lr",
    "0.05",
    "--eval-samples",
    "128",
    "--quiet",
];

/// The artifact name [`SMALL`] gets: η, S, every other field its flags changed, the seed.
const SMALL_NAME: &str = "lr0.05_bs32_eval_samples128_epochs2_test256_train512_val256_width16";

fn small(dir: &Path, extra: &[&str]) -> Run {
    let args: Vec<&str> = SMALL.iter().chain(extra).copied().collect();
    run_in(dir, &args, &[])
}

fn hash_of(r: &Run) -> String {
    common::artifact_hash(&r.stdout())
}

/// `/curves/train_loss` and `/final/{stop_reason,epochs_completed}` of an artifact.
fn stopping(path: &Path) -> (Vec<f64>, String, i64) {
    use three_factors::files::h5;
    let f = h5::open(path).unwrap();
    let curves = f.group("curves").unwrap();
    let fin = f.group("final").unwrap();
    (
        h5::read_vec(path, &curves, "train_loss").unwrap(),
        h5::read_strings(path, &fin, "stop_reason")
            .unwrap()
            .join(""),
        h5::read_vec::<i64>(path, &fin, "epochs_completed").unwrap()[0],
    )
}

/// With a target training loss a run stops at the first epoch whose loss on the whole training
/// subset is at or below it, with the same curve up to there as a run without a target; a target
/// it never reaches uses every epoch and records that.
#[test]
fn a_run_stops_at_the_first_epoch_at_or_below_its_target_training_loss() {
    let tmp = tempfile::tempdir().unwrap();
    small(tmp.path(), &["--epochs", "6", "--out", "free.h5"]).expect(0);
    let (free, reason, epochs) = stopping(&tmp.path().join("free.h5"));
    assert_eq!((reason.as_str(), epochs, free.len()), ("epochs", 6, 6));
    // A target between the best loss of epochs 1–2 and the loss of a later epoch.
    let best2 = free[0].min(free[1]);
    let k = (2..6)
        .find(|&k| free[k] < best2)
        .unwrap_or_else(|| panic!("loss never improved on epochs 1-2: {free:?}"));
    let target = (best2 + free[k]) / 2.0;
    let want = free.iter().position(|&l| l <= target).unwrap() + 1;
    let t = target.to_string();
    small(
        tmp.path(),
        &["--epochs", "6", "--target-train-loss", &t, "--out", "t.h5"],
    )
    .expect(0);
    let (curve, reason, epochs) = stopping(&tmp.path().join("t.h5"));
    assert_eq!((reason.as_str(), epochs), ("target_loss", want as i64));
    assert_eq!(curve, free[..want].to_vec());
    let r = small(
        tmp.path(),
        &[
            "--epochs",
            "3",
            "--target-train-loss",
            "1e-9",
            "--out",
            "cap.h5",
        ],
    );
    r.expect(0);
    assert!(
        r.stdout().contains("stopped         epochs after 3 epochs"),
        "{}",
        r.stdout()
    );
    let (_, reason, epochs) = stopping(&tmp.path().join("cap.h5"));
    assert_eq!((reason.as_str(), epochs), ("epochs", 3));
}

#[test]
fn same_command_in_two_processes_gives_the_same_hash_and_another_seed_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let a = small(tmp.path(), &["--out", "a"]);
    let b = small(tmp.path(), &["--out", "b"]);
    let c = small(tmp.path(), &["--out", "c", "--seed", "1"]);
    for r in [&a, &b, &c] {
        r.expect(0);
    }
    assert_eq!(hash_of(&a), hash_of(&b));
    assert_ne!(hash_of(&a), hash_of(&c));
    assert!(tmp.path().join(format!("a/{SMALL_NAME}_seed0.h5")).exists());
    assert!(tmp.path().join(format!("c/{SMALL_NAME}_seed1.h5")).exists());
}

#[test]
fn numerics_caps_take_effect() {
    let tmp = tempfile::tempdir().unwrap();
    let capped = small(tmp.path(), &["--out", "capped"]);
    capped.expect(0);
    let native = run_in(
        tmp.path(),
        &[&["--numerics", "native"], SMALL, &["--out", "native"]].concat(),
        &[],
    );
    native.expect(0);
    let inspect = |f: &str| run_in(tmp.path(), &["inspect", f], &[]);
    let ci = inspect(&format!("capped/{SMALL_NAME}_seed0.h5"));
    ci.expect(0);
    assert!(
        ci.stdout().contains("cpu_capability  AVX2"),
        "{}",
        ci.stdout()
    );
    assert!(
        ci.stdout().contains(&format!(
            "platform_class  cpu-x86_64-{}-avx2-t1-libtorch2.11.0",
            three_factors::platform::cpu_vendor()
        )),
        "{}",
        ci.stdout()
    );
    let ni = inspect(&format!("native/{SMALL_NAME}_seed0.h5"));
    ni.expect(0);
    // The hashes always differ, since each covers its platform class (`...-avx2-...` against
    // `...-native-avx2-...`); the trained weights tell the kernels apart. On a processor with
    // AVX-512, ATen's native kernels sum in another order, so the weights differ; on an
    // AVX2-only machine both runs use the same kernels and the weights are equal bit for bit.
    assert_ne!(hash_of(&capped), hash_of(&native));
    let weights = |dir: &str| {
        let path = tmp.path().join(format!("{dir}/{SMALL_NAME}_seed0.h5"));
        let f = three_factors::files::h5::open(&path).unwrap();
        let g = f.group("params").unwrap();
        let mut names = g.member_names().unwrap();
        names.sort();
        names
            .iter()
            .map(|n| g.dataset(n).unwrap().read_raw::<f32>().unwrap())
            .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>())
            .collect::<Vec<_>>()
    };
    if ni.stdout().contains("cpu_capability  AVX512") {
        assert_ne!(weights("capped"), weights("native"));
    } else {
        assert_eq!(weights("capped"), weights("native"));
    }
}

#[test]
fn inspect_reports_provenance_metrics_and_a_verified_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let r = small(tmp.path(), &["--out", "x.h5"]);
    r.expect(0);
    let i = run_in(tmp.path(), &["inspect", "x.h5"], &[]);
    i.expect(0);
    let out = i.stdout();
    for needle in [
        "libtorch_version 2.11.0",
        "tch_version     0.24.0",
        "threads         1",
        "seed            0",
        "lambda_max",
        "(verified)",
    ] {
        assert!(out.contains(needle), "missing '{needle}' in:\n{out}");
    }
    assert!(out.contains(&hash_of(&r)));
}

#[test]
fn artifact_params_reload_in_an_independent_reader_with_the_recorded_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    small(tmp.path(), &["--out", "x.h5", "--epochs", "3"]).expect(0);
    let stdout = common::python("load_params.py", &[tmp.path().join("x.h5").as_os_str()]);
    assert!(stdout.contains("val_acc recomputed"), "{stdout}");
}

#[test]
fn nonsensical_configs_exit_2_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--lr", "0"], "sgd.lr: learning rate must be > 0"),
        (&["--lr", "-0.1"], "sgd.lr"),
        (
            &["--batch-size", "100000"],
            "exceeds the 512 training samples",
        ),
        (&["--schedule", "sawtooth"], "unknown schedule 'sawtooth'"),
        (&["--hvp", "magic"], "unknown HVP method"),
        (&["--device", "tpu"], "unknown device 'tpu'"),
    ];
    for (extra, needle) in cases {
        let r = small(tmp.path(), extra);
        r.expect(2);
        assert!(r.stderr().contains(needle), "{extra:?}: {}", r.stderr());
    }
    // A config file with a missing field and one with a syntax error.
    let good = three_factors::config::RunConfig::adhoc().to_toml();
    std::fs::write(
        tmp.path().join("missing.toml"),
        good.replace("seed = 0\n", ""),
    )
    .unwrap();
    let r = run_in(tmp.path(), &["run", "--config", "missing.toml"], &[]);
    r.expect(2);
    assert!(
        r.stderr().contains("missing.toml") && r.stderr().contains("missing field `seed`"),
        "{}",
        r.stderr()
    );
    std::fs::write(tmp.path().join("syntax.toml"), "width = = 3").unwrap();
    let r = run_in(tmp.path(), &["run", "--config", "syntax.toml"], &[]);
    r.expect(2);
    assert!(
        r.stderr().contains("syntax.toml: TOML syntax error"),
        "{}",
        r.stderr()
    );
}

#[test]
fn unwritable_output_fails_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("blocker"), "a file, not a folder").unwrap();
    let r = small(tmp.path(), &["--out", "blocker/sub"]);
    r.expect(2);
    assert!(
        r.stderr()
            .contains("blocker/sub: output folder cannot be created"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("blocker")).unwrap(),
        "a file, not a folder"
    );
}

#[test]
fn truncated_and_tampered_artifacts_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    small(tmp.path(), &["--out", "x.h5"]).expect(0);
    let x = tmp.path().join("x.h5");

    let bytes = std::fs::read(&x).unwrap();
    std::fs::write(tmp.path().join("trunc.h5"), &bytes[..bytes.len() / 2]).unwrap();
    let r = run_in(tmp.path(), &["inspect", "trunc.h5"], &[]);
    r.expect(2);
    assert!(r.stderr().contains("trunc.h5"), "{}", r.stderr());

    std::fs::copy(&x, tmp.path().join("tampered.h5")).unwrap();
    {
        let f = hdf5::File::open_rw(tmp.path().join("tampered.h5")).unwrap();
        let ds = f.dataset("params/l4.bias").unwrap();
        let mut v = ds.read_raw::<f32>().unwrap();
        v[0] += 1e-3;
        ds.write_raw(&v).unwrap();
    }
    let r = run_in(tmp.path(), &["inspect", "tampered.h5"], &[]);
    r.expect(1);
    assert!(
        r.stdout().contains("content_sha256  MISMATCH"),
        "{}",
        r.stdout()
    );

    let r = run_in(tmp.path(), &["inspect", "absent.h5"], &[]);
    r.expect(2);
    assert!(r.stderr().contains("absent.h5"), "{}", r.stderr());
}

#[test]
fn killed_run_leaves_no_file_under_the_final_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::bin())
        .current_dir(tmp.path())
        .args(SMALL)
        .args(["--epochs", "400", "--out", "k.h5"])
        .env("XDG_CACHE_HOME", tmp.path().join(".cache"))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run should still be training"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!tmp.path().join("k.h5").exists());
}

/// Reached by the resume test's run at epoch 28 of its 40 (measured: the same run without a
/// target has train loss 0.105 at epoch 27 of 40, 0.095 at 28).
const TARGET: &str = "0.1";

/// A long run killed mid-training resumes from its checkpoint and ends with the same content
/// hash as the run that was never interrupted (momentum buffers, BatchNorm statistics and the
/// batch order all continue exactly), stopping at the same epoch of its target training loss.
/// A checkpoint of another configuration, or a corrupt one, is reported and ignored; a finished
/// run leaves no checkpoint behind.
#[test]
fn killed_run_resumes_from_its_checkpoint_to_the_same_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let long = [
        "--train-samples",
        "1024",
        "--epochs",
        "40",
        "--momentum",
        "0.9",
        "--target-train-loss",
        TARGET,
        "--checkpoint-secs",
        "0",
        // The best-validation model travels in the checkpoint too.
        "--keep-best-val",
    ];
    let args = |out: &str| -> Vec<String> {
        SMALL
            .iter()
            .chain(&long)
            .chain(&["--out", out])
            .map(|s| s.to_string())
            .collect()
    };
    let go = |args: &[String]| {
        run_in(
            tmp.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &[],
        )
    };
    let whole = go(&args("whole.h5"));
    whole.expect(0);
    assert!(!tmp.path().join("whole.h5.ckpt").exists());
    let (_, reason, stopped_at) = stopping(&tmp.path().join("whole.h5"));
    assert_eq!(reason, "target_loss", "the target {TARGET} is reached");
    assert!(stopped_at >= 10, "stopped after {stopped_at} epochs");
    let measured: i64 = hdf5::File::open(tmp.path().join("whole.h5"))
        .unwrap()
        .dataset("final/measured_epoch")
        .unwrap()
        .read_scalar()
        .unwrap();
    assert!(
        (1..=stopped_at).contains(&measured),
        "measured epoch {measured}"
    );

    let mut child = std::process::Command::new(common::bin())
        .current_dir(tmp.path())
        .args(args("cut.h5"))
        .env("XDG_CACHE_HOME", tmp.path().join(".cache"))
        .spawn()
        .unwrap();
    let ckpt = tmp.path().join("cut.h5.ckpt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ckpt.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before its first checkpoint"
        );
        assert!(std::time::Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!tmp.path().join("cut.h5").exists());
    std::fs::copy(&ckpt, tmp.path().join("other.h5.ckpt")).unwrap();

    let resumed = go(&args("cut.h5"));
    resumed.expect(0);
    let epoch: usize = resumed
        .stderr()
        .lines()
        .find_map(|l| l.strip_prefix("resuming from cut.h5.ckpt after epoch "))
        .unwrap_or_else(|| panic!("did not resume:\n{}", resumed.stderr()))
        .trim()
        .parse()
        .unwrap();
    assert!(
        (1..stopped_at as usize).contains(&epoch),
        "resumed after epoch {epoch}"
    );
    assert_eq!(hash_of(&resumed), hash_of(&whole));
    assert!(!ckpt.exists(), "the checkpoint outlived the artifact");

    // The same checkpoint under another run's name: a different learning rate.
    let mut other = args("other.h5");
    let lr = other.iter().position(|a| a == "--lr").unwrap();
    other[lr + 1] = "0.1".into();
    let r = go(&other);
    r.expect(0);
    assert!(
        r.stderr()
            .contains("other.h5.ckpt: checkpoint of another configuration; training from scratch"),
        "{}",
        r.stderr()
    );
    assert!(!tmp.path().join("other.h5.ckpt").exists());

    std::fs::write(tmp.path().join("bad.h5.ckpt"), b"not hdf5").unwrap();
    let r = go(&args("bad.h5"));
    r.expect(0);
    assert!(
        r.stderr().contains("bad.h5.ckpt: unreadable checkpoint"),
        "{}",
        r.stderr()
    );
    assert_eq!(hash_of(&r), hash_of(&whole));
}
