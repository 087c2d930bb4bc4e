//! Helpers for tests that drive the real binary in a fresh temporary directory.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: `$THREE_FACTORS_BIN` when set (ci/gpu-bench runs prebuilt test
/// binaries on another machine), else the one cargo built.
pub fn bin() -> String {
    std::env::var("THREE_FACTORS_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_three-factors").to_string())
}

/// Where `experiments/` and `golden/` are: `$THREE_FACTORS_ROOT` when set, else the checkout.
pub fn root() -> PathBuf {
    std::env::var_os("THREE_FACTORS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
pub const SYSTEM_DATA: &str = "/usr/share/datasets/fashion-mnist";

/// A path under [`root`], as a string (for arguments).
pub fn repo(p: &str) -> String {
    root().join(p).display().to_string()
}

/// The content hash an artifact-writing command (`run`, `inspect`) printed.
pub fn artifact_hash(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("content_sha256"))
        .map(|h| h.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no content hash in output:\n{stdout}"))
}

/// The content hash of `<experiment>.h5` that `repro` printed.
pub fn grid_hash(r: &Run, experiment: &str) -> String {
    let prefix = format!("{experiment}.h5 content_sha256 ");
    r.stdout()
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_string))
        .unwrap_or_else(|| panic!("no {experiment}.h5 hash:\n{}", r.stdout()))
}

/// `repro fig3 --profile smoke` of the checkout's experiment file into `out`, 2 jobs, plus `extra`.
pub fn smoke(dir: &Path, out: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    repro_smoke(dir, "fig3", out, extra, env)
}

/// `repro <experiment> --profile smoke` of the checkout's experiment file into `out`, 2 jobs,
/// plus `extra`.
pub fn repro_smoke(
    dir: &Path,
    experiment: &str,
    out: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let exp = repo(&format!("experiments/{experiment}.toml"));
    let mut args = vec![
        "repro",
        experiment,
        "--profile",
        "smoke",
        "--experiment",
        &exp,
        "--out",
        out,
        "--jobs",
        "2",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args, env)
}

pub struct Run {
    pub cmd: String,
    pub dir: PathBuf,
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Asserts the exit code; on failure prints the command, the directory and both streams.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        if self.code() != code {
            panic!(
                "expected exit {code}, got {}\ncommand: {}\ndir: {}\n--- stdout\n{}\n--- stderr\n{}",
                self.code(),
                self.cmd,
                self.dir.display(),
                self.stdout(),
                self.stderr()
            );
        }
        self
    }
}

/// Runs the binary in `dir` with `args` and extra environment variables. The caller's
/// XDG cache is never touched: XDG_CACHE_HOME points into `dir` unless `env` overrides it.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_bin(&bin(), dir, args, env)
}

/// [`run_in`] with another copy of the binary (e.g. one installed under a prefix).
pub fn run_bin(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let (mut c, cmd) = command_bin(bin, dir, args, env);
    let out = c.output().expect("spawn three-factors");
    Run {
        cmd,
        dir: dir.to_path_buf(),
        out,
    }
}

/// The command [`run_in`] runs, not yet started (for tests that signal or pipe it), and its
/// printable form.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Command, String) {
    command_bin(&bin(), dir, args, env)
}

fn command_bin(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Command, String) {
    let mut c = Command::new(bin);
    c.current_dir(dir).args(args);
    c.env("XDG_CACHE_HOME", dir.join(".cache"));
    // Shipped files are found from the working directory or next to the binary, never from the
    // caller's environment.
    c.env_remove("THREE_FACTORS_SHARE");
    // The caller's FASHION_MNIST_DIR never leaks in; where the system copy is absent (the Nix
    // sandbox), THREE_FACTORS_TEST_DATA names the folder the tests read instead.
    match std::env::var_os("THREE_FACTORS_TEST_DATA") {
        Some(d) => c.env("FASHION_MNIST_DIR", d),
        None => c.env_remove("FASHION_MNIST_DIR"),
    };
    // HDF5 opens files without O_CLOEXEC and locks them with flock(): a file a test thread has
    // open (e.g. to doctor it) is inherited, lock and all, by a child another test thread spawns
    // at that moment, and a later child reading the file then fails with "unable to lock file"
    // while that unrelated child lives. The tests' children read files only after their writers
    // are done, so they skip HDF5's locking.
    c.env("HDF5_USE_FILE_LOCKING", "FALSE");
    for (k, v) in env {
        c.env(k, v);
    }
    let cmd = format!(
        "{} {} {}",
        env.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        bin,
        args.join(" ")
    );
    (c, cmd)
}

/// Runs `tests/python/<script>` with the project's `.venv` Python (numpy and h5py, made by
/// `ci/bootstrap`) and `args`; asserts it exited 0 and returns its stdout.
#[track_caller]
pub fn python(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "ci/bootstrap creates .venv with numpy and h5py"
    );
    let out = Command::new(python)
        .env("PYTHONPATH", root().join("tests/python"))
        // As in `run_bin`: no lock contention with files inherited by unrelated children.
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .arg(root().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("spawn the .venv python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Writes one run under exactly its id (as a history of another machine would hold it).
pub fn write_run(path: &Path, r: &three_factors::bench::history::Run) {
    let f = hdf5::File::create(path).unwrap();
    let g = f.create_group(&r.fingerprint_id).unwrap();
    for (k, v) in &r.fingerprint.fields {
        let v: hdf5::types::VarLenUnicode = v.parse().unwrap();
        g.new_attr::<hdf5::types::VarLenUnicode>()
            .create(k.as_str())
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    }
    let run = g.create_group(&r.run_id).unwrap();
    let attr = |name: &str, v: &str| {
        let v: hdf5::types::VarLenUnicode = v.parse().unwrap();
        run.new_attr::<hdf5::types::VarLenUnicode>()
            .create(name)
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    };
    attr("time", &r.time);
    attr("git_commit", &r.git_commit);
    let ms = &r.measurements;
    let names: Vec<hdf5::types::VarLenUnicode> =
        ms.iter().map(|m| m.kernel.parse().unwrap()).collect();
    run.new_dataset_builder()
        .with_data(&names)
        .create("kernel")
        .unwrap();
    let col = |f: &dyn Fn(&three_factors::bench::Measurement) -> f64| -> Vec<f64> {
        ms.iter().map(f).collect()
    };
    for (name, v) in [
        ("work", col(&|m| m.work)),
        ("median_s", col(&|m| m.median_s())),
        ("mad_s", col(&|m| m.mad_s())),
    ] {
        run.new_dataset_builder()
            .with_data(&v)
            .create(name)
            .unwrap();
    }
    let iters: Vec<i64> = ms.iter().map(|m| m.iterations).collect();
    let reps: Vec<i64> = ms.iter().map(|m| m.times_s.len() as i64).collect();
    let times: Vec<f64> = ms.iter().flat_map(|m| m.times_s.clone()).collect();
    run.new_dataset_builder()
        .with_data(&iters)
        .create("iterations")
        .unwrap();
    run.new_dataset_builder()
        .with_data(&reps)
        .create("reps")
        .unwrap();
    run.new_dataset_builder()
        .with_data(&times)
        .create("times_s")
        .unwrap();
}

/// Asserts exit 2 with every one of `needles` in stderr, and no panic.
#[track_caller]
pub fn error_names(r: &Run, needles: &[&str]) {
    r.expect(2);
    let err = r.stderr();
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs the binary with `args` in `dir` under a file-size limit of `kib` KiB, so that writes
/// beyond it fail as writes on a full disk do (the shell ignores SIGXFSZ, so the write returns
/// an error instead of killing the process); the environment is the one [`run_in`] gives.
pub fn with_file_size_limit(dir: &Path, kib: u32, args: &[&str]) -> Output {
    let bin = bin();
    let limit = format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\"");
    let (c, _) = command(dir, &[], &[]);
    let mut sh = Command::new("bash");
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.arg("-c")
        .arg(limit)
        .arg(&bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("bash")
}
