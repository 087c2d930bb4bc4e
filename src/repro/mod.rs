//! Orchestration: one run through the whole pipeline (`data → model → train → curvature →
//! artifact`), and the grid runners built on it.
pub mod grid;
pub mod slurm;
use crate::artifact::{FinalMetrics, Provenance, RunRecord};
use crate::config::RunConfig;
use crate::curvature;
use crate::data::{FashionMnist, Split};
use crate::determinism::{self, NumericsCaps, Settings};
use crate::error::{Error, Result};
use crate::model::{host_values, Mlp, MlpShape};
use crate::train::{self, Checkpoint, EpochEnd};
use tch::Kind;

/// The tch version this crate is built with (kept in step with Cargo.toml).
pub const TCH_VERSION: &str = "0.24.0";

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

/// Provenance common to every run in this process.
pub fn base_provenance(cfg: &RunConfig, caps: &NumericsCaps) -> Result<Provenance> {
    let device = cfg.device()?;
    let mut p = Provenance::default();
    p.set("crate_version", env!("CARGO_PKG_VERSION"));
    p.set(
        "git_commit",
        option_env!("THREE_FACTORS_GIT_COMMIT").unwrap_or("unknown"),
    );
    p.set("tch_version", TCH_VERSION);
    p.set("libtorch_version", determinism::libtorch_version());
    p.set("device", &cfg.device);
    p.set(
        "device_name",
        match device {
            tch::Device::Cuda(_) => determinism::gpu_name(),
            _ => determinism::cpu_model(),
        },
    );
    p.set("threads", cfg.threads);
    p.set("seed", cfg.seed);
    p.set("cpu_capability", determinism::cpu_capability());
    p.set("aten_cpu_capability", &caps.aten_cpu_capability);
    p.set("mkl_cbwr", &caps.mkl_cbwr);
    p.set("onednn_max_cpu_isa", &caps.onednn_max_cpu_isa);
    p.set(
        "deterministic_algorithms",
        determinism::deterministic_algorithms(),
    );
    p.set(
        "platform_class",
        determinism::platform_class(device, caps, cfg.threads),
    );
    Ok(p)
}

/// Runs one configuration end to end (training from scratch, or from `resume`) and returns its
/// record (not yet written). `on_epoch` sees the end of every epoch.
pub fn run_one(
    cfg: &RunConfig,
    data: &FashionMnist,
    caps: &NumericsCaps,
    resume: Option<&Checkpoint>,
    on_epoch: impl FnMut(&EpochEnd) -> Result<()>,
) -> Result<RunRecord> {
    cfg.validate("run")?;
    let device = cfg.device()?;
    if let tch::Device::Cuda(i) = device {
        if !tch::Cuda::is_available() || i as i64 >= tch::Cuda::device_count() {
            return Err(Error::config(
                "run",
                "device",
                format!(
                    "{} requested but libtorch sees {} CUDA device(s)",
                    cfg.device,
                    tch::Cuda::device_count()
                ),
            ));
        }
    }
    let started = std::time::SystemTime::now();
    determinism::seed_everything(&Settings {
        seed: cfg.seed,
        threads: cfg.threads,
        device,
    })?;
    if device == tch::Device::Cpu {
        caps.verify()?;
    }
    let mut provenance = base_provenance(cfg, caps)?;
    provenance.set("start_time", utc_timestamp(started));
    provenance.set(
        "data_source",
        data.files
            .first()
            .map(|f| f.path.display().to_string())
            .unwrap_or_default(),
    );

    let split = Split::new(data, cfg.split, cfg.seed, device)?;
    let model = Mlp::new(MlpShape::fashion(cfg.width), cfg.seed, Kind::Float, device);
    let trained = train::train(&model, &split, &cfg.sgd, cfg.seed, resume, on_epoch)?;
    let (test_loss, test_acc) = train::evaluate(&model, &split.test);
    let (val_loss, val_acc) = train::evaluate(&model, &split.val);
    let c = &trained.curves;
    let last = |v: &Vec<f64>| v.last().copied().unwrap_or(f64::NAN);
    let final_metrics = FinalMetrics {
        train_loss: last(&c.train_loss),
        train_acc: last(&c.train_acc),
        val_loss,
        val_acc,
        test_loss,
        test_acc,
        diverged: trained.diverged,
        epochs_completed: c.epoch.len() as i64,
    };
    let curvature = if trained.diverged {
        None
    } else {
        Some(curvature::measure(
            &model,
            &split.train,
            &cfg.curvature,
            cfg.seed,
        )?)
    };
    let params = model
        .named_tensors()
        .map(|(name, t)| host_values(name, t))
        .collect::<Result<Vec<_>>>()?;
    provenance.set("end_time", utc_timestamp(std::time::SystemTime::now()));
    let idx: Vec<i64> = split.permutation.iter().map(|&i| i as i64).collect();
    let (train_indices, val_indices) = idx.split_at(cfg.split.train);
    Ok(RunRecord {
        train_indices: train_indices.to_vec(),
        val_indices: val_indices.to_vec(),
        config: cfg.clone(),
        provenance,
        curves: trained.curves,
        curvature,
        final_metrics,
        params,
    })
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
}
