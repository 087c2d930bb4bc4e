//! Stage 7 — report: an experiment's table (printed, as `<experiment>.h5` and `<experiment>.csv`),
//! its correlations and its figure, as the experiment's `[analysis]` declares. Input: rows of
//! results (`metrics::Row`); output: text, HDF5, CSV, PNG and SVG.
pub mod interp;
pub mod plot;
pub mod theory;

pub use plot::{dot_chart, figure};

use crate::artifact::GRID_FORMAT;
use crate::config::Analysis;
use crate::error::Result;
use crate::files::h5;
use crate::metrics::{Analysed, BetaStats, Cell, GroupStats, Metric, PointStats, Row};
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
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(24);
    let fw: Vec<usize> = fields
        .iter()
        .enumerate()
        .map(|(k, f)| {
            rows.iter()
                .map(|r| r.fields[k].1.to_string().len())
                .chain([f.len(), 12])
                .max()
                .unwrap_or(12)
        })
        .collect();
    let _ = write!(s, "{:<w$} {:>8} {:>5} {:>10}", "run", "eta", "S", "eta/S");
    for (f, fw) in fields.iter().zip(&fw) {
        let _ = write!(s, " {f:>fw$}");
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
            "{:<w$} {:>8} {:>5} {:>10.3e}",
            r.name, r.lr, r.batch_size, r.eta_over_s
        );
        for ((_, c), fw) in r.fields.iter().zip(&fw) {
            let _ = write!(s, " {:>fw$}", c.to_string());
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
    // Columns only some experiments have are left out of the others' tables (and hashes).
    if rows.iter().any(|r| r.momentum != 0.0) {
        out.push(("momentum".into(), f(|r| r.momentum)));
        out.push(("eta_over_s_eff".into(), f(|r| r.eta_over_s_eff)));
    }
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
        if m.is_optional() && rows.iter().all(|r| m.of(r).is_nan()) {
            continue;
        }
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

/// One CSV field: quoted (quotes doubled) when it holds a comma, quote or line break.
pub fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
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
                Column::Text(v) => csv_field(&v[i]),
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
        write_comparisons(p, f, analysis, analysed)?;
        let hash = h5::content_hash(p, f, &[], &[])?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}

/// The dynamics experiments' analyses, each group written only when the analysis has it:
/// `/compare/<name>/{seeds, margin, margin_sd, holds, <curve>/{matched_mean_abs,
/// control_mean_abs, matched_max_abs, control_max_abs, seed_noise}}` (per seed),
/// `/groups/{group, runs, included, <metric>_mean, <metric>_sd}`,
/// `/contrast/<name>/{diff, p_value, holds}` and
/// `/breakdown/<name>/{holds, <by value>/{beta, lr, batch_size, mean, sd, drop, runs, diverged,
/// band, breaks_at}}` (`breaks_at` NaN when no β leaves the band).
fn write_comparisons(
    p: &Path,
    f: &hdf5::File,
    analysis: &Analysis,
    analysed: &Analysed,
) -> Result<()> {
    if !analysed.compares.is_empty() {
        let g = h5::group(p, f, "compare")?;
        for c in &analysed.compares {
            let cg = h5::group(p, &g, &c.spec.name)?;
            h5::vector(p, &cg, "seeds", &c.seeds)?;
            h5::scalar(p, &cg, "margin", c.margin.0)?;
            h5::scalar(p, &cg, "margin_sd", c.margin.1)?;
            h5::scalar(p, &cg, "holds", c.holds as u8)?;
            for d in &c.curves {
                let dg = h5::group(p, &cg, &d.curve)?;
                h5::vector(p, &dg, "matched_mean_abs", &d.matched_mean)?;
                h5::vector(p, &dg, "control_mean_abs", &d.control_mean)?;
                h5::vector(p, &dg, "matched_max_abs", &d.matched_max)?;
                h5::vector(p, &dg, "control_max_abs", &d.control_max)?;
                h5::scalar(p, &dg, "seed_noise", d.seed_noise)?;
            }
        }
    }
    if let Some(t) = &analysis.table {
        let g = h5::group(p, f, "groups")?;
        let gs = &analysed.groups;
        let names: Vec<String> = gs.iter().map(|x| x.group.clone()).collect();
        h5::strings(p, &g, "group", &names)?;
        let col = |get: &dyn Fn(&GroupStats) -> f64| gs.iter().map(get).collect::<Vec<f64>>();
        h5::vector(p, &g, "runs", &col(&|x| x.runs as f64))?;
        h5::vector(p, &g, "included", &col(&|x| x.included as f64))?;
        for (k, m) in t.metrics.iter().enumerate() {
            h5::vector(p, &g, &format!("{m}_mean"), &col(&|x| x.values[k].0))?;
            h5::vector(p, &g, &format!("{m}_sd"), &col(&|x| x.values[k].1))?;
        }
    }
    if !analysed.contrasts.is_empty() {
        let g = h5::group(p, f, "contrast")?;
        for c in &analysed.contrasts {
            let cg = h5::group(p, &g, &c.spec.name)?;
            h5::scalar(p, &cg, "diff", c.diff)?;
            h5::scalar(p, &cg, "p_value", c.p_value)?;
            h5::scalar(p, &cg, "holds", c.holds as u8)?;
        }
    }
    if !analysed.basins.is_empty() {
        let g = h5::group(p, f, "basin")?;
        for b in &analysed.basins {
            let bg = h5::group(p, &g, &b.name)?;
            h5::vector(p, &bg, "seed", &b.seeds)?;
            h5::vector(p, &bg, "a_outer", &b.a)?;
            h5::vector(p, &bg, "b_outer", &b.b)?;
            h5::vector(p, &bg, "distance", &b.distance)?;
            h5::scalar(p, &bg, "diff", b.diff.0)?;
            h5::scalar(p, &bg, "diff_sd", b.diff.1)?;
            h5::scalar(p, &bg, "pooled_sd", b.pooled_sd)?;
            h5::scalar(p, &bg, "holds", b.holds as u8)?;
        }
    }
    if !analysed.breakdowns.is_empty() {
        let g = h5::group(p, f, "breakdown")?;
        for b in &analysed.breakdowns {
            let bg = h5::group(p, &g, &b.spec.name)?;
            h5::scalar(p, &bg, "holds", b.holds as u8)?;
            for grp in &b.groups {
                let gg = h5::group(p, &bg, &grp.value)?;
                let col = |get: &dyn Fn(&BetaStats) -> f64| {
                    grp.betas.iter().map(get).collect::<Vec<f64>>()
                };
                let first = grp.betas[0].mean;
                h5::vector(p, &gg, "beta", &col(&|x| x.beta))?;
                h5::vector(p, &gg, "lr", &col(&|x| x.lr))?;
                h5::vector(p, &gg, "batch_size", &col(&|x| x.batch_size as f64))?;
                h5::vector(p, &gg, "mean", &col(&|x| x.mean))?;
                h5::vector(p, &gg, "sd", &col(&|x| x.sd))?;
                h5::vector(p, &gg, "drop", &col(&|x| first - x.mean))?;
                h5::vector(p, &gg, "runs", &col(&|x| x.runs as f64))?;
                h5::vector(p, &gg, "diverged", &col(&|x| x.diverged as f64))?;
                h5::vector(p, &gg, "band", &[grp.band.0, grp.band.1])?;
                h5::scalar(p, &gg, "breaks_at", grp.breaks_at.unwrap_or(f64::NAN))?;
            }
        }
    }
    Ok(())
}

/// The dynamics experiments' analyses as printed by `repro`: curve comparisons, the group table
/// with its contrasts, the breakdown ("" when the analysis has none of them).
pub fn comparisons(a: &Analysis, an: &Analysed) -> String {
    let mut s = String::new();
    let ms = |v: &[f64]| {
        let (m, sd) = crate::metrics::mean_sd(v);
        if sd.is_nan() {
            format!("{m:.4}")
        } else {
            format!("{m:.4} ± {sd:.4}")
        }
    };
    for c in &an.compares {
        let spec = &c.spec;
        let _ = writeln!(
            s,
            "\nCurves {}: {} vs base {} (matched) and {} vs base (control), per seed, mean over {} seeds",
            spec.name,
            spec.matched,
            spec.base,
            spec.control,
            c.seeds.len()
        );
        if !spec.claim.is_empty() {
            let _ = writeln!(s, "  claim: {}", spec.claim);
        }
        let _ = writeln!(
            s,
            "  {:<12} {:>22} {:>22} {:>22} {:>22} {:>12}",
            "curve",
            "matched mean|Δ|",
            "control mean|Δ|",
            "matched max|Δ|",
            "control max|Δ|",
            "seed noise"
        );
        for d in &c.curves {
            let _ = writeln!(
                s,
                "  {:<12} {:>22} {:>22} {:>22} {:>22} {:>12.4}",
                d.curve,
                ms(&d.matched_mean),
                ms(&d.control_mean),
                ms(&d.matched_max),
                ms(&d.control_max),
                d.seed_noise
            );
        }
        let _ = writeln!(
            s,
            "  margin on {} (control − matched mean|Δ|): {:+.4} ± {:.4} → {}",
            spec.curve,
            c.margin.0,
            c.margin.1,
            if c.holds {
                "holds (margin > 0 and > its seed sd)"
            } else {
                "does NOT hold"
            }
        );
    }
    if let Some(t) = &a.table {
        let _ = writeln!(s, "\nPer {} (mean ± sd over included seeds):", t.by);
        let _ = write!(s, "  {:<22} {:>4}", t.by, "n");
        for m in &t.metrics {
            let _ = write!(s, " {:>22}", m);
        }
        s.push('\n');
        for g in &an.groups {
            let _ = write!(s, "  {:<22} {:>4}", g.group, g.included);
            for (m, sd) in &g.values {
                let cell = if sd.is_nan() {
                    format!("{m:.4}")
                } else {
                    format!("{m:.4} ± {sd:.4}")
                };
                let _ = write!(s, " {cell:>22}");
            }
            if let Some(p) = &g.selected {
                let _ = write!(s, "  (selected: {p})");
            }
            s.push('\n');
        }
    }
    if !an.contrasts.is_empty() {
        let _ = writeln!(
            s,
            "\nContrasts (exact one-sided permutation p over the seeds):"
        );
        for c in &an.contrasts {
            let _ = writeln!(
                s,
                "  {:<40} {:<14} {:>2} n={}+{} diff {:+.4} p {:.4} → {}",
                c.spec.name,
                c.spec.metric,
                if c.spec.sign < 0 { "<" } else { ">" },
                c.n.0,
                c.n.1,
                c.diff,
                c.p_value,
                if c.holds { "holds" } else { "does NOT hold" }
            );
        }
    }
    for b in &an.breakdowns {
        let _ = writeln!(
            s,
            "\nBreakdown {}: {} with β (η and S both × β), per {}; band: β = 1 mean ± {}·sd (at least ± {}); drop: β = 1 mean − β mean; * = a seed diverged:",
            b.spec.name, b.spec.metric, b.spec.by, b.spec.k_sd, b.spec.floor
        );
        for g in &b.groups {
            let _ = writeln!(
                s,
                "  {} = {}: band [{:.4}, {:.4}], breaks at {}",
                b.spec.by,
                g.value,
                g.band.0,
                g.band.1,
                g.breaks_at
                    .map(|x| format!("β = {x}"))
                    .unwrap_or_else(|| "no β".into())
            );
            for x in &g.betas {
                let _ = writeln!(
                    s,
                    "    β {:>6} (η {:<8} S {:<6}) {:.4} ± {:.4} drop {:+.4} n={}{}",
                    x.beta,
                    x.lr,
                    x.batch_size,
                    x.mean,
                    if x.sd.is_nan() { 0.0 } else { x.sd },
                    g.betas[0].mean - x.mean,
                    x.runs,
                    if x.diverged > 0 {
                        format!(" *{} diverged", x.diverged)
                    } else {
                        String::new()
                    }
                );
            }
        }
        let _ = writeln!(
            s,
            "  claim ({}) {}",
            crate::metrics::describe(&crate::config::Test::Breakdown(b.spec.clone())),
            if b.holds { "holds" } else { "does NOT hold" }
        );
    }
    for (r, spec) in an.basins.iter().zip(&a.interpolate) {
        let _ = writeln!(
            s,
            "
Interpolation {}: A = {} (α = 0) → B = {} (α = 1); outer basin width in α (training loss + {} above the endpoint's):",
            spec.name, spec.a, spec.b, spec.rise
        );
        for k in 0..r.seeds.len() {
            let _ = writeln!(
                s,
                "  seed {:<3} wA {:.4}  wB {:.4}  ‖θB − θA‖ {:.3}",
                r.seeds[k], r.a[k], r.b[k], r.distance[k]
            );
        }
        for l in &r.left_out {
            let _ = writeln!(s, "  left out: {l}");
        }
        let _ = writeln!(
            s,
            "  wA − wB {:+.4} ± {:.4} (seed sd of a width {:.4}); claim ({}) {}",
            r.diff.0,
            r.diff.1,
            r.pooled_sd,
            crate::metrics::describe(&crate::config::Test::Basin(spec.clone())),
            if r.holds { "holds" } else { "does NOT hold" }
        );
    }
    s
}
