{
  # A stand-in for oxalica/rust-overlay with only what three-factors' flake uses, for the offline
  # structural evaluation (ci/nix-check): `rust-bin.fromRustupToolchainFile` returns a stub
  # derivation named after the file's channel and components, as rust-overlay names its own.
  description = "offline stub of rust-overlay's fromRustupToolchainFile";
  outputs = _: {
    overlays.default = final: prev: {
      rust-bin.fromRustupToolchainFile = file:
        let t = (builtins.fromTOML (builtins.readFile file)).toolchain;
        in
        let
          name = "rust-default-${t.channel}";
          d = builtins.derivation {
            inherit name;
            system = final.system or "x86_64-linux";
            builder = "/bin/sh";
            args = [ "-c" "exit 1" ];
          };
        in
        {
          type = "derivation";
          inherit name;
          version = t.channel;
          extensions = t.components or [ ];
          inherit (d) outPath drvPath;
        };
    };
  };
}
