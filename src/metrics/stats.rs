//! Statistics: rank correlation, and grouping runs that share a value.

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
    fn groups_equal_ratios() {
        let g = equal_groups(&[0.0125 / 25.0, 0.025 / 50.0, 0.1 / 25.0, 0.05 / 100.0]);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].1, vec![0, 1, 3]);
    }
}
