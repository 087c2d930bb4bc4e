# The few nixpkgs.lib functions the flake calls, with nixpkgs' semantics.
rec {
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  assertMsg = pred: msg: pred || builtins.throw msg;
  optionals = cond: xs: if cond then xs else [ ];
  cleanSource = src: src;
  concatStringsSep = builtins.concatStringsSep;
  mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
  mapAttrs = builtins.mapAttrs;
  optionalAttrs = cond: attrs: if cond then attrs else { };
}
