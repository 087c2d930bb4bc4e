# Structural checks of three-factors' flake, evaluated offline by ci/nix-check against
# tests/nix/nixpkgs-stub (whose derivations are real, instantiable and remember their arguments).
# Each attribute is a function of the flake (`builtins.getFlake`) that returns true or throws with
# what is wrong. `cargoConfigFile` and `toolchainFile` are the flake's own .cargo/config.toml and
# rust-toolchain.toml.
{ toolchainFile, cargoConfigFile }:
let
  channel = (builtins.fromTOML (builtins.readFile toolchainFile)).toolchain.channel;
  pinned = t: (t.name or "") == "rust-default-${channel}";
  all = builtins.all (x: x);
  need = cond: msg: cond || builtins.throw msg;
  each = xs: f: all (map f xs);
  eachAttr = set: f: all (builtins.attrValues (builtins.mapAttrs f set));
  # (A regex may not carry string context; the store paths in it are only text.)
  matches = re: s: builtins.isString s && builtins.match (builtins.unsafeDiscardStringContext re) s != null;
  storeHash = "/nix/store/[a-z0-9]{32}";
  storePath = "${storeHash}-[^/]+";

  # app name → (wrapper name, arguments the wrapper passes to `three-factors`).
  apps = {
    repro-fig3 = { wrapper = "repro-fig3"; args = "repro fig3 --experiment "; };
    bench = { wrapper = "bench"; args = "bench"; };
    check = { wrapper = "check"; args = "check"; };
    default = { wrapper = "repro-fig3"; args = "repro fig3 --experiment "; };
  };

  # .cargo/config.toml's [env] keys whose value is a path in the checkout: every build and shell
  # that runs cargo must set them itself (cargo applies them otherwise, and the store has no .venv).
  cargoEnv = (builtins.fromTOML (builtins.readFile cargoConfigFile)).env;
  checkoutKeys = builtins.filter (k: cargoEnv.${k}.relative or false) (builtins.attrNames cargoEnv);

  # The environment a stub derivation receives: its `env` and its upper-case string arguments.
  envOf = d:
    let a = d.stub.args;
    in (a.env or { }) // builtins.removeAttrs a
      (builtins.filter (k: !(matches "[A-Z][A-Z0-9_]*" k && builtins.isString a.${k})) (builtins.attrNames a));

  # No value of any environment points into .venv or is a relative path (it would resolve inside
  # the build's copy of the source, or the user's working directory).
  envIsHermetic = what: d: eachAttr (envOf d) (k: v:
    need (!(matches ".*\\.venv.*" v)) "${what}: ${k}=${v} points into .venv"
    && need (!(matches ".*'.*" v)) "${what}: ${k}=${v} holds a single quote (the app wrappers quote values with it)"
    && need (!(matches "[A-Za-z0-9_.-]+/.*" v)) "${what}: ${k}=${v} is a relative path");

  # A derivation that runs cargo: libtorch and CMake from the store, every checkout path of
  # .cargo/config.toml overridden, and nothing that makes torch-sys look for a Python.
  cargoEnvIsStore = what: d:
    let env = envOf d;
    in envIsHermetic what d
      && each checkoutKeys (k: need (env ? ${k} && matches "${storePath}/.*" env.${k})
        "${what}: .cargo/config.toml's [env] ${k} names a path in the checkout and ${what} does not override it with a store path")
      && need (matches "${storeHash}-cmake-[^/]*/bin/cmake" (env.CMAKE or null))
        "${what}: CMAKE is ${env.CMAKE or "unset"}, expected a store path to nixpkgs' cmake"
      && need (matches "${storeHash}-python3[.0-9]*-torch-2\\.11\\.[^/]*/lib/python3[.0-9]*/site-packages/torch" (env.LIBTORCH or null)
          && builtins.substring 0 (builtins.stringLength "${torchOf what d}/") env.LIBTORCH == "${torchOf what d}/")
        "${what}: LIBTORCH is ${env.LIBTORCH or "unset"}, expected the torch folder of the torch-bin 2.11 among its buildInputs"
      && need (!(env ? LIBTORCH_USE_PYTORCH))
        "${what}: LIBTORCH_USE_PYTORCH makes torch-sys ignore LIBTORCH and run the first python3 (python with VIRTUAL_ENV) on PATH"
      && need (!(env ? PYTHON_SYS_EXECUTABLE)) "${what}: PYTHON_SYS_EXECUTABLE is not read by torch-sys 0.24";

  # torch-bin is the one libtorch: 2.11.x, never the source build, and with CUDA for the cuda
  # package (nixpkgs' aarch64-linux torch-bin is a CPU-only wheel).
  torchOf = what: d:
    let
      a = d.stub.args;
      # Inputs, and for shells the packages of the Python environment among `packages`.
      inputs = (a.buildInputs or [ ]) ++ (a.packages or [ ])
        ++ builtins.concatLists (map (x: x.stub.args.packages or [ ]) (a.packages or [ ]));
      t = builtins.filter (x: matches ".*-torch-.*" (x.name or "")) inputs;
    in
    if t == [ ] then builtins.throw "${what}: no torch among its inputs" else builtins.head t;
  torchIsBin = what: cuda: d:
    let t = torchOf what d;
    in need (t ? wheel) "${what}: links ${t.name}, not torch-bin (a source build takes hours and rounds differently)"
      && need (matches "2\\.11\\..*" t.version) "${what}: links torch ${t.version}, tch 0.24 needs 2.11.x"
      && need (!cuda || t.wheel != "cpu") "${what}: torch-bin on ${t.system} is a CPU-only wheel (no libtorch_cuda to link)";

  # Forcing .drvPath writes the .drv into the store; it must be there afterwards.
  instantiates = what: d: need (builtins.pathExists d.drvPath) "${what}: ${d.drvPath} was not instantiated";

in
{
  packages = flake: eachAttr flake.packages (s: p:
    need (p ? default && p ? cuda) "packages.${s} must have default and cuda"
    && need (p.cuda.stub.args.buildFeatures == [ "cuda" ]) "packages.${s}.cuda must build with the cuda feature (keeps libtorch_cuda linked)"
    && need (builtins.elem "auto-add-driver-runpath-hook" (map (d: d.name) p.cuda.nativeBuildInputs)) "packages.${s}.cuda lacks autoAddDriverRunpath"
    && eachAttr { default = false; cuda = true; } (v: cuda:
      let what = "packages.${s}.${v}"; d = p.${v};
      in need (pinned d.stub.args.rustc && pinned d.stub.args.cargo) "${what} is not built with rust-toolchain.toml's Rust ${channel}"
        && cargoEnvIsStore what d
        && need (builtins.elem "install-shell-files" (map (i: i.name) d.nativeBuildInputs)) "${what} lacks installShellFiles"
        && need (builtins.all (cmd: builtins.length (builtins.split cmd d.stub.args.postInstall) > 1)
          [ "installShellCompletion --cmd three-factors" "completions bash" "completions zsh" "completions fish" "installManPage" ])
          "${what} does not install the shell completions and man pages"
        && torchIsBin what cuda d
        && instantiates what d));

  apps = flake: eachAttr flake.apps (s: set:
    eachAttr apps (name: want:
      let
        what = "apps.${s}.${name}";
        app = set.${name} or (builtins.throw "${what} is missing");
        wrapper = flake.lib.appWrappers.${s}.${want.wrapper} or (builtins.throw "lib.appWrappers.${s}.${want.wrapper} is missing");
        text = wrapper.stub.args.text;
        env = flake.lib.appEnv.${s};
        pkg = flake.packages.${s}.default;
      in
      need (app.type == "app") "${what}.type is not \"app\""
      && need (app.program == "${wrapper}/bin/three-factors-${want.wrapper}")
        "${what}.program is ${app.program}, expected ${wrapper}/bin/three-factors-${want.wrapper}"
      && need (matches "(.*\n)?exec ${pkg}/bin/three-factors ${want.args}.*\"\\$@\"" text)
        "${what} runs `${text}`, expected `exec ${pkg}/bin/three-factors ${want.args}... \"$@\"`"
      && need ((env.THREE_FACTORS_SHARE or "") == "${pkg}/share/three-factors")
        "${what}: THREE_FACTORS_SHARE is ${env.THREE_FACTORS_SHARE or "unset"}, expected the package's share folder (golden files, experiments and the peer script from any folder)"
      && need (matches "${storePath}/bin/python3" (env.THREE_FACTORS_PYTHON or null))
        "${what}: THREE_FACTORS_PYTHON is ${env.THREE_FACTORS_PYTHON or "unset"}, expected the flake's Python (peers from any folder)"
      && eachAttr env (k: v: need (!(matches ".*'.*" v)) "${what}: ${k}=${v} holds a single quote, which the wrapper uses to quote it"
        && need (matches "(.*\n)?export ${k}='${v}'\n.*" text) "${what}: the wrapper does not export ${k}")
      && instantiates what wrapper));

  devShells = flake: eachAttr flake.devShells (s: set:
    need (set ? default && set ? cuda) "devShells.${s} must have default and cuda"
    && eachAttr { inherit (set) default cuda; } (v: d:
      let what = "devShells.${s}.${v}";
      in need (builtins.any pinned (d.stub.args.packages or [ ])) "${what} lacks rust-toolchain.toml's Rust ${channel}"
        && cargoEnvIsStore what d
        && instantiates what d));

  checks = flake: eachAttr flake.checks (s: set:
    each [ "tests" "fmt" "clippy" "gate" ] (c: need (set ? ${c}) "checks.${s}.${c} is missing")
    && each [ "tests" "fmt" "clippy" ] (c: cargoEnvIsStore "checks.${s}.${c}" set.${c})
    && envIsHermetic "checks.${s}.gate" set.gate
    && need (matches "${storeHash}-fashion-mnist" ((envOf set.gate).FASHION_MNIST_DIR or null))
      "checks.${s}.gate: FASHION_MNIST_DIR is not the fashion-mnist derivation"
    && eachAttr set (c: d: instantiates "checks.${s}.${c}" d));

  # The data: a link farm of four fixed-output fetchurl derivations, each decompressing its gzip
  # file, the hash being the payload's SHA-256 (read from src/data/locate.rs by the flake).
  data = flake: eachAttr flake.lib.fashionMnist (s: farm:
    let entries = farm.stub.args.entries;
    in need (builtins.length entries == 4) "lib.fashionMnist.${s}: ${toString (builtins.length entries)} files, expected 4"
      && each entries (e:
        let f = e.path; a = f.stub.args;
        in need (a ? url && a.downloadToTemp or false && matches ".*gunzip.*\\$downloadedFile.*" (a.postFetch or ""))
          "lib.fashionMnist.${s}: ${e.name} is not a fetchurl that decompresses its download"
          && need (matches "[0-9a-f]{64}" (a.sha256 or "")) "lib.fashionMnist.${s}: ${e.name} has no SHA-256"
          && instantiates "lib.fashionMnist.${s}.${e.name}" f)
      && instantiates "lib.fashionMnist.${s}" farm);

  # Every output category declares the same systems.
  systems = flake:
    let s = builtins.attrNames flake.packages;
    in need (s != [ ]) "packages declares no system"
    && each [ "apps" "devShells" "checks" ] (o:
      need (builtins.attrNames flake.${o} == s) "${o} declares ${toString (builtins.attrNames flake.${o})}, packages ${toString s}");
}
