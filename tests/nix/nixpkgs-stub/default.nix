# `import nixpkgs { system; overlays; config; }` for the stub: a package set with only the
# attributes three-factors' flake uses, modelled on nixpkgs at the pinned revision where it
# matters to the flake (torch-bin's version and wheel kind per system, python3.sitePackages,
# fetchurl's fixed-output hashes, allowUnfree).
#
# Every derivation here is a real one (`builtins.derivation`, so `.drvPath` instantiates a .drv
# in the store and string context is tracked) whose builder only fails: nothing can be built,
# but everything can be evaluated and inspected. The arguments each one received are kept
# under `stub.args` for tests/nix/check.nix.
#
# `THREE_FACTORS_STUB_TORCH_BIN` (read with --impure) overrides torch-bin's version, so the
# check can show that a nixpkgs without torch-bin 2.11 fails evaluation.
{ system, overlays ? [ ], config ? { } }:
let
  # One line on stderr per import: ci/nix-check counts them (nixpkgs must be imported once per
  # system, not once per output).
  traced = builtins.trace "nixpkgs-stub: import for ${system}";

  # Plain data of an argument set: derivations as their output paths (keeping their context),
  # functions dropped, so it can be serialised into the stub derivation.
  data = v:
    if builtins.isFunction v then "<function>"
    else if builtins.isAttrs v then
      (if v ? outPath then "${v}" else builtins.mapAttrs (_: data) v)
    else if builtins.isList v then map data v
    else v;

  drv = name: args: extra:
    let
      d = builtins.derivation ({
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" "echo 'nixpkgs-stub: nothing can be built from the stub' >&2; exit 1" ];
        stubArgs = builtins.toJSON (data args);
      } // extra);
    in
    args // {
      type = "derivation";
      inherit name system;
      inherit (d) outPath drvPath;
      stub = { inherit args; kind = name; };
    };

  withOverride = mk: args: (mk args) // { overrideAttrs = f: withOverride mk (args // f args); };

  unfree = name: assert config.allowUnfree or false
    || builtins.throw "nixpkgs-stub: ${name} is unfree and config.allowUnfree is not set"; true;

  torchBinVersion =
    let v = builtins.getEnv "THREE_FACTORS_STUB_TORCH_BIN"; in if v == "" then "2.11.0" else v;
  python3 = {
    pythonVersion = "3.13";
    sitePackages = "lib/python3.13/site-packages";
    withPackages = f: drv "python3-3.13-env" { packages = f python3Packages; } { };
  };
  python3Packages = {
    # x86_64-linux: the CUDA 12.8 wheel (libtorch_cuda.so, CUDA libraries as inputs);
    # aarch64-linux: a CPU-only wheel.
    torch-bin = assert unfree "torch-bin";
      drv "python3.13-torch-${torchBinVersion}"
        { version = torchBinVersion; wheel = if system == "x86_64-linux" then "cu128" else "cpu"; } { };
    # The source build (CPU-only unless cudaSupport), which the flake must never fall back to.
    torch = drv "python3.13-torch-2.11.0" { version = "2.11.0"; } { };
    numpy = drv "python3.13-numpy" { } { };
    h5py = drv "python3.13-h5py" { } { };
  };

  simple = name: drv name { } { };

  base = {
    inherit system config python3 python3Packages;
    lib = import ./lib.nix;
    makeRustPlatform = { cargo, rustc }: {
      buildRustPackage = withOverride (args:
        drv (args.name or "${args.pname}-${args.version}") (args // { inherit cargo rustc; }) { });
    };
    writeShellScriptBin = name: text: drv name { inherit text; } { };
    mkShell = args: drv "nix-shell" args { };
    runCommand = name: env: script: drv name (env // { inherit script; }) { };
    # A fixed-output derivation: instantiation checks the hash's form.
    fetchurl = args: drv (args.name or (baseNameOf args.url)) args {
      outputHashMode = if args.recursiveHash or false then "recursive" else "flat";
      outputHashAlgo = "sha256";
      outputHash = args.sha256 or args.hash;
    };
    linkFarm = name: entries: drv name { inherit entries; } { };
    cmake = simple "cmake-3.31.6";
    curl = simple "curl-8.13.0";
    gzip = simple "gzip-1.14";
    pkg-config = simple "pkg-config-wrapper-0.29.2";
    autoAddDriverRunpath = simple "auto-add-driver-runpath-hook";
    installShellFiles = simple "install-shell-files";
    cargo = simple "cargo-1.86.0";
    rustc = simple "rustc-1.86.0";
    rustfmt = simple "rustfmt-1.86.0";
    clippy = simple "clippy-1.86.0";
  };
in
traced (builtins.foldl' (pkgs: overlay: pkgs // overlay pkgs pkgs) base overlays)
