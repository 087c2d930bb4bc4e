{
  # A stand-in for oxalica/rust-overlay with only what three-factors' flake uses, for the offline
  # structural evaluation (ci/nix-check): `rust-bin.fromRustupToolchainFile` returns a stub
  # derivation named after the file's channel and components, as rust-overlay names its own.
  description = "offline stub of rust-overlay's fromRustupToolchainFile";
  outputs = _: {
    overlays.default = final: prev: {
      rust-bin.fromRustupToolchainFile = file:
        let t = (builtins.fromTOML (builtins.readFile file)).toolchain;
        in {
          type = "derivation";
          name = "rust-default-${t.channel}";
          version = t.channel;
          extensions = t.components or [ ];
          outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" t.channel)}-rust-default-${t.channel}";
          drvPath = "/nix/store/stub-rust-default-${t.channel}.drv";
        };
    };
  };
}
