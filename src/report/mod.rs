//! Stage 7 — report: the grid table (printed and as `fig3.h5`), rank correlations with η/S, the
//! spread among equal-η/S runs, and the three-panel figure. Input: artifact summaries; output:
//! text, HDF5, PNG and SVG.
mod plot;
mod stats;

pub use plot::{bench as plot_bench, fig3 as plot_fig3};
pub use stats::{equal_ratio_groups, spearman};

use crate::artifact::{h5, ArtifactSummary};
use crate::error::Result;
use std::fmt::Write as _;
use std::path::Path;

/// The metrics plotted against η/S and tested for the paper's trends, by stable name.
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

/// One grid point's results.
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
}

impl Row {
    pub fn from_summary(s: &ArtifactSummary, min_train_acc: Option<f64>) -> Row {
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
        }
    }
}

/// The printed grid table.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>8} {:>5} {:>10} {:>11} {:>11} {:>11} {:>7} {:>7} {:>7}",
        "run", "eta", "S", "eta/S", "lambda_max", "frob_norm", "trace", "train", "val", "test"
    );
    for r in rows {
        let mark = if r.diverged {
            " * diverged"
        } else if r.flagged {
            " ! below min train acc"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>5} {:>10.3e} {:>11.4} {:>11.4} {:>11.2} {:>7.4} {:>7.4} {:>7.4}{mark}",
            r.name,
            r.lr,
            r.batch_size,
            r.eta_over_s,
            r.lambda_max,
            r.frobenius_norm,
            r.trace,
            r.train_acc,
            r.val_acc,
            r.test_acc
        );
    }
    s
}

/// Spearman correlation of η/S with each metric (diverged runs excluded).
pub fn correlations(rows: &[Row]) -> Vec<(Metric, f64)> {
    let ok: Vec<&Row> = rows.iter().filter(|r| !r.diverged).collect();
    let x: Vec<f64> = ok.iter().map(|r| r.eta_over_s).collect();
    Metric::ALL
        .iter()
        .map(|&m| {
            (
                m,
                spearman(&x, &ok.iter().map(|r| m.of(r)).collect::<Vec<_>>()),
            )
        })
        .collect()
}

/// For each η/S shared by several runs: the relative spread (max−min)/mean of λ_max and ‖H‖_F
/// and the absolute spread of validation accuracy.
pub fn equal_ratio_spread(rows: &[Row]) -> String {
    let mut s = String::new();
    let ratios: Vec<f64> = rows.iter().map(|r| r.eta_over_s).collect();
    let groups = equal_ratio_groups(&ratios);
    if groups.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "{:>10}  {:>4}  {:>16}  {:>16}  {:>14}",
        "eta/S", "runs", "lambda_max rel", "frob_norm rel", "val_acc abs"
    );
    for (ratio, idx) in groups {
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
            "{ratio:>10.3e}  {:>4}  {:>16.3}  {:>16.3}  {:>14.4}",
            idx.len(),
            spread(Metric::LambdaMax, true),
            spread(Metric::FrobeniusNorm, true),
            spread(Metric::ValAcc, false)
        );
    }
    s
}

/// One column of the grid table: how to read it off a [`Row`], by type.
#[derive(Clone, Copy)]
enum Column {
    F64(fn(&Row) -> f64),
    I64(fn(&Row) -> i64),
    Flag(fn(&Row) -> bool),
    Text(fn(&Row) -> &str),
}

/// The grid table's columns, in order: the same names in `fig3.h5` (`/grid/<name>`) and in
/// `fig3.csv`'s header.
const COLUMNS: [(&str, Column); 15] = [
    ("run", Column::Text(|r| &r.name)),
    ("lr", Column::F64(|r| r.lr)),
    ("batch_size", Column::I64(|r| r.batch_size)),
    ("eta_over_s", Column::F64(|r| r.eta_over_s)),
    ("seed", Column::I64(|r| r.seed)),
    ("lambda_max", Column::F64(|r| r.lambda_max)),
    ("frobenius_norm", Column::F64(|r| r.frobenius_norm)),
    ("trace", Column::F64(|r| r.trace)),
    ("train_acc", Column::F64(|r| r.train_acc)),
    ("val_acc", Column::F64(|r| r.val_acc)),
    ("test_acc", Column::F64(|r| r.test_acc)),
    ("final_train_loss", Column::F64(|r| r.final_train_loss)),
    ("diverged", Column::Flag(|r| r.diverged)),
    ("flagged", Column::Flag(|r| r.flagged)),
    ("content_sha256", Column::Text(|r| &r.content_sha256)),
];

/// Writes the grid table as `fig3.csv` (header row, then one row per run; flags as 0/1, floats
/// in Rust's shortest round-trip form), atomically. `pd.read_csv("fig3.csv")` reads it.
pub fn write_grid_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let mut out = COLUMNS.map(|(name, _)| name).join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|(_, c)| match c {
                Column::F64(f) => f(r).to_string(),
                Column::I64(f) => f(r).to_string(),
                Column::Flag(f) => u8::from(f(r)).to_string(),
                // Run names and hashes are [A-Za-z0-9._-]; quote anyway if that ever changes.
                Column::Text(f) => {
                    let t = f(r);
                    if t.contains([',', '"', '\n']) {
                        format!("\"{}\"", t.replace('"', "\"\""))
                    } else {
                        t.to_string()
                    }
                }
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    crate::atomic::write(path, out.as_bytes())
}

/// Writes the grid table as `fig3.h5`: one 1-D dataset per column under `/grid` (pandas:
/// `pd.DataFrame({k: f["grid"][k][()] for k in f["grid"]})`), plus the correlations under
/// `/spearman`. Returns its content hash (also stored as the `content_sha256` attribute).
pub fn write_grid_h5(path: &Path, experiment: &str, profile: &str, rows: &[Row]) -> Result<String> {
    h5::create_atomic(path, |f, p| {
        h5::attr_str(p, f, "format", "three-factors-grid/1")?;
        h5::attr_str(p, f, "experiment", experiment)?;
        h5::attr_str(p, f, "profile", profile)?;
        let g = h5::group(p, f, "grid")?;
        for (name, column) in COLUMNS {
            match column {
                Column::F64(f) => h5::vector(p, &g, name, &rows.iter().map(f).collect::<Vec<_>>())?,
                Column::I64(f) => h5::vector(p, &g, name, &rows.iter().map(f).collect::<Vec<_>>())?,
                Column::Flag(f) => h5::vector(
                    p,
                    &g,
                    name,
                    &rows.iter().map(|r| u8::from(f(r))).collect::<Vec<_>>(),
                )?,
                Column::Text(f) => {
                    let v: Vec<hdf5::types::VarLenUnicode> = rows
                        .iter()
                        .map(|r| f(r).parse().expect("run names and hashes are ASCII"))
                        .collect();
                    h5::vector(p, &g, name, &v)?
                }
            }
        }
        let g = h5::group(p, f, "spearman")?;
        for (m, rho) in correlations(rows) {
            h5::scalar(p, &g, m.as_str(), rho)?;
        }
        let hash = h5::content_hash(p, f, &[], &[])?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}
