//! Stage 6 — check: compare artifacts with a golden file. Exact content hashes where the
//! platform class is known, tolerance bands per point everywhere, and "science bands" (the
//! sign and minimum strength of each rank correlation the paper claims). Input: artifact
//! summaries and a [`Golden`]; output: findings with verdicts. Only `golden bless` writes golden
//! files ([`bless`]: [`Golden::bless`] + [`Golden::save`]). The golden file of a profile is
//! `Layout::golden(experiment, profile)`.
mod diff;

pub use diff::line_diff;
pub mod junit;

use crate::artifact::line::{self, LineRecord};
use crate::artifact::theory::{self as theory_file, TheoryFile, THEORY_FILE};
use crate::artifact::{self, ArtifactSummary, GRID_FORMAT};
use crate::config::{Claim, Experiment, Test, TheoryConfig};
use crate::error::{Error, Result};
use crate::files::h5;
use crate::layout::Layout;
use crate::metrics::{correlations, describe, evaluate, Metric, Row};
use crate::repro::grid::{status, status_on_any_device, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The key under which an experiment's table hash is stored next to the runs' hashes: its file
/// name, `<experiment>.h5`.
pub fn grid_key(experiment: &str) -> String {
    format!("{experiment}.h5")
}

/// The science claims of a golden file: the paper's claim about each metric.
pub type Science = Claim;

fn eta_over_s() -> String {
    "eta_over_s".into()
}
fn is_eta_over_s(x: &str) -> bool {
    x == "eta_over_s"
}

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
    /// Allowed factor: got / expected within [1/ratio, ratio] (same sign). For quantities that
    /// vary multiplicatively, where a relative band wide enough for seed-to-seed spread could
    /// never catch a drop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

impl Band {
    /// Whether the band can be judged: a finite expected value and exactly one width, each a
    /// finite number (abs, rel ≥ 0; ratio ≥ 1). A metric that is not measured has no band.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !self.expected.is_finite() {
            return Err(format!(
                "expected = {}: must be a finite number (a metric that is not measured has no band)",
                self.expected
            ));
        }
        let widths = [
            ("abs", self.abs, 0.0),
            ("rel", self.rel, 0.0),
            ("ratio", self.ratio, 1.0),
        ];
        let given: Vec<_> = widths.iter().filter(|w| w.1.is_some()).collect();
        if given.len() != 1 {
            return Err(format!(
                "needs exactly one width (abs, rel or ratio), has {}",
                given.len()
            ));
        }
        for (name, w, min) in widths {
            if let Some(w) = w {
                if !(w.is_finite() && w >= min) {
                    return Err(format!("{name} = {w}: must be a finite number ≥ {min}"));
                }
            }
        }
        Ok(())
    }

    pub fn holds(&self, got: f64) -> bool {
        let d = (got - self.expected).abs();
        got.is_finite() == self.expected.is_finite()
            && (!got.is_finite()
                || self.abs.is_none_or(|a| d <= a)
                    && self.rel.is_none_or(|r| d <= r * self.expected.abs())
                    && self.ratio.is_none_or(|r| {
                        let q = got / self.expected;
                        (got == self.expected) || (q.is_finite() && q >= 1.0 / r && q <= r)
                    }))
    }
    pub fn describe(&self) -> String {
        match (self.abs, self.rel, self.ratio) {
            (Some(a), _, _) => format!("±{a}"),
            (None, Some(r), _) => format!("±{}%", r * 100.0),
            (None, None, Some(r)) => format!("×/÷{r}"),
            _ => "exact".into(),
        }
    }
}

/// Band widths used by `golden bless`, with the measurement that justifies them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widths {
    pub accuracy_abs: f64,
    /// Curvature bands are factors: got / expected within [1/ratio, ratio].
    pub curvature_ratio: f64,
    pub justification: String,
}

impl Default for Widths {
    /// The widths of a golden file's first blessing, until a measured seed-to-seed spread
    /// replaces them.
    fn default() -> Self {
        Widths {
            accuracy_abs: 0.02,
            curvature_ratio: 1.5,
            justification: "default widths; replace with measured seed-to-seed spread".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Golden {
    pub experiment: String,
    pub profile: String,
    /// The column the science claims correlate with (default η/S).
    #[serde(default = "eta_over_s", skip_serializing_if = "is_eta_over_s")]
    pub x: String,
    pub widths: Widths,
    /// platform class → (run name or "<experiment>.h5" → content hash).
    #[serde(default)]
    pub hashes: BTreeMap<String, BTreeMap<String, String>>,
    /// run name → metric → band.
    #[serde(default)]
    pub bands: BTreeMap<String, BTreeMap<String, Band>>,
    /// metric → the paper's claim about Spearman(x, metric).
    #[serde(default)]
    pub science: BTreeMap<String, Science>,
    /// metric → a claim about Spearman(x, metric) this profile measured NOT to hold; `check`
    /// fails if it starts to hold (the recorded negative result would be stale).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub negative_science: BTreeMap<String, Science>,
    /// The paper's other claims: curve comparisons, group contrasts, breakdowns (copied from
    /// the experiment's `[analysis]` by `golden bless`, so `check` needs only the artifacts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<Test>,
    /// Claims of the paper this profile measured not to hold: `check` expects them to fail
    /// still (a negative result that starts to hold is reported, as the record is then stale).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub negative: Vec<Test>,
    /// Runs below this final training accuracy are left out of the science bands (the profile's
    /// `min_train_acc`); runs that diverged or missed their target training loss always are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_train_acc: Option<f64>,
    /// SHA-256 over the resolved configs of the blessed runs. When a bless finds other configs,
    /// every platform class's hashes are dropped, not just this one's: they cannot hold.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub configs_sha256: String,
    /// platform class → the devices (CPU or GPU models, from the artifacts' provenance) whose
    /// fresh runs produced exactly that class's hashes. `golden bless` adds a device when its
    /// hashes equal the recorded ones and starts the list afresh when they change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reproduced_on: BTreeMap<String, Vec<String>>,
    /// The profile's theory checks (sizes and bands), copied by `golden bless`: `check` requires
    /// `theory.h5` to have been simulated with exactly this configuration and holds it to these
    /// bands, recomputing every prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<TheoryConfig>,
}

/// What a profile expects of its results, as `golden bless` copies it into the golden file: the
/// rank-correlation claims (and those measured not to hold), the comparisons claimed (and those
/// measured not to hold), and the exclusion threshold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub claims: BTreeMap<String, Claim>,
    pub negative_claims: BTreeMap<String, Claim>,
    pub tests: Vec<Test>,
    pub negative: Vec<Test>,
    pub min_train_acc: Option<f64>,
    pub theory: Option<TheoryConfig>,
}

/// Metrics banded per grid point: accuracies absolutely, curvature relatively.
pub const BANDED: [(Metric, bool); 8] = [
    (Metric::ValAcc, true),
    (Metric::TestAcc, true),
    (Metric::LambdaMax, false),
    (Metric::FrobeniusNorm, false),
    (Metric::Trace, false),
    (Metric::LambdaMaxBatch, false),
    (Metric::FrobeniusNormBatch, false),
    (Metric::TraceBatch, false),
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

/// The hash findings of one hashed file under its golden key: its stored hash against its
/// content and, where the platform class has golden hashes, its content against the golden's.
fn hash_findings(
    r: &mut Report,
    key: &str,
    (stored, recomputed): (&str, &str),
    hashes: Option<&BTreeMap<String, String>>,
) {
    r.findings.push(Finding {
        subject: key.to_string(),
        quantity: "stored hash = content".into(),
        expected: short(stored),
        got: short(recomputed),
        band: "exact".into(),
        ok: stored == recomputed,
    });
    if let Some(h) = hashes {
        let want = h.get(key).map(String::as_str).unwrap_or("(none)");
        r.findings.push(Finding {
            subject: key.to_string(),
            quantity: "content_sha256".into(),
            expected: short(want),
            got: short(recomputed),
            band: "exact".into(),
            ok: want == recomputed,
        });
    }
}

impl Golden {
    /// An empty golden file for an experiment's profile.
    pub fn fresh(experiment: &Experiment, profile: &str) -> Golden {
        Golden {
            experiment: experiment.name.clone(),
            profile: profile.to_string(),
            x: experiment.analysis.x.clone(),
            widths: Widths::default(),
            hashes: Default::default(),
            bands: Default::default(),
            science: Default::default(),
            negative_science: Default::default(),
            tests: Vec::new(),
            negative: Vec::new(),
            min_train_acc: None,
            configs_sha256: String::new(),
            reproduced_on: Default::default(),
            theory: None,
        }
    }

    /// Reads and validates a golden file: a file that cannot be judged by (a malformed band, an
    /// unknown metric, an impossible claim, a hash that is not SHA-256) is an error naming the
    /// entry, never a verdict.
    pub fn load(path: &Path) -> Result<Golden> {
        let g = Golden::parse(path)?;
        g.validate().map_err(|reason| Error::Golden {
            path: path.to_path_buf(),
            reason: format!("invalid golden file: {reason}"),
        })?;
        Ok(g)
    }

    /// Reads a golden file without judging its values (for `golden bless`, which rebuilds it).
    pub fn parse(path: &Path) -> Result<Golden> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The checks of [`Golden::load`].
    pub fn validate(&self) -> std::result::Result<(), String> {
        let w = &self.widths;
        if !(w.accuracy_abs.is_finite() && w.accuracy_abs >= 0.0) {
            return Err(format!(
                "widths.accuracy_abs = {}: must be a finite number ≥ 0",
                w.accuracy_abs
            ));
        }
        if !(w.curvature_ratio.is_finite() && w.curvature_ratio >= 1.0) {
            return Err(format!(
                "widths.curvature_ratio = {}: must be a finite number ≥ 1",
                w.curvature_ratio
            ));
        }
        for (class, h) in &self.hashes {
            for (key, hash) in h {
                let hex = hash.len() == 64
                    && hash
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
                if !hex {
                    return Err(format!(
                        "hashes.\"{class}\".\"{key}\" = '{hash}': not a SHA-256 (64 lower-case hex digits)"
                    ));
                }
            }
        }
        for (run, bands) in &self.bands {
            for (metric, band) in bands {
                let at = format!("bands.\"{run}\".{metric}");
                Metric::named(metric).map_err(|e| format!("{at}: {e}"))?;
                band.validate().map_err(|e| format!("{at}: {e}"))?;
            }
        }
        for (list, claims) in [
            ("science", &self.science),
            ("negative_science", &self.negative_science),
        ] {
            for (metric, claim) in claims {
                let at = format!("{list}.{metric}");
                Metric::named(metric).map_err(|e| format!("{at}: {e}"))?;
                claim.validate(&at)?;
            }
        }
        for (list, tests) in [("tests", &self.tests), ("negative", &self.negative)] {
            for t in tests {
                t.validate(list)?;
            }
        }
        if let Some(m) = self.min_train_acc {
            if !(0.0..=1.0).contains(&m) {
                return Err(format!(
                    "min_train_acc = {m}: must be an accuracy in [0, 1]"
                ));
            }
        }
        if let Some(t) = &self.theory {
            t.validate().map_err(|e| format!("theory: {e}"))?;
        }
        Ok(())
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
        crate::files::write(path, self.to_toml().as_bytes())
    }

    /// A new golden built from a complete grid's artifacts: this platform class's hashes are
    /// replaced (others kept while the resolved configs are unchanged, dropped when they
    /// changed), bands are re-centred on the new values with the kept widths, and the science
    /// claims and exclusion threshold become the experiment profile's.
    pub fn bless(
        &self,
        runs: &[ArtifactSummary],
        lines: &[LineRecord],
        theory: Option<&TheoryFile>,
        grid_hash: &str,
        expected: &Expected,
    ) -> Golden {
        let mut g = self.clone();
        g.theory = expected.theory.clone();
        g.science = expected.claims.clone();
        g.negative_science = expected.negative_claims.clone();
        g.tests = expected.tests.clone();
        g.negative = expected.negative.clone();
        g.min_train_acc = expected.min_train_acc;
        g.configs_sha256 = configs_sha256(
            runs.iter()
                .map(|s| (s.config.run_name(), s.config_toml.clone())),
        );
        if g.configs_sha256 != self.configs_sha256 {
            g.hashes.clear();
            g.reproduced_on.clear();
        }
        g.record_platform(runs, lines, theory, grid_hash);
        g.bands = runs
            .iter()
            .map(|s| {
                let row = Row::from_summary(s, None, &[]);
                let bands = BANDED
                    .iter()
                    // A metric the run did not measure gets no band (`check` fails if it
                    // starts to be measured).
                    .filter(|&&(m, _)| m.of(&row).is_finite())
                    .map(|&(m, absolute)| {
                        let (abs, ratio) = if absolute {
                            (Some(self.widths.accuracy_abs), None)
                        } else {
                            (None, Some(self.widths.curvature_ratio))
                        };
                        (
                            m.as_str().to_string(),
                            Band {
                                expected: m.of(&row),
                                abs,
                                rel: None,
                                ratio,
                            },
                        )
                    })
                    .collect();
                (row.name, bands)
            })
            .collect();
        g
    }

    /// Records the hashes of `runs` (and of their table, lines and theory file) under the runs'
    /// platform class, replacing that class's; the devices that reproduced them are kept when the
    /// hashes are unchanged and start afresh when they changed.
    fn record_platform(
        &mut self,
        runs: &[ArtifactSummary],
        lines: &[LineRecord],
        theory: Option<&TheoryFile>,
        grid_hash: &str,
    ) {
        let Some(class) = runs
            .first()
            .and_then(|s| s.provenance.get("platform_class"))
        else {
            return;
        };
        let mut h: BTreeMap<String, String> = runs
            .iter()
            .map(|s| (s.config.run_name(), s.stored_hash.clone()))
            .collect();
        h.insert(grid_key(&self.experiment), grid_hash.into());
        for l in lines {
            h.insert(line_key(l), l.stored_hash.clone());
        }
        if let Some(t) = theory {
            h.insert(THEORY_FILE.into(), t.stored_hash.clone());
        }
        let mut devices = match self.hashes.get(class) {
            Some(old) if *old == h => self.reproduced_on.get(class).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        for d in runs.iter().filter_map(|s| s.provenance.get("device_name")) {
            if !devices.iter().any(|x| x == d) {
                devices.push(d.to_string());
            }
        }
        self.reproduced_on.insert(class.to_string(), devices);
        self.hashes.insert(class.to_string(), h);
    }

    /// Compares artifacts (and optionally the grid table's recomputed hash) with this golden.
    /// With `complete`, every grid point the golden file lists must be among `runs`.
    pub fn check(
        &self,
        runs: &[ArtifactSummary],
        lines: &[LineRecord],
        theory: Option<&TheoryFile>,
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
        let class = platform_class(runs)?;
        let hashes = self.hashes.get(class);
        if hashes.is_none() {
            r.notes.push(format!(
                "platform class '{class}' has no golden hashes (known: {}); checking tolerance bands only",
                self.hashes.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        for s in runs {
            let name = s.config.run_name();
            hash_findings(&mut r, &name, (&s.stored_hash, &s.recomputed_hash), hashes);
            let row = Row::from_summary(s, None, &[]);
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
            for (m, _) in BANDED {
                let got = m.of(&row);
                if got.is_finite() && !bands.contains_key(m.as_str()) {
                    r.findings.push(Finding {
                        subject: name.clone(),
                        quantity: m.as_str().into(),
                        expected: "not measured".into(),
                        got: format!("{got:.6}"),
                        band: "-".into(),
                        ok: false,
                    });
                }
            }
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
        if let (true, Some(h)) = (complete, hashes) {
            let missing = h
                .keys()
                .filter(|k| k.starts_with(&format!("{INTERP_DIR}/")))
                .find(|k| !lines.iter().any(|l| line_key(l) == **k));
            if let Some(k) = missing {
                return Err(Error::Golden {
                    path: runs
                        .first()
                        .and_then(|r| r.path.parent())
                        .unwrap_or(Path::new("."))
                        .join(format!("{k}.h5")),
                    reason: format!("missing interpolation line {k} (the golden file lists it)"),
                });
            }
        }
        for l in lines {
            let subject = line_key(l);
            hash_findings(
                &mut r,
                &subject,
                (&l.stored_hash, &l.recomputed_hash),
                hashes,
            );
            // A line measured under another platform class than the runs is not comparable
            // with their golden hashes (nor, bit for bit, with a line of the runs' class).
            r.findings.push(Finding {
                subject,
                quantity: "platform class".into(),
                expected: class.to_string(),
                got: l.meta.platform_class.clone(),
                band: "exact".into(),
                ok: l.meta.platform_class == class,
            });
        }
        self.check_theory(theory, hashes, complete, runs, &mut r)?;
        if let (Some((path, got)), Some(h)) = (&grid, hashes) {
            let want = h
                .get(&grid_key(&self.experiment))
                .map(String::as_str)
                .unwrap_or("(none)");
            r.findings.push(Finding {
                subject: path.display().to_string(),
                quantity: "content_sha256".into(),
                expected: short(want),
                got: short(got),
                band: "exact".into(),
                ok: want == got,
            });
        }
        if !self.science.is_empty()
            || !self.negative_science.is_empty()
            || !self.tests.is_empty()
            || !self.negative.is_empty()
        {
            let mut fields = vec![self.x.clone()];
            for t in self.tests.iter().chain(&self.negative) {
                for f in t.fields() {
                    if !fields.contains(&f) {
                        fields.push(f);
                    }
                }
            }
            let rows: Vec<Row> = runs
                .iter()
                .map(|s| Row::from_summary(s, self.min_train_acc, &fields))
                .collect();
            let left_out = rows.iter().filter(|r| !r.included()).count();
            if left_out > 0 {
                r.notes.push(format!(
                    "{left_out} of {} runs excluded from the science bands (diverged, missed the target training loss, or below min_train_acc)",
                    rows.len()
                ));
            }
            let all = self.science.keys().chain(self.negative_science.keys());
            if let Some(unknown) = all.clone().find(|m| Metric::parse(m).is_none()) {
                return Err(Error::Invalid(format!(
                    "golden science band for unknown metric '{unknown}'"
                )));
            }
            let metrics: Vec<String> = all.cloned().collect();
            let tested = correlations(&rows, &self.x, &metrics);
            let claimed = self.science.len();
            for (k, (metric, t)) in tested.into_iter().enumerate() {
                let got = format!("{:+.3}, p {:.4}", t.rho, t.p_value);
                let finding = if k < claimed {
                    let claim = &self.science[&metric];
                    Finding {
                        subject: format!("spearman({}, ·)", self.x),
                        quantity: metric,
                        expected: claim.describe(),
                        got,
                        band: "claim".into(),
                        ok: claim.holds(t.rho, t.p_value),
                    }
                } else {
                    // A negative result holds only where the correlation was measured.
                    let claim = &self.negative_science[&metric];
                    Finding {
                        subject: format!("spearman({}, ·)", self.x),
                        quantity: metric,
                        expected: format!("NOT: {}", claim.describe()),
                        got,
                        band: "negative".into(),
                        ok: t.rho.is_finite() && !claim.holds(t.rho, t.p_value),
                    }
                };
                r.findings.push(finding);
            }
            let expected = self
                .tests
                .iter()
                .map(|t| (t, true))
                .chain(self.negative.iter().map(|t| (t, false)));
            for (t, claimed) in expected {
                let v = evaluate(&rows, lines, t);
                r.findings.push(Finding {
                    subject: t.name().to_string(),
                    quantity: match t {
                        Test::Compare(c) => format!("curves {}", c.curve),
                        Test::Contrast(c) => c.metric.clone(),
                        Test::Breakdown(b) => b.metric.clone(),
                        Test::Basin(_) => "basin width".into(),
                    },
                    expected: if claimed {
                        describe(t)
                    } else {
                        format!("NOT: {}", describe(t))
                    },
                    got: if v.defined {
                        v.got
                    } else {
                        format!("{} (not measurable)", v.got)
                    },
                    band: if claimed { "claim" } else { "negative" }.into(),
                    // A negative result holds only where the test was measured.
                    ok: if claimed {
                        v.holds
                    } else {
                        v.defined && !v.holds
                    },
                });
            }
        }
        Ok(r)
    }
}

impl Golden {
    /// The theory file against the golden's theory configuration: its hash, its configuration,
    /// and every band (predictions recomputed from the golden's configuration).
    fn check_theory(
        &self,
        theory: Option<&TheoryFile>,
        hashes: Option<&BTreeMap<String, String>>,
        complete: bool,
        runs: &[ArtifactSummary],
        r: &mut Report,
    ) -> Result<()> {
        let Some(want) = &self.theory else {
            if let Some(t) = theory {
                r.notes.push(format!(
                    "{}: the golden file has no theory checks; not compared",
                    t.path.display()
                ));
            }
            return Ok(());
        };
        let Some(t) = theory else {
            if complete {
                let dir = runs
                    .first()
                    .and_then(|r| r.path.parent())
                    .unwrap_or(Path::new("."));
                return Err(Error::Golden {
                    path: dir.join(THEORY_FILE),
                    reason: format!(
                        "missing {THEORY_FILE} (the golden file has theory checks; `repro {} --profile {} --collect {}` writes it)",
                        self.experiment,
                        self.profile,
                        dir.display()
                    ),
                });
            }
            r.notes
                .push(format!("no {THEORY_FILE} given; theory bands not checked"));
            return Ok(());
        };
        let subject = THEORY_FILE.to_string();
        hash_findings(r, &subject, (&t.stored_hash, &t.recomputed_hash), hashes);
        let same = t.record.config == *want;
        r.findings.push(Finding {
            subject,
            quantity: "theory config".into(),
            expected: "golden's".into(),
            got: if same { "same" } else { "differs" }.into(),
            band: "exact".into(),
            ok: same,
        });
        let mut rec = t.record.clone();
        rec.config = want.clone();
        for v in crate::theory::evaluate(&rec)? {
            r.findings.push(Finding {
                subject: v.name,
                quantity: v.subject,
                expected: v.expected,
                got: v.got,
                band: "theory".into(),
                ok: v.holds,
            });
        }
        Ok(())
    }
}

/// The folder of an experiment's output that holds its interpolation lines.
pub const INTERP_DIR: &str = "interp";

/// SHA-256 over (run name, resolved config TOML) pairs, sorted by name: what `configs_sha256`
/// records.
fn configs_sha256(configs: impl Iterator<Item = (String, String)>) -> String {
    let mut configs: Vec<(String, String)> = configs.collect();
    configs.sort();
    let text: String = configs
        .iter()
        .map(|(n, c)| format!("[{n}]\n{c}\n"))
        .collect();
    crate::files::sha256_hex(text.as_bytes())
}

/// A line's key in golden hashes and findings: `interp/<file stem>`.
pub fn line_key(l: &LineRecord) -> String {
    format!("{INTERP_DIR}/{}", l.stem())
}

/// The `.h5` files directly in `dir`, sorted (none when it does not exist).
fn h5_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "h5"))
        .collect();
    v.sort();
    Ok(v)
}

/// The recomputed content hash of a grid table file.
pub fn grid_hash(path: &Path) -> Result<String> {
    let f = h5::open(path)?;
    h5::content_hash(path, &f, &[], &[])
}

/// Whether `path` is an experiment's table file (rather than a run artifact).
fn is_grid_table(path: &Path) -> bool {
    h5::has_format(path, GRID_FORMAT)
}

/// What `check` was pointed at: run artifacts, table files, and whether a folder was given (a
/// folder is expected to hold every point the golden file lists).
#[derive(Debug, Default)]
pub struct Inputs {
    pub runs: Vec<ArtifactSummary>,
    /// Interpolation lines (`interp/*.h5` of a folder, or line files named directly).
    pub lines: Vec<LineRecord>,
    /// The theory file (`theory.h5` of a folder, or named directly).
    pub theory: Option<TheoryFile>,
    pub grids: Vec<PathBuf>,
    pub complete: bool,
    /// Files counted once although given more than once (see [`Inputs::dedupe`]).
    pub duplicates: usize,
    /// The first folder given, if any (where its table belongs).
    pub folder: Option<PathBuf>,
}

/// The files [`gather`] would read for `paths` (files as given; a folder's `.h5` files and its
/// interpolation lines), without reading them: what an output of `check` must never replace.
pub fn input_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(h5_files(p).unwrap_or_default());
            out.extend(h5_files(&p.join(INTERP_DIR)).unwrap_or_default());
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Reads the artifacts and table files among `paths` (files, or folders of `.h5` files).
pub fn gather(paths: &[PathBuf]) -> Result<Inputs> {
    let mut inputs = Inputs::default();
    let add = |f: PathBuf, inputs: &mut Inputs| -> Result<()> {
        if is_grid_table(&f) {
            inputs.grids.push(f);
        } else if theory_file::is_theory(&f) {
            if let Some(old) = &inputs.theory {
                return Err(Error::Invalid(format!(
                    "two theory files given: {} and {}",
                    old.path.display(),
                    f.display()
                )));
            }
            inputs.theory = Some(theory_file::read_theory(&f)?);
        } else if line::is_line(&f) {
            inputs.lines.push(line::read_line(&f)?);
        } else {
            inputs.runs.push(artifact::read_summary(&f)?);
        }
        Ok(())
    };
    for p in paths {
        if p.is_dir() {
            inputs.complete = true;
            inputs.folder.get_or_insert_with(|| p.clone());
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "h5"))
                .collect();
            entries.sort();
            for f in entries {
                add(f, &mut inputs)?;
            }
            for f in h5_files(&p.join(INTERP_DIR))? {
                inputs.lines.push(line::read_line(&f)?);
            }
        } else if !p.exists() {
            return Err(Error::Invalid(format!(
                "{}: artifact does not exist",
                p.display()
            )));
        } else {
            add(p.clone(), &mut inputs)?;
        }
    }
    if inputs.runs.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Invalid(format!(
            "no run artifacts found in {}",
            names.join(", ")
        )));
    }
    inputs.dedupe()?;
    Ok(inputs)
}

impl Inputs {
    /// Counts every run and line once: a file named twice (directly, through a folder, under
    /// another name) is read once, an identical copy of a run is the same run, and two different
    /// artifacts of one grid point are an error. Without this, listing or copying files would
    /// multiply the evidence the statistics see.
    fn dedupe(&mut self) -> Result<()> {
        fn once<T>(
            items: &mut Vec<T>,
            path: fn(&T) -> &Path,
            key: fn(&T) -> String,
            hash: fn(&T) -> (&str, &str),
            dropped: &mut usize,
        ) -> Result<()> {
            let mut kept: Vec<T> = Vec::new();
            for item in items.drain(..) {
                let same_file = kept
                    .iter()
                    .any(|k| crate::files::output::same_file(path(k), path(&item)));
                if same_file {
                    *dropped += 1;
                    continue;
                }
                if let Some(k) = kept.iter().find(|k| key(k) == key(&item)) {
                    let (a, b) = (hash(k), hash(&item));
                    if a.0 == b.0 && a.0 == a.1 && b.0 == b.1 {
                        *dropped += 1;
                        continue;
                    }
                    return Err(Error::Invalid(format!(
                        "{} and {} are two different artifacts of {}; check counts each once, so keep one",
                        path(k).display(),
                        path(&item).display(),
                        key(&item)
                    )));
                }
                kept.push(item);
            }
            *items = kept;
            Ok(())
        }
        let mut dropped = 0;
        once(
            &mut self.runs,
            |s| s.path.as_path(),
            |s| s.config.run_name(),
            |s| (s.stored_hash.as_str(), s.recomputed_hash.as_str()),
            &mut dropped,
        )?;
        once(
            &mut self.lines,
            |l| l.path.as_path(),
            line_key,
            |l| (l.stored_hash.as_str(), l.recomputed_hash.as_str()),
            &mut dropped,
        )?;
        let mut grids: Vec<PathBuf> = Vec::new();
        for g in self.grids.drain(..) {
            if grids.iter().any(|k| crate::files::output::same_file(k, &g)) {
                dropped += 1;
            } else {
                grids.push(g);
            }
        }
        self.grids = grids;
        self.duplicates = dropped;
        Ok(())
    }
}

/// The one platform class of `runs`, checked against what each artifact's hashed config says
/// of its device (a CPU run cannot claim a GPU's class, nor another thread count's); the
/// artifacts of one check or bless must share it, or hashes of one class would vouch for
/// artifacts of another.
pub fn platform_class(runs: &[ArtifactSummary]) -> Result<&str> {
    let mut seen: Vec<(&str, &Path)> = Vec::new();
    for s in runs {
        let class = s.provenance.get("platform_class").unwrap_or("");
        // An artifact whose hash does not verify fails on that already; one that verifies has
        // a hashed class, which must agree with its hashed config.
        if let Some(why) = class_contradicts(s, class).filter(|_| s.hash_ok()) {
            return Err(Error::Invalid(format!(
                "{}: platform class '{class}' contradicts the artifact: {why}",
                s.path.display()
            )));
        }
        if !seen.iter().any(|(c, _)| *c == class) {
            seen.push((class, &s.path));
        }
    }
    match seen.as_slice() {
        [(class, _)] => Ok(class),
        [] => Ok("unknown"),
        _ => Err(Error::Invalid(format!(
            "the artifacts come from {} platform classes ({}); check and bless one platform's artifacts at a time",
            seen.len(),
            seen.iter()
                .map(|(c, p)| format!("'{}' e.g. {}", if c.is_empty() { "none recorded" } else { c }, p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Why `class` cannot be the platform class of `s`, if it cannot: it must name the device kind
/// and (on a CPU) the thread count of the hashed config, and the device the provenance names.
fn class_contradicts(s: &ArtifactSummary, class: &str) -> Option<String> {
    if class.is_empty() {
        return Some("none recorded".into());
    }
    let device = s.provenance.get("device_name").unwrap_or("");
    if s.config.device.is_cuda() {
        let want = format!("cuda-{}-", device.replace(' ', "_"));
        if !class.starts_with(&want) {
            return Some(format!(
                "the config runs on {} ({device}), so the class must start with '{want}'",
                s.config.device
            ));
        }
    } else {
        if !class.starts_with("cpu-") {
            return Some(format!(
                "the config runs on {}, so the class must start with 'cpu-'",
                s.config.device
            ));
        }
        let threads = format!("-t{}-", s.config.threads);
        if !class.contains(&threads) {
            return Some(format!(
                "the config uses {} thread(s), so the class must contain '{threads}'",
                s.config.threads
            ));
        }
        // The class's vendor is the CPU's vendor id; the provenance's model name need not
        // name one (a VM's "QEMU Virtual CPU"), but must not name another.
        let vendor = class.split('-').nth(2).unwrap_or("");
        let named = device.to_lowercase();
        if let Some(other) = ["amd", "intel", "nvidia", "apple", "ampere"]
            .iter()
            .find(|v| **v != vendor && named.contains(*v))
        {
            return Some(format!(
                "names CPU vendor '{vendor}', the provenance's device '{device}' is {other}'s"
            ));
        }
    }
    None
}

/// Checks `paths` against `golden` (default: the layout's golden file for the artifacts'
/// experiment and profile). Returns the golden file used and the report.
pub fn check_paths(
    paths: &[PathBuf],
    golden: Option<PathBuf>,
    layout: &Layout,
) -> Result<(PathBuf, Report)> {
    let inputs = gather(paths)?;
    let first = &inputs.runs[0].config;
    let path = golden.unwrap_or_else(|| layout.golden(&first.experiment, &first.profile));
    let golden = Golden::load(&path)?;
    let key = grid_key(&golden.experiment);
    let grid = inputs
        .grids
        .iter()
        .find(|g| g.file_name().is_some_and(|n| n == key.as_str()))
        .or(inputs.grids.first());
    let grid = match grid {
        Some(g) => Some((g.as_path(), grid_hash(g)?)),
        None => None,
    };
    let missing_table = inputs.complete && grid.is_none();
    let mut report = golden.check(
        &inputs.runs,
        &inputs.lines,
        inputs.theory.as_ref(),
        grid,
        inputs.complete,
    )?;
    // After the runs' own errors (a missing grid point says more than a missing table).
    if missing_table {
        let dir = inputs.folder.as_deref().unwrap_or(Path::new("."));
        return Err(Error::Golden {
            path: dir.join(&key),
            reason: format!(
                "missing: a folder is checked with its experiment table (run `three-factors repro {} --profile {} --collect {}` to write it)",
                golden.experiment,
                golden.profile,
                dir.display()
            ),
        });
    }
    if inputs.duplicates > 0 {
        report.notes.push(format!(
            "{} file(s) given more than once (or identical copies) counted once",
            inputs.duplicates
        ));
    }
    Ok((path, report))
}

/// What `golden bless` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Blessed {
    /// The line diff against the old file ("" when unchanged).
    pub diff: String,
}

/// How `golden bless` treats the golden file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlessMode {
    /// Rebuild it: this platform's hashes, bands re-centred, claims from the experiment.
    Full,
    /// As `Full`, and the hashes of every other platform class are dropped even though the
    /// configs are unchanged: for when the code's arithmetic changed, so that hashes recorded
    /// elsewhere no longer hold (re-record them with `AddPlatform` from a fresh run there).
    DropOtherPlatforms,
    /// Only add (or confirm) the hashes of another platform, e.g. a GPU: the runs may differ
    /// from the profile in `device` alone, the golden file must have been blessed from the
    /// profile's current configs, nothing else changes, and every band and claim must hold on
    /// the new platform's artifacts (else nothing is written).
    AddPlatform,
}

/// Rewrites `golden` (created when missing) from the complete set of `profile`'s artifacts in
/// `from` and its table file, showing the diff; writes nothing when nothing changed.
pub fn bless(
    exp: &Experiment,
    profile: &str,
    from: &Path,
    golden: &Path,
    mode: BlessMode,
) -> Result<Blessed> {
    let points = exp.resolve(profile)?;
    let mut runs = Vec::new();
    for p in &points {
        let found = match mode {
            BlessMode::Full | BlessMode::DropOtherPlatforms => status(from, p),
            BlessMode::AddPlatform => status_on_any_device(from, p),
        };
        match found {
            Status::Done(s) => runs.push(*s),
            Status::Missing => {
                return Err(Error::Invalid(format!(
                    "{}: no artifact for {}; run `three-factors repro {} --profile {profile} --out {}` first",
                    from.display(),
                    p.name(),
                    exp.name,
                    from.display()
                )))
            }
            Status::Invalid(why) => {
                return Err(Error::Invalid(format!(
                    "{}: {why}",
                    from.join(p.file_name()).display()
                )))
            }
        }
    }
    // One platform's complete set: its hashes are recorded under its class, which every
    // artifact's hashed config must agree with (a CPU run cannot be recorded as a GPU's).
    let class = platform_class(&runs)
        .map_err(|e| Error::Invalid(format!("{}: {e}", from.display())))?
        .to_string();
    let devices: std::collections::BTreeSet<String> =
        runs.iter().map(|s| s.config.device.to_string()).collect();
    if devices.len() != 1 {
        return Err(Error::Invalid(format!(
            "{}: the artifacts ran on {} devices ({}); bless one platform's complete set at a time",
            from.display(),
            devices.len(),
            devices.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let grid_file = from.join(grid_key(&exp.name));
    let grid_hash = grid_hash(&grid_file).map_err(|e| {
        Error::Invalid(format!(
            "{e} (run `three-factors repro {}` to write it)",
            exp.name
        ))
    })?;
    let (old, old_text) = if golden.exists() {
        let text = std::fs::read_to_string(golden).map_err(|e| Error::io(golden, e))?;
        // Not validated: a file an older version wrote (or a hand-broken one) is rebuilt here,
        // and the result is validated below.
        (Golden::parse(golden)?, text)
    } else {
        (Golden::fresh(exp, profile), String::new())
    };
    let prof = exp.profile(profile)?;
    let tests = |names: &[String]| -> Vec<Test> {
        names.iter().filter_map(|t| exp.analysis.test(t)).collect()
    };
    // The lines of this profile's interpolations and seeds only (a renamed interpolation's old
    // files are not blessed), each measured under the runs' platform class.
    let seeds: Vec<i64> = runs.iter().map(|r| r.config.seed as i64).collect();
    let mut lines = Vec::new();
    for f in h5_files(&from.join(INTERP_DIR))? {
        let l = line::read_line(&f)?;
        let ours = exp
            .analysis
            .interpolate
            .iter()
            .any(|i| i.name == l.meta.interpolation)
            && seeds.contains(&l.meta.seed);
        if !ours {
            continue;
        }
        if l.meta.platform_class != class {
            return Err(Error::Invalid(format!(
                "{}: measured under platform class {}, the runs under {class}; collect again (`three-factors repro {} --profile {profile} --collect {}`) on the runs' platform",
                f.display(),
                l.meta.platform_class,
                exp.name,
                from.display()
            )));
        }
        lines.push(l);
    }
    let expected = Expected {
        claims: prof.claims.clone(),
        negative_claims: prof.negative_claims.clone(),
        tests: tests(&prof.tests),
        negative: tests(&prof.negative),
        min_train_acc: prof.min_train_acc,
        theory: prof.theory.clone(),
    };
    let theory = match &prof.theory {
        None => None,
        Some(cfg) => {
            let path = from.join(THEORY_FILE);
            let t = theory_file::read_theory(&path).map_err(|e| {
                Error::Invalid(format!(
                    "{e} (run `three-factors repro {} --profile {profile} --collect {}` to write it)",
                    exp.name,
                    from.display()
                ))
            })?;
            if !t.hash_ok() || t.record.config != *cfg {
                return Err(Error::Invalid(format!(
                    "{}: {}; collect again (`three-factors repro {} --profile {profile} --collect {}`)",
                    path.display(),
                    if t.hash_ok() { "simulated with another theory configuration than the profile's" } else { "content does not match its stored hash" },
                    exp.name,
                    from.display()
                )));
            }
            let verdicts = crate::theory::evaluate(&t.record)?;
            if let Some(v) = verdicts.iter().find(|v| !v.holds) {
                return Err(Error::Invalid(format!(
                    "{}: theory band {} ({}) does not hold: expected {}, got {}; a golden file records bands that hold",
                    path.display(),
                    v.name,
                    v.subject,
                    v.expected,
                    v.got
                )));
            }
            Some(t)
        }
    };
    let new = match mode {
        BlessMode::Full => old.bless(&runs, &lines, theory.as_ref(), &grid_hash, &expected),
        BlessMode::DropOtherPlatforms => {
            let mut base = old.clone();
            base.hashes.clear();
            base.reproduced_on.clear();
            base.bless(&runs, &lines, theory.as_ref(), &grid_hash, &expected)
        }
        BlessMode::AddPlatform => {
            if old_text.is_empty() {
                return Err(Error::Golden {
                    path: golden.to_path_buf(),
                    reason: "does not exist; --add-platform adds a platform to a blessed golden file (bless it in full first)".into(),
                });
            }
            let planned = configs_sha256(points.iter().map(|p| (p.name(), p.config.to_toml())));
            if old.configs_sha256 != planned {
                return Err(Error::Golden {
                    path: golden.to_path_buf(),
                    reason: format!(
                        "was blessed from other configs than {}/{profile}'s current ones; bless it in full first, then add platforms",
                        exp.name
                    ),
                });
            }
            let class = class.as_str();
            let mut new = old.clone();
            new.record_platform(&runs, &lines, theory.as_ref(), &grid_hash);
            if let (Some(was), Some(now)) = (old.hashes.get(class), new.hashes.get(class)) {
                if was != now {
                    let differ: std::collections::BTreeSet<&str> = now
                        .iter()
                        .filter(|(k, v)| was.get(*k) != Some(*v))
                        .chain(was.iter().filter(|(k, _)| !now.contains_key(*k)))
                        .map(|(k, _)| k.as_str())
                        .collect();
                    let differ: Vec<&str> = differ.into_iter().collect();
                    return Err(Error::Golden {
                        path: golden.to_path_buf(),
                        reason: format!(
                            "platform class {class} is recorded with other hashes ({}); --add-platform never replaces hashes, a full bless does",
                            differ.join(", ")
                        ),
                    });
                }
            }
            let grid = (grid_file.as_path(), grid_hash.clone());
            let report = new.check(&runs, &lines, theory.as_ref(), Some(grid), true)?;
            let failed: Vec<String> = report
                .findings
                .iter()
                .filter(|f| !f.ok)
                .map(|f| {
                    format!(
                        "  {} {}: expected {}, got {} ({})",
                        f.subject, f.quantity, f.expected, f.got, f.band
                    )
                })
                .collect();
            if !failed.is_empty() {
                return Err(Error::Golden {
                    path: golden.to_path_buf(),
                    reason: format!(
                        "{} of its checks fail on the {class} artifacts in {}, so it cannot claim that platform:\n{}",
                        failed.len(),
                        from.display(),
                        failed.join("\n")
                    ),
                });
            }
            new
        }
    };
    new.validate().map_err(|reason| Error::Golden {
        path: golden.to_path_buf(),
        reason: format!("the blessed file would be invalid: {reason}; fix it by hand first"),
    })?;
    let diff = line_diff(&old_text, &new.to_toml());
    if !diff.is_empty() {
        new.save(golden)?;
    }
    Ok(Blessed { diff })
}
