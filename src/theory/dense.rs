//! Small dense symmetric matrices in f64 (row-major `Vec<f64>` of n²), enough for the theory
//! checks' least-squares problems (n ≤ a few dozen): products, a Cholesky solve, Jacobi
//! eigenvalues and the discrete Lyapunov equation. Plain loops, so results do not depend on a
//! BLAS.

/// A·B for n×n matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

pub fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}

pub fn trace(a: &[f64], n: usize) -> f64 {
    (0..n).map(|i| a[i * n + i]).sum()
}

/// Solves A x = b for symmetric positive definite A (Cholesky). `None` when A is not.
pub fn solve_spd(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    Some(x)
}

/// The eigenvalues of a symmetric matrix, ascending (cyclic Jacobi rotations to 1e-14 of the
/// off-diagonal mass).
pub fn eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let scale: f64 = m.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        if off <= 1e-28 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
            }
        }
    }
    let mut ev: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    ev.sort_by(f64::total_cmp);
    ev
}

/// Σ with Σ = AΣAᵀ + Q (the stationary covariance of x' = Ax + noise of covariance Q), by
/// doubling: Σ = Σₖ AᵏQ(Aᵏ)ᵀ summed in log₂ steps. Needs the spectral radius of A below 1;
/// NaNs when the sum does not converge.
pub fn discrete_lyapunov(a: &[f64], q: &[f64], n: usize) -> Vec<f64> {
    let mut s = q.to_vec();
    let mut ak = a.to_vec();
    for _ in 0..64 {
        let add = matmul(&matmul(&ak, &s, n), &transpose(&ak, n), n);
        let mass: f64 = add.iter().map(|x| x.abs()).sum();
        for (x, d) in s.iter_mut().zip(&add) {
            *x += d;
        }
        if !mass.is_finite() {
            break;
        }
        if mass <= 1e-17 * s.iter().map(|x| x.abs()).sum::<f64>() {
            return s;
        }
        ak = matmul(&ak, &ak, n);
    }
    vec![f64::NAN; n * n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_a_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let ev = eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!(
            (ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12,
            "{ev:?}"
        );
    }

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = solve_spd(&a, &[2.0, 1.0], 2).unwrap();
        assert!((4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12);
        assert!(solve_spd(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 2).is_none());
    }

    #[test]
    fn lyapunov_diverges_to_nan() {
        assert!(discrete_lyapunov(&[1.1], &[1.0], 1)[0].is_nan());
    }

    #[test]
    fn lyapunov_of_a_scalar() {
        // σ = a²σ + q → σ = q / (1 − a²).
        let s = discrete_lyapunov(&[0.9], &[1.0], 1);
        assert!((s[0] - 1.0 / (1.0 - 0.81)).abs() < 1e-9, "{s:?}");
    }
}
