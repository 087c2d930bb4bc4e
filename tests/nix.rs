//! The offline evaluation of flake.nix (ci/nix-check against the nixpkgs stub) passes on the real
//! flake and fails, naming the problem, when a defect a real Nix machine would hit is put back:
//! a checkout path (.venv) reaching a build, libtorch found through a Python, a torch other than
//! torch-bin 2.11, a system whose torch-bin cannot serve the CUDA package, nixpkgs imported per
//! output, apps that depend on the working directory, data fetched other than by fetchurl, and
//! apps or toolchains that are wrong. Needs Debian's nix-bin (`ci/bootstrap --nix`).
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of what the flake reads, with `edit` applied to flake.nix.
fn flake_copy(dir: &Path, edit: impl Fn(&str) -> String) {
    for sub in ["ci", ".cargo", "src/data"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let flake = std::fs::read_to_string(root().join("flake.nix")).unwrap();
    let edited = edit(&flake);
    std::fs::write(dir.join("flake.nix"), edited).unwrap();
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "ci/determinism.env",
        ".cargo/config.toml",
        "src/data/locate.rs",
    ] {
        std::fs::copy(root().join(f), dir.join(f)).unwrap();
    }
}

fn nix_check(dir: &Path) -> (i32, String) {
    nix_check_with(dir, &[])
}

fn nix_check_with(dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    assert!(
        Command::new("nix")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "nix is not installed: ci/bootstrap --nix installs Debian's nix-bin"
    );
    let out = Command::new(root().join("ci/nix-check"))
        .arg(dir)
        .envs(env.iter().copied())
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

/// A broken variant of the flake: each (text, replacement) applied to flake.nix, the stub's
/// torch-bin version (None: 2.11.0), and what the failing check must say.
struct Broken {
    case: &'static str,
    edits: &'static [(&'static str, &'static str)],
    torch_bin: Option<&'static str>,
    says: &'static [&'static str],
}

const BROKEN: &[Broken] = &[
    Broken {
        case: "renamed-app",
        edits: &[("        repro-fig3 = ''exec", "        reproduce-fig3 = ''exec")],
        torch_bin: None,
        says: &["FAIL apps", "repro-fig3", "missing"],
    },
    Broken {
        case: "wrong-program",
        edits: &[(
            "program = \"${wrapper}/bin/three-factors-${name}\";",
            "program = \"${wrapper}/bin/${name}\";",
        )],
        torch_bin: None,
        says: &["FAIL apps", "expected /nix/store/"],
    },
    Broken {
        case: "wrong-args",
        edits: &[(
            "three-factors repro fig3 --experiment",
            "three-factors repro fig2 --experiment",
        )],
        torch_bin: None,
        says: &["FAIL apps", "runs `"],
    },
    Broken {
        case: "unpinned-shell",
        edits: &[(
            "packages = [ (toolchainFor pkgs) pkgs.cmake",
            "packages = [ pkgs.cargo pkgs.rustc pkgs.cmake",
        )],
        torch_bin: None,
        says: &["FAIL devShells", "lacks rust-toolchain.toml's Rust 1.95.0"],
    },
    Broken {
        case: "unpinned-package",
        edits: &[(
            "pkgs.makeRustPlatform { cargo = toolchain; rustc = toolchain; }",
            "pkgs.makeRustPlatform { inherit (pkgs) cargo rustc; }",
        )],
        torch_bin: None,
        says: &[
            "FAIL packages",
            "is not built with rust-toolchain.toml's Rust 1.95.0",
        ],
    },
    // The defect that broke every real build: .cargo/config.toml's CMAKE (.venv/bin/cmake) not
    // overridden. With the flake's own assertion gone too, the check still names it.
    Broken {
        case: "cmake-not-overridden",
        edits: &[
            ("            CMAKE = \"${pkgs.cmake}/bin/cmake\";\n", ""),
            ("(missing == [ ])", "true"),
        ],
        torch_bin: None,
        says: &[
            "FAIL packages",
            "[env] CMAKE names a path in the checkout",
        ],
    },
    Broken {
        case: "cmake-not-overridden-flake-assertion",
        edits: &[("            CMAKE = \"${pkgs.cmake}/bin/cmake\";\n", "")],
        torch_bin: None,
        says: &["FAIL packages", "CMAKE name paths in the checkout"],
    },
    Broken {
        case: "libtorch-from-venv",
        edits: &[("LIBTORCH = libtorchFor pkgs;", "LIBTORCH = \".venv/libtorch\";")],
        torch_bin: None,
        says: &["FAIL packages", "LIBTORCH=.venv/libtorch points into .venv"],
    },
    Broken {
        case: "libtorch-from-the-source-torch",
        edits: &[(
            "LIBTORCH = libtorchFor pkgs;",
            "LIBTORCH = \"${pkgs.python3Packages.torch}/${pkgs.python3.sitePackages}/torch\";",
        )],
        torch_bin: None,
        says: &[
            "FAIL packages",
            "expected the torch folder of the torch-bin 2.11 among its buildInputs",
        ],
    },
    Broken {
        case: "libtorch-through-python",
        edits: &[(
            "LIBTORCH_CXX11_ABI = \"1\";",
            "LIBTORCH_CXX11_ABI = \"1\"; LIBTORCH_USE_PYTORCH = \"1\";",
        )],
        torch_bin: None,
        says: &["FAIL packages", "LIBTORCH_USE_PYTORCH makes torch-sys ignore LIBTORCH"],
    },
    Broken {
        case: "python-sys-executable",
        edits: &[(
            "LIBTORCH_CXX11_ABI = \"1\";",
            "LIBTORCH_CXX11_ABI = \"1\"; PYTHON_SYS_EXECUTABLE = \"${pythonFor pkgs}/bin/python3\";",
        )],
        torch_bin: None,
        says: &["FAIL packages", "PYTHON_SYS_EXECUTABLE is not read"],
    },
    // A nixpkgs whose torch-bin is not 2.11: an evaluation error, not a silent source build.
    Broken {
        case: "torch-bin-2.10",
        edits: &[],
        torch_bin: Some("2.10.0"),
        says: &["FAIL packages", "needs libtorch 2.11.x", "torch-bin 2.10.0"],
    },
    Broken {
        case: "source-torch-fallback",
        edits: &[(
            "let torch = pkgs.python3Packages.torch-bin;",
            "let torch = if lib.hasPrefix \"2.11.\" pkgs.python3Packages.torch-bin.version then pkgs.python3Packages.torch-bin else pkgs.python3Packages.torch;",
        )],
        torch_bin: Some("2.10.0"),
        says: &["FAIL packages", "not torch-bin"],
    },
    Broken {
        case: "aarch64",
        edits: &[(
            "systems = [ \"x86_64-linux\" ];",
            "systems = [ \"x86_64-linux\" \"aarch64-linux\" ];",
        )],
        torch_bin: None,
        says: &[
            "FAIL packages",
            "packages.aarch64-linux.cuda: torch-bin on aarch64-linux is a CPU-only wheel",
        ],
    },
    Broken {
        case: "nixpkgs-per-output",
        edits: &[(
            "          pkgs = pkgsBySystem.${system};\n          toolchain = toolchainFor pkgs;",
            "          pkgs = import nixpkgs { inherit system; overlays = [ rust-overlay.overlays.default ]; config.allowUnfree = true; };\n          toolchain = toolchainFor pkgs;",
        )],
        torch_bin: None,
        says: &["FAIL packages", "nixpkgs imported 2 times for 1 system"],
    },
    Broken {
        case: "apps-need-a-checkout",
        edits: &[(
            "        THREE_FACTORS_SHARE = \"${self.packages.${system}.default}/share/three-factors\";\n",
            "",
        )],
        torch_bin: None,
        says: &["FAIL apps", "THREE_FACTORS_SHARE is unset"],
    },
    Broken {
        case: "data-without-fetchurl",
        edits: &[("            downloadToTemp = true;\n", "")],
        torch_bin: None,
        says: &["FAIL data", "is not a fetchurl that decompresses its download"],
    },
];

#[test]
fn offline_check_passes_on_the_flake_and_catches_each_defect_put_back() {
    let tmp = tempfile::tempdir().unwrap();

    let good = tmp.path().join("good");
    flake_copy(&good, |f| f.to_string());
    let (code, out) = nix_check(&good);
    assert_eq!(code, 0, "{out}");
    for part in [
        "systems",
        "packages",
        "apps",
        "devShells",
        "checks",
        "data",
        "lib.determinismEnv",
    ] {
        assert!(out.contains(&format!("ok   {part}")), "{part}: {out}");
    }

    for b in BROKEN {
        let dir = tmp.path().join(b.case);
        flake_copy(&dir, |f| {
            b.edits.iter().fold(f.to_string(), |f, (from, to)| {
                assert!(
                    f.contains(from),
                    "{}: flake.nix no longer contains {from:?}",
                    b.case
                );
                f.replace(from, to)
            })
        });
        let env: Vec<(&str, &str)> = b
            .torch_bin
            .map(|v| ("THREE_FACTORS_STUB_TORCH_BIN", v))
            .into_iter()
            .collect();
        let (code, out) = nix_check_with(&dir, &env);
        assert_eq!(code, 1, "{}: {out}", b.case);
        for n in b.says {
            assert!(out.contains(n), "{}: no {n:?} in\n{out}", b.case);
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
    assert!(out.contains("ok   apps"), "{out}");

    // A large file that is not ignored but not added is invisible to a `git+file:` flake too.
    std::fs::write(repo.join("not-ignored.bin"), &big).unwrap();
    let (code, out) = nix_check(&repo);
    assert_eq!(code, 0, "{out}");
    git(&repo, &["add", "not-ignored.bin"]);
    let (code, out) = nix_check(&repo);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("refusing to copy that into the Nix store") && out.contains("KiB"),
        "{out}"
    );
}
