//! Reliability, round two: hostile inputs to the newer commands, through the real binary. Each
//! test is one class of defect a hostile-input round found (numbered as in that round): outputs
//! that replaced special files or the command's own inputs, a gate passed by copying or
//! relabelling artifacts, lost benchmark runs, unbounded options, names that escape their
//! folder, forged benchmark runs, and what a signal or a careless `--out` left behind. Every
//! test failed on the binary before the fixes (run with THREE_FACTORS_BIN pointing at it).
mod common;

use common::{command, error_names, repo, run_in, Run};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use three_factors::bench::history;
use three_factors::files::h5;

/// One fig3 smoke folder (`<dir>/o`), made once for every test of this file; tests that change
/// it work on a copy.
fn smoke() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        common::smoke(tmp.path(), "o", &[], &[]).expect(0);
        tmp
    })
    .path()
}

/// A copy of the smoke folder's files at `dst` (created).
fn copy_smoke(dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(smoke().join("o")).unwrap().flatten() {
        if e.file_type().unwrap().is_file() && !e.file_name().to_string_lossy().starts_with('.') {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

fn smoke_run(name: &str) -> PathBuf {
    smoke().join("o").join(name)
}

const A: &str = "lr0.1_bs32_seed0.h5";
const B: &str = "lr0.02_bs32_seed0.h5";

/// The arguments of a 5-point `interpolate` between the smoke runs A and B into `out`.
fn line_args(out: &str) -> Vec<String> {
    let (a, b) = (smoke_run(A), smoke_run(B));
    [
        "interpolate",
        &a.display().to_string(),
        &b.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--quiet", "--points", "5", "--out", out].map(String::from))
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs the binary, killing it after `limit` (a hang fails the test rather than the suite).
#[track_caller]
fn bounded(dir: &Path, args: &[&str], limit: Duration) -> Run {
    let (mut c, cmd) = command(dir, args, &[]);
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if start.elapsed() > limit {
                    // SAFETY: a signal to the child this test started.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        !watch.join().unwrap(),
        "{cmd}: still running after {limit:?}"
    );
    Run {
        cmd,
        dir: dir.to_path_buf(),
        out,
    }
}

fn sha(path: &Path) -> String {
    three_factors::files::sha256_hex(&std::fs::read(path).unwrap())
}

/// Defect 1: the atomic writer renamed its file onto devices, FIFOs and symbolic links.
#[test]
fn outputs_never_replace_special_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path in this test's folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let link = dir.join("stdout-link");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let mut specials = vec![(fifo.clone(), "is a FIFO")];
    specials.push((link.clone(), "is a symbolic link"));
    // As root, a character device of our own (the same as /dev/null).
    let dev = dir.join("null");
    let cd = std::ffi::CString::new(dev.to_str().unwrap()).unwrap();
    // SAFETY: mknod in this test's folder; it fails (EPERM) unless root.
    if unsafe { libc::mknod(cd.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0 {
        specials.push((dev.clone(), "is a device"));
    }
    let folder = smoke().join("o").display().to_string();
    let golden = repo("golden/fig3/smoke.toml");
    let history = repo("bench/history.h5");
    for (special, kind) in &specials {
        let s = special.display().to_string();
        for args in [
            vec!["check", &folder, "--golden", &golden, "--junit", &s],
            vec!["check", "missing-folder", "--junit", &s],
            vec![
                "bench",
                "export",
                "--history",
                &history,
                "--format",
                "bencher",
                "--out",
                &s,
            ],
            vec!["bench", "report", "--history", &history, "--csv", &s],
        ] {
            let r = run_in(dir, &args, &[]);
            error_names(&r, &[&s, kind]);
            let t = std::fs::symlink_metadata(special).unwrap().file_type();
            assert!(
                t.is_fifo() || t.is_symlink() || t.is_char_device(),
                "{}: {special:?} was replaced",
                r.cmd
            );
        }
    }
}

/// The text of a `check` report without its notes (which say how many files were counted once).
fn verdicts(r: &Run) -> Vec<String> {
    r.stdout()
        .lines()
        .filter(|l| !l.starts_with("note") && !l.contains("counted once"))
        .map(str::to_string)
        .collect()
}

/// Defect 2: copies of artifacts, or one file listed three times, multiplied the evidence.
#[test]
fn duplicated_artifacts_count_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_smoke(&dir.join("o"));
    let golden = repo("golden/fig3/smoke.toml");
    let base = run_in(dir, &["check", "o", "--golden", &golden], &[]);
    base.expect(0);
    // Every run copied under another name.
    for e in std::fs::read_dir(dir.join("o")).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("lr") && n.ends_with(".h5") {
            std::fs::copy(e.path(), dir.join("o").join(n.replace(".h5", "_dup.h5"))).unwrap();
        }
    }
    let copied = run_in(dir, &["check", "o", "--golden", &golden], &[]);
    copied.expect(0);
    assert_eq!(verdicts(&copied), verdicts(&base));
    assert!(
        copied.stdout().contains("4 file(s) given more than once"),
        "{}",
        copied.stdout()
    );
    // Each file listed three times: the same verdicts as once.
    let runs: Vec<String> = [
        "lr0.1_bs32_seed0",
        "lr0.1_bs128_seed0",
        "lr0.02_bs32_seed0",
        "lr0.02_bs128_seed0",
    ]
    .iter()
    .map(|n| format!("o/{n}.h5"))
    .collect();
    let mut once = vec!["check", "--golden", &golden];
    once.extend(runs.iter().map(String::as_str));
    let r1 = run_in(dir, &once, &[]);
    let mut thrice = once.clone();
    for _ in 0..2 {
        thrice.extend(runs.iter().map(String::as_str));
    }
    let r3 = run_in(dir, &thrice, &[]);
    assert_eq!(r3.code(), r1.code());
    assert_eq!(verdicts(&r3), verdicts(&r1));
    // A different artifact under a grid point's name is an error, not a second sample.
    let dup = dir.join("o/lr0.1_bs32_seed0_dup.h5");
    {
        let f = hdf5::File::open_rw(&dup).unwrap();
        let d = f.dataset("final/val_acc").unwrap();
        let v: f64 = d.read_scalar().unwrap();
        d.write_scalar(&(v + 0.01)).unwrap();
    }
    let r = run_in(dir, &["check", "o", "--golden", &golden], &[]);
    error_names(
        &r,
        &["two different artifacts of lr0.1_bs32_seed0", "_dup.h5"],
    );
}

/// The content hash `inspect` prints for `art` (after an edit, the recomputed one).
fn recomputed_hash(dir: &Path, art: &str) -> String {
    let r = run_in(dir, &["inspect", art], &[]);
    let line = r
        .stdout()
        .lines()
        .find_map(|l| {
            l.split_once(", content ")
                .map(|(_, h)| h.trim().to_string())
        })
        .or_else(|| {
            r.stdout().lines().find_map(|l| {
                l.strip_prefix("content_sha256")
                    .map(|h| h.split_whitespace().next().unwrap_or("").to_string())
            })
        });
    line.unwrap_or_else(|| panic!("{}", r.stdout()))
}

/// Sets a root string attribute of `art` and, with `rehash`, stores the hash it then has (as
/// someone forging an artifact would, from what `inspect` prints).
fn relabel(dir: &Path, art: &str, attr: &str, value: &str, rehash: bool) {
    let path = dir.join(art);
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        f.delete_attr(attr).unwrap();
        h5::attr_str(&path, &f, attr, value).unwrap();
    }
    if rehash {
        let h = recomputed_hash(dir, art);
        let f = hdf5::File::open_rw(&path).unwrap();
        f.delete_attr("content_sha256").unwrap();
        h5::attr_str(&path, &f, "content_sha256", &h).unwrap();
    }
}

fn class_of(path: &Path) -> String {
    let f = hdf5::File::open(path).unwrap();
    h5::read_attr_str(path, &f, "provenance.platform_class").unwrap()
}

/// Defect 3: `check` took the platform class from the first artifact only, so relabelling that
/// one turned the exact-hash gate into bands only for all of them.
#[test]
fn one_platform_class_per_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_smoke(&dir.join("o"));
    let golden = repo("golden/fig3/smoke.toml");
    // The first artifact (in sorted order) moves to another build's class, re-hashed; another
    // one is doctored within its bands and re-hashed under its own class.
    let first = "o/lr0.02_bs128_seed0.h5";
    let other = class_of(&dir.join(first)) + "-build-000000000000";
    relabel(dir, first, "provenance.platform_class", &other, true);
    {
        let path = dir.join("o").join(A);
        let f = hdf5::File::open_rw(&path).unwrap();
        let d = f.dataset("final/val_acc").unwrap();
        let v: f64 = d.read_scalar().unwrap();
        d.write_scalar(&(v + 0.01)).unwrap();
    }
    let h = recomputed_hash(dir, &format!("o/{A}"));
    relabel(dir, &format!("o/{A}"), "content_sha256", &h, false);
    let r = run_in(dir, &["check", "o", "--golden", &golden], &[]);
    error_names(&r, &["2 platform classes", "-build-000000000000"]);
    // A CPU artifact cannot claim a GPU's class.
    let tmp2 = tempfile::tempdir().unwrap();
    copy_smoke(&tmp2.path().join("o"));
    relabel(
        tmp2.path(),
        &format!("o/{A}"),
        "provenance.platform_class",
        "cuda-NVIDIA_H200-libtorch2.11.0",
        true,
    );
    let r = run_in(
        tmp2.path(),
        &["check", &format!("o/{A}"), "--golden", &golden],
        &[],
    );
    error_names(&r, &["contradicts the artifact", "must start with 'cpu-'"]);
}

/// Defect 4: concurrent writers of one history each replaced it with their own copy.
#[test]
fn concurrent_merges_lose_no_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let runs = history::read(&common::root().join("bench/history.h5")).unwrap();
    // One source per run, each holding exactly that run.
    let sources: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let name = format!("s{i}.h5");
            common::write_run(&dir.join(&name), r);
            name
        })
        .collect();
    for trial in 0..3 {
        let into = format!("t{trial}.h5");
        let children: Vec<_> = sources
            .iter()
            .map(|s| {
                let (mut c, _) = command(dir, &["bench", "merge", s, "--into", &into], &[]);
                c.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let merged = history::read(&dir.join(&into)).unwrap();
        assert_eq!(merged.len(), runs.len(), "trial {trial}: runs lost");
    }
}

/// Defect 5: outputs replaced the command's own inputs and files of the user's.
#[test]
fn outputs_never_replace_inputs_or_user_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_smoke(&dir.join("o"));
    std::fs::copy(common::root().join("bench/history.h5"), dir.join("h.h5")).unwrap();
    // Copies: these tests must not touch the checkout even when the binary misbehaves.
    std::fs::copy(
        common::root().join("golden/fig3/smoke.toml"),
        dir.join("g.toml"),
    )
    .unwrap();
    std::fs::copy(dir.join("o").join(A), dir.join("a.h5")).unwrap();
    let golden = "g.toml".to_string();
    let art = format!("o/{A}");
    let before = sha(&dir.join(&art));
    let a_before = sha(&dir.join("a.h5"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "interpolate",
                "a.h5",
                "o/lr0.02_bs32_seed0.h5",
                "--out",
                "a",
            ],
            "inputs",
        ),
        (
            vec!["check", "o", "--golden", &golden, "--junit", &art],
            "inputs",
        ),
        (
            vec!["check", "o", "--golden", &golden, "--junit", &golden],
            "inputs",
        ),
        (vec!["noise", &art, "--out", &art], "inputs"),
        (
            vec![
                "bench",
                "export",
                "--history",
                "h.h5",
                "--format",
                "bencher",
                "--out",
                "h.h5",
            ],
            "inputs",
        ),
        (
            vec!["bench", "report", "--history", "h.h5", "--csv", "h.h5"],
            "inputs",
        ),
        (
            vec!["bench", "report", "--history", "h.h5", "--plot", "h.h5"],
            "inputs",
        ),
    ];
    let h_before = sha(&dir.join("h.h5"));
    for (args, why) in &cases {
        let r = run_in(dir, args, &[]);
        error_names(&r, &[why]);
    }
    assert_eq!(sha(&dir.join(&art)), before);
    assert_eq!(sha(&dir.join("a.h5")), a_before);
    assert_eq!(sha(&dir.join("h.h5")), h_before);
    // A user's file is never overwritten without a word: refused, named, intact.
    std::fs::write(dir.join("notes.txt"), "precious").unwrap();
    for args in [
        vec!["noise", art.as_str(), "--out", "notes.txt"],
        vec!["bench", "report", "--history", "h.h5", "--csv", "notes.txt"],
        vec![
            "bench",
            "export",
            "--history",
            "h.h5",
            "--format",
            "bencher",
            "--out",
            "notes.txt",
        ],
        vec!["check", "o", "--golden", &golden, "--junit", "notes.txt"],
    ] {
        let r = run_in(dir, &args, &[]);
        error_names(&r, &["notes.txt", "this command wrote"]);
        assert_eq!(
            std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
            "precious"
        );
    }
    // Its own earlier output is replaced, as a rerun expects.
    for _ in 0..2 {
        run_in(
            dir,
            &[
                "bench",
                "export",
                "--history",
                "h.h5",
                "--format",
                "github-action-benchmark",
                "--out",
                "e.json",
            ],
            &[],
        )
        .expect(0);
        run_in(
            dir,
            &[
                "bench",
                "report",
                "--history",
                "h.h5",
                "--csv",
                "r.csv",
                "--plot",
                "r.png",
            ],
            &[],
        )
        .expect(0);
        run_in(
            dir,
            &["check", "o", "--golden", &golden, "--junit", "j.xml"],
            &[],
        )
        .expect(0);
    }
}

/// Defect 6: `interpolate` and `noise` panicked, aborted or hung on options `run` bounds.
#[test]
fn interpolate_and_noise_bound_every_option() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, b) = (
        smoke_run(A).display().to_string(),
        smoke_run(B).display().to_string(),
    );
    let limit = Duration::from_secs(60);
    let interp = |extra: &[&str]| {
        let mut args = vec![
            "interpolate",
            a.as_str(),
            b.as_str(),
            "--quiet",
            "--out",
            "x",
        ];
        args.extend_from_slice(extra);
        bounded(dir, &args, limit)
    };
    error_names(
        &interp(&["--points", "18446744073709551615"]),
        &["--points", "3..=10001"],
    );
    error_names(
        &interp(&["--points", "4294967297"]),
        &["--points", "3..=10001"],
    );
    error_names(&interp(&["--threads", "0"]), &["--threads", "1..=1024"]);
    error_names(
        &interp(&["--threads", "100000"]),
        &["--threads", "1..=1024"],
    );
    if !tch::Cuda::is_available() {
        error_names(&interp(&["--device", "cuda"]), &["--device", "CUDA device"]);
    }
    let noise = |extra: &[&str]| {
        let mut args = vec!["noise", a.as_str(), "--out", "n.csv"];
        args.extend_from_slice(extra);
        bounded(dir, &args, limit)
    };
    error_names(
        &noise(&["--probes", "18446744073709551615"]),
        &["--probes", "2..=10000"],
    );
    error_names(&noise(&["--probes", "1"]), &["--probes"]);
    error_names(&noise(&["--threads", "0"]), &["--threads"]);
    error_names(&noise(&["--threads", "100000"]), &["--threads"]);
    if !tch::Cuda::is_available() {
        error_names(&noise(&["--device", "cuda"]), &["--device", "CUDA device"]);
    }
    assert!(!dir.join("x.h5").exists() && !dir.join("n.csv").exists());
}

/// Defect 7: a profile named `../../../x` made `repro` and `golden bless` write outside their
/// folders.
#[test]
fn names_from_files_never_leave_their_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let work = dir.join("a/b/c");
    std::fs::create_dir_all(&work).unwrap();
    let text = std::fs::read_to_string(common::root().join("experiments/fig3.toml")).unwrap();
    let evil = text.replace("[profiles.smoke", "[profiles.\"../../../x\"");
    std::fs::write(work.join("evil.toml"), evil).unwrap();
    for args in [
        vec![
            "repro",
            "fig3",
            "--experiment",
            "evil.toml",
            "--profile",
            "../../../x",
            "--out",
            "runs",
        ],
        vec![
            "repro",
            "fig3",
            "--experiment",
            "evil.toml",
            "--profile",
            "../../../x",
            "--plan",
        ],
        vec![
            "golden",
            "bless",
            "--experiment",
            "evil.toml",
            "--profile",
            "../../../x",
            "--from",
            "runs",
        ],
    ] {
        let r = run_in(&work, &args, &[]);
        error_names(
            &r,
            &[
                "evil.toml",
                "profiles.../../../x",
                "cannot name a file or folder",
            ],
        );
    }
    let name = text.replace("name = \"fig3\"", "name = \"../fig3\"");
    std::fs::write(work.join("name.toml"), name).unwrap();
    let r = run_in(
        &work,
        &["repro", "fig3", "--experiment", "name.toml", "--plan"],
        &[],
    );
    error_names(&r, &["name.toml", "cannot name an experiment"]);
    // Nothing was written anywhere above the working folder.
    let mut found = Vec::new();
    for (d, child) in [
        (dir.to_path_buf(), "a"),
        (dir.join("a"), "b"),
        (dir.join("a/b"), "c"),
    ] {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_name() != child {
                found.push(e.path());
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}

/// Defect 8: forged benchmark runs merged with exit 0, after which `compare` saw no slowdown.
#[test]
fn forged_benchmark_runs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let runs = history::read(&common::root().join("bench/history.h5")).unwrap();
    let good = runs
        .iter()
        .find(|r| !r.run_id.starts_with("run-00"))
        .unwrap()
        .clone();
    type Forge = fn(&mut history::Run);
    let forgeries: Vec<(&str, Forge, &str)> = vec![
        (
            "nan",
            |r| r.measurements[0].times_s[0] = f64::NAN,
            "not a positive number",
        ),
        (
            "negative",
            |r| r.measurements[0].times_s[0] = -1e-3,
            "not a positive number",
        ),
        (
            "zero-reps",
            |r| r.measurements[0].times_s.clear(),
            "no timed repetitions",
        ),
        (
            "bad-time",
            |r| r.time = "yesterday".into(),
            "not a UTC time",
        ),
        ("empty", |r| r.measurements.clear(), "no kernels measured"),
        (
            "evil-id",
            |r| r.run_id = "..evil id \"x\"".into(),
            "not the digest",
        ),
        (
            "faster",
            |r| {
                for m in &mut r.measurements {
                    for t in &mut m.times_s {
                        *t *= 0.5;
                    }
                }
            },
            "not the digest",
        ),
    ];
    for (name, forge, why) in forgeries {
        let mut r = good.clone();
        forge(&mut r);
        let file = format!("{name}.h5");
        common::write_run(&dir.join(&file), &r);
        let m = run_in(dir, &["bench", "merge", &file, "--into", "t.h5"], &[]);
        error_names(&m, &[&file, why]);
        assert!(!dir.join("t.h5").exists(), "{name}: merged");
        let c = run_in(
            dir,
            &["bench", "compare", "--history", &file, "--baseline", "x"],
            &[],
        );
        error_names(&c, &[&file, why]);
    }
}

/// Defect 9: `check` of a folder passed without the experiment's table.
#[test]
fn a_folder_without_its_table_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_smoke(&dir.join("o"));
    std::fs::remove_file(dir.join("o/fig3.h5")).unwrap();
    let golden = repo("golden/fig3/smoke.toml");
    let r = run_in(dir, &["check", "o", "--golden", &golden], &[]);
    error_names(&r, &["o/fig3.h5", "missing", "--collect"]);
}

/// Hidden temporaries (`.<name>.<random>.partial[.ext]`) in `dir`.
fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.') && n.contains(".partial"))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `args` in `dir` and sends SIGTERM the moment a temporary appears in `watch`; returns
/// whether one was seen before the signal (else the process finished first).
fn term_while_writing(dir: &Path, args: &[&str], watch: &Path) -> bool {
    let (mut c, cmd) = command(dir, args, &[]);
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut caught = false;
    while child.try_wait().unwrap().is_none() {
        if !partials(watch).is_empty() {
            // SAFETY: a signal to the child this test started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            caught = true;
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{cmd}: hangs");
    }
    let status = child.wait().unwrap();
    assert!(
        !caught || !status.success() || partials(watch).is_empty(),
        "{cmd}"
    );
    caught
}

/// Defect 10: SIGTERM during `interpolate` or `golden bless` left hidden temporaries, and for
/// `interpolate` a CSV and figure without their `.h5`.
#[test]
fn a_signal_while_writing_leaves_no_temporary_and_no_half_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut caught = 0;
    for k in 0..20 {
        let out = format!("l{k}");
        std::fs::create_dir_all(dir.join(&out)).unwrap();
        let stem = format!("{out}/line");
        if term_while_writing(dir, &strs(&line_args(&stem)), &dir.join(&out)) {
            caught += 1;
            assert!(
                partials(&dir.join(&out)).is_empty(),
                "{:?}",
                partials(&dir.join(&out))
            );
            let present: Vec<bool> = ["h5", "csv", "png", "svg"]
                .iter()
                .map(|e| dir.join(format!("{stem}.{e}")).exists())
                .collect();
            assert!(
                present.iter().all(|p| *p) || present.iter().all(|p| !p),
                "{stem}: {present:?}"
            );
        }
        if caught >= 3 {
            break;
        }
    }
    assert!(caught >= 1, "never caught interpolate while it wrote");
    // golden bless: its one file is written with an fsync, a window the watcher can hit.
    let exp = repo("experiments/fig3.toml");
    let from = smoke().join("o").display().to_string();
    let golden_dir = dir.join("g");
    std::fs::create_dir_all(&golden_dir).unwrap();
    let mut caught = 0;
    for _ in 0..40 {
        let _ = std::fs::remove_file(golden_dir.join("smoke.toml"));
        if term_while_writing(
            dir,
            &[
                "golden",
                "bless",
                "--experiment",
                &exp,
                "--profile",
                "smoke",
                "--from",
                &from,
                "--golden",
                "g/smoke.toml",
            ],
            &golden_dir,
        ) {
            caught += 1;
            assert!(
                partials(&golden_dir).is_empty(),
                "{:?}",
                partials(&golden_dir)
            );
        }
        if caught >= 2 {
            break;
        }
    }
    eprintln!("golden bless caught while writing {caught} time(s)");
}

/// Defect 11: `--out dir/` wrote beside the folder, a dotted stem gave inconsistent names, and
/// a failed figure write printed a debug dump without a path.
#[test]
fn interpolate_names_its_outputs_from_out_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("d")).unwrap();
    let expect_files = |out: &str, stem: &str| {
        run_in(dir, &strs(&line_args(out)), &[]).expect(0);
        for e in ["h5", "csv", "png", "svg"] {
            let f = format!("{stem}.{e}");
            assert!(dir.join(&f).exists(), "--out {out}: no {f}");
        }
    };
    expect_files("d/", "d/interp");
    expect_files("d", "d/interp");
    assert!(!dir.join("d.h5").exists());
    expect_files("y.v1.final", "y.v1.final");
    // A full disk while drawing: an error that names the file.
    let out = common::with_file_size_limit(dir, 8, &strs(&line_args("full")));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("full."), "{err}");
    assert!(
        !err.contains("Os {") && !err.contains("Error(") && !err.contains("panicked"),
        "{err}"
    );
    assert!(!dir.join("full.h5").exists() && partials(dir).is_empty());
}

/// `golden bless` of fig3's smoke profile from `<dir>/o` into `<dir>/g.toml`, plus `extra`.
fn bless(dir: &Path, extra: &[&str]) -> Run {
    let exp = repo("experiments/fig3.toml");
    let mut args = vec![
        "golden",
        "bless",
        "--experiment",
        &exp,
        "--profile",
        "smoke",
        "--from",
        "o",
        "--golden",
        "g.toml",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args, &[])
}

/// Defect 12: `--add-platform` recorded a GPU class from CPU artifacts, and a full bless took
/// `reproduced_on` from provenance the hash does not cover.
#[test]
fn bless_records_only_platforms_the_artifacts_vouch_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_smoke(&dir.join("o"));
    std::fs::copy(
        common::root().join("golden/fig3/smoke.toml"),
        dir.join("g.toml"),
    )
    .unwrap();
    let before = sha(&dir.join("g.toml"));
    let arts: Vec<String> = std::fs::read_dir(dir.join("o"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lr"))
        .collect();
    for a in &arts {
        relabel(
            dir,
            &format!("o/{a}"),
            "provenance.platform_class",
            "cuda-NVIDIA_H200-libtorch2.11.0",
            true,
        );
    }
    let r = bless(dir, &["--add-platform"]);
    error_names(&r, &["contradicts the artifact"]);
    assert_eq!(sha(&dir.join("g.toml")), before);
    // The device name is not hashed: a full bless does not take it on trust.
    let tmp2 = tempfile::tempdir().unwrap();
    let d2 = tmp2.path();
    copy_smoke(&d2.join("o"));
    for a in &arts {
        relabel(
            d2,
            &format!("o/{a}"),
            "provenance.device_name",
            "NVIDIA H200",
            false,
        );
    }
    let r = bless(d2, &[]);
    error_names(&r, &["contradicts the artifact", "NVIDIA H200"]);
    assert!(!d2.join("g.toml").exists());
}

/// Defect 13: NaN lines from diverged endpoints, `--name` ignored beside an `.h5` `--out`, and
/// outputs that created missing folders.
#[test]
fn diverged_endpoints_conflicting_names_and_missing_folders_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let exp = repo("experiments/fig3.toml");
    let base = [
        "run",
        "--experiment",
        exp.as_str(),
        "--profile",
        "smoke",
        "--batch-size",
        "32",
        "--quiet",
        "--out",
        "o",
    ];
    let mut diverge = base.to_vec();
    diverge.extend(["--lr", "1000", "--name", "big"]);
    run_in(dir, &diverge, &[]).expect(0);
    let b = smoke_run(B).display().to_string();
    let r = run_in(
        dir,
        &["interpolate", "o/big.h5", &b, "--quiet", "--out", "n"],
        &[],
    );
    error_names(&r, &["o/big.h5", "diverged"]);
    assert!(!dir.join("n.h5").exists() && !dir.join("n.csv").exists());
    let mut named = base.to_vec();
    named.extend(["--lr", "0.1", "--name", "mine"]);
    let i = named.iter().position(|a| *a == "o").unwrap();
    named[i] = "x.h5";
    error_names(&run_in(dir, &named, &[]), &["--name 'mine'", "x.h5"]);
    let history = repo("bench/history.h5");
    let r = run_in(
        dir,
        &["bench", "merge", &history, "--into", "no/such/h.h5"],
        &[],
    );
    error_names(&r, &["no/such", "does not exist"]);
    let r = run_in(
        dir,
        &[
            "bench",
            "report",
            "--history",
            &history,
            "--plot",
            "no/such/r.png",
        ],
        &[],
    );
    error_names(&r, &["no/such", "does not exist"]);
    assert!(!dir.join("no").exists());
}
