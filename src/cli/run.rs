//! `run` and `inspect`: one configuration through the pipeline, and reading artifacts back.
use super::RunArgs;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use three_factors::artifact::{self, ArtifactSummary};
use three_factors::config::{Experiment, RunConfig};
use three_factors::data::{FashionMnist, Lookup};
use three_factors::determinism::{self, NumericsCaps};
use three_factors::repro;
use three_factors::train::Checkpoint;

/// Resolves `run`'s arguments into one validated config: built-in defaults, or `--config`, or
/// a profile's base; then every flag given on the command line.
pub fn resolve(a: &RunArgs) -> Result<RunConfig> {
    let mut c = if let Some(path) = &a.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        RunConfig::from_toml(&text, path)?
    } else if let Some(p) = &a.profile {
        Experiment::load(&a.experiment)?.base(p)?
    } else {
        RunConfig::adhoc()
    };
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
    set!(c.width, a.width);
    set!(c.split.train, a.train_samples);
    set!(c.split.val, a.val_samples);
    set!(c.split.test, a.test_samples);
    set!(c.curvature.eval_samples, a.eval_samples);
    set!(c.threads, a.threads);
    set!(c.device, a.device);
    if let Some(s) = &a.schedule {
        c.sgd.schedule = s
            .parse()
            .map_err(|e: String| three_factors::Error::config("--schedule", "sgd.schedule", e))?;
    }
    if let Some(h) = &a.hvp {
        c.curvature.hvp = h
            .parse()
            .map_err(|e: String| three_factors::Error::config("--hvp", "curvature.hvp", e))?;
    }
    c.validate("command line")?;
    Ok(c)
}

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

pub fn epoch_bar(epochs: usize, hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(epochs as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} {msg} (ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

pub fn run(a: RunArgs, caps: &NumericsCaps) -> Result<ExitCode> {
    let cfg = resolve(&a)?;
    let dest = artifact_path(&a.out, a.name.as_deref(), &cfg);
    // Fail before training if the destination cannot be written.
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: output folder cannot be created", dir.display()))?;
    tempfile::tempfile_in(dir)
        .with_context(|| format!("{}: output folder is not writable", dir.display()))?;

    let data = FashionMnist::load(&Lookup::from_env(a.data_dir.as_deref()))
        .context("loading Fashion-MNIST")?;
    if !(a.checkpoint_secs >= 0.0 && a.checkpoint_secs.is_finite()) {
        bail!(
            "--checkpoint-secs: {} is not a number of seconds ≥ 0",
            a.checkpoint_secs
        );
    }
    let ckpt = artifact::checkpoint_path(&dest);
    let class = determinism::platform_class(cfg.device()?, caps, cfg.threads);
    let config_toml = cfg.to_toml();
    let resume = resumable(&ckpt, &config_toml, &class);
    let bar = epoch_bar(cfg.sgd.epochs, a.quiet);
    bar.set_prefix(cfg.run_name());
    let every = Duration::from_secs_f64(a.checkpoint_secs);
    let mut saved = Instant::now();
    let rec = repro::run_one(&cfg, &data, caps, resume.as_ref(), |e| {
        let c = e.curves;
        bar.set_position(c.epoch.len() as u64);
        bar.set_message(format!(
            "loss {:.4} train {:.3} val {:.3}",
            c.train_loss.last().unwrap_or(&f64::NAN),
            c.train_acc.last().unwrap_or(&f64::NAN),
            c.val_acc.last().unwrap_or(&f64::NAN)
        ));
        if !e.diverged && c.epoch.len() < cfg.sgd.epochs && saved.elapsed() >= every {
            artifact::save_checkpoint(&ckpt, &e.checkpoint()?, &config_toml, &class)?;
            saved = Instant::now();
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let hash =
        artifact::write_run(&dest, &rec).with_context(|| format!("writing {}", dest.display()))?;
    match std::fs::remove_file(&ckpt) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            eprintln!(
                "warning: {}: could not remove the checkpoint: {e}",
                ckpt.display()
            )
        }
        _ => {}
    }
    let s = artifact::read_summary(&dest)?;
    print_summary(&s);
    println!("content_sha256  {hash}");
    println!("wrote           {}", dest.display());
    Ok(ExitCode::SUCCESS)
}

/// The checkpoint at `path` if it belongs to this run (same resolved config, same platform
/// class); otherwise says why it is not used and returns None (training starts afresh and the
/// first new checkpoint replaces the old file).
fn resumable(path: &Path, config_toml: &str, class: &str) -> Option<Checkpoint> {
    if !path.exists() {
        return None;
    }
    match artifact::load_checkpoint(path) {
        Ok(s) if s.config_toml == config_toml && s.platform_class == class => {
            eprintln!(
                "resuming from {} after epoch {}",
                path.display(),
                s.checkpoint.epochs_done()
            );
            Some(s.checkpoint)
        }
        Ok(s) => {
            let why = if s.config_toml != config_toml {
                "another configuration".to_string()
            } else {
                format!("platform class {}, this is {class}", s.platform_class)
            };
            eprintln!(
                "warning: {}: checkpoint of {why}; training from scratch",
                path.display()
            );
            None
        }
        Err(e) => {
            eprintln!("warning: unreadable checkpoint, training from scratch: {e}");
            None
        }
    }
}

fn print_summary(s: &ArtifactSummary) {
    let c = &s.config;
    let f = &s.final_metrics;
    let k = &s.curvature;
    println!(
        "run             {} ({} / {})",
        c.run_name(),
        c.experiment,
        c.profile
    );
    println!(
        "eta/S           {:.3e}  (eta {}, S {}, {} epochs, width {}, {})",
        c.eta_over_s(),
        c.sgd.lr,
        c.sgd.batch_size,
        c.sgd.epochs,
        c.width,
        c.sgd.schedule
    );
    println!(
        "accuracy        train {:.4}  val {:.4}  test {:.4}{}",
        f.train_acc,
        f.val_acc,
        f.test_acc,
        if f.diverged { "  DIVERGED" } else { "" }
    );
    println!(
        "loss            train {:.4}  val {:.4}  test {:.4}",
        f.train_loss, f.val_loss, f.test_loss
    );
    println!(
        "lambda_max      {:.4}{}",
        k.lambda_max,
        if k.lambda_max_converged {
            ""
        } else {
            "  (power iteration did not converge)"
        }
    );
    println!(
        "frobenius_norm  {:.4} ± {:.4}  (/D = {:.3e}, D = {})",
        k.frobenius_norm,
        k.frobenius_norm_se,
        k.frobenius_norm / k.num_params as f64,
        k.num_params
    );
    println!("trace           {:.4} ± {:.4}", k.trace, k.trace_se);
}

pub fn inspect(files: &[PathBuf]) -> Result<ExitCode> {
    let mut mismatch = false;
    for (i, path) in files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let s = artifact::read_summary(path)?;
        println!("file            {}", path.display());
        for (k, v) in &s.provenance.0 {
            println!("{:<15} {v}", k);
        }
        print_summary(&s);
        if s.hash_ok() {
            println!("content_sha256  {} (verified)", s.stored_hash);
        } else {
            mismatch = true;
            println!(
                "content_sha256  MISMATCH: stored {}, content {}",
                s.stored_hash, s.recomputed_hash
            );
        }
    }
    Ok(if mismatch {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
