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
}

/// One panel per metric against x, one colour per value of `colour`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Figure {
    pub panels: Vec<String>,
    pub colour: String,
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

impl Claim {
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
        }
    }
}
