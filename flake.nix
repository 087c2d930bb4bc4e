{
  description = "three-factors: a reproducible harness for 'Three Factors Influencing Minima in SGD'";

  # nixpkgs is pinned by commit in the URL itself, so the pin holds before any flake.lock exists.
  #
  # Evidence for this revision (read in public flake.lock files and a package catalog, not
  # fetched here): 15f4ee454b1dce334612fa6843b3e05cf546efab is a nixos-unstable channel revision
  # (lastModified 1777578337 = 2026-04-30, narHash
  # sha256-Ad49moKWeXtKBJNy2ebiTQUEgdLyvGmTeykAQ9xM+Z4=), locked by flakes that follow
  # `nixos-unstable`; a channel revision is a master commit whose Hydra jobset passed. It is five
  # weeks after NixOS/nixpkgs#502804 (python3Packages.torch-bin 2.10.0 -> 2.11.0, merged
  # 2026-03-23) and before torch-bin moved on to 2.12. torch-bin's version at this revision could
  # not be read here, so `torchFor` makes it an evaluation error, naming the version found, unless
  # it is 2.11.x; there is no fallback to a source build.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/15f4ee454b1dce334612fa6843b3e05cf546efab";

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
      # x86_64-linux only. aarch64-linux is left out on purpose: nixpkgs' torch-bin there is a
      # CPU-only wheel (no libtorch_cuda for the cuda package to link), the default numerics caps
      # (--numerics avx2) are x86's, and no aarch64 build of this project has ever run.
      systems = [ "x86_64-linux" ];
      forAllSystems = f: lib.genAttrs systems f;

      # KEY=VALUE lines of ci/determinism.env, the same file ci/bootstrap installs.
      determinismEnv = builtins.listToAttrs (map
        (line:
          let kv = builtins.match "([A-Z_]+)=(.*)" line;
          in { name = builtins.elemAt kv 0; value = builtins.elemAt kv 1; })
        (builtins.filter (l: builtins.match "[A-Z_]+=.*" l != null)
          (lib.splitString "\n" (builtins.readFile ./ci/determinism.env))));

      # nixpkgs, imported once per system and shared by every output. One package set serves the
      # CPU and the CUDA builds: torch-bin is the same CUDA wheel either way (its CUDA libraries
      # are inputs on Linux whatever `cudaSupport` says), and the two builds differ only in the
      # cargo feature and the driver RUNPATH.
      pkgsBySystem = forAllSystems (system: import nixpkgs {
        inherit system;
        overlays = [ rust-overlay.overlays.default ];
        # torch-bin and the CUDA libraries it links are unfree (redistributable).
        config.allowUnfree = true;
      });

      # cargo, rustc, rustfmt and clippy exactly as rust-toolchain.toml names them.
      toolchainFor = pkgs: pkgs.rust-bin.fromRustupToolchainFile ./rust-toolchain.toml;

      # torch-bin 2.11.x, the libtorch tch 0.24 is written for, or an evaluation error: a source
      # build would take hours and round differently (another BLAS), so it is never a fallback.
      torchFor = pkgs:
        let torch = pkgs.python3Packages.torch-bin;
        in
        assert lib.assertMsg (lib.hasPrefix "2.11." torch.version)
          "three-factors needs libtorch 2.11.x (tch 0.24), but this nixpkgs has python3Packages.torch-bin ${torch.version}: pin a nixpkgs revision that carries torch-bin 2.11 (flake.nix, inputs.nixpkgs)";
        torch;

      # The wheel's `torch` folder: include/ and lib/ (libtorch_cpu.so, libtorch_cuda.so), the
      # layout tch's LIBTORCH names; the same folder ci/bootstrap links as .venv/libtorch.
      libtorchFor = pkgs: "${torchFor pkgs}/${pkgs.python3.sitePackages}/torch";

      # The Python of the apps and shells (the peers of `bench --peers`; h5py readers). PyHessian
      # is not in nixpkgs, so its peer column is absent under Nix.
      pythonFor = pkgs: pkgs.python3.withPackages (ps: [ (torchFor pkgs) ps.numpy ps.h5py ]);

      # The [env] keys of .cargo/config.toml whose value is a path in the checkout
      # (`relative = true`, e.g. LIBTORCH and CMAKE into .venv). cargo applies them in every build
      # that does not set them, and a build from the store has no .venv: each must be set here.
      cargoEnv = (builtins.fromTOML (builtins.readFile ./.cargo/config.toml)).env;
      checkoutPathKeys = builtins.filter (k: cargoEnv.${k}.relative or false) (builtins.attrNames cargoEnv);

      # What `cargo build` needs: tch links the libtorch LIBTORCH names (never one found through a
      # Python: LIBTORCH_USE_PYTORCH would make torch-sys ignore LIBTORCH and run whichever
      # `python3` or `python` is first on PATH); hdf5-metno builds HDF5 from its bundled sources
      # with the CMake named here.
      buildEnvFor = pkgs:
        let
          env = determinismEnv // {
            LIBTORCH = libtorchFor pkgs;
            LIBTORCH_CXX11_ABI = "1";
            CMAKE = "${pkgs.cmake}/bin/cmake";
          };
          missing = builtins.filter (k: !(env ? ${k})) checkoutPathKeys;
        in
        assert lib.assertMsg (missing == [ ])
          ".cargo/config.toml's [env] ${toString missing} name paths in the checkout and flake.nix does not override them";
        env;

      packageFor = system: cuda:
        let
          pkgs = pkgsBySystem.${system};
          toolchain = toolchainFor pkgs;
          rustPlatform = pkgs.makeRustPlatform { cargo = toolchain; rustc = toolchain; };
        in
        rustPlatform.buildRustPackage {
          pname = "three-factors";
          version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;
          src = lib.cleanSource ./.;
          cargoLock.lockFile = ./Cargo.lock;
          buildFeatures = lib.optionals cuda [ "cuda" ];
          nativeBuildInputs = [ pkgs.cmake pkgs.pkg-config pkgs.installShellFiles ]
            ++ lib.optionals cuda [ pkgs.autoAddDriverRunpath ];
          buildInputs = [ (torchFor pkgs) ];
          # The commit is provenance only (never hashed); shells leave it to build.rs's `git`.
          env = buildEnvFor pkgs // { THREE_FACTORS_GIT_COMMIT = self.rev or self.dirtyRev or "unknown"; };
          # The test suite needs Fashion-MNIST and a Slurm cluster; it runs in `checks`.
          doCheck = false;
          # Completions and man pages come from the binary's own clap definitions (it only
          # prints them: no GPU, no data needed).
          postInstall = ''
            mkdir -p $out/share/three-factors
            cp -r experiments golden bench $out/share/three-factors/
            installShellCompletion --cmd three-factors \
              --bash <($out/bin/three-factors completions bash) \
              --zsh <($out/bin/three-factors completions zsh) \
              --fish <($out/bin/three-factors completions fish)
            $out/bin/three-factors man --out man-pages
            installManPage man-pages/*.1
          '';
          meta.mainProgram = "three-factors";
        };

      # Each app is a small wrapper: the determinism env, the package's own share folder (so
      # golden files, experiments and the peer script are the package's, from any folder) and the
      # flake's Python for the peers, then the binary.
      appScripts = pkg: {
        repro-fig3 = ''exec ${pkg}/bin/three-factors repro fig3 --experiment ${pkg}/share/three-factors/experiments/fig3.toml "$@"'';
        bench = ''exec ${pkg}/bin/three-factors bench "$@"'';
        check = ''exec ${pkg}/bin/three-factors check "$@"'';
      };
      appEnvFor = system: determinismEnv // {
        THREE_FACTORS_SHARE = "${self.packages.${system}.default}/share/three-factors";
        THREE_FACTORS_PYTHON = "${pythonFor pkgsBySystem.${system}}/bin/python3";
      };
      exportsFor = system: lib.concatStringsSep "\n"
        (lib.mapAttrsToList (k: v: "export ${k}='${v}'") (appEnvFor system));
      appWrappersFor = system: lib.mapAttrs
        (name: text: pkgsBySystem.${system}.writeShellScriptBin "three-factors-${name}" "${exportsFor system}\n${text}")
        (appScripts self.packages.${system}.default);
      appsFor = system:
        let
          apps = lib.mapAttrs
            (name: wrapper: { type = "app"; program = "${wrapper}/bin/three-factors-${name}"; })
            self.lib.appWrappers.${system};
        in
        apps // { default = apps.repro-fig3; };

      # `cargo build` works in either shell before (or without) ci/bootstrap: every path comes
      # from the store. The cuda shell sets LD_LIBRARY_PATH to NixOS's driver folder for binaries
      # cargo builds there (`cargo build --features cuda`); elsewhere the host driver comes
      # through nixGL.
      shellFor = system: cuda:
        let pkgs = pkgsBySystem.${system};
        in pkgs.mkShell ((buildEnvFor pkgs) // {
          packages = [ (toolchainFor pkgs) pkgs.cmake pkgs.pkg-config (pythonFor pkgs) ];
        } // lib.optionalAttrs cuda { LD_LIBRARY_PATH = "/run/opengl-driver/lib"; });

      # The four Fashion-MNIST files, decompressed: each is a fetchurl of the gzip file whose
      # postFetch decompresses it, so the pinned hash is that of the payload, read from
      # src/data/locate.rs (mirrors re-compress, so gzip bytes differ; payloads do not).
      fashionMnistPayloads =
        let
          rust = builtins.readFile ./src/data/locate.rs;
          block = builtins.elemAt (builtins.match ".*pub const FILES[^=]*=([^;]*);.*" rust) 0;
          strings = builtins.filter builtins.isList (builtins.split "\"([^\"]+)\"" block);
          at = i: builtins.elemAt (builtins.elemAt strings i) 0;
        in
        assert lib.assertMsg (builtins.length strings == 8)
          "src/data/locate.rs: expected FILES to hold four (name, sha256) pairs";
        map (i: { name = at (2 * i); sha256 = at (2 * i + 1); }) [ 0 1 2 3 ];
      fashionMnistFor = pkgs: pkgs.linkFarm "fashion-mnist" (map
        (f: {
          inherit (f) name;
          path = pkgs.fetchurl {
            inherit (f) name sha256;
            url = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/${f.name}.gz";
            downloadToTemp = true;
            postFetch = ''gunzip -c "$downloadedFile" > "$out"'';
          };
        })
        fashionMnistPayloads);
      fashionMnist = forAllSystems (system: fashionMnistFor pkgsBySystem.${system});

      checksFor = system:
        let
          pkgs = pkgsBySystem.${system};
          data = fashionMnist.${system};
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
          # The library's tests and the integration tests of `run`, `repro`, `check`, `golden`
          # and experiment files inside the build, on the Fashion-MNIST derivation. Left to
          # ci/test, outside the sandbox: the tests that drive a Slurm cluster, Nix itself, the
          # Python venv (h5py reader, PyTorch peers) and the system copy of the data; and the four
          # that compare fresh runs with the committed golden hashes, which hold no hashes for
          # torch-bin's build (its platform class is `...-libtorch2.11.0-build-<hash>`).
          tests = cargoCheck "tests" ''
            export FASHION_MNIST_DIR=${data} THREE_FACTORS_TEST_DATA=${data}
            cargo test --offline --lib --test run --test repro --test check --test experiments -- \
              --skip artifact_params_reload_in_an_independent_reader \
              --skip check_fails_with_exit_1_on_tampering_band_and_hash_changes \
              --skip bless_shows_the_diff_and_is_the_only_writer \
              --skip smoke_grid_reproduces_across_processes_and_passes_the_golden_gate \
              --skip plan_lines_are_self_contained_commands
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
      # For the offline structural check (tests/nix/check.nix): the determinism env, each app's
      # wrapper and the environment it exports, the Fashion-MNIST derivation.
      lib = {
        inherit determinismEnv fashionMnist;
        appWrappers = forAllSystems appWrappersFor;
        appEnv = forAllSystems appEnvFor;
      };
    };
}
