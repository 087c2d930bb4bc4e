//! Build glue: find the libtorch that torch-sys linked, bake its `lib/` into the RPATH of every
//! binary (so nothing needs `LD_LIBRARY_PATH`), and compile the small C++ shim that reaches the
//! parts of `at::globalContext()` tch does not expose (deterministic algorithms, the CPU
//! capability ATen actually dispatches to).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi/shim.cpp");
    // The commit changes with every commit on the branch, not only when HEAD switches branches:
    // watch the files git keeps it in (HEAD, the branch's ref, packed-refs), wherever this
    // checkout keeps them (a worktree's differ), so an incremental build never records an old
    // commit. Only files that exist are named: cargo reruns every time for a missing one.
    for path in git_files() {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=THREE_FACTORS_GIT_COMMIT");
    // The commit is provenance only (never hashed); a build outside git says "unknown".
    let commit = std::env::var("THREE_FACTORS_GIT_COMMIT").ok().or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    });
    if let Some(c) = commit {
        println!("cargo:rustc-env=THREE_FACTORS_GIT_COMMIT={c}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("torch-sys did not report its libtorch lib dir (DEP_TCH_LIBTORCH_LIB)"),
    );
    // Canonicalise so the RPATH survives `cargo install` and symlinked venvs alike.
    let lib = lib.canonicalize().unwrap_or(lib);
    let root = lib
        .parent()
        .expect("libtorch lib dir has a parent")
        .to_path_buf();
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!(
        "cargo:rustc-env=THREE_FACTORS_LIBTORCH_LIB={}",
        lib.display()
    );

    // tch only links what the linker's --as-needed keeps; a binary that must see the GPU has to
    // keep libtorch_cuda explicitly (tch-rs issues #177, #980). Only with the `cuda` feature:
    // a CPU-only torch install has libtorch_cuda.so but not the CUDA libraries it needs.
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }

    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .file("src/ffi/shim.cpp")
        .compile("three_factors_shim");
}

/// The files that hold the checkout's current commit (none outside git).
fn git_files() -> Vec<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // HEAD's reflog is appended to by every commit, checkout and reset, whether the branch's
    // ref is a loose file or packed.
    let mut names = vec![
        "HEAD".to_string(),
        "logs/HEAD".to_string(),
        "packed-refs".to_string(),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    // Paths relative to the package root, where build scripts run.
    let found: Vec<String> = names
        .iter()
        .filter_map(|n| git(&["rev-parse", "--git-path", n]))
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    if found.is_empty() && std::path::Path::new(".git/HEAD").exists() {
        return vec![".git/HEAD".to_string()];
    }
    found
}
