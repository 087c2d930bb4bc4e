//! What an experiment does with its runs, declared in its file's `[analysis]` table: the column
//! trends are measured against, the metrics correlated with it, whether runs sharing that value
//! are compared, and what the figure draws. Names refer to the columns of the experiment's table
//! (see `metrics::Column`); they are checked when a plan is built.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// The column trends are measured against (the paper: η/S).
    pub x: String,
    /// Draw x on a log axis.
    pub log_x: bool,
    /// Metrics (or the final model's `norm.<tensor>` columns) whose Spearman rank correlation
    /// with x is computed, printed and stored
    /// (`/spearman/<metric>` in `<experiment>.h5`).
    pub correlate: Vec<String>,
    /// Report the spread of the curvature and accuracy among runs that share the same x.
    pub equal_x_spread: bool,
    pub figure: Figure,
    /// Learning-curve comparisons (Fig. 1, Fig. 2): `matched` is claimed to follow `base` more
    /// closely than `control` does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<CurveCompare>,
    /// Mean ± sd over seeds of metrics per group of runs (Table 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<GroupTable>,
    /// Claimed differences between two groups of the table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contrast: Vec<Contrast>,
    /// Where a metric leaves the band of the smallest scale factor β (Fig. 5).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakdown: Vec<Breakdown>,
    /// Lines between two arms' minima, seed by seed (Fig. 4), and a claim about their basins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interpolate: Vec<Interpolation>,
}

/// Fig. 4: for every seed k, the line from run `a` (variant, seed k) at α = 0 to run `b` (seed
/// k) at α = 1, measured by `interpolate` on the training and validation subsets, and the width
/// of the basin around each endpoint on its outer side (away from the other minimum: α < 0 for
/// `a`, α > 1 for `b`), in α units, where the training loss first exceeds the endpoint's by
/// `rise`. Claims: `a_wider` (the paper's (a, b) panels: `a`, the higher η/S, has the wider
/// basin; per-seed margin wᴬ − wᴮ with mean > 0 and > its sd over seeds), or `equal` (the (c, d)
/// panels: equal η/S, different β; |mean wᴬ − mean wᴮ| at most the seed-to-seed sd of the widths,
/// pooled over both endpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interpolation {
    pub name: String,
    pub a: String,
    pub b: String,
    pub claim: BasinClaim,
    #[serde(default = "default_rise")]
    pub rise: f64,
    #[serde(default = "default_from")]
    pub from: f64,
    #[serde(default = "default_to")]
    pub to: f64,
    #[serde(default = "default_points")]
    pub points: usize,
}

impl Interpolation {
    /// The α grid and rise the lines of this interpolation are measured on.
    pub fn line_spec(&self) -> crate::curvature::interpolate::LineSpec {
        crate::curvature::interpolate::LineSpec {
            from: self.from,
            to: self.to,
            points: self.points,
            rise: self.rise,
        }
    }
}

fn default_rise() -> f64 {
    0.1
}
fn default_from() -> f64 {
    -0.5
}
fn default_to() -> f64 {
    1.5
}
fn default_points() -> usize {
    41
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BasinClaim {
    AWider,
    Equal,
}

/// Two runs' learning curves compared on the epoch axis, seed by seed (seed k of one arm with
/// seed k of the other): the mean and the maximum over epochs of |Δ|, for each curve the
/// analysis reports. The claim: `matched` is closer to `base` than `control` is, on `curve`'s
/// mean |Δ|, by more than the seed-to-seed spread of that margin (mean margin > 0 and > its sd).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurveCompare {
    pub name: String,
    /// Variants (the runs' `variant` field).
    pub base: String,
    pub matched: String,
    pub control: String,
    /// The curve that decides the claim (`val_acc`, `train_loss`, ...).
    pub curve: String,
    /// The paper's claim, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claim: String,
}

/// The per-group table: runs grouped by the value of `by` (e.g. `variant`), mean ± sd over the
/// included seeds of each metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupTable {
    pub by: String,
    pub metrics: Vec<String>,
    /// Hyperparameter selection (the paper's grid search on validation): within each group,
    /// only the point (setting) with the highest seed mean of this metric is tabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
}

/// `metric` of group `group` against group `than` (groups of the table): the claimed sign of
/// mean(group) − mean(than), with an exact one-sided permutation p-value over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contrast {
    pub name: String,
    pub by: String,
    pub metric: String,
    pub group: String,
    pub than: String,
    pub sign: i8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p: Option<f64>,
    /// As [`GroupTable::select`]: compare only each group's best point by this metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
}

/// Fig. 5: runs whose η and S are the smallest run's times β, in groups by `by` (e.g. the
/// training-set size). Per group the band of `metric` at β = 1 is its seeds' mean ± `k_sd`·sd,
/// at least ± `floor`; the breakdown is the first β > 1 whose seed mean leaves it; the drop at β
/// is the β = 1 mean minus the β mean. The claim, by `criterion`: `earlier_break` (default), the
/// breakdown comes at a smaller β in the group with the smaller `by` value than in the one with
/// the larger (or the larger never breaks); `larger_drop`, from the first β at which either group
/// breaks on, the smaller group's drop is the larger at every β both have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    pub name: String,
    pub by: String,
    pub metric: String,
    pub k_sd: f64,
    #[serde(default)]
    pub floor: f64,
    #[serde(default)]
    pub criterion: BreakdownCriterion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakdownCriterion {
    #[default]
    EarlierBreak,
    LargerDrop,
}

/// A claim a golden file carries besides rank correlations: one of the analysis' comparisons,
/// copied whole so `check` can evaluate it from the artifacts alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Test {
    Compare(CurveCompare),
    Contrast(Contrast),
    Breakdown(Breakdown),
    Basin(Interpolation),
}

impl Test {
    /// Whether the test can be judged: signs ±1, p-value bounds in (0, 1], finite non-negative
    /// breakdown thresholds, a valid interpolation line. `field` names it in the message.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        let field = format!("{field}.{}", self.name());
        match self {
            Test::Compare(_) => Ok(()),
            Test::Contrast(c) => {
                check_sign(&field, c.sign)?;
                check_p(&field, c.max_p)
            }
            Test::Breakdown(b) => {
                for (k, v) in [("k_sd", b.k_sd), ("floor", b.floor)] {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(format!("{field}.{k}: must be a number ≥ 0, got {v}"));
                    }
                }
                Ok(())
            }
            Test::Basin(i) => i
                .line_spec()
                .validate()
                .map_err(|e| format!("{field}: {e}")),
        }
    }

    /// The `[analysis]` table it comes from and its name.
    pub fn kind_and_name(&self) -> (&'static str, &str) {
        match self {
            Test::Compare(c) => ("compare", &c.name),
            Test::Contrast(c) => ("contrast", &c.name),
            Test::Breakdown(b) => ("breakdown", &b.name),
            Test::Basin(i) => ("interpolate", &i.name),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Test::Compare(c) => &c.name,
            Test::Contrast(c) => &c.name,
            Test::Breakdown(b) => &b.name,
            Test::Basin(i) => &i.name,
        }
    }
    /// The columns the test reads from each run besides the metrics (config fields by dotted
    /// path; names that are metrics are harmless here).
    pub fn fields(&self) -> Vec<String> {
        match self {
            Test::Compare(_) => vec!["variant".into()],
            Test::Contrast(c) => [Some(&c.by), Some(&c.metric), c.select.as_ref()]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            Test::Breakdown(b) => vec![b.by.clone(), b.metric.clone()],
            Test::Basin(_) => vec!["variant".into()],
        }
    }
}

impl Analysis {
    /// The comparison named `name`, as a test.
    pub fn test(&self, name: &str) -> Option<Test> {
        self.compare
            .iter()
            .find(|c| c.name == name)
            .map(|c| Test::Compare(c.clone()))
            .or_else(|| {
                self.contrast
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| Test::Contrast(c.clone()))
            })
            .or_else(|| {
                self.breakdown
                    .iter()
                    .find(|b| b.name == name)
                    .map(|b| Test::Breakdown(b.clone()))
            })
            .or_else(|| {
                self.interpolate
                    .iter()
                    .find(|i| i.name == name)
                    .map(|i| Test::Basin(i.clone()))
            })
    }
    /// Every comparison of the analysis, as tests.
    pub fn tests(&self) -> Vec<Test> {
        let names: Vec<String> = self
            .compare
            .iter()
            .map(|c| c.name.clone())
            .chain(self.contrast.iter().map(|c| c.name.clone()))
            .chain(self.breakdown.iter().map(|b| b.name.clone()))
            .chain(self.interpolate.iter().map(|i| i.name.clone()))
            .collect();
        names.iter().filter_map(|n| self.test(n)).collect()
    }
}

/// `scatter`: one panel per metric against x, one colour per value of `colour`. `curves`: one
/// panel per learning curve (`val_acc`, `train_loss`, ...) against the epoch, one line per value
/// of `colour` (the mean over seeds, with a ± sd band), one row of panels per value of `facet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Figure {
    pub kind: FigureKind,
    pub panels: Vec<String>,
    pub colour: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub facet: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureKind {
    #[default]
    Scatter,
    Curves,
}

/// A claim of the paper about one metric: Spearman(x, metric) over the included runs has this
/// sign, at least this magnitude and, when `max_p` is given, a permutation p-value at most that.
/// A profile's claims become the science bands of its golden file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub sign: i8,
    pub min_abs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p: Option<f64>,
}

/// A p-value bound: in (0, 1].
fn check_p(field: &str, p: Option<f64>) -> Result<(), String> {
    match p {
        Some(p) if !(p > 0.0 && p <= 1.0) => Err(format!(
            "{field}.max_p: must be a p-value in (0, 1], got {p}"
        )),
        _ => Ok(()),
    }
}

/// A claimed sign: 1 or -1.
fn check_sign(field: &str, sign: i8) -> Result<(), String> {
    if sign == 1 || sign == -1 {
        Ok(())
    } else {
        Err(format!("{field}.sign: must be 1 or -1, got {sign}"))
    }
}

impl Claim {
    /// Whether the claim can be judged at all: a sign of ±1, a magnitude in [0, 1] (a rank
    /// correlation's range) and a p-value bound in (0, 1]. `field` names it in the message.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        check_sign(field, self.sign)?;
        if !(0.0..=1.0).contains(&self.min_abs) {
            return Err(format!(
                "{field}.min_abs: must be a correlation magnitude in [0, 1], got {}",
                self.min_abs
            ));
        }
        check_p(field, self.max_p)
    }

    /// Whether a measured ρ and p satisfy the claim.
    pub fn holds(&self, rho: f64, p: f64) -> bool {
        rho.is_finite()
            && rho * f64::from(self.sign.signum()) >= self.min_abs
            && self.max_p.is_none_or(|m| p <= m)
    }
    /// "≤ -0.8, p ≤ 0.01".
    pub fn describe(&self) -> String {
        format!(
            "{}{}{}",
            if self.sign < 0 { "≤ -" } else { "≥ +" },
            self.min_abs,
            self.max_p.map(|m| format!(", p ≤ {m}")).unwrap_or_default()
        )
    }
}

impl Default for Analysis {
    /// Fig. 3's analysis: everything against η/S on a log axis.
    fn default() -> Self {
        Analysis {
            x: "eta_over_s".into(),
            log_x: true,
            correlate: [
                "lambda_max",
                "frobenius_norm",
                "trace",
                "val_acc",
                "test_acc",
                "train_acc",
            ]
            .map(String::from)
            .to_vec(),
            equal_x_spread: true,
            figure: Figure::default(),
            compare: Vec::new(),
            table: None,
            contrast: Vec::new(),
            breakdown: Vec::new(),
            interpolate: Vec::new(),
        }
    }
}

impl Default for Figure {
    fn default() -> Self {
        Figure {
            panels: ["lambda_max", "frobenius_norm", "val_acc"]
                .map(String::from)
                .to_vec(),
            colour: "batch_size".into(),
            kind: FigureKind::Scatter,
            facet: String::new(),
        }
    }
}
