//! Metrics and statistics, below both `check` and `report`: one row of results per run (read
//! from its artifact summary), the metrics by stable name, the numeric columns an analysis can
//! use, Spearman correlations and the comparison of runs that share a value.
mod compare;
mod stats;

pub use compare::{
    basin, breakdown, compare, contrast, describe, distance, evaluate, group_table, BasinResult,
    BetaStats, BreakdownGroup, BreakdownResult, CompareResult, ContrastResult, CurveDistances,
    GroupStats, Verdict,
};

pub use stats::{
    equal_groups, mean_sd, rank_test, spearman, within_group_trend, RankTest, BOOTSTRAP,
    PERMUTATIONS,
};

use crate::artifact::line::LineRecord;
use crate::artifact::ArtifactSummary;
use crate::config::Analysis;
use crate::error::{Error, Result};
use crate::train::StopReason;

/// The metrics plotted and tested for the paper's trends, by stable name (the same names as the
/// table's columns and the golden files' bands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    LambdaMax,
    FrobeniusNorm,
    Trace,
    ValAcc,
    TestAcc,
    TrainAcc,
    TrainLoss,
    LambdaMaxBatch,
    FrobeniusNormBatch,
    TraceBatch,
    EtaLambdaMax,
    EtaLambdaMaxBatch,
    LambdaMaxSubsetCheck,
    FrobeniusNormSubsetCheck,
    LambdaMaxBatchWeightScaled,
    NoisyAcc,
    CleanAcc,
    NoiseTrace,
    NoiseToHessianTrace,
    NoiseAlignment,
    Eq9LossRatio,
}

impl Metric {
    pub const ALL: [Metric; 21] = [
        Metric::LambdaMax,
        Metric::FrobeniusNorm,
        Metric::Trace,
        Metric::ValAcc,
        Metric::TestAcc,
        Metric::TrainAcc,
        Metric::TrainLoss,
        Metric::LambdaMaxBatch,
        Metric::FrobeniusNormBatch,
        Metric::TraceBatch,
        Metric::EtaLambdaMax,
        Metric::EtaLambdaMaxBatch,
        Metric::LambdaMaxSubsetCheck,
        Metric::FrobeniusNormSubsetCheck,
        Metric::LambdaMaxBatchWeightScaled,
        Metric::NoisyAcc,
        Metric::CleanAcc,
        Metric::NoiseTrace,
        Metric::NoiseToHessianTrace,
        Metric::NoiseAlignment,
        Metric::Eq9LossRatio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LambdaMax => "lambda_max",
            Metric::FrobeniusNorm => "frobenius_norm",
            Metric::Trace => "trace",
            Metric::ValAcc => "val_acc",
            Metric::TestAcc => "test_acc",
            Metric::TrainAcc => "train_acc",
            Metric::TrainLoss => "train_loss",
            Metric::LambdaMaxBatch => "lambda_max_batch",
            Metric::FrobeniusNormBatch => "frobenius_norm_batch",
            Metric::TraceBatch => "trace_batch",
            Metric::EtaLambdaMax => "eta_lambda_max",
            Metric::EtaLambdaMaxBatch => "eta_lambda_max_batch",
            Metric::LambdaMaxSubsetCheck => "lambda_max_subset_check",
            Metric::FrobeniusNormSubsetCheck => "frobenius_norm_subset_check",
            Metric::LambdaMaxBatchWeightScaled => "lambda_max_batch_weight_scaled",
            Metric::NoisyAcc => "noisy_acc",
            Metric::CleanAcc => "clean_acc",
            Metric::NoiseTrace => "noise_trace",
            Metric::NoiseToHessianTrace => "noise_to_hessian_trace",
            Metric::NoiseAlignment => "noise_alignment",
            Metric::Eq9LossRatio => "eq9_loss_ratio",
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

    /// Accuracies are compared absolutely, everything else relatively.
    pub fn is_accuracy(self) -> bool {
        matches!(
            self,
            Metric::ValAcc
                | Metric::TestAcc
                | Metric::TrainAcc
                | Metric::NoisyAcc
                | Metric::CleanAcc
        )
    }

    pub fn of(self, r: &Row) -> f64 {
        r.metrics[self as usize]
    }

    /// This metric of an artifact (NaN where it was not measured).
    fn of_summary(self, s: &ArtifactSummary) -> f64 {
        let (f, e, b) = (&s.final_metrics, &s.curvature, &s.curvature_batch);
        let check = s.subset_check.as_ref();
        match self {
            Metric::LambdaMax => e.lambda_max,
            Metric::FrobeniusNorm => e.frobenius_norm,
            Metric::Trace => e.trace,
            Metric::ValAcc => f.val_acc,
            Metric::TestAcc => f.test_acc,
            Metric::TrainAcc => f.train_acc,
            Metric::TrainLoss => f.train_loss,
            Metric::LambdaMaxBatch => b.lambda_max,
            Metric::FrobeniusNormBatch => b.frobenius_norm,
            Metric::TraceBatch => b.trace,
            Metric::EtaLambdaMax => last_lr(s) * e.lambda_max,
            Metric::EtaLambdaMaxBatch => last_lr(s) * b.lambda_max,
            Metric::LambdaMaxSubsetCheck => check.map_or(f64::NAN, |c| c.lambda_max),
            Metric::FrobeniusNormSubsetCheck => check.map_or(f64::NAN, |c| c.frobenius_norm),
            Metric::LambdaMaxBatchWeightScaled => b.lambda_max * pre_bn_weight_norm2(&s.norms),
            Metric::NoisyAcc => f.noisy_acc.unwrap_or(f64::NAN),
            Metric::CleanAcc => f.clean_acc.unwrap_or(f64::NAN),
            Metric::NoiseTrace => s.noise.map_or(f64::NAN, |n| n.trace),
            Metric::NoiseToHessianTrace => s.noise.map_or(f64::NAN, |n| n.trace / e.trace),
            Metric::NoiseAlignment => s.noise.map_or(f64::NAN, |n| n.alignment(e.frobenius_norm)),
            Metric::Eq9LossRatio => s.noise.map_or(f64::NAN, |_| eq9_loss_ratio(s)),
        }
    }

    /// Columns only experiments that measure them have (left out of tables where all NaN, so
    /// older tables keep their layout and hashes).
    pub fn is_optional(self) -> bool {
        matches!(
            self,
            Metric::NoisyAcc
                | Metric::CleanAcc
                | Metric::NoiseTrace
                | Metric::NoiseToHessianTrace
                | Metric::NoiseAlignment
                | Metric::Eq9LossRatio
        )
    }
}

/// The last epoch's mean minibatch loss (SGD's own loss, averaged over that epoch's iterates:
/// the E(L) of the paper's Eq. 9) over Eq. 9's (η/4S)·Tr H, with η and S of that epoch and
/// Tr H in eval mode. 1 where Eq. 9 holds with the loss measured from zero.
fn eq9_loss_ratio(s: &ArtifactSummary) -> f64 {
    let c = &s.curves;
    let (Some(&loss), Some(&batch)) = (c.minibatch_loss.last(), c.batch_size.last()) else {
        return f64::NAN;
    };
    loss / (last_lr(s) / (4.0 * batch as f64) * s.curvature.trace)
}

/// η at the start of the run's last epoch (η itself under a constant schedule).
fn last_lr(s: &ArtifactSummary) -> f64 {
    let last = (s.final_metrics.epochs_completed - 1).max(0);
    crate::train::lr_at(&s.config.sgd, last as f64)
}

/// Σ‖W_l‖² over the linear layers that feed a BatchNorm (all but the last `l<i>.weight`). With
/// batch statistics the loss is unchanged when those weights are scaled by a common c, and the
/// Hessian block along them scales as 1/c², so batch-mode λ_max times this is a crude
/// normalisation for weight-norm growth (crude: γ, β and the output layer do not scale, and the
/// top eigenvector need not lie in the scaled weights). NaN without norms.
pub fn pre_bn_weight_norm2(norms: &[(String, f64)]) -> f64 {
    let mut layers: Vec<(usize, f64)> = norms
        .iter()
        .filter_map(|(n, v)| {
            let i = n.strip_prefix('l')?.strip_suffix(".weight")?.parse().ok()?;
            Some((i, *v))
        })
        .collect();
    layers.sort_by_key(|l| l.0);
    layers.pop();
    if layers.is_empty() {
        return f64::NAN;
    }
    layers.iter().map(|(_, v)| v * v).sum()
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
    /// η/((1 − μ)·S), the noise scale with momentum μ.
    pub eta_over_s_eff: f64,
    pub momentum: f64,
    pub seed: i64,
    /// Every [`Metric`], indexed by it.
    pub metrics: [f64; Metric::ALL.len()],
    pub epochs: i64,
    pub stop_reason: String,
    pub diverged: bool,
    /// Why the run is left out of the analysis (`None`: included): it diverged, it used every
    /// epoch without reaching its target training loss, or its final training accuracy is below
    /// the profile's `min_train_acc` (the paper kept only ≈100 % models).
    pub excluded: Option<String>,
    pub content_sha256: String,
    /// The varied config fields asked for (dotted path, value), in order.
    pub fields: Vec<(String, Cell)>,
    /// The final model's norms (`/norms` of the artifact).
    pub norms: Vec<(String, f64)>,
    /// The per-epoch curves.
    pub curves: crate::train::Curves,
    /// The epoch whose model was measured (`sgd.keep_best_val`), else the last.
    pub measured_epoch: i64,
}

/// The numeric columns every row has besides the metrics.
const NUMERIC: [&str; 9] = [
    "lr",
    "batch_size",
    "eta_over_s",
    "eta_over_s_eff",
    "momentum",
    "seed",
    "epochs",
    "measured_epoch",
    "max_val_acc",
];

/// Why a run is excluded from an analysis, if it is (see [`Row::excluded`]).
pub fn exclusion(s: &ArtifactSummary, min_train_acc: Option<f64>) -> Option<String> {
    let f = &s.final_metrics;
    if f.diverged {
        return Some("diverged".into());
    }
    if let Some(t) = s.config.sgd.target_train_loss {
        if f.stop_reason == StopReason::Epochs {
            return Some(format!(
                "train loss {:.4} > target {t} after {} epochs",
                f.train_loss, f.epochs_completed
            ));
        }
    }
    if let Some(t) = s.config.sgd.stop_at_noisy_acc {
        if f.stop_reason != StopReason::Memorised {
            return Some(format!(
                "random-label accuracy {:.4} < {t} after {} epochs (not memorised)",
                f.noisy_acc.unwrap_or(f64::NAN),
                f.epochs_completed
            ));
        }
    }
    match min_train_acc {
        Some(m) if f.train_acc.is_nan() || f.train_acc < m => {
            Some(format!("train accuracy {:.4} < {m}", f.train_acc))
        }
        _ => None,
    }
}

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
            eta_over_s_eff: c.eta_over_s_eff(),
            momentum: c.sgd.momentum,
            seed: c.seed as i64,
            metrics: Metric::ALL.map(|m| m.of_summary(s)),
            epochs: f.epochs_completed,
            stop_reason: f.stop_reason.as_str().into(),
            diverged: f.diverged,
            excluded: exclusion(s, min_train_acc),
            content_sha256: s.stored_hash.clone(),
            fields: fields
                .iter()
                .map(|k| (k.clone(), Cell::of(c.field(k))))
                .collect(),
            norms: s.norms.clone(),
            curves: s.curves.clone(),
            measured_epoch: f.measured_epoch.unwrap_or(f.epochs_completed),
        }
    }

    /// The curves [`Row::curve`] knows.
    pub fn curve_names() -> [&'static str; 10] {
        [
            "val_acc",
            "val_loss",
            "train_acc",
            "train_loss",
            "minibatch_loss",
            "minibatch_acc",
            "lr",
            "batch_size",
            "noisy_acc",
            "clean_acc",
        ]
    }

    /// A per-epoch curve by name (`val_acc`, `train_loss`, `lr`, ...).
    pub fn curve(&self, name: &str) -> Option<Vec<f64>> {
        let c = &self.curves;
        Some(match name {
            "val_acc" => c.val_acc.clone(),
            "val_loss" => c.val_loss.clone(),
            "train_acc" => c.train_acc.clone(),
            "train_loss" => c.train_loss.clone(),
            "minibatch_loss" => c.minibatch_loss.clone(),
            "minibatch_acc" => c.minibatch_acc.clone(),
            "lr" => c.lr.clone(),
            "batch_size" => c.batch_size.iter().map(|&s| s as f64).collect(),
            "noisy_acc" => c.noisy_acc.clone(),
            "clean_acc" => c.clean_acc.clone(),
            _ => return None,
        })
    }

    /// The best validation accuracy over the epochs (before any divergence).
    pub fn max_val_acc(&self) -> f64 {
        self.curves
            .val_acc
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NAN, f64::max)
    }

    pub fn included(&self) -> bool {
        self.excluded.is_none()
    }

    /// The grid point this run is a seed of: its name without the `_seed<N>` suffix.
    pub fn point(&self) -> &str {
        let suffix = format!("_seed{}", self.seed);
        self.name.strip_suffix(&suffix).unwrap_or(&self.name)
    }

    /// A numeric column by name: lr, batch_size, eta_over_s, seed, epochs, a metric or a varied
    /// field.
    pub fn number(&self, column: &str) -> Option<f64> {
        match column {
            "lr" => Some(self.lr),
            "batch_size" => Some(self.batch_size as f64),
            "eta_over_s" => Some(self.eta_over_s),
            "eta_over_s_eff" => Some(self.eta_over_s_eff),
            "momentum" => Some(self.momentum),
            "seed" => Some(self.seed as f64),
            "epochs" => Some(self.epochs as f64),
            "measured_epoch" => Some(self.measured_epoch as f64),
            "max_val_acc" => Some(self.max_val_acc()),
            _ => Metric::parse(column)
                .map(|m| m.of(self))
                .or_else(|| {
                    self.fields
                        .iter()
                        .find(|(k, _)| k == column)
                        .and_then(|(_, c)| c.number())
                })
                .or_else(|| {
                    let name = column.strip_prefix("norm.")?;
                    self.norms.iter().find(|(k, _)| k == name).map(|n| n.1)
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
    let norms = crate::artifact::norm_names(crate::model::MlpShape::fashion(1).hidden);
    for m in &a.correlate {
        if let Some(n) = m.strip_prefix("norm.") {
            if !norms.iter().any(|k| k == n) {
                return bad(
                    "correlate",
                    format!(
                        "'{m}' names no stored norm (have: norm.{})",
                        norms.join(", norm.")
                    ),
                );
            }
        } else if let Err(e) = Metric::named(m) {
            return bad("correlate", e);
        }
    }
    let curves = a.figure.kind == crate::config::FigureKind::Curves;
    for m in &a.figure.panels {
        if curves {
            if !Row::curve_names().contains(&m.as_str()) {
                return bad(
                    "figure.panels",
                    format!(
                        "'{m}' is not a curve (have: {})",
                        Row::curve_names().join(", ")
                    ),
                );
            }
        } else if let Err(e) = Metric::named(m) {
            return bad("figure.panels", e);
        }
    }
    let column = |c: &str| numeric(c) || fields.iter().any(|f| f == c);
    for (what, c) in [
        ("figure.colour", &a.figure.colour),
        ("figure.facet", &a.figure.facet),
    ] {
        if !c.is_empty() && !column(c) {
            return bad(what, format!("'{c}' is not a column of the table"));
        }
    }
    let varied = |what: String, c: &str| {
        if fields.iter().any(|f| f == c) {
            Ok(())
        } else {
            bad(
                &what,
                format!(
                    "'{c}' is not a varied field of this profile (have: {})",
                    fields.join(", ")
                ),
            )
        }
    };
    for c in &a.compare {
        if !Row::curve_names().contains(&c.curve.as_str()) {
            return bad(
                &format!("compare.{}.curve", c.name),
                format!(
                    "'{}' is not a curve (have: {})",
                    c.curve,
                    Row::curve_names().join(", ")
                ),
            );
        }
        varied(format!("compare.{}", c.name), "variant")?;
    }
    let selects = a
        .table
        .iter()
        .filter_map(|t| t.select.as_ref())
        .chain(a.contrast.iter().filter_map(|c| c.select.as_ref()));
    for m in selects {
        if !numeric(m) {
            return bad("select", format!("'{m}' is not a numeric column"));
        }
    }
    if let Some(t) = &a.table {
        varied("table.by".into(), &t.by)?;
        if let Some(m) = t.metrics.iter().find(|m| !numeric(m)) {
            return bad("table.metrics", format!("'{m}' is not a numeric column"));
        }
    }
    for c in &a.contrast {
        varied(format!("contrast.{}.by", c.name), &c.by)?;
        if !numeric(&c.metric) {
            return bad(
                &format!("contrast.{}.metric", c.name),
                format!("'{}' is not a numeric column", c.metric),
            );
        }
    }
    for b in &a.breakdown {
        varied("breakdown.by".into(), &b.by)?;
        if !numeric(&b.metric) {
            return bad(
                "breakdown.metric",
                format!("'{}' is not a numeric column", b.metric),
            );
        }
    }
    Ok(())
}

/// The grid points of `rows` in first-seen order, and each row's index into them.
pub fn point_index(rows: &[&Row]) -> (Vec<String>, Vec<usize>) {
    let mut names: Vec<String> = Vec::new();
    let idx = rows
        .iter()
        .map(|r| match names.iter().position(|n| n == r.point()) {
            Some(i) => i,
            None => {
                names.push(r.point().to_string());
                names.len() - 1
            }
        })
        .collect();
    (names, idx)
}

/// Spearman ρ of `x` with each named metric over the included runs, with a permutation p-value
/// and a cluster-bootstrap interval that resamples grid points, each with its seeds.
pub fn correlations(rows: &[Row], x: &str, metrics: &[String]) -> Vec<(String, RankTest)> {
    let ok: Vec<&Row> = rows.iter().filter(|r| r.included()).collect();
    let (_, strata) = point_index(&ok);
    let xs: Vec<f64> = ok.iter().map(|r| r.number(x).unwrap_or(f64::NAN)).collect();
    metrics
        .iter()
        .map(|m| {
            let ys: Vec<f64> = ok.iter().map(|r| r.number(m).unwrap_or(f64::NAN)).collect();
            (m.clone(), rank_test(&xs, &ys, &strata, m))
        })
        .collect()
}

/// One grid point over its seeds: the included runs' mean and standard deviation of each metric.
#[derive(Debug, Clone, PartialEq)]
pub struct PointStats {
    pub point: String,
    pub lr: f64,
    pub batch_size: i64,
    pub x: f64,
    /// Runs of this point, and how many of them are included.
    pub runs: usize,
    pub included: usize,
    /// (mean, sd) per metric, in the order asked for.
    pub values: Vec<(f64, f64)>,
}

/// Per grid point, mean ± sd of `metrics` over the included seeds (first-seen point order).
pub fn point_stats(rows: &[Row], x: &str, metrics: &[String]) -> Vec<PointStats> {
    let all: Vec<&Row> = rows.iter().collect();
    let (names, idx) = point_index(&all);
    names
        .into_iter()
        .enumerate()
        .map(|(k, point)| {
            let members: Vec<&Row> = (0..all.len())
                .filter(|&i| idx[i] == k)
                .map(|i| all[i])
                .collect();
            let ok: Vec<&&Row> = members.iter().filter(|r| r.included()).collect();
            PointStats {
                point,
                lr: members[0].lr,
                batch_size: members[0].batch_size,
                x: members[0].number(x).unwrap_or(f64::NAN),
                runs: members.len(),
                included: ok.len(),
                values: metrics
                    .iter()
                    .map(|m| {
                        let v: Vec<f64> =
                            ok.iter().map(|r| r.number(m).unwrap_or(f64::NAN)).collect();
                        if v.is_empty() {
                            (f64::NAN, f64::NAN)
                        } else {
                            mean_sd(&v)
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Everything an analysis computes from the rows, once: the correlations, the per-point
/// statistics and (when asked) the equal-x analysis, each over the included runs and in the
/// order of `analysis.correlate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysed {
    pub correlations: Vec<(String, RankTest)>,
    pub points: Vec<PointStats>,
    pub equal_x: Vec<EqualX>,
    pub compares: Vec<CompareResult>,
    pub groups: Vec<GroupStats>,
    pub contrasts: Vec<ContrastResult>,
    pub breakdowns: Vec<BreakdownResult>,
    pub basins: Vec<BasinResult>,
}

pub fn analyse(rows: &[Row], lines: &[LineRecord], a: &Analysis) -> Analysed {
    Analysed {
        correlations: correlations(rows, &a.x, &a.correlate),
        points: point_stats(rows, &a.x, &a.correlate),
        equal_x: if a.equal_x_spread {
            equal_x(rows, &a.x, &a.correlate)
        } else {
            Vec::new()
        },
        compares: a.compare.iter().map(|c| compare(rows, c)).collect(),
        groups: a
            .table
            .as_ref()
            .map(|t| group_table(rows, t))
            .unwrap_or_default(),
        // Contrasts of groups this profile does not have are left out (e.g. an arm only the quick
        // profile runs).
        contrasts: a
            .contrast
            .iter()
            .map(|c| contrast(rows, c))
            .filter(|c| c.n.0 > 0 && c.n.1 > 0)
            .collect(),
        breakdowns: a.breakdown.iter().map(|b| breakdown(rows, b)).collect(),
        basins: a
            .interpolate
            .iter()
            .map(|i| basin(rows, lines, i))
            .collect(),
    }
}

/// The per-point table for the metrics `cols` (indices into the metrics the points were
/// computed for, named by `metrics`): mean ± sd over seeds, runs included / run.
pub fn render_points(
    points: &[PointStats],
    x: &str,
    metrics: &[String],
    cols: std::ops::Range<usize>,
) -> String {
    let mut s = format!("{:<20} {:>10} {:>5}", "point", x, "runs");
    for m in &metrics[cols.clone()] {
        s += &format!(" {m:>22}");
    }
    s.push('\n');
    for p in points {
        s += &format!(
            "{:<20} {:>10.3e} {:>5}",
            p.point,
            p.x,
            format!("{}/{}", p.included, p.runs)
        );
        for &(mean, sd) in &p.values[cols.clone()] {
            let cell = if mean.abs() >= 100.0 {
                format!("{mean:.1} ± {sd:.1}")
            } else {
                format!("{mean:.4} ± {sd:.4}")
            };
            s += &format!(" {cell:>22}");
        }
        s.push('\n');
    }
    s
}

/// The equal-x analysis of one metric: within every group of included runs that share x and
/// differ in batch size, Spearman(S, metric); their mean and its stratified permutation p-value.
#[derive(Debug, Clone, PartialEq)]
pub struct EqualX {
    pub metric: String,
    /// (x, runs, relative spread (max−min)/mean or absolute for accuracies, ρ with S).
    pub groups: Vec<(f64, usize, f64, f64)>,
    pub mean_rho: f64,
    pub p_value: f64,
}

/// [`EqualX`] for each metric ([] when no two included runs share x).
pub fn equal_x(rows: &[Row], x: &str, metrics: &[String]) -> Vec<EqualX> {
    let ok: Vec<&Row> = rows.iter().filter(|r| r.included()).collect();
    let xs: Vec<f64> = ok.iter().map(|r| r.number(x).unwrap_or(f64::NAN)).collect();
    let groups: Vec<(f64, Vec<usize>)> = equal_groups(&xs)
        .into_iter()
        .filter(|(_, g)| g.iter().any(|&i| ok[i].batch_size != ok[g[0]].batch_size))
        .collect();
    if groups.is_empty() {
        return Vec::new();
    }
    let sizes: Vec<f64> = ok.iter().map(|r| r.batch_size as f64).collect();
    let index_lists: Vec<Vec<usize>> = groups.iter().map(|(_, g)| g.clone()).collect();
    metrics
        .iter()
        .map(|m| {
            let ys: Vec<f64> = ok.iter().map(|r| r.number(m).unwrap_or(f64::NAN)).collect();
            let (per, mean_rho, p_value) = within_group_trend(&sizes, &ys, &index_lists, m);
            let relative = !Metric::parse(m).is_some_and(Metric::is_accuracy);
            EqualX {
                metric: m.clone(),
                groups: groups
                    .iter()
                    .zip(per)
                    .map(|((value, g), rho)| {
                        let v: Vec<f64> =
                            g.iter().map(|&i| ys[i]).filter(|v| v.is_finite()).collect();
                        let (lo, hi) = v
                            .iter()
                            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                                (a.min(y), b.max(y))
                            });
                        let spread = if relative {
                            (hi - lo) / mean_sd(&v).0
                        } else {
                            hi - lo
                        };
                        (*value, g.len(), spread, rho)
                    })
                    .collect(),
                mean_rho,
                p_value,
            }
        })
        .collect()
}

/// The equal-x analysis as a printed table ("" if there is none).
pub fn render_equal_x(analyses: &[EqualX], x: &str) -> String {
    let Some(first) = analyses.first() else {
        return String::new();
    };
    let mut s = format!("{x:>10}  {:>4}", "runs");
    for a in analyses {
        s += &format!("  {:>26}", format!("{} spread, ρ(S)", a.metric));
    }
    s.push('\n');
    for (k, &(value, n, _, _)) in first.groups.iter().enumerate() {
        s += &format!("{value:>10.3e}  {n:>4}");
        for a in analyses {
            let (_, _, spread, rho) = a.groups[k];
            s += &format!("  {:>26}", format!("{spread:.3}, {rho:+.2}"));
        }
        s.push('\n');
    }
    s += &format!("{:>10}  {:>4}", "mean ρ(S)", "");
    for a in analyses {
        s += &format!(
            "  {:>26}",
            format!("{:+.3} (p = {:.4})", a.mean_rho, a.p_value)
        );
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lr: f64, s: i64, seed: i64, lambda: f64, excluded: Option<&str>) -> Row {
        let mut metrics = [f64::NAN; Metric::ALL.len()];
        metrics[Metric::LambdaMax as usize] = lambda;
        metrics[Metric::ValAcc as usize] = 0.8 + lr;
        Row {
            name: format!("lr{lr}_bs{s}_seed{seed}"),
            lr,
            batch_size: s,
            eta_over_s: lr / s as f64,
            eta_over_s_eff: lr / s as f64,
            momentum: 0.0,
            seed,
            metrics,
            epochs: 10,
            stop_reason: "target_loss".into(),
            diverged: false,
            excluded: excluded.map(String::from),
            content_sha256: String::new(),
            fields: Vec::new(),
            norms: Vec::new(),
            curves: Default::default(),
            measured_epoch: 10,
        }
    }

    #[test]
    fn weight_scale_uses_the_layers_that_feed_a_batchnorm() {
        let norms: Vec<(String, f64)> =
            [("bn1.weight", 7.0), ("l2.weight", 4.0), ("l1.weight", 3.0)]
                .into_iter()
                .chain([("l4.weight", 100.0), ("l3.weight", 1.0)])
                .map(|(n, v)| (n.to_string(), v))
                .collect();
        assert_eq!(pre_bn_weight_norm2(&norms), 26.0);
        assert!(pre_bn_weight_norm2(&[]).is_nan());
    }

    /// Three seeds at each of four points with λ_max falling in η/S, plus excluded runs whose
    /// values would reverse every trend: the statistics are those of the included runs alone.
    #[test]
    fn excluded_runs_change_no_statistic() {
        let mut rows = Vec::new();
        for (k, (lr, s)) in [(0.1, 25), (0.1, 50), (0.05, 25), (0.05, 100)]
            .iter()
            .enumerate()
        {
            for seed in 0..3 {
                rows.push(row(
                    *lr,
                    *s,
                    seed,
                    100.0 * (k as f64 + 1.0) + seed as f64,
                    None,
                ));
            }
        }
        let clean = rows.clone();
        rows.push(row(
            0.1,
            25,
            3,
            1e6,
            Some("train loss 0.3 > target 0.05 after 60 epochs"),
        ));
        rows.push(row(0.05, 100, 3, 1e-6, Some("diverged")));
        let metrics = ["lambda_max".to_string(), "val_acc".to_string()];
        assert_eq!(
            correlations(&rows, "eta_over_s", &metrics),
            correlations(&clean, "eta_over_s", &metrics)
        );
        let c = correlations(&clean, "eta_over_s", &metrics);
        assert!(c[0].1.rho < -0.9 && c[0].1.n == 12, "{:?}", c[0]);
        let e = equal_x(&clean, "eta_over_s", &metrics);
        assert_eq!(e[0].groups.len(), 1, "0.1/50 = 0.05/25");
        assert_eq!(equal_x(&rows, "eta_over_s", &metrics), e);
        let p = point_stats(&rows, "eta_over_s", &metrics);
        assert_eq!(
            (p[0].point.as_str(), p[0].runs, p[0].included),
            ("lr0.1_bs25", 4, 3)
        );
        assert_eq!(p[0].values[0], (101.0, 1.0));
        assert_eq!(
            p.iter().map(|q| q.values.clone()).collect::<Vec<_>>(),
            point_stats(&clean, "eta_over_s", &metrics)
                .iter()
                .map(|q| q.values.clone())
                .collect::<Vec<_>>()
        );
    }
}
