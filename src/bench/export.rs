//! `bench export`: one run of the history in the JSON formats continuous-benchmarking services
//! read, so a dashboard can track the kernels without knowing HDF5.
//!
//! - Bencher Metric Format (BMF, `bencher run --adapter json`): `{"<kernel>": {"latency":
//!   {"value", "lower_value", "upper_value"}, "throughput": {...}}}`, latency in nanoseconds per
//!   repetition, throughput in samples (matmul: FLOP) per second.
//! - The `customSmallerIsBetter` format of github-action-benchmark: `[{"name", "unit", "value",
//!   "range", "extra"}]`, one entry per kernel, milliseconds per repetition.
//!
//! Value = median, bounds = median ∓ MAD (the history's own spread measure).
use super::history::Run;
use serde_json::{json, Map, Value};

/// The formats `bench export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Bencher Metric Format (`bencher run --adapter json --file FILE`).
    Bencher,
    /// github-action-benchmark's `customSmallerIsBetter` (`tool: customSmallerIsBetter`).
    GithubActionBenchmark,
}

/// Whether the file at `path` is a JSON export of either format (so that `--out` may replace it):
/// an object of kernels each with a `latency`, or an array of entries with `name`, `unit` and
/// `value`.
pub fn is_export(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => m.values().all(|v| v.get("latency").is_some()),
        Ok(Value::Array(a)) => a
            .iter()
            .all(|e| ["name", "unit", "value"].iter().all(|k| e.get(k).is_some())),
        _ => false,
    }
}

/// `run` in `format`, pretty-printed.
pub fn export(run: &Run, format: Format) -> String {
    let v = match format {
        Format::Bencher => bencher(run),
        Format::GithubActionBenchmark => github_action_benchmark(run),
    };
    serde_json::to_string_pretty(&v).expect("JSON of finite numbers and strings") + "\n"
}

/// A JSON number, or null for a value JSON cannot hold (NaN, infinity).
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn bencher(run: &Run) -> Value {
    let mut out = Map::new();
    for m in &run.measurements {
        let (med, mad) = (m.median_s(), m.mad_s());
        if !(med.is_finite() && med > 0.0 && mad.is_finite()) {
            continue;
        }
        let ns = |s: f64| num(s * 1e9);
        let lo = (med - mad).max(0.0);
        let rate = |s: f64| num(m.work / s);
        let mut measures = Map::new();
        measures.insert(
            "latency".into(),
            json!({"value": ns(med), "lower_value": ns(lo), "upper_value": ns(med + mad)}),
        );
        if m.work.is_finite() && m.work > 0.0 {
            // Slower is lower: the bounds swap.
            let mut t = Map::new();
            t.insert("value".into(), rate(med));
            t.insert("lower_value".into(), rate(med + mad));
            if lo > 0.0 {
                t.insert("upper_value".into(), rate(lo));
            }
            measures.insert("throughput".into(), Value::Object(t));
        }
        out.insert(m.kernel.clone(), Value::Object(measures));
    }
    Value::Object(out)
}

fn github_action_benchmark(run: &Run) -> Value {
    let extra = format!(
        "{} [{}], run {}, {}",
        run.fingerprint.label(),
        run.fingerprint_id,
        run.run_id,
        run.time
    );
    Value::Array(
        run.measurements
            .iter()
            .filter(|m| m.median_s().is_finite() && m.mad_s().is_finite())
            .map(|m| {
                json!({
                    "name": m.kernel,
                    "unit": "ms",
                    "value": num(m.median_s() * 1e3),
                    "range": format!("± {:.4}", m.mad_s() * 1e3),
                    "extra": format!("{extra}; {} reps", m.times_s.len()),
                })
            })
            .collect(),
    )
}
