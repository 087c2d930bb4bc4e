//! `run` and `inspect`: one configuration through the pipeline, and reading artifacts back.
use super::RunArgs;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use three_factors::artifact;
use three_factors::config::{Experiment, RunConfig};
use three_factors::data::Lookup;
use three_factors::determinism::Numerics;
use three_factors::layout::Layout;
use three_factors::repro::{self, RunEvent, RunRequest};
use three_factors::Error;

/// Resolves `run`'s arguments into one validated config: built-in defaults, or `--config`, or
/// a profile's base (or one of its points); then every flag given on the command line. Also
/// returns the fields those flags changed.
pub fn resolve(a: &RunArgs) -> Result<(RunConfig, Vec<String>)> {
    let experiment = || {
        let path = a
            .experiment
            .clone()
            .unwrap_or_else(|| Layout::discover().experiment("fig3"));
        Experiment::load(&path)
    };
    let base = if let Some(path) = &a.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        RunConfig::from_toml(&text, path)?
    } else if let (Some(p), Some(point)) = (&a.profile, &a.point) {
        experiment()?.point(p, point)?.config
    } else if let Some(p) = &a.profile {
        experiment()?.base(p)?
    } else {
        RunConfig::adhoc()
    };
    let mut c = base.clone();
    macro_rules! set {
        ($field:expr, $v:expr) => {
            if let Some(v) = $v.clone() {
                $field = v;
            }
        };
    }
    set!(c.sgd.lr, a.lr);
    set!(c.sgd.batch_size, a.batch_size);
    set!(c.sgd.epochs, a.epochs);
    set!(c.seed, a.seed);
    set!(c.sgd.momentum, a.momentum);
    set!(c.sgd.weight_decay, a.weight_decay);
    set!(c.sgd.cycle_epochs, a.cycle_epochs);
    set!(c.sgd.milestones, a.milestones);
    set!(c.sgd.decay_factor, a.decay_factor);
    c.sgd.keep_best_val |= a.keep_best_val;
    set!(c.width, a.width);
    set!(c.data.dataset, a.dataset);
    set!(c.data.label_noise, a.label_noise);
    if a.stop_at_noisy_acc.is_some() {
        c.sgd.stop_at_noisy_acc = a.stop_at_noisy_acc;
    }
    set!(c.sgd.sampler, a.sampler);
    set!(c.curvature.noise_probes, a.noise_probes);
    set!(c.split.train, a.train_samples);
    set!(c.split.val, a.val_samples);
    set!(c.split.test, a.test_samples);
    set!(c.curvature.eval_samples, a.eval_samples);
    set!(c.threads, a.threads);
    set!(c.device, a.device);
    if let Some(s) = &a.schedule {
        c.sgd.schedule = s
            .parse()
            .map_err(|e: String| Error::config("--schedule", "sgd.schedule", e))?;
    }
    if a.target_train_loss.is_some() {
        c.sgd.target_train_loss = a.target_train_loss;
    }
    if let Some(m) = &a.bn_mode {
        c.curvature.bn_mode =
            toml::Value::String(m.clone())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    Error::config("--bn-mode", "curvature.bn_mode", e.to_string())
                })?;
    }
    if let Some(h) = &a.hvp {
        c.curvature.hvp = h
            .parse()
            .map_err(|e: String| Error::config("--hvp", "curvature.hvp", e))?;
    }
    c.validate("command line")?;
    let changed = base.differing_fields(&c);
    Ok((c, changed))
}

/// The fields every run name shows.
const SHOWN: [&str; 3] = ["sgd.lr", "sgd.batch_size", "seed"];

/// The artifact's file name without `.h5`: `--name` (a plain file name), else the run's name
/// with every field the command line changed besides η, S and the seed, so that two runs that
/// differ only in, say, `--width` never share a file.
fn artifact_name(a: &RunArgs, c: &RunConfig, changed: &[String]) -> Result<String> {
    if let Some(n) = &a.name {
        if a.out.extension().is_some_and(|e| e == "h5") {
            bail!(
                "--name '{n}' and --out {} both name the artifact; give --out a folder, or drop --name",
                a.out.display()
            );
        }
        if let Some(why) = three_factors::files::unsafe_name(n) {
            bail!(
                "--name '{n}': must be a plain file name, and it {why}; the artifact goes into --out"
            );
        }
        return Ok(n.strip_suffix(".h5").unwrap_or(n).to_string());
    }
    let extra: Vec<String> = changed
        .iter()
        .filter(|f| !SHOWN.contains(&f.as_str()))
        .cloned()
        .collect();
    // A grid point (`--point`, which takes no config flags) keeps its own name.
    Ok(if extra.is_empty() || !c.point.is_empty() {
        c.run_name()
    } else {
        three_factors::config::named_by(c, &extra)
    })
}

pub fn run(a: RunArgs, numerics: Numerics) -> Result<ExitCode> {
    let (config, changed) = resolve(&a)?;
    let name = artifact_name(&a, &config, &changed)?;
    if !(a.checkpoint_secs >= 0.0 && a.checkpoint_secs.is_finite()) {
        bail!(
            "--checkpoint-secs: {} is not a number of seconds ≥ 0",
            a.checkpoint_secs
        );
    }
    let req = RunRequest {
        dest: repro::artifact_path(&a.out, Some(&name), &config),
        caps: numerics.caps(),
        checkpoint_every: Duration::from_secs_f64(a.checkpoint_secs),
        lookup: Lookup::from_env(config.data.dataset, a.data_dir.as_deref()),
        config,
    };
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(req.config.sgd.epochs as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} {msg} (ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(req.config.run_name());
    let target = req
        .config
        .sgd
        .target_train_loss
        .map(|t| format!(" (target {t})"))
        .unwrap_or_default();
    let summary = repro::execute(&req, |e| match e {
        RunEvent::Resumed {
            checkpoint,
            epochs_done,
        } => errln!(
            "resuming from {} after epoch {epochs_done}",
            checkpoint.display()
        ),
        RunEvent::CheckpointIgnored { checkpoint, why } => errln!(
            "warning: {}: {why}; training from scratch",
            checkpoint.display()
        ),
        RunEvent::Epoch(c) => {
            let last = |v: &Vec<f64>| v.last().copied().unwrap_or(f64::NAN);
            bar.set_position(c.epoch.len() as u64);
            bar.set_message(format!(
                "train loss {:.4}{target} acc {:.3} val {:.3}",
                last(&c.train_loss),
                last(&c.train_acc),
                last(&c.val_acc)
            ));
        }
        RunEvent::Warning(w) => errln!("warning: {w}"),
    })
    .with_context(|| format!("running {}", req.dest.display()))?;
    bar.finish_and_clear();
    out!("{}", summary.render());
    outln!("content_sha256  {}", summary.stored_hash);
    outln!("wrote           {}", req.dest.display());
    Ok(ExitCode::SUCCESS)
}

/// Prints each file (run artifacts in full; grid tables, interpolation lines and theory files
/// by kind and hash). A file that cannot be read is reported and the rest still inspected:
/// exit 2 if any could not be read, else 1 if any hash does not verify.
pub fn inspect(files: &[PathBuf]) -> Result<ExitCode> {
    let (mut mismatch, mut unreadable) = (false, false);
    for (i, path) in files.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        match inspect_one(path) {
            Ok(ok) => mismatch |= !ok,
            Err(e) => {
                unreadable = true;
                errln!("error: {e:#}");
            }
        }
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if mismatch {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one file; returns whether its stored hash verifies.
fn inspect_one(path: &std::path::Path) -> Result<bool> {
    use three_factors::artifact::{line, theory};
    let hash_line = |stored: &str, recomputed: &str| {
        if stored == recomputed {
            outln!("content_sha256  {stored} (verified)");
        } else {
            outln!("content_sha256  MISMATCH: stored {stored}, content {recomputed}");
        }
        stored == recomputed
    };
    outln!("file            {}", path.display());
    if three_factors::files::h5::has_format(path, artifact::GRID_FORMAT) {
        outln!(
            "kind            experiment table ({})",
            artifact::GRID_FORMAT
        );
        outln!(
            "content_sha256  {} (recomputed; golden files record it)",
            three_factors::check::grid_hash(path)?
        );
        return Ok(true);
    }
    if line::is_line(path) {
        let l = line::read_line(path)?;
        outln!("kind            interpolation line {}", l.stem());
        outln!("between         {} and {}", l.meta.a, l.meta.b);
        outln!("platform_class  {}", l.meta.platform_class);
        return Ok(hash_line(&l.stored_hash, &l.recomputed_hash));
    }
    if theory::is_theory(path) {
        let t = theory::read_theory(path)?;
        outln!("kind            theory simulations");
        return Ok(hash_line(&t.stored_hash, &t.recomputed_hash));
    }
    let s = artifact::read_summary(path)?;
    for (k, v) in &s.provenance.0 {
        outln!("{:<15} {v}", k);
    }
    out!("{}", s.render());
    Ok(hash_line(&s.stored_hash, &s.recomputed_hash))
}
