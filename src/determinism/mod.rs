//! Cross-cutting — determinism: seeds (libtorch's and the project's own RNG), the intra-op thread
//! count, the CPU numerics caps, deterministic CUDA kernels, and the platform class that names
//! "where a content hash is expected to be identical". The only module (besides data look-up)
//! that touches process environment variables.
mod rng;

pub use rng::Rng;

use crate::error::{Error, Result};
use crate::ffi::{self, string as shim_string};

/// The CPU capability ATen's dispatcher selected ("AVX2", "AVX512", "DEFAULT", ...), read back
/// from libtorch itself: the proof that `ATEN_CPU_CAPABILITY` took effect.
pub fn cpu_capability() -> String {
    shim_string(ffi::tf_cpu_capability)
}

/// The libtorch version this binary was compiled against (e.g. "2.11.0").
pub fn libtorch_version() -> String {
    shim_string(ffi::tf_libtorch_version)
}

pub fn mkl_version() -> String {
    shim_string(ffi::tf_mkl_version)
}

pub fn onednn_version() -> String {
    shim_string(ffi::tf_onednn_version)
}

/// libtorch's description of its build (`at::show_config()`).
pub fn show_config() -> String {
    shim_string(ffi::tf_show_config)
}

/// The SHA-256 of the "Build settings" line of the pinned torch 2.11.0 wheel's `show_config()`
/// (ci/requirements/cpu.txt, the CUDA 13.0 build; measured on this project's venv).
const WHEEL_BUILD_SETTINGS_SHA256: &str =
    "8d7644386cba1f25118d15ff32499aee6cab70d999af94c9b421f7c4c8698dd0";

/// Which libtorch build this process runs: `None` for the pinned torch 2.11.0 wheel (the build
/// every golden hash so far was made with), else `build-<first 12 hex digits of the SHA-256 of
/// its build settings>` (e.g. nixpkgs' torch-bin, a CUDA 12.8 wheel, or a source build). Two
/// builds of one version (compiler, flags, BLAS) need not round alike, so hashes are only
/// compared within one build.
/// Only the "Build settings" line is used: the rest of `show_config()` also describes the
/// running machine (CPU capability, CUDA runtime when a GPU is present).
pub fn libtorch_build() -> Option<String> {
    let config = show_config();
    let settings = config
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("- Build settings:"))
        .unwrap_or(&config)
        .trim();
    let digest = crate::files::sha256_hex(settings.as_bytes());
    (digest != WHEEL_BUILD_SETTINGS_SHA256).then(|| format!("build-{}", &digest[..12]))
}

pub fn deterministic_algorithms() -> bool {
    // SAFETY: plain getter on libtorch's global context.
    unsafe { ffi::tf_deterministic_algorithms() }
}

/// The CPU numerics a process runs with, as chosen on the command line (`--numerics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numerics {
    /// ATen, MKL and oneDNN capped at AVX2: bit-identical results on any x86-64 CPU with AVX2.
    #[default]
    Avx2,
    /// Whatever the processor offers (faster, not portable bit for bit).
    Native,
}

impl Numerics {
    pub const ALL: [Numerics; 2] = [Numerics::Avx2, Numerics::Native];

    pub fn as_str(self) -> &'static str {
        match self {
            Numerics::Avx2 => "avx2",
            Numerics::Native => "native",
        }
    }

    pub fn caps(self) -> NumericsCaps {
        match self {
            Numerics::Avx2 => NumericsCaps::default(),
            Numerics::Native => NumericsCaps::native(),
        }
    }
}

impl std::fmt::Display for Numerics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Numerics {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown numerics '{s}' (expected avx2 or native)"))
    }
}

/// CPU numerics caps. ATen, MKL and oneDNN each pick kernels by the processor they run on; an
/// AVX-512 machine and an AVX2 machine then sum in different orders and differ in the last bits.
/// Capping all three at AVX2 makes a CPU result a function of (config, seed, threads) on any
/// x86-64 machine with AVX2, rather than of the processor model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NumericsCaps {
    pub aten_cpu_capability: String,
    pub mkl_cbwr: String,
    pub onednn_max_cpu_isa: String,
}

/// The variable names, in the order of [`NumericsCaps`]' fields. ci/bootstrap's env file, the
/// flake and `.cargo/config.toml` set the same three.
pub const CAP_VARS: [&str; 3] = ["ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA"];

impl Default for NumericsCaps {
    fn default() -> Self {
        NumericsCaps {
            aten_cpu_capability: "avx2".into(),
            mkl_cbwr: "AVX2".into(),
            onednn_max_cpu_isa: "AVX2".into(),
        }
    }
}

impl NumericsCaps {
    /// "native": whatever the processor offers (fastest, not portable bit for bit).
    pub fn native() -> Self {
        NumericsCaps {
            aten_cpu_capability: String::new(),
            mkl_cbwr: String::new(),
            onednn_max_cpu_isa: String::new(),
        }
    }

    pub fn is_native(&self) -> bool {
        self.aten_cpu_capability.is_empty()
    }

    fn values(&self) -> [&str; 3] {
        [
            &self.aten_cpu_capability,
            &self.mkl_cbwr,
            &self.onednn_max_cpu_isa,
        ]
    }

    /// Puts the caps into this process's environment. libtorch, MKL and oneDNN read them lazily
    /// at their first kernel, so this must run before any tensor operation: the binary calls it
    /// first thing in `main`, while it is still single-threaded.
    ///
    /// # Safety
    /// Must be called while no other thread reads or writes the environment.
    pub unsafe fn apply_to_env(&self) {
        for (k, v) in CAP_VARS.iter().zip(self.values()) {
            if v.is_empty() {
                std::env::remove_var(k);
            } else if std::env::var(k).ok().as_deref() != Some(v) {
                std::env::set_var(k, v);
            }
        }
    }

    /// The caps in force in this process's environment (what libtorch will read).
    pub fn from_env() -> Self {
        let get = |k: &str| std::env::var(k).unwrap_or_default();
        NumericsCaps {
            aten_cpu_capability: get(CAP_VARS[0]),
            mkl_cbwr: get(CAP_VARS[1]),
            onednn_max_cpu_isa: get(CAP_VARS[2]),
        }
    }

    /// Checks, after libtorch has started, that ATen dispatches at the capped capability.
    pub fn verify(&self) -> Result<()> {
        if self.is_native() {
            return Ok(());
        }
        let got = cpu_capability();
        if !got.eq_ignore_ascii_case(&self.aten_cpu_capability) {
            return Err(Error::Determinism(format!(
                "ATen dispatches {got} kernels but ATEN_CPU_CAPABILITY={} was requested: the \
                 variable must be set before libtorch's first kernel (or the CPU lacks it)",
                self.aten_cpu_capability
            )));
        }
        Ok(())
    }
}

/// Everything a run's numerics depend on besides its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub seed: u64,
    pub threads: usize,
    pub device: tch::Device,
}

/// Seeds libtorch, fixes the intra-op thread count and switches on deterministic kernels.
/// Call once per run, before building the model.
pub fn seed_everything(s: &Settings) -> Result<()> {
    tch::set_num_threads(s.threads as i32);
    tch::manual_seed(s.seed as i64);
    // SAFETY: plain setters on libtorch's global context.
    unsafe { ffi::tf_set_deterministic(true) };
    if let tch::Device::Cuda(_) = s.device {
        // cuBLAS picks reduction orders by workspace size unless this is fixed (PyTorch docs,
        // "Reproducibility"); the variable must exist before the first cuBLAS handle.
        if std::env::var("CUBLAS_WORKSPACE_CONFIG").is_err() {
            return Err(Error::Determinism(
                "CUBLAS_WORKSPACE_CONFIG is not set; the binary sets :4096:8 at start-up".into(),
            ));
        }
        tch::Cuda::cudnn_set_benchmark(false);
    }
    Ok(())
}

/// Sets `CUBLAS_WORKSPACE_CONFIG=:4096:8` unless already set.
///
/// # Safety
/// Must be called while no other thread reads or writes the environment.
pub unsafe fn apply_cuda_env() {
    if std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
    }
}

/// The class of platforms on which a content hash must be identical: device kind and model (for
/// GPUs); for CPUs the architecture, the vendor, the numerics caps, the thread count; and the
/// libtorch version and build (`libtorch_build`). The vendor is part of it because MKL's conditional numerical reproducibility
/// (`MKL_CBWR`) is only guaranteed on Intel processors: measured, the AVX2-capped smoke grid gives
/// other hashes on an AMD EPYC than on an Intel Xeon.
pub fn platform_class(device: tch::Device, caps: &NumericsCaps, threads: usize) -> String {
    let lt = match libtorch_build() {
        None => libtorch_version(),
        Some(build) => format!("{}-{build}", libtorch_version()),
    };
    match device {
        tch::Device::Cuda(_) => format!(
            "cuda-{}-libtorch{lt}",
            crate::platform::device_name(device).replace(' ', "_")
        ),
        _ => {
            let isa = if caps.is_native() {
                format!("native-{}", cpu_capability().to_lowercase())
            } else {
                caps.aten_cpu_capability.to_lowercase()
            };
            format!(
                "cpu-{}-{}-{isa}-t{threads}-libtorch{lt}",
                std::env::consts::ARCH,
                crate::platform::cpu_vendor()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checkout's libtorch is the pinned wheel (ci/bootstrap); a libtorch from elsewhere (the
    /// Nix store, a source build) may be another build and is named by its settings' hash.
    #[test]
    fn the_pinned_wheel_keeps_the_plain_class_and_other_builds_are_named() {
        let build = libtorch_build();
        let config = show_config();
        assert!(config.contains("TORCH_VERSION=2.11.0"), "{config}");
        let class = platform_class(tch::Device::Cpu, &NumericsCaps::default(), 1);
        match build {
            None => assert!(class.ends_with("-libtorch2.11.0"), "{class}"),
            Some(b) => {
                assert!(b.starts_with("build-") && b.len() == 18, "{b}");
                assert!(class.ends_with(&format!("-libtorch2.11.0-{b}")), "{class}");
                assert!(
                    env!("THREE_FACTORS_LIBTORCH_LIB").starts_with("/nix/store/"),
                    "the checkout's libtorch is not the pinned wheel:\n{config}"
                );
            }
        }
    }

    #[test]
    fn caps_are_in_force_under_cargo() {
        // .cargo/config.toml sets the caps for every cargo-run process; ATen must report them.
        let caps = NumericsCaps::from_env();
        assert_eq!(caps, NumericsCaps::default());
        let _ = tch::Tensor::ones([4], (tch::Kind::Float, tch::Device::Cpu)).sum(tch::Kind::Float);
        assert_eq!(cpu_capability(), "AVX2");
        caps.verify().unwrap();
    }

    /// ci/determinism.env (read by ci/bootstrap and the Nix flake), .cargo/config.toml and the
    /// binary's defaults must name the same caps.
    #[test]
    fn determinism_env_file_matches_defaults_and_cargo_config() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let env = std::fs::read_to_string(root.join("ci/determinism.env")).unwrap();
        let vars: Vec<(&str, &str)> = env
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .map(|l| l.split_once('=').unwrap())
            .collect();
        let caps = NumericsCaps::default();
        let want = [
            CAP_VARS[0],
            CAP_VARS[1],
            CAP_VARS[2],
            "CUBLAS_WORKSPACE_CONFIG",
        ]
        .into_iter()
        .zip([
            caps.aten_cpu_capability.as_str(),
            caps.mkl_cbwr.as_str(),
            caps.onednn_max_cpu_isa.as_str(),
            ":4096:8",
        ]);
        let cargo = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
        for (k, v) in want {
            assert!(vars.contains(&(k, v)), "ci/determinism.env lacks {k}={v}");
            if k != "CUBLAS_WORKSPACE_CONFIG" {
                assert!(
                    cargo.contains(&format!("{k} = {{ value = \"{v}\"")),
                    ".cargo/config.toml lacks {k}={v}"
                );
            }
        }
        assert_eq!(
            vars.len(),
            4,
            "unexpected entries in ci/determinism.env: {vars:?}"
        );
    }

    #[test]
    fn versions_are_reported() {
        assert_eq!(libtorch_version(), "2.11.0");
        assert!(!mkl_version().is_empty());
    }
}
