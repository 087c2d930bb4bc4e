//! The comparisons of the paper's dynamics experiments, over rows of one profile: learning
//! curves of two arms seed by seed (Fig. 1, Fig. 2), the per-group table with contrasts between
//! groups (Table 1), and the β at which a metric leaves the β = 1 band (Fig. 5). Each result says
//! whether the claim it encodes holds, so `repro` prints it and `check` gates on it.
use super::{mean_sd, Row};
use crate::artifact::line::LineRecord;
use crate::config::{
    BasinClaim, Breakdown, BreakdownCriterion, Contrast, CurveCompare, GroupTable, Interpolation,
    Test,
};

/// The curves every comparison reports (the decisive one is the comparison's `curve`).
pub const REPORTED_CURVES: [&str; 2] = ["val_acc", "train_loss"];

/// |Δ| between two curves over the epochs both have: (mean, max). NaN when they share none or
/// a value is not finite.
pub fn distance(a: &[f64], b: &[f64]) -> (f64, f64) {
    let n = a.len().min(b.len());
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let d: Vec<f64> = a[..n]
        .iter()
        .zip(&b[..n])
        .map(|(x, y)| (x - y).abs())
        .collect();
    if d.iter().any(|x| !x.is_finite()) {
        return (f64::NAN, f64::NAN);
    }
    (
        d.iter().sum::<f64>() / n as f64,
        d.iter().fold(0.0, |m, &x| m.max(x)),
    )
}

/// One curve's distances in a comparison, over the paired seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveDistances {
    pub curve: String,
    /// Per seed: mean |Δ| of matched vs base, of control vs base.
    pub matched_mean: Vec<f64>,
    pub control_mean: Vec<f64>,
    /// Per seed: max |Δ| of matched vs base, of control vs base.
    pub matched_max: Vec<f64>,
    pub control_max: Vec<f64>,
    /// Mean |Δ| between two seeds of `base`, averaged over seed pairs: the noise floor.
    pub seed_noise: f64,
}

/// What a [`CurveCompare`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareResult {
    pub spec: CurveCompare,
    /// Seeds present (and not diverged) in all three arms.
    pub seeds: Vec<i64>,
    /// One entry per reported curve (the decisive one included).
    pub curves: Vec<CurveDistances>,
    /// Per seed, control − matched mean |Δ| of the decisive curve: mean and sd.
    pub margin: (f64, f64),
    pub holds: bool,
}

fn arm<'a>(rows: &'a [Row], variant: &str) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| !r.diverged && r.text("variant") == variant)
        .collect()
}

/// Evaluates a curve comparison on `rows`.
pub fn compare(rows: &[Row], spec: &CurveCompare) -> CompareResult {
    let (base, matched, control) = (
        arm(rows, &spec.base),
        arm(rows, &spec.matched),
        arm(rows, &spec.control),
    );
    fn by_seed<'a>(rs: &[&'a Row], seed: i64) -> Option<&'a Row> {
        rs.iter().find(|r| r.seed == seed).copied()
    }
    let mut seeds: Vec<i64> = base
        .iter()
        .map(|r| r.seed)
        .filter(|&s| by_seed(&matched, s).is_some() && by_seed(&control, s).is_some())
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut names: Vec<String> = REPORTED_CURVES.map(String::from).to_vec();
    if !names.contains(&spec.curve) {
        names.insert(0, spec.curve.clone());
    }
    let curves: Vec<CurveDistances> = names
        .iter()
        .map(|c| {
            let curve = |r: &Row| r.curve(c).unwrap_or_default();
            let (mut mm, mut cm, mut mx, mut cx) = (vec![], vec![], vec![], vec![]);
            for &s in &seeds {
                let b = curve(by_seed(&base, s).expect("paired"));
                let (m_mean, m_max) = distance(&b, &curve(by_seed(&matched, s).expect("paired")));
                let (c_mean, c_max) = distance(&b, &curve(by_seed(&control, s).expect("paired")));
                mm.push(m_mean);
                cm.push(c_mean);
                mx.push(m_max);
                cx.push(c_max);
            }
            let mut noise = Vec::new();
            for (i, a) in base.iter().enumerate() {
                for b in &base[i + 1..] {
                    noise.push(distance(&curve(a), &curve(b)).0);
                }
            }
            CurveDistances {
                curve: c.clone(),
                matched_mean: mm,
                control_mean: cm,
                matched_max: mx,
                control_max: cx,
                seed_noise: if noise.is_empty() {
                    f64::NAN
                } else {
                    mean_sd(&noise).0
                },
            }
        })
        .collect();
    let decisive = curves
        .iter()
        .find(|c| c.curve == spec.curve)
        .expect("the decisive curve is reported");
    let diffs: Vec<f64> = decisive
        .control_mean
        .iter()
        .zip(&decisive.matched_mean)
        .map(|(c, m)| c - m)
        .collect();
    let margin = if diffs.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        mean_sd(&diffs)
    };
    let known = names_a_curve(&spec.curve);
    // Two paired seeds at least: with one, the margin has no spread to beat.
    let holds = known
        && diffs.len() >= 2
        && diffs.iter().all(|d| d.is_finite())
        && margin.0 > 0.0
        && margin.0 > margin.1;
    CompareResult {
        spec: spec.clone(),
        seeds,
        curves,
        margin,
        holds,
    }
}

/// Whether `name` is a curve [`Row::curve`] knows.
pub fn names_a_curve(name: &str) -> bool {
    Row::curve_names().contains(&name)
}

/// One group of the table: its runs, how many are included, and (mean, sd) per metric.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    pub group: String,
    /// The point chosen for the group when the table selects one.
    pub selected: Option<String>,
    pub runs: usize,
    pub included: usize,
    pub values: Vec<(f64, f64)>,
}

/// The included runs of each value of `by`, in first-seen order.
fn groups<'a>(rows: &'a [Row], by: &str) -> Vec<(String, Vec<&'a Row>)> {
    let mut out: Vec<(String, Vec<&Row>)> = Vec::new();
    for r in rows {
        let k = r.text(by);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => out.push((k, vec![r])),
        }
    }
    out
}

/// The rows of each group's best point: per value of `by`, the point (a run's name without its
/// seed) with the highest mean of `metric` over its included seeds. All rows when `metric` is
/// `None`.
pub fn select_best(rows: &[Row], by: &str, metric: Option<&str>) -> Vec<Row> {
    let Some(metric) = metric else {
        return rows.to_vec();
    };
    let mut keep: Vec<String> = Vec::new();
    for (_, members) in groups(rows, by) {
        let points: Vec<&str> = {
            let mut p: Vec<&str> = Vec::new();
            for r in &members {
                if !p.contains(&r.point()) {
                    p.push(r.point());
                }
            }
            p
        };
        let score = |p: &str| {
            let v: Vec<f64> = members
                .iter()
                .filter(|r| r.point() == p && r.included())
                .map(|r| r.number(metric).unwrap_or(f64::NAN))
                .collect();
            let m = mean_sd(&v).0;
            if m.is_nan() {
                f64::NEG_INFINITY
            } else {
                m
            }
        };
        // Ties keep the first point declared.
        let best = points
            .iter()
            .fold(None::<(&str, f64)>, |b, &p| match b {
                Some((_, s)) if s >= score(p) => b,
                _ => Some((p, score(p))),
            })
            .map(|b| b.0.to_string());
        keep.extend(best);
    }
    rows.iter()
        .filter(|r| keep.iter().any(|k| k == r.point()))
        .cloned()
        .collect()
}

/// Mean ± sd over the included seeds of each metric, per group (of its best point when the
/// table selects).
pub fn group_table(rows: &[Row], t: &GroupTable) -> Vec<GroupStats> {
    let rows = select_best(rows, &t.by, t.select.as_deref());
    groups(&rows, &t.by)
        .into_iter()
        .map(|(group, members)| {
            let ok: Vec<&&Row> = members.iter().filter(|r| r.included()).collect();
            GroupStats {
                selected: t.select.as_ref().map(|_| members[0].point().to_string()),
                group,
                runs: members.len(),
                included: ok.len(),
                values: t
                    .metrics
                    .iter()
                    .map(|m| {
                        let v: Vec<f64> =
                            ok.iter().map(|r| r.number(m).unwrap_or(f64::NAN)).collect();
                        mean_sd(&v)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// What a [`Contrast`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastResult {
    pub spec: Contrast,
    /// Included runs of each side.
    pub n: (usize, usize),
    /// mean(group) − mean(than).
    pub diff: f64,
    /// Exact one-sided permutation p-value in the claimed direction: the share of all ways to
    /// split the pooled values into groups of the same sizes whose difference is at least as
    /// far in that direction (above 20 pooled runs: from 10 000 random splits).
    pub p_value: f64,
    pub holds: bool,
}

/// All `k`-subsets of `0..n` (n ≤ 20; the contrasts compare a handful of seeds).
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|m| m.count_ones() as usize == k)
        .map(|m| (0..n).filter(|i| m >> i & 1 == 1).collect())
        .collect()
}

/// Evaluates a contrast on `rows`.
pub fn contrast(rows: &[Row], c: &Contrast) -> ContrastResult {
    let rows = &select_best(rows, &c.by, c.select.as_deref())[..];
    let side = |g: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.included() && r.text(&c.by) == g)
            .map(|r| r.number(&c.metric).unwrap_or(f64::NAN))
            .filter(|v| v.is_finite())
            .collect()
    };
    let (a, b) = (side(&c.group), side(&c.than));
    let sign = f64::from(c.sign.signum());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let diff = mean(&a) - mean(&b);
    let pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
    let total: f64 = pooled.iter().sum();
    let extreme = |idx: &[usize]| {
        let sa: f64 = idx.iter().map(|&i| pooled[i]).sum();
        let d = sa / a.len() as f64 - (total - sa) / b.len() as f64;
        sign * d >= sign * diff - 1e-12 * diff.abs().max(1.0)
    };
    let p_value = if a.is_empty() || b.is_empty() || sign == 0.0 {
        f64::NAN
    } else if pooled.len() <= 20 {
        let splits = subsets(pooled.len(), a.len());
        splits.iter().filter(|idx| extreme(idx)).count() as f64 / splits.len() as f64
    } else {
        // Too many splits to enumerate: random ones from a fixed stream, (1 + hits)/(1 + draws).
        let mut rng = crate::determinism::Rng::stream(0, &format!("contrast/{}", c.name));
        let hits = (0..super::PERMUTATIONS)
            .filter(|_| {
                let perm = rng.permutation(pooled.len());
                extreme(&perm[..a.len()])
            })
            .count();
        (1 + hits) as f64 / (1 + super::PERMUTATIONS) as f64
    };
    let holds = diff.is_finite()
        && a.len() >= 2
        && b.len() >= 2
        && sign * diff > 0.0
        && c.max_p.is_none_or(|m| p_value.is_finite() && p_value <= m);
    ContrastResult {
        spec: c.clone(),
        n: (a.len(), b.len()),
        diff,
        p_value,
        holds,
    }
}

/// One β of a breakdown group: its seeds' metric (mean, sd) and how many diverged.
#[derive(Debug, Clone, PartialEq)]
pub struct BetaStats {
    pub beta: f64,
    pub lr: f64,
    pub batch_size: i64,
    pub mean: f64,
    pub sd: f64,
    pub runs: usize,
    pub diverged: usize,
}

/// One group of a breakdown (one training-set size).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownGroup {
    pub value: String,
    pub by_number: f64,
    pub betas: Vec<BetaStats>,
    /// The β = 1 band.
    pub band: (f64, f64),
    /// The first β > 1 whose mean leaves the band; `None` if none does.
    pub breaks_at: Option<f64>,
}

/// What a [`Breakdown`] found: its groups in ascending order of `by`.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakdownResult {
    pub spec: Breakdown,
    pub groups: Vec<BreakdownGroup>,
    pub holds: bool,
}

/// Evaluates a breakdown on `rows`. Runs that diverged count with the metric of their epochs
/// before divergence (the paper marks them `*`); β is each run's η over the group's smallest η.
pub fn breakdown(rows: &[Row], b: &Breakdown) -> BreakdownResult {
    let mut out: Vec<BreakdownGroup> = groups(rows, &b.by)
        .into_iter()
        .map(|(value, members)| {
            let by_number = members[0].number(&b.by).unwrap_or(f64::NAN);
            let lr0 = members.iter().map(|r| r.lr).fold(f64::INFINITY, f64::min);
            let mut betas: Vec<BetaStats> = Vec::new();
            for r in &members {
                let beta = r.lr / lr0;
                if betas.iter().any(|s| (s.beta - beta).abs() <= 1e-9 * beta) {
                    continue;
                }
                let same: Vec<&&Row> = members
                    .iter()
                    .filter(|q| (q.lr / lr0 - beta).abs() <= 1e-9 * beta)
                    .collect();
                let v: Vec<f64> = same
                    .iter()
                    .map(|q| q.number(&b.metric).unwrap_or(f64::NAN))
                    .collect();
                let (mean, sd) = mean_sd(&v);
                betas.push(BetaStats {
                    beta,
                    lr: r.lr,
                    batch_size: r.batch_size,
                    mean,
                    sd,
                    runs: same.len(),
                    diverged: same.iter().filter(|q| q.diverged).count(),
                });
            }
            betas.sort_by(|x, y| x.beta.total_cmp(&y.beta));
            let first = &betas[0];
            let half = (b.k_sd * if first.sd.is_nan() { 0.0 } else { first.sd }).max(b.floor);
            let band = (first.mean - half, first.mean + half);
            let breaks_at = betas
                .iter()
                .skip(1)
                .find(|s| !(s.mean >= band.0 && s.mean <= band.1))
                .map(|s| s.beta);
            BreakdownGroup {
                value,
                by_number,
                betas,
                band,
                breaks_at,
            }
        })
        .collect();
    out.sort_by(|x, y| x.by_number.total_cmp(&y.by_number));
    let holds = out.len() >= 2
        && out.windows(2).all(|w| match b.criterion {
            BreakdownCriterion::EarlierBreak => match (w[0].breaks_at, w[1].breaks_at) {
                (Some(small), Some(large)) => small < large,
                (Some(_), None) => true,
                _ => false,
            },
            BreakdownCriterion::LargerDrop => larger_drop(&w[0], &w[1]),
        });
    BreakdownResult {
        spec: b.clone(),
        groups: out,
        holds,
    }
}

/// Whether `small` loses significantly more than `large` at the largest β both have (drop
/// difference above twice its standard error, from the seeds of that β and of β = 1 in each
/// group) and never significantly less at any shared β from the first break on. False when
/// neither group breaks.
fn larger_drop(small: &BreakdownGroup, large: &BreakdownGroup) -> bool {
    let from = match (small.breaks_at, large.breaks_at) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return false,
    };
    let at = |g: &'_ BreakdownGroup, beta: f64| -> Option<BetaStats> {
        g.betas
            .iter()
            .find(|s| (s.beta - beta).abs() <= 1e-9 * beta)
            .cloned()
    };
    let var = |s: &BetaStats| {
        if s.sd.is_nan() || s.runs < 2 {
            f64::NAN
        } else {
            s.sd * s.sd / s.runs as f64
        }
    };
    // (difference of drops, its standard error) per shared β from the break on.
    let shared: Vec<(f64, f64)> = small
        .betas
        .iter()
        .filter(|s| s.beta >= from * (1.0 - 1e-9))
        .filter_map(|s| {
            let l = at(large, s.beta)?;
            let (s1, l1) = (&small.betas[0], &large.betas[0]);
            let d = (s1.mean - s.mean) - (l1.mean - l.mean);
            let se = (var(s) + var(&l) + var(s1) + var(l1)).sqrt();
            Some((d, se))
        })
        .collect();
    match shared.last() {
        Some(&(d, se)) if se.is_finite() => {
            d > 2.0 * se && shared.iter().all(|&(d, se)| d >= -2.0 * se)
        }
        _ => false,
    }
}

/// Fig. 4's basins over the seeds of one interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct BasinResult {
    pub name: String,
    /// Per used line (ascending seed): seed, outer width of `a`, of `b`, ‖θ_B − θ_A‖.
    pub seeds: Vec<i64>,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub distance: Vec<f64>,
    /// Lines left out: an endpoint excluded from the analysis or not among the runs, or a width
    /// that is only a lower bound where that leaves the claim open (`b`'s for `a_wider`, either
    /// for `equal`).
    pub left_out: Vec<String>,
    /// Mean and sd over seeds of wᴬ − wᴮ.
    pub diff: (f64, f64),
    /// √((sdᴬ² + sdᴮ²)/2): the seed-to-seed spread of a width.
    pub pooled_sd: f64,
    pub holds: bool,
}

/// Evaluates an interpolation's claim from its line files: only lines whose two endpoints are
/// included runs among `rows` (matched by content hash) count.
pub fn basin(rows: &[Row], lines: &[LineRecord], i: &Interpolation) -> BasinResult {
    // An endpoint counts only as the included run of its arm at the line's seed.
    let endpoint = |hash: &str, variant: &str, seed: i64| {
        rows.iter().any(|r| {
            r.included()
                && r.content_sha256 == hash
                && r.seed == seed
                && r.text("variant") == variant
        })
    };
    let grid = i.line_spec().alphas();
    let mut mine: Vec<&LineRecord> = lines
        .iter()
        .filter(|l| l.meta.interpolation == i.name)
        .collect();
    mine.sort_by_key(|l| l.meta.seed);
    let mut r = BasinResult {
        name: i.name.clone(),
        seeds: Vec::new(),
        a: Vec::new(),
        b: Vec::new(),
        distance: Vec::new(),
        left_out: Vec::new(),
        diff: (f64::NAN, f64::NAN),
        pooled_sd: f64::NAN,
        holds: false,
    };
    for l in mine {
        let (wa, wb) = (l.basins[0].outer, l.basins[1].outer);
        let why = if r.seeds.contains(&l.meta.seed) {
            Some("a second line for this seed")
        } else if !(endpoint(&l.meta.a_hash, &i.a, l.meta.seed)
            && endpoint(&l.meta.b_hash, &i.b, l.meta.seed))
        {
            Some("an endpoint is not the included run of its arm at this seed")
        } else if l.alpha != grid || l.rise != i.rise {
            Some("measured on another α grid or rise than the analysis asks")
        } else if !(wa.is_finite() && wb.is_finite()) {
            Some("a width is not measurable (non-finite loss)")
        } else if i.claim == BasinClaim::AWider && l.basins[1].outer_censored {
            Some("b's width is only a lower bound")
        } else if i.claim == BasinClaim::Equal
            && (l.basins[0].outer_censored || l.basins[1].outer_censored)
        {
            Some("a width is only a lower bound")
        } else {
            None
        };
        if let Some(why) = why {
            r.left_out.push(format!("seed {} ({why})", l.meta.seed));
            continue;
        }
        r.seeds.push(l.meta.seed);
        r.a.push(l.basins[0].outer);
        r.b.push(l.basins[1].outer);
        r.distance.push(l.distance);
    }
    if r.seeds.len() >= 2 {
        let d: Vec<f64> = r.a.iter().zip(&r.b).map(|(x, y)| x - y).collect();
        r.diff = mean_sd(&d);
        let (sa, sb) = (mean_sd(&r.a).1, mean_sd(&r.b).1);
        r.pooled_sd = ((sa * sa + sb * sb) / 2.0).sqrt();
        r.holds = match i.claim {
            BasinClaim::AWider => r.diff.0 > 0.0 && r.diff.0 > r.diff.1,
            BasinClaim::Equal => r.diff.0.abs() <= r.pooled_sd,
        };
    }
    r
}

/// A test's verdict on `rows`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What was measured, in words.
    pub got: String,
    pub holds: bool,
    /// Whether the test could be evaluated at all (two paired seeds, both groups present with
    /// two runs each, every group's β = 1 with two seeds): a claim that does not hold only
    /// counts as a negative result when it was measured.
    pub defined: bool,
}

/// Evaluates a test on `rows` (and, for basins, the line files `lines`).
pub fn evaluate(rows: &[Row], lines: &[LineRecord], t: &Test) -> Verdict {
    match t {
        Test::Basin(i) => {
            let r = basin(rows, lines, i);
            Verdict {
                got: format!(
                    "wA − wB {:+.4} ± {:.4} (width sd {:.4}; {} seeds)",
                    r.diff.0,
                    r.diff.1,
                    r.pooled_sd,
                    r.seeds.len()
                ),
                holds: r.holds,
                defined: r.seeds.len() >= 2 && r.diff.0.is_finite(),
            }
        }
        Test::Compare(c) => {
            let r = compare(rows, c);
            Verdict {
                got: format!(
                    "margin {:+.4} ± {:.4} ({} seeds)",
                    r.margin.0,
                    r.margin.1,
                    r.seeds.len()
                ),
                holds: r.holds,
                defined: r.seeds.len() >= 2 && r.margin.0.is_finite() && r.margin.1.is_finite(),
            }
        }
        Test::Contrast(c) => {
            let r = contrast(rows, c);
            Verdict {
                got: format!("{:+.4}, p {:.4}", r.diff, r.p_value),
                holds: r.holds,
                defined: r.n.0 >= 2 && r.n.1 >= 2 && r.diff.is_finite() && r.p_value.is_finite(),
            }
        }
        Test::Breakdown(b) => {
            let r = breakdown(rows, b);
            let defined = r.groups.len() >= 2
                && r.groups
                    .iter()
                    .all(|g| g.by_number.is_finite() && g.betas[0].runs >= 2 && g.betas.len() >= 2);
            let at: Vec<String> = r
                .groups
                .iter()
                .map(|g| {
                    format!(
                        "{}: {}",
                        g.value,
                        g.breaks_at
                            .map(|x| format!("β={x}"))
                            .unwrap_or_else(|| "none".into())
                    )
                })
                .collect();
            Verdict {
                got: at.join("; "),
                holds: r.holds,
                defined,
            }
        }
    }
}

/// How each test is phrased as a claim (the "expected" column of `check`).
pub fn describe(t: &Test) -> String {
    match t {
        Test::Compare(c) => format!(
            "{} nearer {} than {} ({})",
            c.matched, c.base, c.control, c.curve
        ),
        Test::Contrast(c) => format!(
            "{} {} {}{}",
            c.group,
            if c.sign < 0 { "<" } else { ">" },
            c.than,
            c.max_p.map(|p| format!(", p ≤ {p}")).unwrap_or_default()
        ),
        Test::Basin(i) => match i.claim {
            BasinClaim::AWider => format!("{} wider than {} (outer side)", i.a, i.b),
            BasinClaim::Equal => format!("{} as wide as {} within seed sd", i.a, i.b),
        },
        Test::Breakdown(b) => match b.criterion {
            BreakdownCriterion::EarlierBreak => format!("smaller {} breaks at smaller β", b.by),
            BreakdownCriterion::LargerDrop => format!("smaller {} drops more past the break", b.by),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Cell, Metric};

    fn row(variant: &str, seed: i64, val: &[f64]) -> Row {
        Row {
            name: format!("{variant}_seed{seed}"),
            lr: 0.1,
            batch_size: 10,
            eta_over_s: 0.01,
            eta_over_s_eff: 0.01,
            momentum: 0.0,
            seed,
            metrics: [f64::NAN; Metric::ALL.len()],
            epochs: val.len() as i64,
            stop_reason: "epochs".into(),
            diverged: false,
            excluded: None,
            content_sha256: String::new(),
            fields: vec![("variant".into(), Cell::Text(variant.into()))],
            norms: Vec::new(),
            curves: crate::train::Curves {
                val_acc: val.to_vec(),
                train_loss: val.iter().map(|v| 1.0 - v).collect(),
                ..Default::default()
            },
            measured_epoch: val.len() as i64,
        }
    }

    fn spec() -> CurveCompare {
        CurveCompare {
            name: "t".into(),
            base: "a".into(),
            matched: "b".into(),
            control: "c".into(),
            curve: "val_acc".into(),
            claim: String::new(),
        }
    }

    #[test]
    fn distance_is_mean_and_max_over_shared_epochs() {
        let (mean, max) = distance(&[0.1, 0.5, 0.9], &[0.2, 0.3]);
        assert!((mean - 0.15).abs() < 1e-15 && (max - 0.2).abs() < 1e-15);
        assert!(distance(&[], &[1.0]).0.is_nan());
        assert!(distance(&[f64::NAN], &[1.0]).0.is_nan());
    }

    #[test]
    fn a_matched_arm_nearer_than_the_control_by_more_than_the_spread_holds() {
        let mut rows = Vec::new();
        for s in 0..3 {
            let e = 0.01 * s as f64;
            rows.push(row("a", s, &[0.5 + e, 0.7, 0.8]));
            rows.push(row("b", s, &[0.51 + e, 0.71, 0.8]));
            rows.push(row("c", s, &[0.3 + e, 0.5, 0.6]));
        }
        let r = compare(&rows, &spec());
        assert_eq!(r.seeds, [0, 1, 2]);
        assert!(r.holds, "{r:?}");
        assert!(
            (r.margin.0 - (0.2 - 0.02 / 3.0)).abs() < 1e-9,
            "{:?}",
            r.margin
        );
        assert_eq!(r.curves.len(), 2);
        // Swap the roles: the control is now the nearer arm, and the claim fails.
        let mut swapped = spec();
        std::mem::swap(&mut swapped.matched, &mut swapped.control);
        assert!(!compare(&rows, &swapped).holds);
        // A margin smaller than its seed spread does not hold either.
        let mut noisy = rows.clone();
        // Seeds 0 and 1 of the control now equal the base, seed 2 is far off.
        for r in noisy.iter_mut().filter(|r| r.text("variant") == "c") {
            let e = 0.01 * r.seed as f64;
            r.curves.val_acc = vec![[0.5 + e, 0.5 + e, 1.0][r.seed as usize], 0.7, 0.8];
        }
        let r = compare(&noisy, &spec());
        assert!(r.margin.0 > 0.0 && !r.holds, "{r:?}");
    }

    #[test]
    fn contrast_p_value_is_exact() {
        let mut rows = Vec::new();
        for (g, vals) in [("cyc", [1.0, 2.0, 3.0]), ("const", [4.0, 5.0, 6.0])] {
            for (s, v) in vals.iter().enumerate() {
                let mut r = row(g, s as i64, &[0.5]);
                r.metrics[Metric::LambdaMax as usize] = *v;
                rows.push(r);
            }
        }
        let c = Contrast {
            name: "c".into(),
            by: "variant".into(),
            metric: "lambda_max".into(),
            group: "cyc".into(),
            than: "const".into(),
            sign: -1,
            max_p: Some(0.05),
            select: None,
        };
        let r = contrast(&rows, &c);
        assert_eq!(r.diff, -3.0);
        // The most extreme of C(6,3) = 20 splits.
        assert_eq!(r.p_value, 0.05);
        assert!(r.holds);
        let r = contrast(
            &rows,
            &Contrast {
                sign: 1,
                ..c.clone()
            },
        );
        assert!(!r.holds && r.p_value == 1.0);
        let r = contrast(
            &rows,
            &Contrast {
                max_p: Some(0.01),
                ..c
            },
        );
        assert!(!r.holds);
    }

    #[test]
    fn selection_keeps_each_groups_best_point_by_its_seed_mean() {
        let mut rows = Vec::new();
        for (lr, accs) in [
            (0.1, [0.80, 0.90]),
            (0.2, [0.86, 0.86]),
            (0.4, [0.70, 0.99]),
        ] {
            for (s, acc) in accs.iter().enumerate() {
                let mut r = row("cyc", s as i64, &[*acc]);
                r.lr = lr;
                r.name = format!("lr{lr}_bs10_cyc_seed{s}");
                r.metrics[Metric::ValAcc as usize] = *acc;
                rows.push(r);
            }
        }
        let kept = select_best(&rows, "variant", Some("val_acc"));
        // Means 0.85, 0.86, 0.845: the second point, both seeds.
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|r| r.lr == 0.2));
        assert_eq!(select_best(&rows, "variant", None).len(), 6);
    }

    #[test]
    fn breakdown_finds_the_first_beta_outside_the_band() {
        let mut rows = Vec::new();
        for (n, accs) in [
            (1000, [0.80, 0.80, 0.70, 0.6]),
            (4000, [0.85, 0.85, 0.85, 0.7]),
        ] {
            for (k, acc) in accs.iter().enumerate() {
                for s in 0..2 {
                    let beta = (1 << k) as f64;
                    let mut r = row("x", s, &[*acc + 0.001 * s as f64]);
                    r.lr = 0.1 * beta;
                    r.fields = vec![("split.train".into(), Cell::I64(n))];
                    rows.push(r);
                }
            }
        }
        let b = Breakdown {
            name: "b".into(),
            by: "split.train".into(),
            metric: "max_val_acc".into(),
            k_sd: 2.0,
            floor: 0.01,
            criterion: BreakdownCriterion::EarlierBreak,
        };
        // A seed that diverged at β = 8 counts with its epochs before divergence, marked.
        let last = rows
            .iter_mut()
            .rfind(|r| r.lr > 0.75 && r.lr < 0.85)
            .unwrap();
        last.diverged = true;
        last.curves.val_acc.push(f64::NAN);
        let r = breakdown(&rows, &b);
        assert_eq!(r.groups[1].betas[3].diverged, 1);
        assert_eq!(r.groups[1].betas[3].runs, 2);
        assert!((r.groups[1].betas[3].mean - 0.7005).abs() < 1e-12);
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[0].breaks_at, Some(4.0));
        assert_eq!(r.groups[1].breaks_at, Some(8.0));
        assert!(r.holds);
        // Drops from β = 4 on: 0.1 vs 0 at β = 4, 0.2 vs 0.15 at β = 8.
        let drop = Breakdown {
            criterion: BreakdownCriterion::LargerDrop,
            ..b.clone()
        };
        assert!(breakdown(&rows, &drop).holds);
        // The larger set breaking first fails the claim.
        rows.retain(|r| !(r.text("split.train") == "4000" && r.lr > 0.15));
        let r = breakdown(&rows, &b);
        assert_eq!(r.groups[1].breaks_at, None);
        assert!(r.holds, "the larger set never breaking is consistent");
        let flipped = Breakdown {
            by: "split.train".into(),
            ..b
        };
        let mut rev = rows.clone();
        for r in rev.iter_mut() {
            let n = if r.text("split.train") == "1000" {
                4000
            } else {
                1000
            };
            r.fields = vec![("split.train".into(), Cell::I64(n))];
        }
        assert!(!breakdown(&rev, &flipped).holds);
    }

    fn line(name: &str, seed: i64, wa: (f64, bool), wb: (f64, bool)) -> LineRecord {
        use crate::curvature::interpolate::{Basin, EndpointLoss, LineSpec};
        let basin = |(w, censored): (f64, bool)| Basin {
            outer: w,
            outer_censored: censored,
            inner: 0.5,
            inner_censored: false,
        };
        let end = EndpointLoss {
            recorded: 0.05,
            stored_bn: 0.05,
            recalibrated: 0.04,
        };
        LineRecord {
            path: format!("{name}_seed{seed}.h5").into(),
            meta: crate::artifact::line::LineMeta {
                interpolation: name.into(),
                seed,
                a: String::new(),
                a_hash: format!("a{seed}"),
                b: String::new(),
                b_hash: format!("b{seed}"),
                platform_class: "c".into(),
            },
            alpha: LineSpec::default().alphas(),
            train_loss: Vec::new(),
            distance: 10.0,
            rise: 0.1,
            endpoints: [end, end],
            basins: [basin(wa), basin(wb)],
            stored_hash: String::new(),
            recomputed_hash: String::new(),
        }
    }

    fn endpoints(seeds: i64) -> Vec<Row> {
        (0..seeds)
            .flat_map(|k| {
                ["a", "b"].map(|v| Row {
                    content_sha256: format!("{v}{k}"),
                    ..row(v, k, &[0.5])
                })
            })
            .collect()
    }

    #[test]
    fn basin_claims_hold_fail_and_leave_out_what_they_cannot_judge() {
        let spec = |claim| Interpolation {
            name: "i".into(),
            a: "a".into(),
            b: "b".into(),
            claim,
            rise: 0.1,
            from: -0.5,
            to: 1.5,
            points: 41,
        };
        let rows = endpoints(3);
        let wider = [
            line("i", 0, (1.0, false), (0.2, false)),
            line("i", 1, (1.2, true), (0.3, false)),
            line("i", 2, (0.9, false), (0.25, false)),
        ];
        let r = basin(&rows, &wider, &spec(BasinClaim::AWider));
        assert_eq!(r.seeds, vec![0, 1, 2]);
        assert!(
            (r.diff.0 - (0.8 + 0.9 + 0.65) / 3.0).abs() < 1e-12 && r.holds,
            "{r:?}"
        );
        // The same widths fail the equality claim: 0.78 apart against a seed sd of ~0.1.
        assert!(!basin(&rows, &wider, &spec(BasinClaim::Equal)).holds);
        // Equal widths up to seed noise hold it; censored ones are left out of it.
        let equal = [
            line("i", 0, (0.80, false), (0.75, false)),
            line("i", 1, (0.70, false), (0.78, false)),
            line("i", 2, (0.85, false), (0.80, false)),
            line("i", 3, (2.5, true), (0.8, false)),
        ];
        let mut rows4 = endpoints(4);
        let r = basin(&rows4, &equal, &spec(BasinClaim::Equal));
        assert_eq!(r.seeds, vec![0, 1, 2]);
        assert!(r.left_out[0].contains("seed 3"), "{:?}", r.left_out);
        assert!(r.holds, "{r:?}");
        assert!(!basin(&rows4, &equal, &spec(BasinClaim::AWider)).holds);
        // A line whose endpoint run is excluded does not count; nor does b censored for a_wider.
        rows4[0].excluded = Some("diverged".into());
        let r = basin(&rows4, &wider, &spec(BasinClaim::AWider));
        assert_eq!(r.seeds, vec![1, 2]);
        let censored_b = [
            line("i", 0, (1.0, false), (2.5, true)),
            line("i", 1, (1.0, false), (0.2, false)),
        ];
        let r = basin(&endpoints(2), &censored_b, &spec(BasinClaim::AWider));
        assert_eq!(r.seeds, vec![1]);
        assert!(
            !r.holds && r.diff.0.is_nan(),
            "one seed cannot decide: {r:?}"
        );
        // Lines that do not belong: endpoints swapped (a's hash is arm b's run), another seed's
        // run, another grid or rise, a second line for a seed, a non-finite width.
        let mut swapped = line("i", 0, (1.0, false), (0.2, false));
        swapped.meta.a_hash = "b0".into();
        swapped.meta.b_hash = "a0".into();
        let mut other_seed = line("i", 1, (1.0, false), (0.2, false));
        other_seed.meta.a_hash = "a2".into();
        let mut coarse = line("i", 2, (1.0, false), (0.2, false));
        coarse.alpha.truncate(21);
        let mut steep = line("i", 3, (1.0, false), (0.2, false));
        steep.rise = 0.5;
        let dup = [
            line("i", 4, (1.0, false), (0.2, false)),
            line("i", 4, (9.0, false), (0.2, false)),
        ];
        let nan = line("i", 5, (f64::NAN, false), (0.2, false));
        let all: Vec<LineRecord> = [swapped, other_seed, coarse, steep, nan]
            .into_iter()
            .chain(dup)
            .collect();
        let r = basin(&endpoints(6), &all, &spec(BasinClaim::AWider));
        assert_eq!(r.seeds, vec![4], "{:?}", r.left_out);
        assert_eq!(r.a, vec![1.0]);
        assert_eq!(r.left_out.len(), 6, "{:?}", r.left_out);
    }
}
