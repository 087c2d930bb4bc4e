//! An experiment file (`experiments/<name>.toml`): named profiles, each a base [`RunConfig`] and
//! the points to run, declared as data over any config field:
//! - `zip = { "sgd.lr" = [...], "sgd.batch_size" = [...] }`: explicit points, the i-th taking the
//!   i-th value of every list; `points = [{ "sgd.lr" = 0.1, ... }, ...]`: the same as a list;
//! - `axes = [{ field = "split.train", values = [...] }, ...]`: Cartesian products, outermost first;
//! - `seeds = [...]`: the innermost axis, over `seed`;
//! - `overrides = [{ when = { field = value, ... }, set = { field = value, ... } }]`: per-point
//!   changes to the points matching `when`.
//!
//! Resolving a profile gives one complete, validated `RunConfig` per point; it is the only thing
//! that is hashed. Points are named `lr<η>_bs<S>[_<other fields>]_seed<seed>`.
use super::{Analysis, Claim, RunConfig};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Value;

/// The fields every point name carries (and every table has a column for).
const NAMED_FIELDS: [&str; 3] = ["sgd.lr", "sgd.batch_size", "seed"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Dotted path of a run-config field, e.g. `sgd.lr` or `split.train`.
    pub field: String,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Field values a point must have (after its axes and list values are applied).
    pub when: BTreeMap<String, Value>,
    pub set: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Why this profile is sized as it is.
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zip: BTreeMap<String, Vec<Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub axes: Vec<Axis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// Everything the points do not set.
    pub base: RunConfig,
    /// Models whose final accuracy on the whole training subset is below this are excluded from
    /// the analysis, the science bands and the figure's filled points (the paper kept only models
    /// that reached ≈100 %).
    #[serde(default)]
    pub min_train_acc: Option<f64>,
    /// The paper's claims this profile is expected to show; `golden bless` writes them into the
    /// golden file as science bands, which `check` evaluates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, Claim>,
    /// The analysis' comparisons (`analysis.compare`, `contrast`, `breakdown`, by name) this
    /// profile is expected to show; `golden bless` copies them into the golden file as tests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// Comparisons of the paper that this profile measured NOT to hold (honest negative
    /// results, explained in the README): `golden bless` records them, and `check` fails if one
    /// starts to hold, since the recorded result would then be stale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub negative: Vec<String>,
    /// Rank-correlation claims of the paper this profile measured NOT to hold (as `claims`,
    /// with the paper's sign): `check` fails if one starts to hold.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub negative_claims: BTreeMap<String, Claim>,
    /// The paper's equations tested by simulation (`theory.h5`, Eq. 9 and Sec. 2.3), with the
    /// bands `check` holds them to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<super::TheoryConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub default_profile: String,
    #[serde(default)]
    pub analysis: Analysis,
    pub profiles: BTreeMap<String, Profile>,
    #[serde(skip)]
    pub source: PathBuf,
}

/// One point of a profile: its position and its complete configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GridPoint {
    pub index: usize,
    pub config: RunConfig,
}

impl GridPoint {
    pub fn name(&self) -> String {
        self.config.run_name()
    }
    /// The artifact file name for this point.
    pub fn file_name(&self) -> String {
        format!("{}.h5", self.name())
    }
}

/// Equal as field values: numbers compare by value (`1` = `1.0`), everything else exactly.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Integer(x), Value::Float(y)) | (Value::Float(y), Value::Integer(x)) => {
            *x as f64 == *y
        }
        _ => a == b,
    }
}

/// The most points one profile may have (a grid's size is the product of its axes', so a few
/// long lists could otherwise ask for billions).
pub const MAX_POINTS: usize = 10_000;

/// A run's name that shows `fields` besides η, S and the seed:
/// `lr0.1_bs32<name_parts>_seed0`.
pub fn named_by(c: &RunConfig, fields: &[String]) -> String {
    format!(
        "lr{}_bs{}{}_seed{}",
        c.sgd.lr,
        c.sgd.batch_size,
        name_parts(c, fields),
        c.seed
    )
}

/// `fields` of `c` as they appear in a name: `_<last key><value>` each (a text value alone,
/// without its key), e.g. `_width32_epochs2`.
fn name_parts(c: &RunConfig, fields: &[String]) -> String {
    let mut name = String::new();
    for f in fields {
        let Some(v) = c.field(f) else { continue };
        let last = f.rsplit('.').next().unwrap_or(f);
        match v {
            Value::String(_) => name += &format!("_{}", name_part(&v)),
            _ => name += &format!("_{last}{}", name_part(&v)),
        }
    }
    name
}

/// A value as it appears in a point name: numbers in Rust's shortest form, text with anything
/// but `[A-Za-z0-9.-]` replaced by `-`.
fn name_part(v: &Value) -> String {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Float(f) => f.to_string(),
        other => other.to_string(),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Profile {
    /// The explicit points (`zip`, then `points`) as field assignments.
    fn listed(&self, origin: &str) -> Result<Vec<Vec<(String, Value)>>> {
        let mut out = Vec::new();
        let len = self.zip.values().map(Vec::len).max().unwrap_or(0);
        if let Some((k, v)) = self.zip.iter().find(|(_, v)| v.len() != len) {
            return Err(Error::config(
                origin,
                format!("zip.\"{k}\""),
                format!("has {} values, other zipped lists have {len}", v.len()),
            ));
        }
        for i in 0..len {
            out.push(
                self.zip
                    .iter()
                    .map(|(k, v)| (k.clone(), v[i].clone()))
                    .collect(),
            );
        }
        for p in &self.points {
            out.push(p.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        }
        Ok(out)
    }

    /// Every point as its field assignments, in order: listed points outermost, then the axes
    /// in the order given, then seeds.
    fn assignments(&self, origin: &str) -> Result<Vec<Vec<(String, Value)>>> {
        let mut sets = self.listed(origin)?;
        if sets.is_empty() {
            sets.push(Vec::new());
        }
        let mut axes: Vec<(String, Vec<Value>)> = self
            .axes
            .iter()
            .map(|a| (a.field.clone(), a.values.clone()))
            .collect();
        if !self.seeds.is_empty() {
            let seeds = self
                .seeds
                .iter()
                .map(|&s| Value::Integer(s as i64))
                .collect();
            axes.push(("seed".into(), seeds));
        }
        let total = axes
            .iter()
            .try_fold(sets.len(), |n, (_, v)| n.checked_mul(v.len()))
            .filter(|&n| n <= MAX_POINTS);
        if total.is_none() {
            return Err(Error::config(
                origin,
                "axes",
                format!(
                    "the profile has more than {MAX_POINTS} points ({} listed × {} axis values); \
                     split it into several profiles",
                    sets.len(),
                    axes.iter()
                        .map(|(f, v)| format!("{} {f}", v.len()))
                        .collect::<Vec<_>>()
                        .join(" × ")
                ),
            ));
        }
        for (field, values) in axes {
            if values.is_empty() {
                return Err(Error::config(origin, field, "the axis has no values"));
            }
            let mut next = Vec::with_capacity(sets.len() * values.len());
            for s in &sets {
                for v in &values {
                    let mut s = s.clone();
                    s.push((field.clone(), v.clone()));
                    next.push(s);
                }
            }
            sets = next;
        }
        Ok(sets)
    }

    /// The fields that tell this profile's points apart besides η, S and seed, in order of first
    /// appearance: they extend the point names and become columns of the experiment's table.
    pub fn varied_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let keys = self
            .zip
            .keys()
            .chain(self.points.iter().flat_map(|p| p.keys()))
            .chain(self.axes.iter().map(|a| &a.field));
        for k in keys {
            if !NAMED_FIELDS.contains(&k.as_str()) && !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }
}

/// The distinct values of `v`, in first-seen order.
fn dedup<'a>(v: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(x);
        }
    }
    out
}

impl Experiment {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut e: Experiment = toml::from_str(&text).map_err(|e| Error::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        e.source = path.to_path_buf();
        let origin = path.display().to_string();
        if let Some(why) =
            crate::files::unsafe_name(&e.name).or((e.name == "list").then_some("is a command"))
        {
            return Err(Error::config(
                origin,
                "name",
                format!("'{}' cannot name an experiment: it {why}", e.name),
            ));
        }
        // Profile names become folder and file names (runs/<experiment>/<profile>,
        // golden/<experiment>/<profile>.toml); interpolation names are held to letters, digits,
        // '_' and '-' by the analysis' own validation.
        let names = e.profiles.keys().map(|n| (format!("profiles.{n}"), n));
        for (field, n) in names {
            if let Some(why) = crate::files::unsafe_name(n) {
                return Err(Error::config(
                    &origin,
                    field,
                    format!("'{n}' cannot name a file or folder: it {why}"),
                ));
            }
        }
        if !e.profiles.contains_key(&e.default_profile) {
            return Err(Error::config(
                origin,
                "default_profile",
                format!("no profile named '{}'", e.default_profile),
            ));
        }
        for (name, p) in &e.profiles {
            let points = e.resolve(name)?;
            if let Some((pt, why)) = points
                .iter()
                .find_map(|pt| Some((pt, crate::files::unsafe_name(&pt.name())?)))
            {
                return Err(Error::config(
                    &origin,
                    format!("profiles.{name}"),
                    format!("point '{}' cannot name an artifact: it {why}", pt.name()),
                ));
            }
            if let Some(t) = &p.theory {
                t.validate().map_err(|err| {
                    Error::config(&origin, format!("profiles.{name}.theory"), err.to_string())
                })?;
            }
            let unknown = p
                .tests
                .iter()
                .map(|t| ("tests", t))
                .chain(p.negative.iter().map(|t| ("negative", t)))
                .find(|(_, t)| e.analysis.test(t).is_none());
            if let Some((list, t)) = unknown {
                return Err(Error::config(
                    &origin,
                    format!("profiles.{name}.{list}"),
                    format!("'{t}' names no comparison, contrast, breakdown or interpolation of [analysis]"),
                ));
            }
            let variants: Vec<&str> = points.iter().map(|p| p.config.variant.as_str()).collect();
            for c in &e.analysis.compare {
                for v in [&c.base, &c.matched, &c.control] {
                    if !variants.contains(&v.as_str()) {
                        return Err(Error::config(
                            &origin,
                            format!("analysis.compare.{}", c.name),
                            format!(
                                "profile {name} has no point of variant '{v}' (variants: {})",
                                dedup(&variants).join(", ")
                            ),
                        ));
                    }
                }
            }
            for (k, i) in e.analysis.interpolate.iter().enumerate() {
                let at = format!("analysis.interpolate.{}", i.name);
                // The name is a file name (`interp/<name>_seed<k>.h5`) and a golden key.
                let safe = !i.name.is_empty()
                    && i.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !safe {
                    return Err(Error::config(
                        &origin,
                        &at,
                        "a name must be non-empty ASCII letters, digits, '_' or '-' (it names the line files)".to_string(),
                    ));
                }
                if e.analysis.interpolate[..k].iter().any(|o| o.name == i.name) {
                    return Err(Error::config(
                        &origin,
                        &at,
                        "two interpolations share this name (their line files would overwrite each other)".to_string(),
                    ));
                }
                i.line_spec()
                    .validate()
                    .map_err(|err| Error::config(&origin, &at, err.to_string()))?;
                for v in [&i.a, &i.b] {
                    if !variants.contains(&v.as_str()) {
                        return Err(Error::config(
                            &origin,
                            &at,
                            format!(
                                "profile {name} has no point of variant '{v}' (variants: {})",
                                dedup(&variants).join(", ")
                            ),
                        ));
                    }
                    let seeds: Vec<u64> = points
                        .iter()
                        .filter(|q| q.config.variant == *v)
                        .map(|q| q.config.seed)
                        .collect();
                    if dedup_seeds(&seeds) != seeds.len() {
                        return Err(Error::config(
                            &origin,
                            &at,
                            format!("profile {name}: variant '{v}' has two runs of one seed; lines pair arms seed by seed"),
                        ));
                    }
                }
            }
            // Each arm of a comparison: one run per seed, all arms the same number of epochs
            // (curves are compared epoch by epoch).
            for c in &e.analysis.compare {
                let arms: Vec<&GridPoint> = points
                    .iter()
                    .filter(|q| [&c.base, &c.matched, &c.control].contains(&&q.config.variant))
                    .collect();
                let bad = |why: String| {
                    Err(Error::config(
                        &origin,
                        format!("analysis.compare.{}", c.name),
                        format!("profile {name}: {why}"),
                    ))
                };
                for (i, q) in arms.iter().enumerate() {
                    if let Some(twin) = arms[..i].iter().find(|t| {
                        t.config.variant == q.config.variant && t.config.seed == q.config.seed
                    }) {
                        return bad(format!(
                            "variant '{}' has two runs of seed {} ({} and {}); pair arms seed by seed",
                            q.config.variant,
                            q.config.seed,
                            twin.name(),
                            q.name()
                        ));
                    }
                    if q.config.sgd.epochs != arms[0].config.sgd.epochs {
                        return bad(format!(
                            "{} trains {} epochs, {} trains {}; compared curves need equal epochs",
                            arms[0].name(),
                            arms[0].config.sgd.epochs,
                            q.name(),
                            q.config.sgd.epochs
                        ));
                    }
                }
            }
            // A breakdown scales η and S together by β, over a numeric field.
            for b in &e.analysis.breakdown {
                let at = format!("analysis.breakdown.{}", b.name);
                let mut groups: Vec<(String, Vec<&GridPoint>)> = Vec::new();
                for q in &points {
                    let v = q.config.field(&b.by);
                    if !matches!(v, Some(Value::Integer(_) | Value::Float(_))) {
                        return Err(Error::config(
                            &origin,
                            at,
                            format!("'{}' is not a numeric field of profile {name}", b.by),
                        ));
                    }
                    let k = v.map(|v| v.to_string()).unwrap_or_default();
                    match groups.iter_mut().find(|g| g.0 == k) {
                        Some(g) => g.1.push(q),
                        None => groups.push((k, vec![q])),
                    }
                }
                for (_, g) in &groups {
                    let lr0 = g
                        .iter()
                        .map(|q| q.config.sgd.lr)
                        .fold(f64::INFINITY, f64::min);
                    let bs0 = g.iter().map(|q| q.config.sgd.batch_size).min().unwrap_or(1) as f64;
                    if let Some(q) = g.iter().find(|q| {
                        let (bl, bs) =
                            (q.config.sgd.lr / lr0, q.config.sgd.batch_size as f64 / bs0);
                        (bl - bs).abs() > 1e-9 * bl
                    }) {
                        return Err(Error::config(
                            &origin,
                            at,
                            format!(
                                "profile {name}: {} scales η by {} but S by {}; a breakdown needs η and S × the same β",
                                q.name(),
                                q.config.sgd.lr / lr0,
                                q.config.sgd.batch_size as f64 / bs0
                            ),
                        ));
                    }
                }
            }
            for t in e.analysis.tests() {
                let (kind, _) = t.kind_and_name();
                t.validate(&format!("analysis.{kind}"))
                    .map_err(|why| Error::config(&origin, "analysis", why))?;
            }
            let at = format!("profiles.{name}");
            for (list, claims) in [
                ("claims", &p.claims),
                ("negative_claims", &p.negative_claims),
            ] {
                for (metric, claim) in claims {
                    crate::metrics::Metric::named(metric)
                        .map_err(|why| Error::config(&origin, format!("{at}.{list}"), why))?;
                    claim
                        .validate(&format!("{list}.{metric}"))
                        .map_err(|why| Error::config(&origin, &at, why))?;
                }
            }
            if let Some(m) = p.min_train_acc {
                if !(0.0..=1.0).contains(&m) {
                    return Err(Error::config(
                        &origin,
                        format!("profiles.{name}.min_train_acc"),
                        format!("must be an accuracy in [0, 1], got {m}"),
                    ));
                }
            }
            // A contrast a profile claims must compare groups the profile has.
            let claimed = p.tests.iter().chain(&p.negative);
            for c in e
                .analysis
                .contrast
                .iter()
                .filter(|c| claimed.clone().any(|t| *t == c.name))
            {
                let values: Vec<String> = points
                    .iter()
                    .map(|q| match q.config.field(&c.by) {
                        Some(Value::String(s)) => s,
                        Some(v) => v.to_string(),
                        None => String::new(),
                    })
                    .collect();
                let values: Vec<&str> = values.iter().map(String::as_str).collect();
                for g in [&c.group, &c.than] {
                    if !values.contains(&g.as_str()) {
                        return Err(Error::config(
                            &origin,
                            format!("analysis.contrast.{}", c.name),
                            format!(
                                "profile {name} claims it but has no point with {} = '{g}' (have: {})",
                                c.by,
                                dedup(&values).join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Ok(e)
    }

    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles.get(name).ok_or_else(|| {
            Error::config(
                self.source.display().to_string(),
                "profile",
                format!(
                    "no profile '{name}' (have: {})",
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The profile's base config with experiment and profile names filled in.
    pub fn base(&self, profile: &str) -> Result<RunConfig> {
        let mut c = self.profile(profile)?.base.clone();
        c.experiment = self.name.clone();
        c.profile = profile.to_string();
        Ok(c)
    }

    /// Every point of `profile`, each validated and uniquely named.
    pub fn resolve(&self, profile: &str) -> Result<Vec<GridPoint>> {
        let p = self.profile(profile)?;
        let base = self.base(profile)?;
        let origin = format!("{} profile {profile}", self.source.display());
        let varied = p.varied_fields();
        let mut out: Vec<GridPoint> = Vec::new();
        for set in p.assignments(&origin)? {
            let desc: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let at = format!("{origin} ({})", desc.join(", "));
            let mut c = base.with_fields(&set, &at)?;
            for o in &p.overrides {
                let applies = o
                    .when
                    .iter()
                    .all(|(k, v)| c.field(k).is_some_and(|have| same_value(&have, v)));
                if applies {
                    let set: Vec<(String, Value)> =
                        o.set.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    c = c.with_fields(&set, &at)?;
                }
            }
            c.validate(&at)?;
            if !varied.is_empty() {
                c.point = named_by(&c, &varied);
            }
            if let Some(twin) = out.iter().find(|q| q.name() == c.run_name()) {
                return Err(Error::config(
                    origin,
                    "points",
                    format!(
                        "points {} and {} are both named {} (the same point twice?)",
                        twin.index,
                        out.len(),
                        c.run_name()
                    ),
                ));
            }
            out.push(GridPoint {
                index: out.len(),
                config: c,
            });
        }
        Ok(out)
    }

    /// The point of `profile` named `name`.
    pub fn point(&self, profile: &str, name: &str) -> Result<GridPoint> {
        let points = self.resolve(profile)?;
        let names: Vec<String> = points.iter().take(4).map(GridPoint::name).collect();
        points
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                Error::config(
                    self.source.display().to_string(),
                    format!("profiles.{profile}"),
                    format!(
                        "no point named '{name}' (points look like {}, ...)",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// The number of distinct seeds.
fn dedup_seeds(seeds: &[u64]) -> usize {
    let mut v = seeds.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(profile: &str) -> Result<Experiment> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let text = format!(
            "name = \"t\"\ndescription = \"d\"\ndefault_profile = \"p\"\n[profiles.p]\n\
             description = \"d\"\n{profile}\n"
        );
        let mut doc: toml::Table = toml::from_str(&text).unwrap();
        let p = doc["profiles"]["p"].as_table().unwrap().clone();
        let mut p = p;
        p.insert("base".into(), Value::try_from(RunConfig::adhoc()).unwrap());
        doc["profiles"]
            .as_table_mut()
            .unwrap()
            .insert("p".into(), Value::Table(p));
        std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
        Experiment::load(&path)
    }

    fn names(e: &Experiment) -> Vec<String> {
        e.resolve("p")
            .unwrap()
            .iter()
            .map(GridPoint::name)
            .collect()
    }

    #[test]
    fn axes_are_cartesian_outermost_first_and_seeds_innermost() {
        let e = experiment(
            "axes = [{ field = \"sgd.lr\", values = [0.1, 0.2] }, \
             { field = \"sgd.batch_size\", values = [32, 64] }]\nseeds = [0, 1]",
        )
        .unwrap();
        let n = names(&e);
        assert_eq!(n.len(), 8);
        assert_eq!(
            &n[..3],
            ["lr0.1_bs32_seed0", "lr0.1_bs32_seed1", "lr0.1_bs64_seed0"]
        );
        // Plain η × S × seed points keep the default name and an unchanged stored config.
        assert!(e
            .resolve("p")
            .unwrap()
            .iter()
            .all(|p| p.config.point.is_empty()));
    }

    #[test]
    fn zipped_points_times_an_axis_over_another_field_with_overrides() {
        let e = experiment(
            "zip = { \"sgd.lr\" = [0.1, 0.5], \"sgd.batch_size\" = [50, 250] }\n\
             axes = [{ field = \"split.train\", values = [2000, 4000] }]\n\
             overrides = [{ when = { \"split.train\" = 2000 }, set = { \"sgd.epochs\" = 9 } }]",
        )
        .unwrap();
        assert_eq!(
            names(&e),
            [
                "lr0.1_bs50_train2000_seed0",
                "lr0.1_bs50_train4000_seed0",
                "lr0.5_bs250_train2000_seed0",
                "lr0.5_bs250_train4000_seed0"
            ]
        );
        let pts = e.resolve("p").unwrap();
        assert_eq!(pts[0].config.sgd.epochs, 9);
        assert_eq!(pts[1].config.sgd.epochs, 5);
        assert_eq!(pts[2].config.split.train, 2000);
        assert_eq!(e.profile("p").unwrap().varied_fields(), ["split.train"]);
        assert_eq!(
            e.point("p", "lr0.5_bs250_train4000_seed0").unwrap().index,
            3
        );
        assert!(e
            .point("p", "lr9_bs1_seed0")
            .unwrap_err()
            .to_string()
            .contains("no point named"));
    }

    #[test]
    fn bad_declarations_name_what_is_wrong() {
        let e = experiment("zip = { \"sgd.lr\" = [0.1, 0.5], \"sgd.batch_size\" = [50] }");
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("zip.\"sgd.batch_size\": has 1 values"));
        let e = experiment("axes = [{ field = \"sgd.lrr\", values = [0.1] }]");
        let msg = e.unwrap_err().to_string();
        assert!(
            msg.contains("sgd.lrr") && msg.contains("unknown field"),
            "{msg}"
        );
        let e = experiment("points = [{ \"sgd.lr\" = 0.1 }, { \"sgd.lr\" = 0.1 }]");
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("both named lr0.1_bs128_seed0"));
        let e = experiment("axes = [{ field = \"sgd.lr\", values = [-1.0] }]");
        assert!(e.unwrap_err().to_string().contains("sgd.lr"));
        let e = experiment("tests = [\"nope\"]");
        let msg = e.unwrap_err().to_string();
        assert!(
            msg.contains("profiles.p.tests") && msg.contains("'nope' names no comparison"),
            "{msg}"
        );
    }
}
