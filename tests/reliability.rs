//! Reliability through the real binary: a full disk, signals to `repro`, closed pipes, values out
//! of range, a run that blows up, an edited platform class, broken golden files and careless
//! output paths. Each ends in a clear error (exit 2) or the documented verdict, never a crash,
//! an orphan or a silent overwrite.
mod common;

use common::{command, error_names, repo, run_in, Run};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `run --profile smoke --lr 0.1 --batch-size 32 --quiet` plus `extra`, as arguments.
fn smoke_args(extra: &[&str]) -> Vec<String> {
    let exp = repo("experiments/fig3.toml");
    let base = [
        "run",
        "--experiment",
        &exp,
        "--profile",
        "smoke",
        "--lr",
        "0.1",
        "--batch-size",
        "32",
        "--quiet",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// Runs [`smoke_args`] of `extra` in `dir`.
fn smoke_run(dir: &Path, extra: &[&str]) -> Run {
    let a = smoke_args(extra);
    run_in(dir, &a.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes beyond a file-size limit fail as writes on a full disk do (the shell ignores SIGXFSZ,
/// so the write returns an error instead of killing the process). HDF5 crashed in its own flush
/// on such a failure; files are now built in memory and written by the one atomic writer.
#[test]
fn a_full_disk_is_an_error_that_leaves_no_file_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let run_args = smoke_args(&["--out", "full"]);
    let args: Vec<&str> = run_args.iter().map(String::as_str).collect();
    let out = common::with_file_size_limit(tmp.path(), 40, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write"), "{err}");
    assert!(err.contains("full/lr0.1_bs32_seed0"), "{err}");
    // Neither the artifact nor a temporary file is left (a checkpoint may be, by design).
    for n in names(&tmp.path().join("full")) {
        assert!(
            !n.contains(".partial") && n != "lr0.1_bs32_seed0.h5",
            "left behind: {n}"
        );
    }
}

/// The pids of the processes whose parent is `parent` (from /proc).
fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
        let ppid: Option<u32> = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` is still a live process (a zombie waiting to be reaped has ended).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit_once(')').map(|r| r.1.trim_start()).unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

#[test]
fn repro_children_die_with_it_whatever_the_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = repo("experiments/fig3.toml");
    for (sig, name) in [
        (libc::SIGINT, "int"),
        (libc::SIGTERM, "term"),
        (libc::SIGKILL, "kill"),
    ] {
        // The paper profile: each point trains for many minutes, so a child that is gone
        // within seconds of repro's end was killed, not finished.
        let out = format!("o-{name}");
        let (mut c, cmd) = command(
            tmp.path(),
            &[
                "repro",
                "fig3",
                "--experiment",
                &exp,
                "--profile",
                "paper",
                "--jobs",
                "1",
                "--out",
                &out,
            ],
            &[],
        );
        // A shell may have started this test with SIGINT ignored (as for `cmd &`), which repro
        // would inherit: give it the default actions, as a terminal's foreground job has.
        // SAFETY: only signal(), async-signal-safe, between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut repro = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn repro");
        let started = Instant::now();
        let kids = loop {
            let k = children(repro.id());
            if !k.is_empty() {
                break k;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{cmd}: no run child after 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // SAFETY: signalling a child this test started.
        unsafe { libc::kill(repro.id() as libc::pid_t, sig) };
        let t = Instant::now();
        while repro.try_wait().unwrap().is_none() {
            if t.elapsed() > Duration::from_secs(20) {
                let _ = repro.kill();
                panic!("signal {name}: repro still runs 20 s after it");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let t = Instant::now();
        while kids.iter().any(|&k| alive(k)) {
            if t.elapsed() > Duration::from_secs(10) {
                for &k in &kids {
                    // SAFETY: the test's own grandchildren, orphaned by the failure.
                    unsafe { libc::kill(k as libc::pid_t, libc::SIGKILL) };
                }
                panic!("signal {name}: children {kids:?} of repro still ran 10 s after it ended");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_second_repro_on_a_folder_in_use_is_refused_and_stale_temporaries_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("o");
    std::fs::create_dir_all(&o).unwrap();
    // A temporary file a killed writer left an hour ago, and one a live writer has open now.
    let stale = o.join(".lr0.02_bs32_seed0.h5.Ab12Cd.partial");
    std::fs::write(&stale, b"half").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let live = o.join(".lr0.1_bs32_seed0.h5.Ef34Gh.partial");
    std::fs::write(&live, b"in flight").unwrap();
    {
        let _held = three_factors::files::lock(&o.join(".repro.lock"), "held by the test").unwrap();
        let r = common::smoke(tmp.path(), "o", &[], &[]);
        error_names(
            &r,
            &[
                "another three-factors repro is working in this folder",
                &format!("pid {}", std::process::id()),
            ],
        );
        assert!(!o.join("lr0.02_bs32_seed0.h5").exists());
    }
    let r = common::smoke(tmp.path(), "o", &[], &[]);
    r.expect(0);
    assert!(
        r.stderr()
            .contains("removed 1 temporary file(s) an interrupted writer left"),
        "{}",
        r.stderr()
    );
    assert!(!stale.exists());
    assert!(
        live.exists(),
        "a fresh temporary file may belong to a live writer"
    );
}

/// Starts the binary with stdout a pipe whose reading end is already closed; returns the exit
/// code and stderr.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> (i32, String) {
    let (mut c, _) = command(dir, args, &[]);
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_output_quietly_and_the_work_is_still_done() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = repo("experiments/fig3.toml");
    let (code, err) = with_closed_stdout(
        tmp.path(),
        &["repro", "fig3", "--experiment", &exp, "--plan"],
    );
    assert_eq!((code, err.contains("panicked")), (0, false), "{err}");
    // A whole grid behind a closed pipe: it still runs, writes its table and exits 0.
    let (code, err) = with_closed_stdout(
        tmp.path(),
        &[
            "repro",
            "fig3",
            "--experiment",
            &exp,
            "--profile",
            "smoke",
            "--out",
            "o",
            "--jobs",
            "2",
        ],
    );
    assert_eq!((code, err.contains("panicked")), (0, false), "{err}");
    assert!(tmp.path().join("o/fig3.h5").exists());
    let golden = repo("golden/fig3/smoke.toml");
    let (code, err) = with_closed_stdout(tmp.path(), &["check", "o", "--golden", &golden]);
    assert_eq!((code, err.contains("panicked")), (0, false), "{err}");
}

#[test]
fn values_out_of_range_are_errors_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    for (flags, field) in [
        (
            &["--seed", "9223372036854775808"][..],
            "seed: must be at most",
        ),
        (&["--weight-decay", "nan"], "sgd.weight_decay"),
        (&["--threads", "100000"], "threads: must be in 1..=1024"),
        (&["--width", "100000"], "width: must be in 1..=8192"),
    ] {
        let r = smoke_run(tmp.path(), flags);
        error_names(&r, &[field]);
    }
    assert!(names(&tmp.path().join("runs")).is_empty());
    for t in ["inf", "nan", "-0.1"] {
        let flag = format!("--threshold={t}");
        let r = run_in(
            tmp.path(),
            &["bench", "compare", "--history", "none.h5", &flag],
            &[],
        );
        error_names(&r, &["--threshold", "not a relative slowdown"]);
    }
}

#[test]
fn a_run_that_blows_up_is_diverged_and_reports_no_curvature() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_in(
        tmp.path(),
        &[
            "run",
            "--lr",
            "50",
            "--width",
            "16",
            "--train-samples",
            "512",
            "--epochs",
            "2",
            "--eval-samples",
            "128",
            "--out",
            "o",
            "--name",
            "blown",
            "--quiet",
        ],
        &[],
    );
    r.expect(0);
    assert!(r.stdout().contains("DIVERGED"), "{}", r.stdout());
    let f = hdf5::File::open(tmp.path().join("o/blown.h5")).unwrap();
    let fin = f.group("final").unwrap();
    let loss: f64 = fin.dataset("train_loss").unwrap().read_scalar().unwrap();
    assert!(loss.is_finite() && loss > 23.0, "train loss {loss}");
    let diverged: u8 = fin.dataset("diverged").unwrap().read_scalar().unwrap();
    assert_eq!(diverged, 1);
    let stop: hdf5::types::VarLenUnicode =
        fin.dataset("stop_reason").unwrap().read_scalar().unwrap();
    assert_eq!(stop.as_str(), "diverged");
    // Its curvature is recorded as not measured (NaN), never as a number.
    for m in ["lambda_max", "frobenius_norm", "trace"] {
        let v: f64 = f
            .dataset(&format!("curvature/{m}"))
            .unwrap()
            .read_scalar()
            .unwrap();
        assert!(v.is_nan(), "{m} = {v}");
    }
}

#[test]
fn editing_the_platform_class_is_caught_by_the_content_hash() {
    use three_factors::files::h5;
    let tmp = tempfile::tempdir().unwrap();
    common::smoke(tmp.path(), "o", &[], &[]).expect(0);
    let art = tmp.path().join("o/lr0.1_bs32_seed0.h5");
    // Edit a result within its band (±0.03)...
    {
        let f = hdf5::File::open_rw(&art).unwrap();
        let d = f.dataset("final/val_acc").unwrap();
        let v: f64 = d.read_scalar().unwrap();
        d.write_scalar(&(v + 0.01)).unwrap();
    }
    // ...store the content hash `inspect` prints for the edited file...
    let r = run_in(tmp.path(), &["inspect", "o/lr0.1_bs32_seed0.h5"], &[]);
    r.expect(1);
    let forged = r
        .stdout()
        .lines()
        .find_map(|l| {
            l.split_once(", content ")
                .map(|(_, h)| h.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{}", r.stdout()));
    {
        let f = hdf5::File::open_rw(&art).unwrap();
        f.delete_attr("content_sha256").unwrap();
        h5::attr_str(&art, &f, "content_sha256", &forged).unwrap();
        // ...then move it to a platform class without golden hashes.
        f.delete_attr("provenance.platform_class").unwrap();
        h5::attr_str(&art, &f, "provenance.platform_class", "cpu-elsewhere").unwrap();
    }
    let golden = repo("golden/fig3/smoke.toml");
    let r = run_in(
        tmp.path(),
        &["check", "o/lr0.1_bs32_seed0.h5", "--golden", &golden],
        &[],
    );
    r.expect(1);
    assert!(
        r.stdout()
            .lines()
            .any(|l| l.contains("stored hash = content") && l.ends_with("FAIL")),
        "{}",
        r.stdout()
    );
}

#[test]
fn a_broken_golden_file_is_an_error_not_a_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    common::smoke(tmp.path(), "o", &[], &[]).expect(0);
    let good = std::fs::read_to_string(repo("golden/fig3/smoke.toml")).unwrap();
    // (how to break it, what the message must name)
    type Break<'a> = &'a dyn Fn(&str) -> String;
    let cases: [(Break, &str); 6] = [
        (
            &|s| s.replacen("abs = 0.03", "abs = nan", 1),
            "abs = NaN: must be a finite number",
        ),
        (
            &|s| s.replacen("ratio = 2.4", "ratio = -2.4", 1),
            "ratio = -2.4: must be a finite number ≥ 1",
        ),
        (
            &|s| s.replacen("abs = 0.03", "abs = inf", 1),
            "abs = inf: must be a finite number",
        ),
        (
            &|s| replace_first_expected(s, "nan"),
            "expected = NaN: must be a finite number",
        ),
        (
            &|s| s.replacen(".lambda_max]", ".lamda_max]", 1),
            "unknown metric 'lamda_max'",
        ),
        (
            &|s| format!("{s}\n[science.lambda_max]\nsign = 7\nmin_abs = 0.5\n"),
            "sign: must be 1 or -1, got 7",
        ),
    ];
    for (i, (broken, message)) in cases.iter().enumerate() {
        let text = broken(&good);
        assert_ne!(text, good, "case {i} changed nothing");
        let path = tmp.path().join(format!("broken{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let r = run_in(
            tmp.path(),
            &["check", "o", "--golden", path.to_str().unwrap()],
            &[],
        );
        error_names(&r, &["invalid golden file", message]);
    }
}

/// `s` with the value of its first `expected = <number>` replaced by `v`.
fn replace_first_expected(s: &str, v: &str) -> String {
    let i = s.find("\nexpected = ").expect("a band") + "\nexpected = ".len();
    let end = i + s[i..].find('\n').unwrap();
    format!("{}{v}{}", &s[..i], &s[end..])
}

#[test]
fn run_never_overwrites_what_is_not_its_own_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A file that is not an artifact.
    std::fs::write(d.join("notes.h5"), "my notes").unwrap();
    error_names(
        &smoke_run(d, &["--out", "notes.h5"]),
        &[
            "notes.h5: exists and is not an HDF5 file",
            "refusing to overwrite",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("notes.h5")).unwrap(),
        "my notes"
    );
    // A folder where the artifact should go fails before any training.
    std::fs::create_dir(d.join("dir.h5")).unwrap();
    error_names(
        &smoke_run(d, &["--out", "dir.h5"]),
        &["dir.h5: is a folder"],
    );
    // Two runs that differ in width get two names.
    smoke_run(d, &["--out", "o"]).expect(0);
    smoke_run(d, &["--out", "o", "--width", "32"]).expect(0);
    assert_eq!(
        names(&d.join("o")),
        ["lr0.1_bs32_seed0.h5", "lr0.1_bs32_width32_seed0.h5"]
    );
    // Forcing them into one name: the second is refused, the first kept.
    let before = std::fs::read(d.join("o/lr0.1_bs32_seed0.h5")).unwrap();
    error_names(
        &smoke_run(
            d,
            &["--out", "o", "--width", "32", "--name", "lr0.1_bs32_seed0"],
        ),
        &["holds a run of another config", "differs in width"],
    );
    assert_eq!(
        std::fs::read(d.join("o/lr0.1_bs32_seed0.h5")).unwrap(),
        before
    );
    // The same run again replaces its own artifact.
    smoke_run(d, &["--out", "o"]).expect(0);
    // A grid point runs under its own name.
    let fig5 = repo("experiments/fig5.toml");
    let point = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--experiment",
            &fig5,
            "--profile",
            "smoke",
            "--point",
            "lr0.1_bs8_train256_seed0",
            "--out",
            "o5",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        run_in(d, &args, &[])
    };
    point(&[]).expect(0);
    // A point takes no flag that changes its config, so it cannot be changed under its name.
    let r = point(&["--seed", "3"]);
    r.expect(2);
    assert!(r.stderr().contains("cannot be used with"), "{}", r.stderr());
    assert_eq!(names(&d.join("o5")), ["lr0.1_bs8_train256_seed0.h5"]);
    // Names that would leave --out.
    for n in ["../x", "/tmp/x", "a/b"] {
        error_names(
            &smoke_run(d, &["--out", "o", "--name", n]),
            &["must be a plain file name"],
        );
    }
    assert!(!d.join("x.h5").exists());
}

#[test]
fn careless_paths_and_flags_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let exp = repo("experiments/fig3.toml");
    // --collect of a folder that does not exist creates nothing.
    let r = run_in(
        d,
        &[
            "repro",
            "fig3",
            "--experiment",
            &exp,
            "--collect",
            "nowhere/dir",
        ],
        &[],
    );
    error_names(&r, &["--collect nowhere/dir: no such folder"]);
    assert!(!d.join("nowhere").exists());
    // GPUs for a CPU profile.
    let r = common::smoke(d, "o", &["--devices", "cuda:0"], &[]);
    error_names(&r, &["--devices", "runs on cpu"]);
    // A data folder the user named must hold the data: no silent fallback.
    error_names(
        &smoke_run(d, &["--data-dir", "nodata"]),
        &["nodata (--data-dir): no such folder"],
    );
    std::fs::create_dir(d.join("empty")).unwrap();
    let r = run_in(
        d,
        &["data", "verify"],
        &[("FASHION_MNIST_DIR", d.join("empty").to_str().unwrap())],
    );
    error_names(
        &r,
        &["($FASHION_MNIST_DIR): missing train-images-idx3-ubyte"],
    );
}

#[test]
fn inspect_reports_every_file_of_a_folder_and_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    common::smoke(tmp.path(), "o", &[], &[]).expect(0);
    let mut files: Vec<String> = names(&tmp.path().join("o"))
        .into_iter()
        .filter(|n| n.ends_with(".h5"))
        .map(|n| format!("o/{n}"))
        .collect();
    // The table sorts first among the runs; everything after it is still inspected.
    assert_eq!(files[0], "o/fig3.h5");
    let mut args = vec!["inspect"];
    args.extend(files.iter().map(String::as_str));
    let r = run_in(tmp.path(), &args, &[]);
    r.expect(0);
    assert!(r.stdout().contains("experiment table"), "{}", r.stdout());
    assert_eq!(r.stdout().matches("(verified)").count(), files.len() - 1);
    // An unreadable file among them: reported, the others still printed, exit 2.
    std::fs::write(tmp.path().join("junk.h5"), "junk").unwrap();
    files.insert(1, "junk.h5".into());
    let mut args = vec!["inspect"];
    args.extend(files.iter().map(String::as_str));
    let r = run_in(tmp.path(), &args, &[]);
    error_names(&r, &["junk.h5: not a three-factors artifact"]);
    assert_eq!(r.stdout().matches("(verified)").count(), files.len() - 2);
}
