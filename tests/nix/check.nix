# Structural checks of three-factors' flake, evaluated offline against tests/nix/nixpkgs-stub by
# ci/nix-check: every output the README promises exists and each app runs the right binary
# with the right arguments, and packages and shells use the toolchain `toolchainFile`
# (the flake's rust-toolchain.toml) names. Each function returns true or throws with what is wrong.
{ toolchainFile }:
let
  channel = (builtins.fromTOML (builtins.readFile toolchainFile)).toolchain.channel;
  pinned = t: (t.name or "") == "rust-default-${channel}";
  systems = [ "x86_64-linux" "aarch64-linux" ];
  all = builtins.all (x: x);
  need = cond: msg: cond || builtins.throw msg;
  # app name → (wrapper name, arguments the wrapper passes to `three-factors`).
  apps = {
    repro-fig3 = { wrapper = "repro-fig3"; args = "repro fig3 --experiment "; };
    bench = { wrapper = "bench"; args = "bench"; };
    check = { wrapper = "check"; args = "check"; };
    default = { wrapper = "repro-fig3"; args = "repro fig3 --experiment "; };
  };
in
{
  apps = outputs: all (map
    (s: all (builtins.attrValues (builtins.mapAttrs
      (name: want:
        let app = outputs.${s}.${name} or (builtins.throw "apps.${s}.${name} is missing");
        in need (app.type == "app") "apps.${s}.${name}.type is not \"app\""
          && need (builtins.match "/nix/store/[^/]+-three-factors-${want.wrapper}/bin/three-factors-${want.wrapper}" app.program != null)
            "apps.${s}.${name}.program is ${app.program}, expected .../bin/three-factors-${want.wrapper}")
      apps)))
    systems);

  appScripts = scripts: all (map
    (s: all (builtins.attrValues (builtins.mapAttrs
      (name: want:
        let text = scripts.${s}.${want.wrapper} or (builtins.throw "lib.appScripts.${s}.${want.wrapper} is missing");
        in need (builtins.match "exec /nix/store/[^/]+-three-factors/bin/three-factors ${want.args}.*\"\\$@\"" text != null)
          "app ${name} runs `${text}`, expected `three-factors ${want.args}... \"$@\"`")
      apps)))
    systems);

  packages = outputs: all (map
    (s:
      let p = outputs.${s}; in
      need (p ? default && p ? cuda) "packages.${s} must have default and cuda"
      && need (p.default.env.LIBTORCH_USE_PYTORCH or "" == "1") "packages.${s}.default does not build against the Python torch"
      && need (p.cuda.buildFeatures == [ "cuda" ]) "packages.${s}.cuda must build with the cuda feature (keeps libtorch_cuda linked)"
      && need (builtins.elem "auto-add-driver-runpath-hook" (map (d: d.name) p.cuda.nativeBuildInputs)) "packages.${s}.cuda lacks autoAddDriverRunpath"
      && all (map
        (v: need (pinned (p.${v}.rustc or { }) && pinned (p.${v}.cargo or { }))
          "packages.${s}.${v} is not built with rust-toolchain.toml's Rust ${channel}")
        [ "default" "cuda" ]))
    systems);

  devShells = outputs: all (map
    (s: need (outputs.${s} ? default && outputs.${s} ? cuda) "devShells.${s} must have default and cuda"
      && all (map
        (v: need (builtins.any pinned (outputs.${s}.${v}.packages or [ ]))
          "devShells.${s}.${v} lacks rust-toolchain.toml's Rust ${channel}")
        [ "default" "cuda" ]))
    systems);

  checks = outputs: all (map
    (s: all (map (c: need (outputs.${s} ? ${c}) "checks.${s}.${c} is missing") [ "tests" "fmt" "clippy" "gate" ]))
    systems);
}
