//! The offline structural evaluation of flake.nix (ci/nix-check against the nixpkgs stub) passes
//! on the real flake and fails, naming the problem, when an app is renamed, points at the wrong
//! program, or passes the wrong arguments. Needs Debian's nix-bin (`ci/bootstrap --nix`).
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of what the flake reads, with `edit` applied to flake.nix.
fn flake_copy(dir: &Path, edit: impl Fn(&str) -> String) {
    std::fs::create_dir_all(dir.join("ci")).unwrap();
    let flake = std::fs::read_to_string(root().join("flake.nix")).unwrap();
    let edited = edit(&flake);
    std::fs::write(dir.join("flake.nix"), edited).unwrap();
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "ci/determinism.env",
    ] {
        std::fs::copy(root().join(f), dir.join(f)).unwrap();
    }
}

fn nix_check(dir: &Path) -> (i32, String) {
    assert!(
        Command::new("nix")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "nix is not installed: ci/bootstrap --nix installs Debian's nix-bin"
    );
    let out = Command::new(root().join("ci/nix-check"))
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn structural_check_passes_on_the_flake_and_catches_broken_apps_and_toolchains() {
    let tmp = tempfile::tempdir().unwrap();

    let good = tmp.path().join("good");
    flake_copy(&good, |f| f.to_string());
    let (code, out) = nix_check(&good);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok   apps") && out.contains("ok   lib.determinismEnv"),
        "{out}"
    );

    // (case, text in flake.nix, its replacement, what the failing check must say)
    let broken: [(&str, &str, &str, &[&str]); 5] = [
        (
            "renamed",
            "        repro-fig3 = ''exec",
            "        reproduce-fig3 = ''exec",
            &["FAIL apps", "repro-fig3", "missing"],
        ),
        (
            "wrong-program",
            "}/bin/three-factors-${name}\";",
            "}/bin/${name}\";",
            &["FAIL apps", "expected .../bin/three-factors-"],
        ),
        (
            "wrong-args",
            "three-factors repro fig3 --experiment",
            "three-factors repro fig2 --experiment",
            &["FAIL lib.appScripts"],
        ),
        (
            "unpinned-shell",
            "packages = [ (toolchainFor pkgs) pkgs.cmake",
            "packages = [ pkgs.cargo pkgs.rustc pkgs.cmake",
            &["FAIL devShells", "lacks rust-toolchain.toml's Rust 1.95.0"],
        ),
        (
            "unpinned-package",
            "pkgs.makeRustPlatform { cargo = toolchain; rustc = toolchain; }",
            "pkgs.makeRustPlatform { inherit (pkgs) cargo rustc; }",
            &[
                "FAIL packages",
                "is not built with rust-toolchain.toml's Rust 1.95.0",
            ],
        ),
    ];
    for (case, from, to, needles) in broken {
        let dir = tmp.path().join(case);
        flake_copy(&dir, |f| {
            assert!(
                f.contains(from),
                "{case}: flake.nix no longer contains {from:?}"
            );
            f.replace(from, to)
        });
        let (code, out) = nix_check(&dir);
        assert_eq!(code, 1, "{case}: {out}");
        for n in needles {
            assert!(out.contains(n), "{case}: no {n:?} in\n{out}");
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// A `path:` flake is copied into the Nix store whole; build outputs must not travel with it
/// (a CI run once filled its disk that way). Ignored files are left out of what is evaluated,
/// and a source that is still too large is refused with a message instead of copied.
#[test]
fn structural_check_leaves_ignored_build_outputs_out_of_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    flake_copy(&repo, |f| f.to_string());
    std::fs::write(repo.join(".gitignore"), "/target\n").unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "flake"]);
    let big = vec![7u8; 80 << 20];
    std::fs::create_dir_all(repo.join("target")).unwrap();
    std::fs::write(repo.join("target/build-output.bin"), &big).unwrap();
    let (code, out) = nix_check(&repo);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok   lib.appScripts"), "{out}");

    std::fs::write(repo.join("not-ignored.bin"), &big).unwrap();
    let (code, out) = nix_check(&repo);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("refusing to copy that into the Nix store") && out.contains("KiB"),
        "{out}"
    );
}
