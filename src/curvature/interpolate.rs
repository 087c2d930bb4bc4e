//! The loss along the straight line between two trained models (Goodfellow et al. 2014; the
//! paper's Fig. 4): θ(α) = (1 − α)·θ_A + α·θ_B for every trainable parameter, the loss and
//! accuracy on the training and validation subsets at each α, and the width of the basin around
//! each endpoint along that line.
//!
//! BatchNorm running statistics are not parameters and do not interpolate meaningfully (the
//! mean of two networks' statistics is the statistics of neither), so at every α they are
//! recomputed exactly on the whole training subset ([`Mlp::recalibrate_batchnorm`]: one
//! full-batch pass per layer, in float64, deterministic). Losses are then measured with
//! BatchNorm in eval mode, as the artifacts record theirs.
use crate::artifact::{self, ArtifactSummary, StoredModel};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::{Mlp, MlpShape, NamedValues};
use crate::train::evaluate;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// One end of the line: a verified artifact and its stored model.
pub struct Endpoint {
    pub summary: ArtifactSummary,
    pub model: StoredModel,
}

impl Endpoint {
    /// Reads the artifact at `path`, failing unless its content hash verifies.
    pub fn load(path: &Path) -> Result<Endpoint> {
        Ok(Endpoint {
            summary: artifact::verify(path)?,
            model: artifact::read_model(path)?,
        })
    }

    fn name(&self) -> String {
        self.summary.path.display().to_string()
    }

    /// The run's split of `data`, rebuilt from its config and checked index by index against the
    /// stored one.
    pub fn split(&self, data: &Dataset, device: Device) -> Result<Split> {
        let cfg = &self.summary.config;
        let split = Split::new(data, cfg.split, cfg.seed, cfg.data.label_noise, device)?;
        let stored: Vec<i64> = self
            .model
            .train_indices
            .iter()
            .chain(&self.model.val_indices)
            .copied()
            .collect();
        if split.permutation.iter().map(|&i| i as i64).ne(stored) {
            return Err(Error::Invalid(format!(
                "{}: the stored split does not match the one its seed gives on {}",
                self.name(),
                data.name.title()
            )));
        }
        Ok(split)
    }

    /// The stored model (parameters and BatchNorm statistics) on `device`.
    pub fn restore(&self, device: Device) -> Result<Mlp> {
        let cfg = &self.summary.config;
        let model = Mlp::new(MlpShape::fashion(cfg.width), cfg.seed, Kind::Float, device);
        load(&model, &to_device(&self.model.params, device))?;
        Ok(model)
    }
}

/// Fails unless the two models can be interpolated: the same architecture (width, parameter
/// names and shapes), the same dataset, label noise and split (the training subsets are
/// compared index by index, as stored).
pub fn check_pair(a: &Endpoint, b: &Endpoint) -> Result<()> {
    let (ca, cb) = (&a.summary.config, &b.summary.config);
    let mismatch = |what: &str, va: String, vb: String| {
        Err(Error::Invalid(format!(
            "{} and {} cannot be interpolated: {what} differs ({va} vs {vb})",
            a.name(),
            b.name()
        )))
    };
    if ca.width != cb.width {
        return mismatch("width", ca.width.to_string(), cb.width.to_string());
    }
    if ca.data != cb.data {
        return mismatch("data", format!("{:?}", ca.data), format!("{:?}", cb.data));
    }
    if ca.split != cb.split {
        return mismatch(
            "split",
            format!("{:?}", ca.split),
            format!("{:?}", cb.split),
        );
    }
    let shapes = |m: &StoredModel| -> Vec<(String, Vec<usize>)> {
        m.params
            .iter()
            .map(|(n, s, _)| (n.clone(), s.clone()))
            .collect()
    };
    if shapes(&a.model) != shapes(&b.model) {
        return mismatch(
            "the stored parameters' names or shapes",
            format!("{} tensors", a.model.params.len()),
            format!("{} tensors", b.model.params.len()),
        );
    }
    if a.model.train_indices != b.model.train_indices || a.model.val_indices != b.model.val_indices
    {
        return mismatch(
            "the training/validation split (/split/*_indices)",
            format!("seed {}", ca.seed),
            format!("seed {}", cb.seed),
        );
    }
    Ok(())
}

/// Where to evaluate the line and how basin widths are read off it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSpec {
    /// First and last α (the endpoints are α = 0 and α = 1).
    pub from: f64,
    pub to: f64,
    /// Evenly spaced points from `from` to `to`, both included.
    pub points: usize,
    /// A basin's edge: where the training loss first exceeds its endpoint value by this much.
    pub rise: f64,
}

impl Default for LineSpec {
    /// −0.5 … 1.5 in steps of 0.05 (41 points), rise 0.1 (ours).
    fn default() -> Self {
        LineSpec {
            from: -0.5,
            to: 1.5,
            points: 41,
            rise: 0.1,
        }
    }
}

impl LineSpec {
    pub fn step(&self) -> f64 {
        (self.to - self.from) / (self.points - 1) as f64
    }

    /// The α values.
    pub fn alphas(&self) -> Vec<f64> {
        (0..self.points)
            .map(|k| self.from + k as f64 * self.step())
            .collect()
    }

    /// The index of α = `v` on the grid.
    fn index_of(&self, v: f64) -> usize {
        ((v - self.from) / self.step()).round() as usize
    }

    /// Rejects ranges that do not contain both endpoints as grid points.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Err(Error::config("interpolate", field, reason));
        if !(self.from.is_finite() && self.to.is_finite() && self.from <= 0.0 && self.to >= 1.0) {
            return bad(
                "--from/--to",
                format!(
                    "the range must contain 0 and 1, got {} … {}",
                    self.from, self.to
                ),
            );
        }
        if let Err(why) = crate::config::bounds::count(
            self.points,
            3,
            crate::config::bounds::MAX_LINE_POINTS,
            "α values",
        ) {
            return bad("--points", why);
        }
        for v in [0.0, 1.0] {
            let k = (v - self.from) / self.step();
            if (k - k.round()).abs() > 1e-6 {
                return bad(
                    "--points",
                    format!(
                        "α = {v} is not on the grid {} … {} in {} points (step {}); choose points so that the step divides both ends",
                        self.from, self.to, self.points, self.step()
                    ),
                );
            }
        }
        if !(self.rise.is_finite() && self.rise > 0.0) {
            return bad("--rise", format!("must be > 0, got {}", self.rise));
        }
        Ok(())
    }
}

/// The width of the basin around one endpoint along the line, in units of α (multiply by
/// [`Line::distance`] for parameter-space distance): on the outer side (away from the other
/// model) and the inner side (toward it). A width is the α-distance from the endpoint to the
/// first crossing of `loss(endpoint) + rise`, interpolated linearly between grid points;
/// `censored` when the loss never crosses within the range (the width is then the distance to
/// the range's end, a lower bound); NaN when the endpoint's own loss is not finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basin {
    pub outer: f64,
    pub outer_censored: bool,
    pub inner: f64,
    pub inner_censored: bool,
}

/// The training loss of an endpoint three ways: as its artifact recorded it, re-measured with
/// its stored BatchNorm statistics (must agree up to rounding) and with recalibrated statistics
/// (the line's value at that endpoint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointLoss {
    pub recorded: f64,
    pub stored_bn: f64,
    pub recalibrated: f64,
}

/// The measured line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub spec: LineSpec,
    pub alpha: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub train_acc: Vec<f64>,
    pub val_loss: Vec<f64>,
    pub val_acc: Vec<f64>,
    /// ‖θ_B − θ_A‖ over the trainable parameters.
    pub distance: f64,
    pub endpoints: [EndpointLoss; 2],
    pub basins: [Basin; 2],
}

/// The basin width from grid index `e` walking by `dir` (±1) until `stop` (inclusive).
fn width(alpha: &[f64], loss: &[f64], e: usize, dir: isize, stop: usize, rise: f64) -> (f64, bool) {
    if !loss[e].is_finite() {
        // No basin to measure around a point whose own loss is not a number.
        return (f64::NAN, false);
    }
    let threshold = loss[e] + rise;
    let mut prev = e;
    let mut k = e;
    while k != stop {
        k = (k as isize + dir) as usize;
        if loss[k] >= threshold || loss[k].is_nan() {
            let (l0, l1) = (loss[prev], loss[k]);
            let frac = if l1.is_finite() && l1 > l0 {
                (threshold - l0) / (l1 - l0)
            } else {
                1.0
            };
            let a = alpha[prev] + frac * (alpha[k] - alpha[prev]);
            return ((a - alpha[e]).abs(), false);
        }
        prev = k;
    }
    ((alpha[stop] - alpha[e]).abs(), true)
}

/// The two basins of a line (endpoint A at index `ia`, B at `ib`).
pub fn basins(alpha: &[f64], loss: &[f64], ia: usize, ib: usize, rise: f64) -> [Basin; 2] {
    let last = alpha.len() - 1;
    let side = |e: usize, outward: isize, outer_stop: usize, inner_stop: usize| {
        let (outer, outer_censored) = width(alpha, loss, e, outward, outer_stop, rise);
        let (inner, inner_censored) = width(alpha, loss, e, -outward, inner_stop, rise);
        Basin {
            outer,
            outer_censored,
            inner,
            inner_censored,
        }
    };
    [side(ia, -1, 0, ib), side(ib, 1, last, ia)]
}

fn to_device(values: &[NamedValues], device: Device) -> Vec<(String, Tensor)> {
    values
        .iter()
        .map(|(n, shape, v)| {
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            (
                n.clone(),
                Tensor::from_slice(v)
                    .view(dims.as_slice())
                    .to_device(device),
            )
        })
        .collect()
}

/// Copies `values` (by name) into the model's tensors of the same names.
fn load(model: &Mlp, values: &[(String, Tensor)]) -> Result<()> {
    for (name, t) in model.named_tensors() {
        let src = values
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| Error::Invalid(format!("stored model lacks {name}")))?;
        tch::no_grad(|| t.shallow_clone().f_copy_(&src.1))
            .map_err(Error::torch(format!("load {name}")))?;
    }
    Ok(())
}

/// Measures the line between `a` and `b` (checked with [`check_pair`]) on `data`; `on_point`
/// sees each finished index (for progress display).
pub fn interpolate(
    a: &Endpoint,
    b: &Endpoint,
    data: &Dataset,
    spec: &LineSpec,
    device: Device,
    mut on_point: impl FnMut(usize),
) -> Result<Line> {
    spec.validate()?;
    check_pair(a, b)?;
    let split = a.split(data, device)?;
    let model = Mlp::new(
        MlpShape::fashion(a.summary.config.width),
        a.summary.config.seed,
        Kind::Float,
        device,
    );
    let (ta, tb) = (
        to_device(&a.model.params, device),
        to_device(&b.model.params, device),
    );
    let trainable: Vec<&str> = model.params.iter().map(|(n, _)| n.as_str()).collect();
    let pick = |all: &[(String, Tensor)], name: &str| {
        all.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .ok_or_else(|| Error::Invalid(format!("stored model lacks {name}")))
    };
    let pairs: Vec<(Tensor, Tensor)> = trainable
        .iter()
        .map(|n| Ok((pick(&ta, n)?, pick(&tb, n)?)))
        .collect::<Result<_>>()?;
    let distance = pairs
        .iter()
        .map(|(x, y)| {
            (y - x)
                .to_kind(Kind::Double)
                .square()
                .sum(Kind::Double)
                .double_value(&[])
        })
        .sum::<f64>()
        .sqrt();

    // The endpoints with their own stored statistics: must reproduce what each recorded.
    let mut stored_bn = [0.0; 2];
    for (k, values) in [&ta, &tb].into_iter().enumerate() {
        load(&model, values)?;
        stored_bn[k] = evaluate(&model, &split.train).0;
    }

    let alpha = spec.alphas();
    let mut line = Line {
        spec: *spec,
        alpha: alpha.clone(),
        train_loss: Vec::new(),
        train_acc: Vec::new(),
        val_loss: Vec::new(),
        val_acc: Vec::new(),
        distance,
        endpoints: [EndpointLoss {
            recorded: f64::NAN,
            stored_bn: f64::NAN,
            recalibrated: f64::NAN,
        }; 2],
        basins: [Basin {
            outer: f64::NAN,
            outer_censored: false,
            inner: f64::NAN,
            inner_censored: false,
        }; 2],
    };
    for (k, &al) in alpha.iter().enumerate() {
        tch::no_grad(|| -> Result<()> {
            for ((_, p), (x, y)) in model.params.iter().zip(&pairs) {
                let v = x * (1.0 - al) + y * al;
                p.shallow_clone()
                    .f_copy_(&v)
                    .map_err(Error::torch("interpolate"))?;
            }
            Ok(())
        })?;
        model.recalibrate_batchnorm(&split.train.x);
        let (tl, ta) = evaluate(&model, &split.train);
        let (vl, va) = evaluate(&model, &split.val);
        line.train_loss.push(tl);
        line.train_acc.push(ta);
        line.val_loss.push(vl);
        line.val_acc.push(va);
        on_point(k);
    }
    let (ia, ib) = (spec.index_of(0.0), spec.index_of(1.0));
    for (k, (e, i)) in [(a, ia), (b, ib)].into_iter().enumerate() {
        line.endpoints[k] = EndpointLoss {
            recorded: e.summary.final_metrics.train_loss,
            stored_bn: stored_bn[k],
            recalibrated: line.train_loss[i],
        };
    }
    line.basins = basins(&line.alpha, &line.train_loss, ia, ib, spec.rise);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basin_widths_by_linear_interpolation_and_censoring() {
        let spec = LineSpec::default();
        let alpha = spec.alphas();
        // A quadratic bowl of curvature 1 around α = 0 and of 4 around α = 1, joined at 0.5.
        let loss: Vec<f64> = alpha
            .iter()
            .map(|&a| {
                if a < 0.5 {
                    a * a
                } else {
                    4.0 * (a - 1.0) * (a - 1.0)
                }
            })
            .collect();
        let [ba, bb] = basins(&alpha, &loss, 10, 30, 0.1);
        // Exact edges: √0.1 ≈ 0.316 and √0.025 ≈ 0.158; linear interpolation between grid
        // points of step 0.05 over-estimates a convex curve's crossing by at most a step.
        assert!((ba.outer - 0.1f64.sqrt()).abs() < 0.01, "{ba:?}");
        assert!((ba.inner - 0.1f64.sqrt()).abs() < 0.01, "{ba:?}");
        assert!((bb.outer - 0.025f64.sqrt()).abs() < 0.01, "{bb:?}");
        assert!(!ba.outer_censored && !bb.inner_censored);
        assert!(ba.outer > 1.9 * bb.outer);
        // A flat line never crosses: the widths are the range's ends, marked censored.
        let flat = vec![0.0; alpha.len()];
        let [fa, fb] = basins(&alpha, &flat, 10, 30, 0.1);
        assert!(fa.outer_censored && (fa.outer - 0.5).abs() < 1e-12);
        assert!(fa.inner_censored && (fa.inner - 1.0).abs() < 1e-12);
        assert!(fb.outer_censored && (fb.outer - 0.5).abs() < 1e-12);
        // A non-finite endpoint loss has no basin: NaN, not a censored width.
        let mut broken = loss.clone();
        broken[10] = f64::NAN;
        let [na, _] = basins(&alpha, &broken, 10, 30, 0.1);
        assert!(na.outer.is_nan() && !na.outer_censored && na.inner.is_nan());
    }

    #[test]
    fn ranges_must_hold_both_endpoints_on_the_grid() {
        assert!(LineSpec::default().validate().is_ok());
        let off = LineSpec {
            points: 40,
            ..LineSpec::default()
        };
        let e = off.validate().unwrap_err().to_string();
        assert!(
            e.contains("--points") && e.contains("not on the grid"),
            "{e}"
        );
        let short = LineSpec {
            from: 0.1,
            ..LineSpec::default()
        };
        assert!(short
            .validate()
            .unwrap_err()
            .to_string()
            .contains("contain 0 and 1"));
        let rise = LineSpec {
            rise: f64::NAN,
            ..LineSpec::default()
        };
        assert!(rise.validate().unwrap_err().to_string().contains("--rise"));
    }
}
