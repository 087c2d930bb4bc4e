//! The device fingerprint: what a benchmark result is a property of. Runs are grouped by its id,
//! which leaves out the git commit (so a kernel can be tracked across commits on one machine).
use crate::determinism::Numerics;
use crate::platform;
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

impl Fingerprint {
    /// The fingerprint of `device` on this machine, from the same platform facts as artifact
    /// provenance.
    pub fn collect(device: tch::Device, threads: usize, numerics: Numerics) -> Fingerprint {
        let gpu = matches!(device, tch::Device::Cuda(_));
        let mut fields = vec![(
            "device".to_string(),
            if gpu { "cuda" } else { "cpu" }.to_string(),
        )];
        for (k, v) in platform::facts(device) {
            if k == "device_name" {
                continue;
            }
            fields.push((k.to_string(), v));
            if k == "cpu_capability" {
                fields.push(("threads".into(), threads.to_string()));
                fields.push(("numerics".into(), numerics.as_str().to_string()));
            }
        }
        Fingerprint { fields }
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
        crate::files::hex(&h.finalize())[..12].to_string()
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
