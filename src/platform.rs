//! Cross-cutting — platform facts: what machine and software a result was produced on, read
//! once and shared by artifact provenance and benchmark fingerprints (CPU model, the GPU as
//! `nvidia-smi` reports it, libtorch/tch/crate versions, the git commit), and UTC timestamps.
use crate::determinism;
use std::sync::OnceLock;

/// The tch version this crate is built with (kept in step with Cargo.toml).
pub const TCH_VERSION: &str = "0.24.0";

pub fn crate_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The commit the binary was built from (build.rs), or "unknown" outside git.
pub fn git_commit() -> &'static str {
    option_env!("THREE_FACTORS_GIT_COMMIT").unwrap_or("unknown")
}

/// The CPU's model name from /proc/cpuinfo ("Intel(R) Xeon(R) Processor"), or the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The CPU's vendor, short: "intel" (GenuineIntel), "amd" (AuthenticAMD), else the lower-cased
/// `vendor_id` of /proc/cpuinfo, or "unknown".
pub fn cpu_vendor() -> String {
    let id = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("vendor_id"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    match id.as_str() {
        "GenuineIntel" => "intel".into(),
        "AuthenticAMD" => "amd".into(),
        "" => "unknown".into(),
        other => other
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase(),
    }
}

/// GPU 0 as `nvidia-smi` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Marketing name, e.g. "NVIDIA H200".
    pub name: String,
    pub compute_capability: String,
    pub memory: String,
    pub driver_version: String,
    /// The CUDA version the driver supports (from `nvidia-smi`'s header).
    pub cuda_version: String,
}

fn query_gpu() -> Option<Gpu> {
    let run = |args: &[&str]| {
        std::process::Command::new("nvidia-smi")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let line = run(&[
        "--query-gpu=name,compute_cap,memory.total,driver_version",
        "--format=csv,noheader",
        "-i",
        "0",
    ])?;
    let f: Vec<String> = line.split(',').map(|s| s.trim().to_string()).collect();
    let cuda_version = run(&[])
        .and_then(|s| {
            s.split("CUDA Version:")
                .nth(1)
                .and_then(|r| r.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "-".into());
    let field = |i: usize| f.get(i).cloned().unwrap_or_else(|| "-".into());
    Some(Gpu {
        name: field(0),
        compute_capability: field(1),
        memory: field(2),
        driver_version: field(3),
        cuda_version,
    })
    .filter(|g| !g.name.is_empty())
}

/// GPU 0, queried once per process; None without a working `nvidia-smi`.
pub fn gpu() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    GPU.get_or_init(query_gpu).as_ref()
}

/// The name of the device that runs `device`'s kernels: the GPU's or the CPU's model.
pub fn device_name(device: tch::Device) -> String {
    match device {
        tch::Device::Cuda(_) => gpu()
            .map(|g| g.name.clone())
            .unwrap_or_else(|| "unknown-gpu".into()),
        _ => cpu_model(),
    }
}

/// The software and hardware facts every record of a result carries, as (key, value) pairs in
/// a fixed order: used for artifact provenance and benchmark fingerprints alike.
pub fn facts(device: tch::Device) -> Vec<(&'static str, String)> {
    let gpu = matches!(device, tch::Device::Cuda(_)).then(gpu).flatten();
    let g = |f: fn(&Gpu) -> &String| gpu.map(|g| f(g).clone()).unwrap_or_else(|| "-".into());
    vec![
        ("device_name", device_name(device)),
        ("gpu_name", g(|g| &g.name)),
        ("compute_capability", g(|g| &g.compute_capability)),
        ("gpu_memory", g(|g| &g.memory)),
        ("driver_version", g(|g| &g.driver_version)),
        ("cuda_version", g(|g| &g.cuda_version)),
        ("cpu_model", cpu_model()),
        ("cpu_capability", determinism::cpu_capability()),
        ("libtorch_version", determinism::libtorch_version()),
        ("tch_version", TCH_VERSION.to_string()),
        ("crate_version", crate_version().to_string()),
        ("git_commit", git_commit().to_string()),
    ]
}

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp.
pub fn utc_timestamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now, as [`utc_timestamp`].
pub fn now() -> String {
    utc_timestamp(std::time::SystemTime::now())
}

/// Keeps freed memory in the process for reuse instead of handing it back to the operating
/// system. glibc serves large blocks (above 128 KiB, a threshold that adapts up to 32 MiB) with
/// fresh `mmap`s and trims the heap top whenever it is free: every new activation-sized tensor
/// (2 MiB for 1000 × 512 floats) then costs page faults and zeroing by the kernel, measured at
/// 3–12 % of an HVP on two cores. Fixing both thresholds high makes such blocks come from, and
/// go back to, the heap. Numerics are unaffected: libtorch aligns every CPU tensor to 64 bytes
/// whatever the allocator. The binary calls this first thing; a no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread
        // exists (glibc's mallopt takes the arena lock regardless).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        assert_eq!(super::utc_timestamp(t), "2026-11-30T00:53:20Z");
        assert_eq!(
            super::utc_timestamp(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn facts_name_the_cpu_without_a_gpu() {
        let f = super::facts(tch::Device::Cpu);
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("device_name"), super::cpu_model());
        assert_eq!(get("gpu_name"), "-");
        assert_eq!(get("libtorch_version"), "2.11.0");
    }
}
