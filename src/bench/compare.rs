//! Deciding whether a kernel got slower. A kernel regresses when its median grew by more than
//! both the relative threshold (default 7 %, TorchBench's) and three combined standard
//! deviations of the two runs (each estimated as 1.4826 × MAD), so noise alone rarely trips it.
use super::history::Run;

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub kernel: String,
    pub baseline_s: f64,
    pub current_s: f64,
    /// current / baseline.
    pub ratio: f64,
    /// The slowdown (in seconds) that would count as a regression.
    pub allowed_s: f64,
    pub slower: bool,
}

pub fn compare(baseline: &Run, current: &Run, threshold: f64) -> Vec<Verdict> {
    current
        .measurements
        .iter()
        .filter_map(|c| {
            let b = baseline.get(&c.kernel)?;
            let (bm, cm) = (b.median_s(), c.median_s());
            let noise = 3.0 * (b.mad_s().powi(2) + c.mad_s().powi(2)).sqrt();
            let allowed = (threshold * bm).max(noise);
            Some(Verdict {
                kernel: c.kernel.clone(),
                baseline_s: bm,
                current_s: cm,
                ratio: cm / bm,
                allowed_s: allowed,
                slower: cm - bm > allowed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Fingerprint, Measurement};

    fn run(times: &[f64]) -> Run {
        Run {
            fingerprint_id: "x".into(),
            fingerprint: Fingerprint { fields: vec![] },
            run_id: "run-0001".into(),
            time: String::new(),
            git_commit: String::new(),
            measurements: vec![Measurement {
                kernel: "k".into(),
                work: 1.0,
                times_s: times.to_vec(),
                iterations: 1,
            }],
        }
    }

    #[test]
    fn twenty_percent_slower_trips_noise_does_not() {
        let base = run(&[1.00, 1.01, 0.99, 1.00, 1.02]);
        let slow = run(&[1.20, 1.21, 1.19, 1.20, 1.22]);
        let same = run(&[1.02, 0.99, 1.01, 1.03, 1.00]);
        assert!(compare(&base, &slow, 0.07)[0].slower);
        assert!(!compare(&base, &same, 0.07)[0].slower);
        // Very noisy runs widen the allowance beyond the threshold.
        let noisy = run(&[0.6, 1.5, 1.0, 1.4, 0.7]);
        let v = &compare(&noisy, &slow, 0.07)[0];
        assert!(!v.slower && v.allowed_s > 0.5, "{v:?}");
    }
}
