//! Statistics: rank correlation with a permutation p-value and a bootstrap interval, grouping
//! runs that share a value, and a stratified permutation test for a trend inside groups. Every
//! random draw comes from the project RNG under a fixed stream, so a table's statistics (and its
//! content hash) are the same on every run.
use crate::determinism::Rng;

/// Ranks with ties given their average rank (1-based).
fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Spearman's rank correlation over the pairs where both values are finite; NaN with fewer
/// than 3 such pairs.
pub fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    let (a, b): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .unzip();
    if a.len() < 3 {
        return f64::NAN;
    }
    pearson(&ranks(&a), &ranks(&b))
}

/// Permutations behind every p-value: the smallest p reported is 1/10001.
pub const PERMUTATIONS: usize = 10_000;
/// Bootstrap replicates behind every interval.
pub const BOOTSTRAP: usize = 2_000;

/// Spearman's ρ with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankTest {
    pub rho: f64,
    /// Two-sided permutation p-value: (1 + #{|ρ_perm| ≥ |ρ|}) / (1 + permutations).
    pub p_value: f64,
    /// 95 % percentile interval of ρ over bootstrap resamples of whole strata (cluster bootstrap).
    pub ci: (f64, f64),
    /// Pairs with both values finite.
    pub n: usize,
}

/// Finite pairs of `xs`, `ys` with their stratum.
fn finite(xs: &[f64], ys: &[f64], strata: &[usize]) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for ((x, y), s) in xs.iter().zip(ys).zip(strata) {
        if x.is_finite() && y.is_finite() {
            out.0.push(*x);
            out.1.push(*y);
            out.2.push(*s);
        }
    }
    out
}

fn shuffle(v: &mut [f64], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Spearman ρ of `xs` with `ys`, a two-sided permutation p-value (ys permuted over all pairs),
/// and a cluster-bootstrap interval: `strata` gives one label per pair (the grid point), and each
/// resample draws as many strata as there are, with replacement, each with all its pairs (its
/// seeds). Resampling pairs inside a stratum instead would hold x fixed while redrawing y from a
/// few seeds, which shrinks the spread and creates ties aligned with x's, biasing |ρ| upward.
/// `stream` names the RNG stream. NaN with fewer than 3 finite pairs.
pub fn rank_test(xs: &[f64], ys: &[f64], strata: &[usize], stream: &str) -> RankTest {
    let (x, y, st) = finite(xs, ys, strata);
    let rho = spearman(&x, &y);
    if !rho.is_finite() {
        return RankTest {
            rho,
            p_value: f64::NAN,
            ci: (f64::NAN, f64::NAN),
            n: x.len(),
        };
    }
    let (rx, mut ry) = (ranks(&x), ranks(&y));
    let mut rng = Rng::stream(0, &format!("permutation/{stream}"));
    let mut hits = 0;
    for _ in 0..PERMUTATIONS {
        shuffle(&mut ry, &mut rng);
        if pearson(&rx, &ry).abs() >= rho.abs() - 1e-12 {
            hits += 1;
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, s) in st.iter().enumerate() {
        match groups.iter_mut().find(|(g, _)| g == s) {
            Some((_, v)) => v.push(i),
            None => groups.push((*s, vec![i])),
        }
    }
    let mut rng = Rng::stream(0, &format!("bootstrap/{stream}"));
    let mut reps: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            let (mut bx, mut by) = (Vec::with_capacity(x.len()), Vec::with_capacity(x.len()));
            for _ in 0..groups.len() {
                let (_, members) = &groups[rng.below(groups.len() as u64) as usize];
                for &k in members {
                    bx.push(x[k]);
                    by.push(y[k]);
                }
            }
            spearman(&bx, &by)
        })
        .filter(|r| r.is_finite())
        .collect();
    reps.sort_by(f64::total_cmp);
    let q = |p: f64| {
        reps.get(((reps.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    RankTest {
        rho,
        p_value: (1 + hits) as f64 / (1 + PERMUTATIONS) as f64,
        ci: (q(0.025), q(0.975)),
        n: x.len(),
    }
}

/// A trend with `zs` inside groups: the mean over `groups` (index lists, each with at least two
/// distinct z) of Spearman(z, y) within the group, and a two-sided p-value from permuting y
/// within every group at once. Returns (per-group ρ, mean ρ, p); NaN when no group qualifies.
pub fn within_group_trend(
    zs: &[f64],
    ys: &[f64],
    groups: &[Vec<usize>],
    stream: &str,
) -> (Vec<f64>, f64, f64) {
    let usable: Vec<(Vec<f64>, Vec<f64>)> = groups
        .iter()
        .map(|g| {
            let (z, y, _) = finite(
                &g.iter().map(|&i| zs[i]).collect::<Vec<_>>(),
                &g.iter().map(|&i| ys[i]).collect::<Vec<_>>(),
                &vec![0; g.len()],
            );
            (z, y)
        })
        .collect();
    let per: Vec<f64> = usable.iter().map(|(z, y)| spearman(z, y)).collect();
    let ok: Vec<usize> = (0..per.len()).filter(|&k| per[k].is_finite()).collect();
    if ok.is_empty() {
        return (per, f64::NAN, f64::NAN);
    }
    let mean = |v: &[f64]| ok.iter().map(|&k| v[k]).sum::<f64>() / ok.len() as f64;
    let observed = mean(&per);
    let rz: Vec<Vec<f64>> = usable.iter().map(|(z, _)| ranks(z)).collect();
    let mut ry: Vec<Vec<f64>> = usable.iter().map(|(_, y)| ranks(y)).collect();
    let mut rng = Rng::stream(0, &format!("within/{stream}"));
    let mut hits = 0;
    for _ in 0..PERMUTATIONS {
        let mut rhos = vec![f64::NAN; usable.len()];
        for &k in &ok {
            shuffle(&mut ry[k], &mut rng);
            rhos[k] = pearson(&rz[k], &ry[k]);
        }
        if mean(&rhos).abs() >= observed.abs() - 1e-12 {
            hits += 1;
        }
    }
    (per, observed, (1 + hits) as f64 / (1 + PERMUTATIONS) as f64)
}

/// Mean and sample standard deviation of the finite values (sd NaN with fewer than two).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    let n = f.len() as f64;
    let mean = f.iter().sum::<f64>() / n;
    let sd = if f.len() < 2 {
        f64::NAN
    } else {
        (f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    (mean, sd)
}

/// Groups indices by equal value (equal to 1e-9 relative), keeping groups of two or more.
pub fn equal_groups(values: &[f64]) -> Vec<(f64, Vec<usize>)> {
    let mut groups: Vec<(f64, Vec<usize>)> = Vec::new();
    for (i, &r) in values.iter().enumerate() {
        match groups.iter_mut().find(|(g, _)| ((g - r) / g).abs() < 1e-9) {
            Some((_, v)) => v.push(i),
            None => groups.push((r, vec![i])),
        }
    }
    groups.retain(|(_, v)| v.len() > 1);
    groups.sort_by(|a, b| a.0.total_cmp(&b.0));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_matches_hand_computed_values() {
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // x = 1..5, y = [2, 1, 4, 3, 5]: d² = 1+1+1+1+0 = 4, ρ = 1 − 6·4/(5·24) = 0.8.
        assert!(
            (spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]) - 0.8).abs() < 1e-12
        );
        // Ties get average ranks; NaNs are dropped.
        assert!((spearman(&[1.0, 1.0, 2.0, f64::NAN], &[1.0, 1.0, 2.0, 5.0]) - 1.0).abs() < 1e-12);
        assert!(spearman(&[1.0, 2.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn permutation_p_values_and_intervals() {
        // A perfect monotone relation over 8 points: only 2 of 8! orderings reach |ρ| = 1, so
        // p ≈ 2/40320 → at the resolution 1/10001.
        let x: Vec<f64> = (0..8).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        let t = rank_test(&x, &y, &[0, 1, 2, 3, 4, 5, 6, 7], "t");
        assert_eq!(t.rho, 1.0);
        assert!(t.p_value < 5e-4, "p = {}", t.p_value);
        assert_eq!(t.n, 8);
        // No relation: x against a shuffle with ρ = 1 − 6·90/(8·63) = −0.071.
        let y = [4.0, 1.0, 7.0, 2.0, 6.0, 3.0, 0.0, 5.0];
        let t = rank_test(&x, &y, &[0; 8], "t");
        assert!((t.rho + 1.0 / 14.0).abs() < 1e-12, "ρ = {}", t.rho);
        assert!(t.p_value > 0.2, "ρ = {} p = {}", t.rho, t.p_value);
        assert!(t.ci.0 <= t.rho && t.rho <= t.ci.1, "{:?}", t.ci);
        // Deterministic: the same inputs give the same numbers.
        assert_eq!(t, rank_test(&x, &y, &[0; 8], "t"));
        // A perfect relation stays perfect in every resample.
        let y: Vec<f64> = x.iter().map(|v| -v).collect();
        let t = rank_test(&x, &y, &[0, 1, 2, 3, 4, 5, 6, 7], "t");
        assert_eq!(t.ci, (-1.0, -1.0));
        // The design of the experiments: x tied within each stratum (a grid point), three noisy
        // seeds per point. The interval contains the estimate.
        let mut rng = Rng::new(3);
        let (mut x, mut y, mut st) = (Vec::new(), Vec::new(), Vec::new());
        for point in 0..16 {
            for _ in 0..3 {
                x.push(f64::from(point / 2));
                y.push(-f64::from(point) + 3.0 * rng.normal());
                st.push(point as usize);
            }
        }
        let t = rank_test(&x, &y, &st, "t");
        assert!(t.rho < -0.7, "ρ = {}", t.rho);
        assert!(
            t.ci.0 < t.rho && t.rho < t.ci.1,
            "ρ = {} outside {:?}",
            t.rho,
            t.ci
        );
    }

    #[test]
    fn trend_inside_groups() {
        // Two groups of three; y rises with z in both: mean ρ = 1. With 3! = 6 orderings per
        // group, P(both perfectly ordered either way) = 2/36.
        let z = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        let y = [5.0, 6.0, 9.0, 0.1, 0.2, 0.3];
        let (per, mean, p) = within_group_trend(&z, &y, &[vec![0, 1, 2], vec![3, 4, 5]], "t");
        assert_eq!((per, mean), (vec![1.0, 1.0], 1.0));
        assert!((p - 2.0 / 36.0).abs() < 0.01, "p = {p}");
        // Opposite trends cancel.
        let y = [5.0, 6.0, 9.0, 0.3, 0.2, 0.1];
        let (_, mean, p) = within_group_trend(&z, &y, &[vec![0, 1, 2], vec![3, 4, 5]], "t");
        assert_eq!(mean, 0.0);
        assert!(p > 0.9, "p = {p}");
        assert_eq!(mean_sd(&[1.0, 2.0, 3.0, f64::NAN]), (2.0, 1.0));
    }

    #[test]
    fn groups_equal_ratios() {
        let g = equal_groups(&[0.0125 / 25.0, 0.025 / 50.0, 0.1 / 25.0, 0.05 / 100.0]);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].1, vec![0, 1, 3]);
    }
}
