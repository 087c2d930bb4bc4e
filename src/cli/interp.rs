//! `interpolate`: the loss along the line between two artifacts' models.
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use three_factors::artifact::line::LineMeta;
use three_factors::curvature::interpolate::{interpolate as measure, Endpoint, LineSpec};
use three_factors::data::{Dataset, Lookup};
use three_factors::determinism::{self, Numerics, Settings};
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
    /// Output stem: writes <out>.h5, <out>.csv, <out>.png, <out>.svg.
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
    let stem = match a.out.extension() {
        Some(e) if e == "h5" => a.out.with_extension(""),
        _ => a.out.clone(),
    };
    let (ea, eb) = (Endpoint::load(&a.a)?, Endpoint::load(&a.b)?);
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
