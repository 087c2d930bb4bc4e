//! Stage 6 — check: compare artifacts with a golden file. Exact content hashes where the
//! platform class is known, tolerance bands per grid point everywhere, and "science bands" (the
//! sign and minimum strength of each rank correlation the paper claims). Input: artifact
//! summaries and a [`Golden`]; output: findings with verdicts. Only `golden bless` writes golden
//! files ([`Golden::bless`] + [`Golden::save`]).
mod diff;

pub use diff::line_diff;

use crate::artifact::{h5, ArtifactSummary};
use crate::error::{Error, Result};
use crate::report::{spearman, Metric, Row};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The key under which a grid table's hash is stored next to the runs' hashes.
pub const GRID_KEY: &str = "fig3.h5";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub expected: f64,
    /// Allowed |got − expected|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<f64>,
    /// Allowed |got − expected| / |expected|.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<f64>,
}

impl Band {
    pub fn holds(&self, got: f64) -> bool {
        let d = (got - self.expected).abs();
        got.is_finite() == self.expected.is_finite()
            && (!got.is_finite()
                || self.abs.is_none_or(|a| d <= a)
                    && self.rel.is_none_or(|r| d <= r * self.expected.abs()))
    }
    pub fn describe(&self) -> String {
        match (self.abs, self.rel) {
            (Some(a), _) => format!("±{a}"),
            (None, Some(r)) => format!("±{}%", r * 100.0),
            _ => "exact".into(),
        }
    }
}

/// The paper's claim about one metric: Spearman(η/S, metric) has this sign and at least this
/// magnitude.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Science {
    pub sign: i8,
    pub min_abs: f64,
}

/// Band widths used by `golden bless`, with the measurement that justifies them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widths {
    pub accuracy_abs: f64,
    pub curvature_rel: f64,
    pub justification: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Golden {
    pub experiment: String,
    pub profile: String,
    pub widths: Widths,
    /// platform class → (run name or "fig3.h5" → content hash).
    #[serde(default)]
    pub hashes: BTreeMap<String, BTreeMap<String, String>>,
    /// run name → metric → band.
    #[serde(default)]
    pub bands: BTreeMap<String, BTreeMap<String, Band>>,
    /// metric → the paper's claim.
    #[serde(default)]
    pub science: BTreeMap<String, Science>,
    /// platform class → the devices (CPU or GPU models, from the artifacts' provenance) whose
    /// fresh runs produced exactly that class's hashes. `golden bless` adds a device when its
    /// hashes equal the recorded ones and starts the list afresh when they change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reproduced_on: BTreeMap<String, Vec<String>>,
}

/// Metrics banded per grid point: accuracies absolutely, curvature relatively.
pub const BANDED: [(Metric, bool); 5] = [
    (Metric::ValAcc, true),
    (Metric::TestAcc, true),
    (Metric::LambdaMax, false),
    (Metric::FrobeniusNorm, false),
    (Metric::Trace, false),
];

/// One line of a check: what was compared and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub subject: String,
    pub quantity: String,
    pub expected: String,
    pub got: String,
    pub band: String,
    pub ok: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }
    pub fn render(&self) -> String {
        let mut s = format!(
            "{:<26} {:<22} {:>18} {:>18} {:>10}  verdict\n",
            "subject", "quantity", "expected", "got", "band"
        );
        for f in &self.findings {
            s += &format!(
                "{:<26} {:<22} {:>18} {:>18} {:>10}  {}\n",
                f.subject,
                f.quantity,
                f.expected,
                f.got,
                f.band,
                if f.ok { "ok" } else { "FAIL" }
            );
        }
        for n in &self.notes {
            s += &format!("note: {n}\n");
        }
        s
    }
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

impl Golden {
    pub fn load(path: &Path) -> Result<Golden> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    pub fn to_toml(&self) -> String {
        let header = "# Golden values for `three-factors check`. Written only by `three-factors golden bless`.\n";
        format!(
            "{header}{}",
            toml::to_string_pretty(self).expect("golden serialises")
        )
    }

    /// Writes atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::atomic::write(path, self.to_toml().as_bytes())
    }

    /// A new golden built from a complete grid's artifacts: this platform class's hashes are
    /// replaced (others kept), bands are re-centred on the new values with the kept widths, and
    /// the science claims are kept.
    pub fn bless(&self, runs: &[ArtifactSummary], grid_hash: &str) -> Golden {
        let mut g = self.clone();
        if let Some(class) = runs
            .first()
            .and_then(|s| s.provenance.get("platform_class"))
        {
            let mut h: BTreeMap<String, String> = runs
                .iter()
                .map(|s| (s.config.run_name(), s.stored_hash.clone()))
                .collect();
            h.insert(GRID_KEY.into(), grid_hash.into());
            let mut devices = match self.hashes.get(class) {
                Some(old) if *old == h => {
                    self.reproduced_on.get(class).cloned().unwrap_or_default()
                }
                _ => Vec::new(),
            };
            for d in runs.iter().filter_map(|s| s.provenance.get("device_name")) {
                if !devices.iter().any(|x| x == d) {
                    devices.push(d.to_string());
                }
            }
            g.reproduced_on.insert(class.to_string(), devices);
            g.hashes.insert(class.to_string(), h);
        }
        g.bands = runs
            .iter()
            .map(|s| {
                let row = Row::from_summary(s, None);
                let bands = BANDED
                    .iter()
                    .map(|&(m, absolute)| {
                        let (abs, rel) = if absolute {
                            (Some(self.widths.accuracy_abs), None)
                        } else {
                            (None, Some(self.widths.curvature_rel))
                        };
                        (
                            m.as_str().to_string(),
                            Band {
                                expected: m.of(&row),
                                abs,
                                rel,
                            },
                        )
                    })
                    .collect();
                (row.name, bands)
            })
            .collect();
        g
    }

    /// Compares artifacts (and optionally the grid table's recomputed hash) with this golden.
    /// With `complete`, every grid point the golden file lists must be among `runs`.
    pub fn check(
        &self,
        runs: &[ArtifactSummary],
        grid: Option<(&Path, String)>,
        complete: bool,
    ) -> Result<Report> {
        let mut r = Report::default();
        for s in runs {
            if s.config.experiment != self.experiment || s.config.profile != self.profile {
                return Err(Error::Golden {
                    path: s.path.clone(),
                    reason: format!(
                        "artifact is from {}/{}, the golden file is for {}/{}",
                        s.config.experiment, s.config.profile, self.experiment, self.profile
                    ),
                });
            }
        }
        if complete {
            if let Some(name) = self
                .bands
                .keys()
                .find(|n| !runs.iter().any(|r| &r.config.run_name() == *n))
            {
                let dir = runs
                    .first()
                    .and_then(|r| r.path.parent())
                    .unwrap_or(Path::new("."));
                return Err(Error::Golden {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "missing artifact for grid point {name} (expected {})",
                        dir.join(format!("{name}.h5")).display()
                    ),
                });
            }
        }
        let class = runs
            .first()
            .and_then(|s| s.provenance.get("platform_class"))
            .unwrap_or("unknown");
        let hashes = self.hashes.get(class);
        if hashes.is_none() {
            r.notes.push(format!(
                "platform class '{class}' has no golden hashes (known: {}); checking tolerance bands only",
                self.hashes.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for s in runs {
            let name = s.config.run_name();
            r.findings.push(Finding {
                subject: name.clone(),
                quantity: "stored hash = content".into(),
                expected: short(&s.stored_hash),
                got: short(&s.recomputed_hash),
                band: "exact".into(),
                ok: s.hash_ok(),
            });
            if let Some(h) = hashes {
                let want = h.get(&name).map(String::as_str).unwrap_or("(none)");
                r.findings.push(Finding {
                    subject: name.clone(),
                    quantity: "content_sha256".into(),
                    expected: short(want),
                    got: short(&s.recomputed_hash),
                    band: "exact".into(),
                    ok: want == s.recomputed_hash,
                });
            }
            let row = Row::from_summary(s, None);
            let Some(bands) = self.bands.get(&name) else {
                r.findings.push(Finding {
                    subject: name,
                    quantity: "golden entry".into(),
                    expected: "present".into(),
                    got: "absent".into(),
                    band: "-".into(),
                    ok: false,
                });
                continue;
            };
            for (metric, band) in bands {
                let got = Metric::parse(metric)
                    .map(|m| m.of(&row))
                    .unwrap_or(f64::NAN);
                r.findings.push(Finding {
                    subject: name.clone(),
                    quantity: metric.clone(),
                    expected: format!("{:.6}", band.expected),
                    got: format!("{got:.6}"),
                    band: band.describe(),
                    ok: band.holds(got),
                });
            }
        }
        if let (Some((path, got)), Some(h)) = (&grid, hashes) {
            let want = h.get(GRID_KEY).map(String::as_str).unwrap_or("(none)");
            r.findings.push(Finding {
                subject: path.display().to_string(),
                quantity: "content_sha256".into(),
                expected: short(want),
                got: short(got),
                band: "exact".into(),
                ok: want == got,
            });
        }
        if !self.science.is_empty() {
            let rows: Vec<Row> = runs
                .iter()
                .map(|s| Row::from_summary(s, None))
                .filter(|r| !r.diverged)
                .collect();
            let x: Vec<f64> = rows.iter().map(|r| r.eta_over_s).collect();
            for (metric, claim) in &self.science {
                let Some(m) = Metric::parse(metric) else {
                    return Err(Error::Invalid(format!(
                        "golden science band for unknown metric '{metric}'"
                    )));
                };
                let rho = spearman(&x, &rows.iter().map(|r| m.of(r)).collect::<Vec<_>>());
                r.findings.push(Finding {
                    subject: "spearman(eta/S, ·)".into(),
                    quantity: metric.clone(),
                    expected: format!(
                        "{}{}",
                        if claim.sign < 0 { "≤ -" } else { "≥ +" },
                        claim.min_abs
                    ),
                    got: format!("{rho:+.3}"),
                    band: "sign".into(),
                    ok: rho.is_finite() && rho * f64::from(claim.sign.signum()) >= claim.min_abs,
                });
            }
        }
        Ok(r)
    }
}

/// The recomputed content hash of a grid table file.
pub fn grid_hash(path: &Path) -> Result<String> {
    let f = h5::open(path)?;
    h5::content_hash(path, &f, &[], &[])
}
