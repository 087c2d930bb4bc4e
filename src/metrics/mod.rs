//! Metrics and statistics, below both `check` and `report`: one row of results per run (read
//! from its artifact summary), the metrics by stable name, the numeric columns an analysis can
//! use, Spearman correlations and the comparison of runs that share a value.
mod stats;

pub use stats::{equal_groups, spearman};

use crate::artifact::ArtifactSummary;
use crate::config::Analysis;
use crate::error::{Error, Result};
use std::fmt::Write as _;

/// The metrics plotted and tested for the paper's trends, by stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    LambdaMax,
    FrobeniusNorm,
    Trace,
    ValAcc,
    TestAcc,
    TrainAcc,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::LambdaMax,
        Metric::FrobeniusNorm,
        Metric::Trace,
        Metric::ValAcc,
        Metric::TestAcc,
        Metric::TrainAcc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LambdaMax => "lambda_max",
            Metric::FrobeniusNorm => "frobenius_norm",
            Metric::Trace => "trace",
            Metric::ValAcc => "val_acc",
            Metric::TestAcc => "test_acc",
            Metric::TrainAcc => "train_acc",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Parses a metric name, or says which names exist.
    pub fn named(s: &str) -> std::result::Result<Metric, String> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown metric '{s}' (expected one of: {})",
                Self::ALL.map(|m| m.as_str()).join(", ")
            )
        })
    }

    pub fn of(self, r: &Row) -> f64 {
        match self {
            Metric::LambdaMax => r.lambda_max,
            Metric::FrobeniusNorm => r.frobenius_norm,
            Metric::Trace => r.trace,
            Metric::ValAcc => r.val_acc,
            Metric::TestAcc => r.test_acc,
            Metric::TrainAcc => r.train_acc,
        }
    }
}

/// The value of a varied config field in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    F64(f64),
    I64(i64),
    Text(String),
}

impl Cell {
    fn of(v: Option<toml::Value>) -> Cell {
        match v {
            Some(toml::Value::Float(f)) => Cell::F64(f),
            Some(toml::Value::Integer(i)) => Cell::I64(i),
            Some(toml::Value::String(s)) => Cell::Text(s),
            Some(other) => Cell::Text(other.to_string()),
            None => Cell::Text(String::new()),
        }
    }
    pub fn number(&self) -> Option<f64> {
        match self {
            Cell::F64(f) => Some(*f),
            Cell::I64(i) => Some(*i as f64),
            Cell::Text(_) => None,
        }
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::F64(v) => write!(f, "{v}"),
            Cell::I64(v) => write!(f, "{v}"),
            Cell::Text(v) => f.write_str(v),
        }
    }
}

/// One run's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub lr: f64,
    pub batch_size: i64,
    pub eta_over_s: f64,
    pub seed: i64,
    pub lambda_max: f64,
    pub frobenius_norm: f64,
    pub trace: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub test_acc: f64,
    pub final_train_loss: f64,
    pub diverged: bool,
    /// Below the profile's `min_train_acc` (the paper kept only ≈100 % models).
    pub flagged: bool,
    pub content_sha256: String,
    /// The varied config fields asked for (dotted path, value), in order.
    pub fields: Vec<(String, Cell)>,
}

/// The numeric columns every row has besides the metrics.
const NUMERIC: [&str; 4] = ["lr", "batch_size", "eta_over_s", "seed"];

impl Row {
    /// The row of an artifact; `fields` are the varied config fields to carry along.
    pub fn from_summary(s: &ArtifactSummary, min_train_acc: Option<f64>, fields: &[String]) -> Row {
        let c = &s.config;
        let f = &s.final_metrics;
        Row {
            name: c.run_name(),
            lr: c.sgd.lr,
            batch_size: c.sgd.batch_size as i64,
            eta_over_s: c.eta_over_s(),
            seed: c.seed as i64,
            lambda_max: s.curvature.lambda_max,
            frobenius_norm: s.curvature.frobenius_norm,
            trace: s.curvature.trace,
            train_acc: f.train_acc,
            val_acc: f.val_acc,
            test_acc: f.test_acc,
            final_train_loss: f.train_loss,
            diverged: f.diverged,
            flagged: min_train_acc.is_some_and(|m| f.train_acc.is_nan() || f.train_acc < m),
            content_sha256: s.stored_hash.clone(),
            fields: fields
                .iter()
                .map(|k| (k.clone(), Cell::of(c.field(k))))
                .collect(),
        }
    }

    /// A numeric column by name: lr, batch_size, eta_over_s, seed, a metric or a varied field.
    pub fn number(&self, column: &str) -> Option<f64> {
        match column {
            "lr" => Some(self.lr),
            "batch_size" => Some(self.batch_size as f64),
            "eta_over_s" => Some(self.eta_over_s),
            "seed" => Some(self.seed as f64),
            _ => Metric::parse(column).map(|m| m.of(self)).or_else(|| {
                self.fields
                    .iter()
                    .find(|(k, _)| k == column)
                    .and_then(|(_, c)| c.number())
            }),
        }
    }

    /// Any column as text (for legends and tables).
    pub fn text(&self, column: &str) -> String {
        match self.fields.iter().find(|(k, _)| k == column) {
            Some((_, c)) => c.to_string(),
            None => self
                .number(column)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        }
    }
}

/// Checks an analysis against the columns a table will have (`fields`: the varied config
/// fields); `origin` names the experiment file.
pub fn check_analysis(a: &Analysis, fields: &[String], origin: &str) -> Result<()> {
    let bad =
        |what: &str, reason: String| Err(Error::config(origin, format!("analysis.{what}"), reason));
    let numeric = |c: &str| {
        NUMERIC.contains(&c) || Metric::parse(c).is_some() || fields.iter().any(|f| f == c)
    };
    if !numeric(&a.x) {
        return bad(
            "x",
            format!(
                "'{}' is not a numeric column (have: {}, the metrics, and the varied fields {})",
                a.x,
                NUMERIC.join(", "),
                if fields.is_empty() {
                    "(none)".into()
                } else {
                    fields.join(", ")
                }
            ),
        );
    }
    for m in a.correlate.iter().chain(&a.figure.panels) {
        if let Err(e) = Metric::named(m) {
            return bad("correlate / figure.panels", e);
        }
    }
    if !numeric(&a.figure.colour) {
        return bad(
            "figure.colour",
            format!("'{}' is not a column of the table", a.figure.colour),
        );
    }
    Ok(())
}

/// Spearman correlation of `x` with each named metric, over the runs that did not diverge.
pub fn correlations(rows: &[Row], x: &str, metrics: &[String]) -> Vec<(String, f64)> {
    let ok: Vec<&Row> = rows.iter().filter(|r| !r.diverged).collect();
    let xs: Vec<f64> = ok.iter().map(|r| r.number(x).unwrap_or(f64::NAN)).collect();
    metrics
        .iter()
        .map(|m| {
            let ys: Vec<f64> = ok.iter().map(|r| r.number(m).unwrap_or(f64::NAN)).collect();
            (m.clone(), spearman(&xs, &ys))
        })
        .collect()
}

/// For each value of `x` shared by several runs: the relative spread (max−min)/mean of λ_max and
/// ‖H‖_F and the absolute spread of validation accuracy, as a printed table ("" if none).
pub fn equal_x_spread(rows: &[Row], x: &str) -> String {
    let mut s = String::new();
    let xs: Vec<f64> = rows
        .iter()
        .map(|r| r.number(x).unwrap_or(f64::NAN))
        .collect();
    let groups = equal_groups(&xs);
    if groups.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "{:>10}  {:>4}  {:>16}  {:>16}  {:>14}",
        x, "runs", "lambda_max rel", "frob_norm rel", "val_acc abs"
    );
    for (value, idx) in groups {
        let spread = |m: Metric, rel: bool| {
            let v: Vec<f64> = idx.iter().map(|&i| m.of(&rows[i])).collect();
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            if rel {
                (hi - lo) / mean
            } else {
                hi - lo
            }
        };
        let _ = writeln!(
            s,
            "{value:>10.3e}  {:>4}  {:>16.3}  {:>16.3}  {:>14.4}",
            idx.len(),
            spread(Metric::LambdaMax, true),
            spread(Metric::FrobeniusNorm, true),
            spread(Metric::ValAcc, false)
        );
    }
    s
}
