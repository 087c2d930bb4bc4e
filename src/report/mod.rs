//! Stage 7 — report: an experiment's table (printed, as `<experiment>.h5` and `<experiment>.csv`),
//! its correlations and its figure, as the experiment's `[analysis]` declares. Input: rows of
//! results (`metrics::Row`); output: text, HDF5, CSV, PNG and SVG.
pub mod plot;

pub use plot::{dot_chart, figure};

use crate::artifact::GRID_FORMAT;
use crate::config::Analysis;
use crate::error::Result;
use crate::files::h5;
use crate::metrics::{correlations, Cell, Row};
use std::fmt::Write as _;
use std::path::Path;

/// The printed table: one line per run, varied fields after the run name.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let fields: Vec<&String> = rows
        .first()
        .map(|r| r.fields.iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let _ = write!(s, "{:<24} {:>8} {:>5} {:>10}", "run", "eta", "S", "eta/S");
    for f in &fields {
        let _ = write!(s, " {f:>12}");
    }
    let _ = writeln!(
        s,
        " {:>11} {:>11} {:>11} {:>7} {:>7} {:>7}",
        "lambda_max", "frob_norm", "trace", "train", "val", "test"
    );
    for r in rows {
        let mark = if r.diverged {
            " * diverged"
        } else if r.flagged {
            " ! below min train acc"
        } else {
            ""
        };
        let _ = write!(
            s,
            "{:<24} {:>8} {:>5} {:>10.3e}",
            r.name, r.lr, r.batch_size, r.eta_over_s
        );
        for (_, c) in &r.fields {
            let _ = write!(s, " {:>12}", c.to_string());
        }
        let _ = writeln!(
            s,
            " {:>11.4} {:>11.4} {:>11.2} {:>7.4} {:>7.4} {:>7.4}{mark}",
            r.lambda_max, r.frobenius_norm, r.trace, r.train_acc, r.val_acc, r.test_acc
        );
    }
    s
}

/// One column of the table, by type.
enum Column {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Flag(Vec<u8>),
    Text(Vec<String>),
}

/// The table's columns in order: the same names in `<experiment>.h5` (`/grid/<name>`) and in
/// `<experiment>.csv`'s header. Varied config fields (under their dotted path) follow `seed`.
fn columns(rows: &[Row]) -> Vec<(String, Column)> {
    let f = |g: fn(&Row) -> f64| Column::F64(rows.iter().map(g).collect());
    let i = |g: fn(&Row) -> i64| Column::I64(rows.iter().map(g).collect());
    let b = |g: fn(&Row) -> bool| Column::Flag(rows.iter().map(|r| u8::from(g(r))).collect());
    let t = |g: fn(&Row) -> &str| Column::Text(rows.iter().map(|r| g(r).to_string()).collect());
    let mut out: Vec<(String, Column)> = vec![
        ("run".into(), t(|r| &r.name)),
        ("lr".into(), f(|r| r.lr)),
        ("batch_size".into(), i(|r| r.batch_size)),
        ("eta_over_s".into(), f(|r| r.eta_over_s)),
        ("seed".into(), i(|r| r.seed)),
    ];
    let names: Vec<String> = rows
        .first()
        .map(|r| r.fields.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    for (k, name) in names.into_iter().enumerate() {
        let cells: Vec<&Cell> = rows.iter().map(|r| &r.fields[k].1).collect();
        let col = if cells.iter().all(|c| matches!(c, Cell::I64(_))) {
            Column::I64(
                cells
                    .iter()
                    .map(|c| c.number().unwrap_or(0.0) as i64)
                    .collect(),
            )
        } else if cells.iter().all(|c| c.number().is_some()) {
            Column::F64(
                cells
                    .iter()
                    .map(|c| c.number().unwrap_or(f64::NAN))
                    .collect(),
            )
        } else {
            Column::Text(cells.iter().map(|c| c.to_string()).collect())
        };
        out.push((name, col));
    }
    out.extend([
        ("lambda_max".into(), f(|r| r.lambda_max)),
        ("frobenius_norm".into(), f(|r| r.frobenius_norm)),
        ("trace".into(), f(|r| r.trace)),
        ("train_acc".into(), f(|r| r.train_acc)),
        ("val_acc".into(), f(|r| r.val_acc)),
        ("test_acc".into(), f(|r| r.test_acc)),
        ("final_train_loss".into(), f(|r| r.final_train_loss)),
        ("diverged".into(), b(|r| r.diverged)),
        ("flagged".into(), b(|r| r.flagged)),
        ("content_sha256".into(), t(|r| &r.content_sha256)),
    ]);
    out
}

/// Writes the table as CSV (header row, then one row per run; flags as 0/1, floats in Rust's
/// shortest round-trip form), atomically. `pd.read_csv(path)` reads it.
pub fn write_grid_csv(path: &Path, rows: &[Row]) -> Result<()> {
    let cols = columns(rows);
    let mut out = cols
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for i in 0..rows.len() {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, c)| match c {
                Column::F64(v) => v[i].to_string(),
                Column::I64(v) => v[i].to_string(),
                Column::Flag(v) => v[i].to_string(),
                Column::Text(v) if v[i].contains([',', '"', '\n']) => {
                    format!("\"{}\"", v[i].replace('"', "\"\""))
                }
                Column::Text(v) => v[i].clone(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    crate::files::write(path, out.as_bytes())
}

/// Writes the table as HDF5: one 1-D dataset per column under `/grid` (pandas:
/// `pd.DataFrame({k: f["grid"][k][()] for k in f["grid"]})`), plus the analysis' correlations
/// under `/spearman`. Returns its content hash (also stored as the `content_sha256` attribute).
pub fn write_grid_h5(
    path: &Path,
    experiment: &str,
    profile: &str,
    analysis: &Analysis,
    rows: &[Row],
) -> Result<String> {
    h5::create_atomic(path, |f, p| {
        h5::attr_str(p, f, "format", GRID_FORMAT)?;
        h5::attr_str(p, f, "experiment", experiment)?;
        h5::attr_str(p, f, "profile", profile)?;
        let g = h5::group(p, f, "grid")?;
        for (name, column) in columns(rows) {
            match column {
                Column::F64(v) => h5::vector(p, &g, &name, &v)?,
                Column::I64(v) => h5::vector(p, &g, &name, &v)?,
                Column::Flag(v) => h5::vector(p, &g, &name, &v)?,
                Column::Text(v) => h5::strings(p, &g, &name, &v)?,
            }
        }
        let g = h5::group(p, f, "spearman")?;
        for (m, rho) in correlations(rows, &analysis.x, &analysis.correlate) {
            h5::scalar(p, &g, &m, rho)?;
        }
        let hash = h5::content_hash(p, f, &[], &[])?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}
