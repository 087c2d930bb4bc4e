//! The device fingerprint: what a benchmark result is a property of. Runs are grouped by its id,
//! which leaves out the git commit (so a kernel can be tracked across commits on one machine).
use crate::determinism;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// (key, value) in a fixed order.
    pub fields: Vec<(String, String)>,
}

/// Fields that make up the fingerprint id.
const ID_FIELDS: [&str; 9] = [
    "device",
    "gpu_name",
    "compute_capability",
    "gpu_memory",
    "cpu_model",
    "cpu_capability",
    "threads",
    "libtorch_version",
    "numerics",
];

fn nvidia_smi(query: &str) -> Option<String> {
    let o = std::process::Command::new("nvidia-smi")
        .args([
            &format!("--query-gpu={query}"),
            "--format=csv,noheader",
            "-i",
            "0",
        ])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn cuda_version() -> Option<String> {
    let o = std::process::Command::new("nvidia-smi").output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.split("CUDA Version:")
        .nth(1)
        .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
}

impl Fingerprint {
    pub fn collect(device: tch::Device, threads: usize, numerics: &str) -> Fingerprint {
        let gpu = matches!(device, tch::Device::Cuda(_));
        let na = || "-".to_string();
        let q = |k: &str| {
            if gpu {
                nvidia_smi(k).unwrap_or_else(na)
            } else {
                na()
            }
        };
        let fields = vec![
            (
                "device",
                if gpu {
                    "cuda".to_string()
                } else {
                    "cpu".to_string()
                },
            ),
            ("gpu_name", q("name")),
            ("compute_capability", q("compute_cap")),
            ("gpu_memory", q("memory.total")),
            ("driver_version", q("driver_version")),
            (
                "cuda_version",
                if gpu {
                    cuda_version().unwrap_or_else(na)
                } else {
                    na()
                },
            ),
            ("cpu_model", determinism::cpu_model()),
            ("cpu_capability", determinism::cpu_capability()),
            ("threads", threads.to_string()),
            ("numerics", numerics.to_string()),
            ("libtorch_version", determinism::libtorch_version()),
            ("tch_version", crate::repro::TCH_VERSION.to_string()),
            ("crate_version", env!("CARGO_PKG_VERSION").to_string()),
            (
                "git_commit",
                option_env!("THREE_FACTORS_GIT_COMMIT")
                    .unwrap_or("unknown")
                    .to_string(),
            ),
        ];
        Fingerprint {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// 12 hex digits of SHA-256 over the identifying fields.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for k in ID_FIELDS {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(self.get(k).as_bytes());
            h.update([0]);
        }
        crate::data::hex(&h.finalize())[..12].to_string()
    }

    /// A short human label: GPU name or CPU model, and the thread count.
    pub fn label(&self) -> String {
        let dev = if self.get("device") == "cuda" {
            self.get("gpu_name")
        } else {
            self.get("cpu_model")
        };
        format!("{dev} ({} threads)", self.get("threads"))
    }
}
