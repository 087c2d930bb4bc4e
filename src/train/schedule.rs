//! η and S in force at a point of training, for each schedule of [`ScheduleKind`].
use crate::config::{ScheduleKind, SgdConfig};

/// The learning rate at fractional epoch `t` (epoch index + fraction of the epoch done).
pub fn lr_at(s: &SgdConfig, t: f64) -> f64 {
    let phase = |t: f64| (t / s.cycle_epochs as f64).fract();
    match s.schedule {
        ScheduleKind::Constant | ScheduleKind::CyclicBatchDiscrete => s.lr,
        ScheduleKind::StepDecay => {
            s.lr * s
                .decay_factor
                .powi((t.floor() as usize / s.decay_every) as i32)
        }
        ScheduleKind::Milestones => {
            let passed = s.milestones.iter().filter(|&&m| t >= m as f64).count();
            s.lr * s.decay_factor.powi(passed as i32)
        }
        ScheduleKind::CyclicLrDiscrete => {
            if phase(t) < 0.5 {
                s.lr
            } else {
                s.lr / 5.0
            }
        }
        ScheduleKind::CyclicLrTriangular => {
            // 1 at the start of a cycle, 0 at its middle, back to 1 at its end.
            let x = (2.0 * phase(t) - 1.0).abs();
            s.lr / 5.0 + (s.lr - s.lr / 5.0) * x
        }
    }
}

/// The batch size used throughout epoch `epoch`.
pub fn batch_size_at(s: &SgdConfig, epoch: usize) -> usize {
    match s.schedule {
        ScheduleKind::CyclicBatchDiscrete if (epoch % s.cycle_epochs) * 2 >= s.cycle_epochs => {
            5 * s.batch_size
        }
        _ => s.batch_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;

    fn sgd(kind: ScheduleKind) -> SgdConfig {
        SgdConfig {
            schedule: kind,
            cycle_epochs: 10,
            lr: 0.1,
            batch_size: 32,
            ..RunConfig::adhoc().sgd
        }
    }

    #[test]
    fn cyclic_schedules_span_five_to_one() {
        let s = sgd(ScheduleKind::CyclicLrDiscrete);
        assert_eq!(lr_at(&s, 0.0), 0.1);
        assert!((lr_at(&s, 5.0) - 0.02).abs() < 1e-12);
        assert_eq!(lr_at(&s, 10.0), 0.1);
        let s = sgd(ScheduleKind::CyclicLrTriangular);
        assert!((lr_at(&s, 0.0) - 0.1).abs() < 1e-12);
        assert!((lr_at(&s, 5.0) - 0.02).abs() < 1e-12);
        assert!((lr_at(&s, 2.5) - 0.06).abs() < 1e-12);
        let s = sgd(ScheduleKind::CyclicBatchDiscrete);
        assert_eq!(
            (
                batch_size_at(&s, 4),
                batch_size_at(&s, 5),
                batch_size_at(&s, 10)
            ),
            (32, 160, 32)
        );
        assert_eq!(lr_at(&s, 7.0), 0.1);
    }

    #[test]
    fn milestones_multiply_at_the_listed_epochs() {
        let s = SgdConfig {
            milestones: vec![3, 5],
            decay_factor: 0.1,
            ..sgd(ScheduleKind::Milestones)
        };
        let at = |t: f64| lr_at(&s, t);
        assert_eq!(at(0.0), 0.1);
        assert_eq!(at(2.99), 0.1);
        assert!((at(3.0) - 0.01).abs() < 1e-15);
        assert!((at(4.5) - 0.01).abs() < 1e-15);
        assert!((at(5.0) - 0.001).abs() < 1e-15);
        assert!((at(99.0) - 0.001).abs() < 1e-15);
        let mut c = RunConfig::adhoc();
        c.sgd = s.clone();
        c.sgd.milestones = vec![5, 3];
        let e = c.validate("t").unwrap_err().to_string();
        assert!(
            e.contains("sgd.milestones") && e.contains("ascending"),
            "{e}"
        );
        c.sgd.milestones.clear();
        assert!(c
            .validate("t")
            .unwrap_err()
            .to_string()
            .contains("at least one"));
        c.sgd.milestones = vec![2, 5];
        assert!(c
            .validate("t")
            .unwrap_err()
            .to_string()
            .contains("milestone 5 is never reached: training has 5 epochs"));
        c.sgd.schedule = ScheduleKind::Constant;
        c.sgd.milestones = vec![2];
        assert!(c
            .validate("t")
            .unwrap_err()
            .to_string()
            .contains("only the milestones"));
    }

    #[test]
    fn step_decay_halves_every_period() {
        let s = SgdConfig {
            decay_every: 25,
            decay_factor: 0.5,
            ..sgd(ScheduleKind::StepDecay)
        };
        assert_eq!(
            (lr_at(&s, 24.9), lr_at(&s, 25.0), lr_at(&s, 50.0)),
            (0.1, 0.05, 0.025)
        );
    }
}
