# `import nixpkgs { system; overlays; config; }` for the stub: a package set whose derivations
# record their arguments. torch-bin is 2.11.0, as at the pinned revision. Overlays are applied
# in order, each seeing the set built so far as both `final` and `prev`.
{ system, overlays ? [ ], config ? { } }:
let
  drv = name: extra: extra // {
    type = "derivation";
    inherit name system;
    outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" "${system}-${name}")}-${name}";
    drvPath = "/nix/store/stub-${name}.drv";
  };
  withOverride = d: d // { overrideAttrs = f: withOverride (d // f d); };
  python3Packages = {
    torch-bin = drv "torch-bin-2.11.0" { version = "2.11.0"; };
    torch = drv "torch-2.11.0" { version = "2.11.0"; };
    numpy = drv "numpy" { };
    h5py = drv "h5py" { };
  };
  base = {
  inherit config python3Packages;
  python3 = { withPackages = f: drv "python3-env" { packages = f python3Packages; }; };
  makeRustPlatform = { cargo, rustc }: {
    buildRustPackage = args: withOverride (drv args.pname (args // { inherit cargo rustc; }));
  };
  writeShellScriptBin = name: text: drv name { inherit text; };
  mkShell = args: drv "shell" args;
  runCommand = name: env: script: drv name (env // { inherit script; });
  cmake = drv "cmake" { };
  curl = drv "curl" { };
  gzip = drv "gzip" { };
  pkg-config = drv "pkg-config" { };
  autoAddDriverRunpath = drv "auto-add-driver-runpath-hook" { };
  cargo = drv "cargo" { };
  rustc = drv "rustc" { };
  rustfmt = drv "rustfmt" { };
  clippy = drv "clippy" { };
  };
in
builtins.foldl' (pkgs: overlay: pkgs // overlay pkgs pkgs) base overlays
