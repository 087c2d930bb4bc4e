//! Collecting an experiment: read every point's artifact in the output folder, build the table,
//! the analysis' correlations and equal-x spread, and write `<experiment>.h5`, `.csv`, `.png` and
//! `.svg`. Points without a verified artifact are listed as missing.
use super::grid::{status, Status};
use super::ReproPlan;
use crate::error::Result;
use crate::metrics::{analyse, render_equal_x, render_points, Metric, RankTest, Row};
use crate::report;
use std::path::PathBuf;

/// What [`collect`] found and wrote.
#[derive(Debug, Clone)]
pub struct Collected {
    pub rows: Vec<Row>,
    /// "<point> (why)" for each point without a verified artifact.
    pub missing: Vec<String>,
    /// (metric, Spearman ρ with the analysis' x over the included runs, with p and interval).
    pub correlations: Vec<(String, RankTest)>,
    /// The printed table.
    pub table: String,
    /// Mean ± sd over seeds per grid point, printed.
    pub points: String,
    /// The equal-x analysis, printed ("" when no two runs share x or the analysis does not ask).
    pub spread: String,
    /// The dynamics analyses (curve comparisons, group table, contrasts, breakdown), printed.
    pub comparisons: String,
    /// The theory checks' tables and verdicts, printed ("" without a `[theory]` table).
    pub theory: String,
    /// Whether every theory band held (true without a `[theory]` table).
    pub theory_holds: bool,
    /// The content hash of `<experiment>.h5`.
    pub grid_hash: String,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

impl Collected {
    /// The per-point statistics and the rank correlations with `x`.
    fn render_correlations(&self, x: &str) -> String {
        let mut s = format!(
            "\nPer grid point, mean ± sd over included seeds:\n{}",
            self.points
        );
        s += &format!(
            "\nSpearman rank correlation with {x} (included runs; p: {} permutations, two-sided; \
             95 % interval: {} bootstrap resamples of grid points, each with its seeds):\n",
            crate::metrics::PERMUTATIONS,
            crate::metrics::BOOTSTRAP
        );
        s += &format!(
            "  {:<32} {:>7} {:>18} {:>9} {:>4}\n",
            "metric", "rho", "95 % interval", "p", "n"
        );
        for (m, t) in &self.correlations {
            s += &format!(
                "  {m:<32} {:>+7.3} {:>18} {:>9.4} {:>4}\n",
                t.rho,
                format!("[{:+.3}, {:+.3}]", t.ci.0, t.ci.1),
                t.p_value,
                t.n
            );
        }
        s
    }
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// What `repro` prints: the table, missing points, correlations with `x`, the equal-x
    /// spread, the table's hash and the files written.
    pub fn render(&self, experiment: &str, x: &str) -> String {
        let mut s = format!("{}\n", self.table);
        for m in &self.missing {
            s += &format!("MISSING {m}\n");
        }
        let excluded: Vec<&Row> = self.rows.iter().filter(|r| !r.included()).collect();
        if !excluded.is_empty() {
            s += &format!(
                "Excluded from every statistic below ({} of {} runs):\n",
                excluded.len(),
                self.rows.len()
            );
            for r in excluded {
                s += &format!("  {:<24} {}\n", r.name, r.excluded.as_deref().unwrap_or(""));
            }
        }
        if !self.correlations.is_empty() {
            s += &self.render_correlations(x);
        }
        let checks: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| Metric::LambdaMaxSubsetCheck.of(r).is_finite())
            .collect();
        if !checks.is_empty() {
            s += "\nSubset-size check (eval mode; the larger subset contains the smaller):\n";
            for r in checks {
                let change = |m: Metric, c: Metric| {
                    format!(
                        "{:.4} -> {:.4} ({:+.1} %)",
                        m.of(r),
                        c.of(r),
                        100.0 * (c.of(r) / m.of(r) - 1.0)
                    )
                };
                s += &format!(
                    "  {:<24} lambda_max {}  frobenius_norm {}\n",
                    r.name,
                    change(Metric::LambdaMax, Metric::LambdaMaxSubsetCheck),
                    change(Metric::FrobeniusNorm, Metric::FrobeniusNormSubsetCheck)
                );
            }
        }
        if !self.spread.is_empty() {
            s += &format!(
                "\nRuns with equal {x}: spread ((max−min)/mean; accuracies max−min) and Spearman \
                 ρ with S inside each group; mean ρ(S) with a permutation p-value (S shuffled \
                 within groups):\n{}\n",
                self.spread
            );
        }
        s += &self.comparisons;
        s += &self.theory;
        s += &format!("{experiment}.h5 content_sha256 {}\n", self.grid_hash);
        let files: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        s + &format!("wrote {}\n", files.join(", "))
    }
}

/// Collects `plan`'s output folder; `on_step` sees each interpolation line and each theory part
/// as it is measured.
pub fn collect(plan: &ReproPlan, mut on_step: impl FnMut(&str)) -> Result<Collected> {
    let exp = &plan.experiment;
    let a = &exp.analysis;
    let min_acc = exp.profile(&plan.profile)?.min_train_acc;
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for p in &plan.points {
        match status(&plan.out, p) {
            Status::Done(s) => rows.push(Row::from_summary(&s, min_acc, &plan.fields)),
            Status::Missing => missing.push(format!("{} (no artifact)", p.name())),
            Status::Invalid(why) => missing.push(format!("{} ({why})", p.name())),
        }
    }
    let h5 = plan.output("h5");
    let lines = super::lines::interpolate_pairs(plan, &rows, &mut on_step)?;
    let analysed = analyse(&rows, &lines, a);
    let grid_hash = report::write_grid_h5(&h5, &exp.name, &plan.profile, a, &rows, &analysed)?;
    let csv = plan.output("csv");
    report::write_grid_csv(&csv, &rows)?;
    let excluded = rows.iter().filter(|r| !r.included() && !r.diverged).count();
    let title = format!(
        "{} / {}: {} of {} points{}{}",
        exp.name,
        plan.profile,
        rows.len(),
        plan.points.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing)", missing.len())
        },
        if excluded == 0 {
            String::new()
        } else {
            format!(", {excluded} excluded (hollow)")
        }
    );
    report::figure(&plan.out, &exp.name, &title, &rows, a)?;
    let mut files = vec![h5, csv, plan.output("png"), plan.output("svg")];
    if !lines.is_empty() {
        let stem = plan.out.join(format!("{}_lines", exp.name));
        report::interp::lines_figure(&stem, &title, &a.interpolate, &lines)?;
        files.extend([stem.with_extension("png"), stem.with_extension("svg")]);
    }
    let (mut theory, mut theory_holds) = (String::new(), true);
    if let Some(cfg) = &exp.profile(&plan.profile)?.theory {
        let t =
            super::theory::simulate_or_reuse(plan, cfg, |part| on_step(&format!("theory/{part}")))?;
        let verdicts = crate::theory::evaluate(&t.record)?;
        theory_holds = verdicts.iter().all(|v| v.holds);
        theory = report::theory::render(&t.record, &verdicts);
        let stem = plan.out.join(format!("{}_theory", exp.name));
        report::theory::figure(&stem, &title, &t.record)?;
        files.extend([
            t.path.clone(),
            t.path.with_extension("csv"),
            stem.with_extension("png"),
            stem.with_extension("svg"),
        ]);
    }
    // Wide tables are printed four metrics at a time.
    let n = a.correlate.len();
    let chunks: Vec<std::ops::Range<usize>> =
        (0..n).step_by(4).map(|k| k..(k + 4).min(n)).collect();
    let points = chunks
        .iter()
        .map(|c| render_points(&analysed.points, &a.x, &a.correlate, c.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    let spread = chunks
        .iter()
        .map(|c| render_equal_x(analysed.equal_x.get(c.clone()).unwrap_or_default(), &a.x))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Collected {
        comparisons: report::comparisons(a, &analysed),
        table: report::table(&rows),
        correlations: analysed.correlations,
        points,
        spread,
        files,
        rows,
        missing,
        grid_hash,
        theory,
        theory_holds,
    })
}
