//! `interpolate`: the loss along the line between two artifacts' models.
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use three_factors::artifact::line::LineMeta;
use three_factors::curvature::interpolate::{interpolate as measure, Endpoint, LineSpec};
use three_factors::data::{Dataset, Lookup};
use three_factors::determinism::{self, Numerics, Settings};
use three_factors::files::{self, Replace};
use three_factors::report::interp::{render_line, write_line};

#[derive(clap::Args, Debug)]
pub struct InterpolateArgs {
    /// The model at α = 0 (a run artifact).
    pub a: PathBuf,
    /// The model at α = 1 (same width, dataset and split).
    pub b: PathBuf,
    /// First α.
    #[arg(long, default_value_t = -0.5)]
    pub from: f64,
    /// Last α.
    #[arg(long, default_value_t = 1.5)]
    pub to: f64,
    /// Evenly spaced α values from --from to --to (0 and 1 must fall on them).
    #[arg(long, default_value_t = 41)]
    pub points: usize,
    /// Basin edge: where the training loss first exceeds the endpoint's by this much.
    #[arg(long, default_value_t = 0.1)]
    pub rise: f64,
    /// Output stem: writes <out>.h5, <out>.csv, <out>.png, <out>.svg (a final .h5, .csv, .png or
    /// .svg is dropped first); a folder (existing, or written with a trailing '/') gets
    /// <out>/interp.h5 and the rest. Existing files are replaced only when they are such outputs.
    #[arg(long, default_value = "interp")]
    pub out: PathBuf,
    #[command(flatten)]
    pub on: super::MeasureOn,
    /// Do not print the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn interpolate(a: InterpolateArgs, numerics: Numerics) -> Result<ExitCode> {
    let spec = LineSpec {
        from: a.from,
        to: a.to,
        points: a.points,
        rise: a.rise,
    };
    spec.validate()?;
    a.on.validate()?;
    let stem = stem(&a.out);
    let inputs = [a.a.as_path(), a.b.as_path()];
    for (ext, replace) in [
        ("h5", LINE_H5),
        ("csv", LINE_CSV),
        ("png", files::output::FIGURE),
        ("svg", files::output::FIGURE),
    ] {
        files::vet_output(&files::output::appended(&stem, ext), &inputs, replace)?;
    }
    let (ea, eb) = (Endpoint::load(&a.a)?, Endpoint::load(&a.b)?);
    for (path, e) in [(&a.a, &ea), (&a.b, &eb)] {
        let f = &e.summary.final_metrics;
        if f.diverged || !f.train_loss.is_finite() {
            bail!(
                "{}: the run diverged (final training loss {}); a line from it would be NaN",
                path.display(),
                f.train_loss
            );
        }
    }
    three_factors::curvature::interpolate::check_pair(&ea, &eb)?;
    let dataset = ea.summary.config.data.dataset;
    let data = Dataset::load(&Lookup::from_env(dataset, a.on.data_dir.as_deref()))?;
    determinism::seed_everything(&Settings {
        seed: ea.summary.config.seed,
        threads: a.on.threads,
        device: a.on.device.device(),
    })?;
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(spec.points as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("interpolate [{bar:30}] α {pos}/{len} (ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let line = measure(&ea, &eb, &data, &spec, a.on.device.device(), |_| bar.inc(1))?;
    bar.finish_and_clear();
    let series = [
        ("training loss", &line.train_loss),
        ("training accuracy", &line.train_acc),
        ("validation loss", &line.val_loss),
        ("validation accuracy", &line.val_acc),
    ];
    for (what, v) in series {
        if let Some(k) = v.iter().position(|x| x.is_nan()) {
            bail!(
                "the {what} is NaN at α = {} (between {} and {}); nothing written",
                line.alpha[k],
                a.a.display(),
                a.b.display()
            );
        }
    }
    let meta = LineMeta {
        interpolation: String::new(),
        seed: -1,
        a: a.a.display().to_string(),
        a_hash: ea.summary.stored_hash.clone(),
        b: a.b.display().to_string(),
        b_hash: eb.summary.stored_hash.clone(),
        platform_class: determinism::platform_class(
            a.on.device.device(),
            &numerics.caps(),
            a.on.threads,
        ),
    };
    let title = format!(
        "A = {}  →  B = {}",
        ea.summary.config.run_name(),
        eb.summary.config.run_name()
    );
    write_line(&stem, &line, &meta, &title)?;
    out!("{}", render_line(&line, &meta));
    outln!("wrote {0}.h5, {0}.csv, {0}.png, {0}.svg", stem.display());
    Ok(ExitCode::SUCCESS)
}

/// An interpolation line's `.h5`, and its CSV, as `interpolate` writes them.
const LINE_H5: Replace = Replace::Ours {
    what: "an interpolation line",
    is: three_factors::artifact::line::is_line,
};
const LINE_CSV: Replace = Replace::Ours {
    what: "an interpolation CSV",
    is: |p| {
        files::output::starts_with(
            p,
            &[three_factors::report::interp::LINE_CSV_HEADER.as_bytes()],
        )
    },
};

/// The stem the four outputs share: `--out` less a final output extension, or `<folder>/interp`.
fn stem(out: &Path) -> PathBuf {
    let folder = out.as_os_str().to_string_lossy().ends_with('/') || out.is_dir();
    if folder {
        return out.join("interp");
    }
    match out.extension().and_then(|e| e.to_str()) {
        Some("h5" | "csv" | "png" | "svg") => out.with_extension(""),
        _ => out.to_path_buf(),
    }
}
