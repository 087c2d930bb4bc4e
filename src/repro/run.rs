//! One run end to end: train (from scratch or from the run's own checkpoint), measure the
//! curvature, write the artifact. The resume rule: a checkpoint is used only when it holds the
//! same resolved config and platform class; it is saved at epoch ends once `checkpoint_every`
//! has passed and removed once the artifact is written.
use crate::artifact::{self, ArtifactSummary, FinalMetrics, Provenance, RunRecord};
use crate::config::RunConfig;
use crate::curvature;
use crate::data::{Dataset, Lookup, Split};
use crate::determinism::{self, NumericsCaps, Settings};
use crate::error::{Error, Result};
use crate::model::{host_values, Mlp, MlpShape};
use crate::platform;
use crate::train::{self, Checkpoint, Curves, EpochEnd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tch::Kind;

/// Provenance common to every run in this process.
pub fn base_provenance(cfg: &RunConfig, caps: &NumericsCaps) -> Provenance {
    let device = cfg.device();
    let mut p = Provenance::default();
    let facts = platform::facts(device);
    let fact = |k: &str| {
        facts
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    for k in [
        "crate_version",
        "git_commit",
        "tch_version",
        "libtorch_version",
    ] {
        p.set(k, fact(k));
    }
    p.set("device", &cfg.device);
    p.set("device_name", fact("device_name"));
    p.set("threads", cfg.threads);
    p.set("seed", cfg.seed);
    p.set("cpu_capability", fact("cpu_capability"));
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
    p
}

/// Runs one validated configuration end to end (training from scratch, or from `resume`) and
/// returns its record (not yet written). `on_epoch` sees the end of every epoch.
pub fn run_one(
    cfg: &RunConfig,
    data: &Dataset,
    caps: &NumericsCaps,
    resume: Option<&Checkpoint>,
    on_epoch: impl FnMut(&EpochEnd) -> Result<()>,
) -> Result<RunRecord> {
    let device = cfg.device();
    crate::config::bounds::device(&cfg.device)
        .map_err(|why| Error::config("run", "device", why))?;
    let started = std::time::SystemTime::now();
    determinism::seed_everything(&Settings {
        seed: cfg.seed,
        threads: cfg.threads,
        device,
    })?;
    if device == tch::Device::Cpu {
        caps.verify()?;
    }
    let mut provenance = base_provenance(cfg, caps);
    provenance.set("start_time", platform::utc_timestamp(started));
    provenance.set(
        "data_source",
        data.files
            .first()
            .map(|f| f.path.display().to_string())
            .unwrap_or_default(),
    );

    if data.name != cfg.data.dataset {
        return Err(Error::config(
            "run",
            "data.dataset",
            format!(
                "the config asks for {} but {} was loaded",
                cfg.data.dataset.title(),
                data.name.title()
            ),
        ));
    }
    let split = Split::new(data, cfg.split, cfg.seed, cfg.data.label_noise, device)?;
    let model = Mlp::new(MlpShape::fashion(cfg.width), cfg.seed, Kind::Float, device);
    let trained = train::train(&model, &split, &cfg.sgd, cfg.seed, resume, on_epoch)?;
    // The measured model: the last epoch's, or the best-validation epoch's.
    let measured_epoch = match &trained.best {
        Some(b) => {
            b.restore(&model)?;
            Some(b.epoch)
        }
        None => None,
    };
    let (test_loss, test_acc) = train::evaluate(&model, &split.test);
    let c = &trained.curves;
    let at = |v: &Vec<f64>| match measured_epoch {
        Some(e) => v.get(e as usize - 1).copied().unwrap_or(f64::NAN),
        None => v.last().copied().unwrap_or(f64::NAN),
    };
    let final_metrics = FinalMetrics {
        train_loss: at(&c.train_loss),
        train_acc: at(&c.train_acc),
        val_loss: at(&c.val_loss),
        val_acc: at(&c.val_acc),
        test_loss,
        test_acc,
        diverged: trained.diverged(),
        epochs_completed: c.epoch.len() as i64,
        steps: trained.steps,
        stop_reason: trained.stop,
        measured_epoch,
        noisy_acc: (!c.noisy_acc.is_empty()).then(|| at(&c.noisy_acc)),
        clean_acc: (!c.clean_acc.is_empty()).then(|| at(&c.clean_acc)),
    };
    // A run that diverged after its best epoch still has a finite model to measure.
    let curvature = if trained.diverged() && measured_epoch.is_none() {
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
    provenance.set("end_time", platform::now());
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
        noise: split.noise,
    })
}

/// Where `run --out OUT [--name NAME]` writes: OUT itself when it ends in `.h5`, else
/// `OUT/<NAME or the run's name>.h5`.
pub fn artifact_path(out: &Path, name: Option<&str>, cfg: &RunConfig) -> PathBuf {
    if out.extension().is_some_and(|e| e == "h5") {
        out.to_path_buf()
    } else {
        out.join(format!(
            "{}.h5",
            name.map(str::to_string).unwrap_or_else(|| cfg.run_name())
        ))
    }
}

/// Everything one run needs, validated by the caller.
pub struct RunRequest {
    pub config: RunConfig,
    /// The artifact to write.
    pub dest: PathBuf,
    pub caps: NumericsCaps,
    /// Minimum time between checkpoints (zero: every epoch).
    pub checkpoint_every: Duration,
    pub lookup: Lookup,
}

/// What happens during [`execute`], for the caller to show.
pub enum RunEvent<'a> {
    /// Training continues from the run's checkpoint.
    Resumed {
        checkpoint: &'a Path,
        epochs_done: usize,
    },
    /// A checkpoint was found but not used; training starts from scratch.
    CheckpointIgnored { checkpoint: &'a Path, why: String },
    /// The end of an epoch.
    Epoch(&'a Curves),
    /// Something worth saying that changes nothing.
    Warning(String),
}

/// The checkpoint at `path` if it belongs to this run (same resolved config, same platform
/// class); otherwise why not.
fn resumable(
    path: &Path,
    config_toml: &str,
    class: &str,
) -> std::result::Result<Option<Checkpoint>, String> {
    if !path.exists() {
        return Ok(None);
    }
    match artifact::load_checkpoint(path) {
        Ok(s) if s.config_toml == config_toml && s.platform_class == class => {
            Ok(Some(s.checkpoint))
        }
        Ok(s) if s.config_toml != config_toml => Err("checkpoint of another configuration".into()),
        Ok(s) => Err(format!(
            "checkpoint of platform class {}, this is {class}",
            s.platform_class
        )),
        Err(e) => Err(format!("unreadable checkpoint ({e})")),
    }
}

/// Whether the run may write `dest`: it does not exist, or it is an artifact of this same run
/// (of this or an older format, with the same config or of the same grid point of the same
/// experiment profile), which a re-run replaces. Anything else there (a folder, a file that is not an artifact, another
/// run's artifact) is the user's and is an error before any training.
pub fn may_replace(dest: &Path, cfg: &RunConfig) -> Result<()> {
    let refuse = |what: String| {
        Err(Error::Invalid(format!(
            "{}: {what}; refusing to overwrite it (choose another --out or --name, or move it away)",
            dest.display()
        )))
    };
    if dest.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: is a folder; --out names a folder to write <name>.h5 into, or a file ending in .h5",
            dest.display()
        )));
    }
    // Before training, not after: the writer would refuse it at the end.
    crate::files::output::refuse_special(dest)?;
    if !dest.exists() {
        return Ok(());
    }
    let Ok(f) = crate::files::h5::open(dest) else {
        return refuse("exists and is not an HDF5 file".into());
    };
    let attr = |name: &str| crate::files::h5::read_attr_str(dest, &f, name).ok();
    let format = attr("format").unwrap_or_default();
    let version = |f: &str| {
        f.strip_prefix("three-factors-run/")
            .and_then(|v| v.parse::<u32>().ok())
    };
    let Some(theirs_version) = version(&format) else {
        return refuse("exists and is not a three-factors run artifact".into());
    };
    if Some(theirs_version) > version(artifact::FORMAT) {
        return refuse(format!("is an artifact of a newer version ({format})"));
    }
    // Any version's config is read the same way (older formats are re-run, but only when they
    // are this run's).
    let theirs = attr("config_toml").and_then(|t| RunConfig::from_toml(&t, dest).ok());
    match theirs {
        // The same config, or the same point of the same experiment profile (whose config
        // may have been edited since).
        Some(t)
            if t == *cfg
                || !t.point.is_empty()
                    && (&t.experiment, &t.profile, &t.point)
                        == (&cfg.experiment, &cfg.profile, &cfg.point) =>
        {
            Ok(())
        }
        Some(t) => refuse(format!(
            "holds a run of another config ({}/{} {}; differs in {})",
            t.experiment,
            t.profile,
            t.run_name(),
            t.differing_fields(cfg).join(", ")
        )),
        None => refuse("is a run artifact without a readable config".into()),
    }
}

/// Runs `req` to its artifact: checks the destination is writable before anything else, loads
/// the data, resumes from the run's checkpoint where it may, checkpoints while training, writes
/// the artifact atomically and removes the checkpoint. Returns the artifact's summary.
pub fn execute(req: &RunRequest, mut on: impl FnMut(RunEvent)) -> Result<ArtifactSummary> {
    let cfg = &req.config;
    may_replace(&req.dest, cfg)?;
    let dir = crate::files::parent_dir(&req.dest);
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Invalid(format!(
            "{}: output folder cannot be created: {e}",
            dir.display()
        ))
    })?;
    tempfile::tempfile_in(dir).map_err(|e| {
        Error::Invalid(format!(
            "{}: output folder is not writable: {e}",
            dir.display()
        ))
    })?;
    let data = Dataset::load(&req.lookup)?;

    let ckpt = artifact::checkpoint_path(&req.dest);
    let class = determinism::platform_class(cfg.device(), &req.caps, cfg.threads);
    let config_toml = cfg.to_toml();
    let resume = match resumable(&ckpt, &config_toml, &class) {
        Ok(r) => r,
        Err(why) => {
            on(RunEvent::CheckpointIgnored {
                checkpoint: &ckpt,
                why,
            });
            None
        }
    };
    if let Some(r) = &resume {
        on(RunEvent::Resumed {
            checkpoint: &ckpt,
            epochs_done: r.epochs_done(),
        });
    }
    let mut saved = Instant::now();
    let rec = run_one(cfg, &data, &req.caps, resume.as_ref(), |e| {
        on(RunEvent::Epoch(e.curves));
        if e.stop.is_none() && saved.elapsed() >= req.checkpoint_every {
            artifact::save_checkpoint(&ckpt, &e.checkpoint()?, &config_toml, &class)?;
            saved = Instant::now();
        }
        Ok(())
    })?;
    let hash = artifact::write_run(&req.dest, &rec)?;
    match std::fs::remove_file(&ckpt) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => on(RunEvent::Warning(format!(
            "{}: could not remove the checkpoint: {e}",
            ckpt.display()
        ))),
        _ => {}
    }
    Ok(ArtifactSummary::of_record(&rec, &req.dest, &hash))
}
