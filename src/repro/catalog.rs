//! The catalogue behind `repro list`: every experiment file the layout holds, its profiles, their
//! point counts and the work they ask for (sample-epochs and training FLOPs), with a time
//! estimate where the benchmark history has measured the SGD step on this CPU.
use crate::bench::{history, step_flops};
use crate::config::Experiment;
use crate::error::Result;
use crate::layout::Layout;
use crate::platform;
use std::path::PathBuf;

/// One profile's size.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileWork {
    pub profile: String,
    pub points: usize,
    /// Σ training samples × epochs over the points (with a target training loss, its epoch cap:
    /// an upper bound).
    pub sample_epochs: f64,
    /// Some point stops at a target training loss, so the work is at most what is shown.
    pub capped: bool,
    /// Σ FLOPs of every SGD step (forward and backward), curvature not included.
    pub train_flops: f64,
    /// Training time on one core of this machine at the rate the benchmark history measured,
    /// with the history run it came from; None when the history has no run of this CPU.
    pub estimate: Option<(f64, String)>,
}

/// One experiment file, or why it could not be read.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub experiment: std::result::Result<(String, String, Vec<ProfileWork>), String>,
}

impl Entry {
    /// The lines `repro list` prints for this file.
    pub fn render(&self) -> String {
        let (name, description, profiles) = match &self.experiment {
            Err(why) => return format!("{}: cannot be read: {why}\n", self.path.display()),
            Ok(e) => e,
        };
        let mut s = format!("{name}  ({})\n  {description}\n", self.path.display());
        for w in profiles {
            let time = match &w.estimate {
                Some((secs, from)) => {
                    format!("≈ {:.1} CPU-min training (rate from {from})", secs / 60.0)
                }
                None => "no bench history of this CPU".into(),
            };
            s += &format!(
                "  {:<8} {:>4} points  {:>11} sample-epochs  {:>9} TFLOP  {time}\n",
                w.profile,
                w.points,
                format!("{}{:.3e}", if w.capped { "≤" } else { "" }, w.sample_epochs),
                format!(
                    "{}{:.1}",
                    if w.capped { "≤" } else { "" },
                    w.train_flops / 1e12
                )
            );
        }
        s
    }
}

/// The achieved FLOP/s of the SGD step at (width, S) nearest to the given ones, from the latest
/// run in `runs` on this machine's CPU (any thread count; fewest threads preferred).
fn step_rate(runs: &[history::Run], width: usize, s: usize) -> Option<(f64, String)> {
    let cpu = platform::cpu_model();
    let run = runs
        .iter()
        .filter(|r| r.fingerprint.get("device") == "cpu" && r.fingerprint.get("cpu_model") == cpu)
        .min_by_key(|r| {
            (
                r.fingerprint
                    .get("threads")
                    .parse::<usize>()
                    .unwrap_or(usize::MAX),
                std::cmp::Reverse(r.time.clone()),
            )
        })?;
    let dist = |w: usize, b: usize| {
        ((w as f64 / width as f64).ln().abs()) + ((b as f64 / s as f64).ln().abs())
    };
    let (m, w, b) = run
        .measurements
        .iter()
        .filter_map(|m| {
            let rest = m.kernel.strip_prefix("sgd_step/w")?;
            let (w, b) = rest.split_once("/s")?;
            Some((m, w.parse().ok()?, b.parse().ok()?))
        })
        .min_by(|x, y| dist(x.1, x.2).total_cmp(&dist(y.1, y.2)))?;
    let rate = step_flops(w, b) / m.median_s();
    Some((
        rate,
        format!("{} ({} threads)", run.key(), run.fingerprint.get("threads")),
    ))
}

fn work(e: &Experiment, profile: &str, runs: &[history::Run]) -> Result<ProfileWork> {
    let points = e.resolve(profile)?;
    let mut w = ProfileWork {
        profile: profile.to_string(),
        points: points.len(),
        sample_epochs: 0.0,
        train_flops: 0.0,
        estimate: None,
        capped: false,
    };
    let mut seconds = Some((0.0, String::new()));
    for p in &points {
        let c = &p.config;
        let steps = c.sgd.epochs as f64 * c.split.train.div_ceil(c.sgd.batch_size) as f64;
        let flops = steps * step_flops(c.width, c.sgd.batch_size);
        w.sample_epochs += (c.split.train * c.sgd.epochs) as f64;
        w.capped |= c.sgd.target_train_loss.is_some();
        w.train_flops += flops;
        seconds = match (seconds, step_rate(runs, c.width, c.sgd.batch_size)) {
            (Some((t, _)), Some((rate, from))) => Some((t + flops / rate, from)),
            _ => None,
        };
    }
    w.estimate = seconds;
    Ok(w)
}

/// Every experiment in `layout`, with its profiles' work; `history` is the benchmark history
/// used for time estimates (missing or unreadable: no estimates).
pub fn catalog(layout: &Layout, history: &std::path::Path) -> Result<Vec<Entry>> {
    let runs = history::read(history).unwrap_or_default();
    let mut out = Vec::new();
    for path in layout.experiment_files()? {
        let experiment = Experiment::load(&path)
            .and_then(|e| {
                let profiles = e
                    .profiles
                    .keys()
                    .map(|p| work(&e, p, &runs))
                    .collect::<Result<Vec<_>>>()?;
                Ok((e.name.clone(), e.description.clone(), profiles))
            })
            .map_err(|e| e.to_string());
        out.push(Entry { path, experiment });
    }
    Ok(out)
}
