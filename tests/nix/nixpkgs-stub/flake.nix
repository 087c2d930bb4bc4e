{
  # A stand-in for nixpkgs with only the attributes three-factors' flake uses, so the flake's
  # structure can be evaluated offline (ci/nix-check). Derivations here are plain attribute sets
  # that remember their arguments; nothing can be built from them.
  description = "offline stub of the nixpkgs attributes three-factors' flake uses";
  outputs = _: { lib = import ./lib.nix; };
}
