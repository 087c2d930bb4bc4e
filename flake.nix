{
  description = "three-factors: a reproducible harness for 'Three Factors Influencing Minima in SGD'";

  # nixpkgs is pinned by commit in the URL itself, so the pin holds before any flake.lock exists.
  #
  # Evidence for this revision (read in NixOS/nixpkgs' pull requests, not fetched here):
  # 1c51f99cb01412ef9028b66b6cea505ad741cfa7 is the commit `nixpkgs-review` built on 2026-03-27
  # for NixOS/nixpkgs#502810 "python3Packages.torch: 2.10.0 -> 2.11.0" (merged), so it carries
  # torch 2.11.0 from source; python3Packages.torch-bin reached 2.11.0 in NixOS/nixpkgs#502804
  # (merged 2026-03-23, unfree, CUDA 13 wheels, autoAddDriverRunpath). `torchFor` below prefers
  # torch-bin when its version is 2.11.x and otherwise falls back to the source-built torch, and
  # evaluation fails unless the chosen torch is 2.11.x — the libtorch tch 0.24 is written for.
  # Neither this commit nor its package set could be fetched on the machines that wrote this
  # flake (no network); only the flake's structure was evaluated, offline, against
  # tests/nix/nixpkgs-stub (see ci/nix-check).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/1c51f99cb01412ef9028b66b6cea505ad741cfa7";

  # The Rust toolchain of rust-toolchain.toml (1.95.0, with rustfmt and clippy), the same one
  # rustup installs outside Nix. Pinned by commit: manifests/stable/1.95.0.nix (dated 2026-04-16)
  # is present at 62e3b8aedabc240e5b0cc9fae003bc9edfebbc9b of oxalica/rust-overlay (read in that
  # repository, not fetched here). Its nixpkgs follows ours.
  inputs.rust-overlay = {
    url = "github:oxalica/rust-overlay/62e3b8aedabc240e5b0cc9fae003bc9edfebbc9b";
    inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs = { self, nixpkgs, rust-overlay }:
    let
      lib = nixpkgs.lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems f;

      # KEY=VALUE lines of ci/determinism.env, the same file ci/bootstrap installs.
      determinismEnv = builtins.listToAttrs (map
        (line:
          let kv = builtins.match "([A-Z_]+)=(.*)" line;
          in { name = builtins.elemAt kv 0; value = builtins.elemAt kv 1; })
        (builtins.filter (l: builtins.match "[A-Z_]+=.*" l != null)
          (lib.splitString "\n" (builtins.readFile ./ci/determinism.env))));

      pkgsFor = system: cuda: import nixpkgs {
        inherit system;
        overlays = [ rust-overlay.overlays.default ];
        config = { allowUnfree = true; cudaSupport = cuda; };
      };

      # cargo, rustc, rustfmt and clippy exactly as rust-toolchain.toml names them.
      toolchainFor = pkgs: pkgs.rust-bin.fromRustupToolchainFile ./rust-toolchain.toml;

      torchFor = pkgs:
        let
          ps = pkgs.python3Packages;
          torch = if lib.hasPrefix "2.11." ps.torch-bin.version then ps.torch-bin else ps.torch;
        in
        assert lib.assertMsg (lib.hasPrefix "2.11." torch.version)
          "three-factors needs libtorch 2.11.x (tch 0.24); this nixpkgs has torch ${torch.version}";
        torch;

      pythonFor = pkgs: pkgs.python3.withPackages (ps: [ (torchFor pkgs) ps.numpy ps.h5py ]);

      # What `cargo build` needs: tch finds libtorch through the Python that has torch
      # (LIBTORCH_USE_PYTORCH), hdf5-metno builds HDF5 from its bundled sources with CMake.
      buildEnv = pkgs: determinismEnv // {
        LIBTORCH_USE_PYTORCH = "1";
        PYTHON_SYS_EXECUTABLE = "${pythonFor pkgs}/bin/python3";
      };

      packageFor = system: cuda:
        let
          pkgs = pkgsFor system cuda;
          toolchain = toolchainFor pkgs;
          rustPlatform = pkgs.makeRustPlatform { cargo = toolchain; rustc = toolchain; };
        in
        rustPlatform.buildRustPackage {
          pname = "three-factors";
          version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;
          src = lib.cleanSource ./.;
          cargoLock.lockFile = ./Cargo.lock;
          buildFeatures = lib.optionals cuda [ "cuda" ];
          nativeBuildInputs = [ pkgs.cmake pkgs.pkg-config (pythonFor pkgs) ]
            ++ lib.optionals cuda [ pkgs.autoAddDriverRunpath ];
          env = buildEnv pkgs;
          # The test suite needs Fashion-MNIST and a Slurm cluster; it runs in `checks`.
          doCheck = false;
          postInstall = ''
            mkdir -p $out/share/three-factors
            cp -r experiments golden bench $out/share/three-factors/
          '';
          meta.mainProgram = "three-factors";
        };

      # Each app is a small wrapper that sets the determinism env and calls the binary.
      appScripts = pkg: {
        repro-fig3 = ''exec ${pkg}/bin/three-factors repro fig3 --experiment ${pkg}/share/three-factors/experiments/fig3.toml "$@"'';
        bench = ''exec ${pkg}/bin/three-factors bench "$@"'';
        check = ''exec ${pkg}/bin/three-factors check "$@"'';
      };
      exports = lib.concatStringsSep "\n" (lib.mapAttrsToList (k: v: "export ${k}='${v}'") determinismEnv);
      appsFor = system:
        let
          pkgs = pkgsFor system false;
          pkg = self.packages.${system}.default;
          mk = name: text: {
            type = "app";
            program = "${pkgs.writeShellScriptBin "three-factors-${name}" "${exports}\n${text}"}/bin/three-factors-${name}";
          };
          apps = lib.mapAttrs mk (appScripts pkg);
        in
        apps // { default = apps.repro-fig3; };

      shellFor = system: cuda:
        let pkgs = pkgsFor system cuda;
        in pkgs.mkShell ((buildEnv pkgs) // {
          packages = [ (toolchainFor pkgs) pkgs.cmake pkgs.pkg-config (pythonFor pkgs) ];
        });

      # The four Fashion-MNIST files, decompressed, as a fixed-output derivation: its hash is the
      # NAR hash of a folder holding exactly the payloads whose SHA-256 src/data/locate.rs pins
      # (computed offline with `nix hash path`), so the checks can run in the sandbox.
      fashionMnistFor = pkgs: pkgs.runCommand "fashion-mnist"
        {
          nativeBuildInputs = [ pkgs.curl pkgs.gzip ];
          outputHashMode = "recursive";
          outputHashAlgo = "sha256";
          outputHash = "sha256-J4ZR74mfcx5WsZUsiq1qgGpEmmaMJhzVCmxccu+r3/w=";
        } ''
        mkdir $out
        for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
          curl -fsSL "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/$f.gz" | gunzip > "$out/$f"
        done
      '';

      checksFor = system:
        let
          pkgs = pkgsFor system false;
          data = fashionMnistFor pkgs;
          pkg = self.packages.${system}.default;
          cargoCheck = name: command: pkg.overrideAttrs (old: {
            name = "three-factors-${name}";
            # The pinned toolchain carries rustfmt and clippy (rust-toolchain.toml's components).
            nativeBuildInputs = old.nativeBuildInputs ++ [ (toolchainFor pkgs) ];
            buildPhase = command;
            installPhase = "touch $out";
            doCheck = false;
          });
        in
        {
          # The library's tests and the integration tests of `run`, `repro`, `check` and `golden`
          # inside the build, on the Fashion-MNIST derivation. Left to ci/test, outside the
          # sandbox: the tests that drive a Slurm cluster, Nix itself, the Python venv (h5py
          # reader, PyTorch peers) and the system copy of the data.
          tests = cargoCheck "tests" ''
            export FASHION_MNIST_DIR=${data} THREE_FACTORS_TEST_DATA=${data}
            cargo test --offline --lib --test run --test repro --test check --test experiments -- \
              --skip artifact_params_reload_in_an_independent_reader
          '';
          fmt = cargoCheck "fmt" "cargo fmt --all -- --check";
          clippy = cargoCheck "clippy" "cargo clippy --all-targets --offline -- -D warnings";
          gate = pkgs.runCommand "three-factors-gate" { env = determinismEnv // { FASHION_MNIST_DIR = "${data}"; }; } ''
            ${pkg}/bin/three-factors repro fig3 --profile smoke \
              --experiment ${pkg}/share/three-factors/experiments/fig3.toml --out $TMPDIR/smoke
            ${pkg}/bin/three-factors check $TMPDIR/smoke --golden ${pkg}/share/three-factors/golden/fig3/smoke.toml
            touch $out
          '';
        };
    in
    {
      packages = forAllSystems (system: {
        default = packageFor system false;
        cuda = packageFor system true;
      });
      apps = forAllSystems appsFor;
      devShells = forAllSystems (system: {
        default = shellFor system false;
        cuda = shellFor system true;
      });
      checks = forAllSystems checksFor;
      lib = {
        inherit determinismEnv;
        # The shell text of each app, for the offline structural check (tests/nix/check.nix).
        appScripts = forAllSystems (system: appScripts self.packages.${system}.default);
      };
    };
}
