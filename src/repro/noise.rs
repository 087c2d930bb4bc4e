//! The per-sample gradient covariance of runs already trained (e.g. a Fig. 3 grid): each
//! artifact's stored model is restored, its split and evaluation subset rebuilt and checked, and
//! C measured as `curvature.noise_probes` would have during the run (same subset, same probe
//! stream), beside the Hessian the artifact recorded. The result is a derived table.
use crate::artifact::{ArtifactSummary, NoiseSummary};
use crate::curvature::gradient_noise_of;
use crate::curvature::interpolate::Endpoint;
use crate::data::{Dataset, Lookup};
use crate::determinism::{self, Settings};
use crate::error::{Error, Result};
use crate::metrics::{Metric, Row};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tch::Device;

/// The table's metric columns after `run` and `eta_over_s`.
pub const NOISE_COLUMNS: [Metric; 5] = [
    Metric::Trace,
    Metric::NoiseTrace,
    Metric::NoiseToHessianTrace,
    Metric::NoiseAlignment,
    Metric::Eq9LossRatio,
];

/// Measures C for the artifact at `path` with `probes` probes; `data` caches the dataset
/// between artifacts. Returns the artifact's summary with `noise` filled in.
pub fn measure(
    path: &Path,
    probes: usize,
    data_dir: Option<&Path>,
    threads: usize,
    device: Device,
    data: &mut Option<Dataset>,
) -> Result<ArtifactSummary> {
    if probes < 2 {
        return Err(Error::Invalid(format!(
            "--probes must be at least 2 (a standard error needs two), got {probes}"
        )));
    }
    let e = Endpoint::load(path)?;
    let cfg = &e.summary.config;
    if e.summary.final_metrics.diverged {
        return Err(Error::Invalid(format!(
            "{}: the run diverged; there is no minimum to measure",
            path.display()
        )));
    }
    if data.as_ref().is_none_or(|d| d.name != cfg.data.dataset) {
        *data = Some(Dataset::load(&Lookup::from_env(
            cfg.data.dataset,
            data_dir,
        ))?);
    }
    determinism::seed_everything(&Settings {
        seed: cfg.seed,
        threads,
        device,
    })?;
    let split = e.split(data.as_ref().expect("loaded above"), device)?;
    let model = e.restore(device)?;
    let n = gradient_noise_of(&model, &split.train, &cfg.curvature, cfg.seed, probes)?;
    let mut s = e.summary;
    s.noise = Some(NoiseSummary::of(&n));
    Ok(s)
}

/// `run,eta_over_s,<NOISE_COLUMNS>,noise_trace_se,probes` for each measured artifact.
pub fn csv(measured: &[ArtifactSummary]) -> String {
    let mut out = String::from("run,eta_over_s");
    for m in NOISE_COLUMNS {
        out += &format!(",{}", m.as_str());
    }
    out += ",noise_trace_se,probes\n";
    for s in measured {
        let r = Row::from_summary(s, None, &[]);
        let _ = write!(out, "{},{}", r.name, r.eta_over_s);
        for m in NOISE_COLUMNS {
            let _ = write!(out, ",{}", m.of(&r));
        }
        let n = s.noise.expect("measured");
        let _ = writeln!(out, ",{},{}", n.trace_se, n.probes);
    }
    out
}

/// The run artifacts among `paths` (files, or folders of `.h5` files; tables, lines and theory
/// files are skipped).
pub fn artifacts(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    Ok(crate::check::gather(paths)?
        .runs
        .into_iter()
        .map(|s| s.path)
        .collect())
}
