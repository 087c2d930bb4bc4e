//! Stage 7 — report: an experiment's table (printed, as `<experiment>.h5` and `<experiment>.csv`),
//! its correlations and its figure, as the experiment's `[analysis]` declares. Input: rows of
//! results (`metrics::Row`); output: text, HDF5, CSV, PNG and SVG.
pub mod plot;

pub use plot::{dot_chart, figure};

use crate::artifact::GRID_FORMAT;
use crate::config::Analysis;
use crate::error::Result;
use crate::files::h5;
use crate::metrics::{Analysed, Cell, Metric, PointStats, Row};
use std::fmt::Write as _;
use std::path::Path;

/// The printed table: one line per run, varied fields after the run name, excluded runs
/// marked with the reason.
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
        " {:>6} {:>11} {:>11} {:>11} {:>11} {:>8} {:>7} {:>7} {:>7}",
        "epochs",
        "lambda_max",
        "frob_norm",
        "trace",
        "l_max_bat",
        "tr_loss",
        "train",
        "val",
        "test"
    );
    for r in rows {
        let mark = match &r.excluded {
            Some(why) => format!("  excluded: {why}"),
            None => String::new(),
        };
        let _ = write!(
            s,
            "{:<24} {:>8} {:>5} {:>10.3e}",
            r.name, r.lr, r.batch_size, r.eta_over_s
        );
        for (_, c) in &r.fields {
            let _ = write!(s, " {:>12}", c.to_string());
        }
        let m = |m: Metric| m.of(r);
        let _ = writeln!(
            s,
            " {:>6} {:>11.4} {:>11.4} {:>11.2} {:>11.4} {:>8.4} {:>7.4} {:>7.4} {:>7.4}{mark}",
            r.epochs,
            m(Metric::LambdaMax),
            m(Metric::FrobeniusNorm),
            m(Metric::Trace),
            m(Metric::LambdaMaxBatch),
            m(Metric::TrainLoss),
            m(Metric::TrainAcc),
            m(Metric::ValAcc),
            m(Metric::TestAcc)
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
    out.push(("epochs".into(), i(|r| r.epochs)));
    out.push(("stop_reason".into(), t(|r| &r.stop_reason)));
    for m in Metric::ALL {
        out.push((
            m.as_str().into(),
            Column::F64(rows.iter().map(|r| m.of(r)).collect()),
        ));
    }
    let mut norms: Vec<&String> = rows
        .iter()
        .flat_map(|r| r.norms.iter().map(|n| &n.0))
        .collect();
    norms.sort();
    norms.dedup();
    for name in norms {
        let v = rows
            .iter()
            .map(|r| r.number(&format!("norm.{name}")).unwrap_or(f64::NAN))
            .collect();
        out.push((format!("norm.{name}"), Column::F64(v)));
    }
    out.extend([
        ("diverged".into(), b(|r| r.diverged)),
        ("excluded".into(), b(|r| r.excluded.is_some())),
        (
            "exclusion".into(),
            Column::Text(
                rows.iter()
                    .map(|r| r.excluded.clone().unwrap_or_default())
                    .collect(),
            ),
        ),
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
/// `pd.DataFrame({k: f["grid"][k][()] for k in f["grid"]})`); the analysis' correlations over
/// the included runs under `/spearman/<metric>` (ρ), `/spearman_p/<metric>` (permutation
/// p-value) and `/spearman_ci/<metric>` (95 % bootstrap interval); per grid point the mean and sd
/// over seeds under `/points` (`point`, `x`, `runs`, `included`, `<metric>_mean`, `<metric>_sd`);
/// and, when asked, the equal-x analysis under `/equal_x/<metric>/{x,runs,spread,rho_s,mean_rho,
/// p_value}`. Returns its content hash (also stored as the `content_sha256` attribute).
pub fn write_grid_h5(
    path: &Path,
    experiment: &str,
    profile: &str,
    analysis: &Analysis,
    rows: &[Row],
    analysed: &Analysed,
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
        let (rho, pv, ci) = (
            h5::group(p, f, "spearman")?,
            h5::group(p, f, "spearman_p")?,
            h5::group(p, f, "spearman_ci")?,
        );
        for (m, t) in &analysed.correlations {
            h5::scalar(p, &rho, m, t.rho)?;
            h5::scalar(p, &pv, m, t.p_value)?;
            h5::vector(p, &ci, m, &[t.ci.0, t.ci.1])?;
        }
        let g = h5::group(p, f, "points")?;
        let points = &analysed.points;
        let names: Vec<String> = points.iter().map(|q| q.point.clone()).collect();
        h5::strings(p, &g, "point", &names)?;
        let col = |get: &dyn Fn(&PointStats) -> f64| points.iter().map(get).collect::<Vec<f64>>();
        h5::vector(p, &g, "x", &col(&|q| q.x))?;
        h5::vector(p, &g, "runs", &col(&|q| q.runs as f64))?;
        h5::vector(p, &g, "included", &col(&|q| q.included as f64))?;
        for (k, m) in analysis.correlate.iter().enumerate() {
            h5::vector(p, &g, &format!("{m}_mean"), &col(&|q| q.values[k].0))?;
            h5::vector(p, &g, &format!("{m}_sd"), &col(&|q| q.values[k].1))?;
        }
        if analysis.equal_x_spread {
            let g = h5::group(p, f, "equal_x")?;
            for e in &analysed.equal_x {
                let m = h5::group(p, &g, &e.metric)?;
                let col = |k: usize| -> Vec<f64> {
                    e.groups
                        .iter()
                        .map(|t| [t.0, t.1 as f64, t.2, t.3][k])
                        .collect()
                };
                h5::vector(p, &m, "x", &col(0))?;
                h5::vector(p, &m, "runs", &col(1))?;
                h5::vector(p, &m, "spread", &col(2))?;
                h5::vector(p, &m, "rho_s", &col(3))?;
                h5::scalar(p, &m, "mean_rho", e.mean_rho)?;
                h5::scalar(p, &m, "p_value", e.p_value)?;
            }
        }
        let hash = h5::content_hash(p, f, &[], &[])?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}
