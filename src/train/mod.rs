//! Stage 3 — train: minibatch SGD (η, S, momentum, weight decay, schedule) on the model, batch
//! order from the project RNG, per-epoch curves. Input: a [`Split`], a model and an
//! [`SgdConfig`]; output: [`Curves`] and the trained model.
mod checkpoint;
mod schedule;

pub use checkpoint::{Best, Checkpoint};
pub use schedule::{batch_size_at, lr_at};

use crate::config::{Sampler, SgdConfig};
use crate::data::{index_tensor, Split, Subset};
use crate::determinism::Rng;
use crate::error::{Error, Result};
use crate::model::{loss_and_accuracy, Mlp, Mode};
use std::time::Instant;
use tch::{Kind, Tensor};

/// Per-epoch measurements. `minibatch_*` are the averages over the epoch's minibatches
/// (BatchNorm in train mode, as the optimiser saw them, the model changing along the way);
/// `train_*` and `val_*` are the model at the epoch's end on the whole training and validation
/// subsets with BatchNorm's running averages (eval mode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curves {
    pub epoch: Vec<i64>,
    pub minibatch_loss: Vec<f64>,
    pub minibatch_acc: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub train_acc: Vec<f64>,
    pub val_loss: Vec<f64>,
    pub val_acc: Vec<f64>,
    pub lr: Vec<f64>,
    pub batch_size: Vec<i64>,
    /// Seconds since the start of training (excluded from the content hash).
    pub wall_time_s: Vec<f64>,
    /// With label noise only (empty otherwise): accuracy at the epoch's end (eval mode) on the
    /// training samples whose labels were replaced, against those random labels (memorisation),
    /// and on the rest of the training subset.
    pub noisy_acc: Vec<f64>,
    pub clean_acc: Vec<f64>,
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The whole-training-set loss reached `sgd.target_train_loss`.
    TargetLoss,
    /// All `sgd.epochs` epochs ran (with a target: the target was not reached).
    Epochs,
    /// A loss became NaN or infinite, or the run ended with its training loss [`blown_up`] (the
    /// paper's `*`).
    Diverged,
    /// Accuracy on the random labels reached `sgd.stop_at_noisy_acc` (Fig. 6).
    Memorised,
}

impl StopReason {
    pub const ALL: [StopReason; 4] = [
        StopReason::TargetLoss,
        StopReason::Epochs,
        StopReason::Diverged,
        StopReason::Memorised,
    ];
    /// The name stored in artifacts (`/final/stop_reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::TargetLoss => "target_loss",
            StopReason::Epochs => "epochs",
            StopReason::Diverged => "diverged",
            StopReason::Memorised => "memorised",
        }
    }
    pub fn parse(s: &str) -> Option<StopReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    pub curves: Curves,
    pub stop: StopReason,
    /// SGD steps taken over all epochs.
    pub steps: i64,
    /// With `sgd.keep_best_val`: the model of the best-validation epoch.
    pub best: Option<Best>,
}

impl Trained {
    pub fn diverged(&self) -> bool {
        self.stop == StopReason::Diverged
    }
}

/// SGD steps the epochs of `curves` took on `n` training samples (the last partial batch of
/// each epoch is dropped).
pub fn steps_taken(curves: &Curves, n: usize) -> i64 {
    curves.batch_size.iter().map(|&s| n as i64 / s).sum()
}

/// Evaluation chunk: bounds memory for large validation/test sets.
const EVAL_CHUNK: i64 = 4096;

/// Loss and accuracy of the model on `data` with BatchNorm in eval mode.
pub fn evaluate(model: &Mlp, data: &Subset) -> (f64, f64) {
    let e = evaluate_parts(model, data, None);
    (e.loss, e.acc)
}

/// What [`evaluate_parts`] measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub acc: f64,
    /// With a mask: accuracy on the masked samples and on the others (NaN where a part is empty).
    pub parts: Option<(f64, f64)>,
}

/// Loss and accuracy of the model on `data` with BatchNorm in eval mode, and with `mask`
/// (`[n]` bool) the accuracy on the masked samples and on the rest.
pub fn evaluate_parts(model: &Mlp, data: &Subset, mask: Option<&Tensor>) -> Evaluation {
    tch::no_grad(|| {
        let n = data.len() as i64;
        let (mut loss, mut correct) = (0.0, 0.0);
        let mut hits = Vec::new();
        let mut start = 0;
        while start < n {
            let len = EVAL_CHUNK.min(n - start);
            let x = data.x.narrow(0, start, len);
            let y = data.y.narrow(0, start, len);
            let logits = model.forward(&x, Mode::Eval);
            let (l, acc) = loss_and_accuracy(&logits, &y);
            loss += l.double_value(&[]) * len as f64;
            correct += acc * len as f64;
            if mask.is_some() {
                hits.push(logits.argmax(-1, false).eq_tensor(&y));
            }
            start += len;
        }
        let acc = correct / n as f64;
        let hits = mask.map(|_| Tensor::cat(&hits, 0).to_kind(Kind::Double));
        let part = |m: &Tensor| {
            let hits = hits.as_ref().expect("collected with a mask");
            let k = m.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]);
            (hits * m.to_kind(Kind::Double))
                .sum(Kind::Double)
                .double_value(&[])
                / k
        };
        Evaluation {
            loss: loss / n as f64,
            acc,
            parts: mask.map(|m| (part(m), part(&m.logical_not()))),
        }
    })
}

/// SGD state: one momentum buffer per parameter (PyTorch's convention:
/// v ← μv + g + λθ; θ ← θ − ηv). The update runs as fused multi-tensor kernels (the same
/// `_foreach_*` ops PyTorch's optimiser uses) through the C++ shim: three kernels per step
/// instead of two ops per parameter.
pub struct Sgd {
    momentum: f64,
    weight_decay: f64,
    velocity: Option<Vec<Tensor>>,
}

impl Sgd {
    pub fn new(cfg: &SgdConfig) -> Self {
        Sgd {
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            velocity: None,
        }
    }

    /// One step: forward on the batch (BatchNorm in train mode), backward, update. Returns the
    /// batch loss tensor (detached) and the logits for accuracy.
    ///
    /// # Shapes
    /// `x`: `[S, input]`, `y`: `[S]`.
    pub fn step(
        &mut self,
        model: &Mlp,
        x: &Tensor,
        y: &Tensor,
        lr: f64,
    ) -> Result<(Tensor, Tensor)> {
        let logits = model.forward(x, Mode::Train);
        let loss = logits
            .f_cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Mean, -100, 0.0)
            .map_err(Error::torch("cross_entropy"))?;
        let mut params = model.param_tensors();
        let mut grads = Tensor::f_run_backward(&[&loss], &params, false, false)
            .map_err(Error::torch("backward"))?;
        if self.momentum != 0.0 && self.velocity.is_none() {
            self.velocity = Some(params.iter().map(|p| p.detach().zeros_like()).collect());
        }
        let ptrs = |ts: &mut [Tensor]| ts.iter_mut().map(|t| t.as_mut_ptr()).collect::<Vec<_>>();
        let (p, g) = (ptrs(&mut params), ptrs(&mut grads));
        let v = self.velocity.as_mut().map(|v| ptrs(v));
        // SAFETY: every pointer is a live tch tensor owned by `params`, `grads` or `velocity`
        // for the duration of the call; the lists have equal length.
        unsafe {
            crate::ffi::tf_sgd_update(
                p.as_ptr(),
                g.as_ptr(),
                v.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                p.len(),
                lr,
                self.momentum,
                self.weight_decay,
            )
        };
        Ok((loss.detach(), logits.detach()))
    }
}

/// What `on_epoch` sees at the end of each epoch.
pub struct EpochEnd<'a> {
    pub curves: &'a Curves,
    /// Why training stops after this epoch; `None` while it goes on.
    pub stop: Option<StopReason>,
    rng: &'a Rng,
    model: &'a Mlp,
    sgd: &'a Sgd,
    best: Option<&'a Best>,
}

impl EpochEnd<'_> {
    /// The training state now, from which training can resume bit for bit.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::capture(self.rng, self.curves, self.model, self.sgd, self.best)
    }
}

/// Trains `model` in place on `split.train` for `cfg.epochs` epochs, or until the loss on the
/// whole training subset (eval mode, measured at every epoch end) is at or below
/// `cfg.target_train_loss`, from scratch or from `resume` (a [`Checkpoint`] of the same config
/// and platform). `on_epoch` is called after each epoch (for progress display and checkpoints);
/// an error from it stops training.
pub fn train(
    model: &Mlp,
    split: &Split,
    cfg: &SgdConfig,
    seed: u64,
    resume: Option<&Checkpoint>,
    mut on_epoch: impl FnMut(&EpochEnd) -> Result<()>,
) -> Result<Trained> {
    let n = split.train.len();
    let device = split.train.x.device();
    let noisy_mask = split.noise.as_ref().map(|nz| nz.mask(n, device));
    let mut sgd = Sgd::new(cfg);
    let (mut rng, mut curves, mut best) = match resume {
        Some(c) => (
            c.restore(model, &mut sgd)?,
            c.curves.clone(),
            c.best.clone(),
        ),
        None => (Rng::stream(seed, "batches"), Curves::default(), None),
    };
    // Wall time continues from the checkpoint's (it is outside the content hash).
    let offset_s = curves.wall_time_s.last().copied().unwrap_or(0.0);
    let start = Instant::now();
    let mut stop = stop_after(&curves, cfg);
    for epoch in curves.epoch.len()..cfg.epochs {
        if stop.is_some() {
            break;
        }
        let s = batch_size_at(cfg, epoch);
        // Drop the last partial batch: every step sees exactly S samples, so the gradient
        // noise is set by η/S and BatchNorm never sees a batch of one.
        let steps = n / s;
        let order: Vec<usize> = match cfg.sampler {
            Sampler::Reshuffle => rng.permutation(n),
            Sampler::Independent => (0..steps).flat_map(|_| rng.distinct(n, s)).collect(),
        };
        let order = index_tensor(&order[..steps * s], device);
        let (mut loss_sum, mut correct) = (
            Tensor::zeros([], (Kind::Double, device)),
            Tensor::zeros([], (Kind::Double, device)),
        );
        for k in 0..steps {
            let lr = lr_at(cfg, epoch as f64 + k as f64 / steps as f64);
            let idx = order.narrow(0, (k * s) as i64, s as i64);
            let batch = split.train.select(&idx);
            let (loss, logits) = sgd.step(model, &batch.x, &batch.y, lr)?;
            // Accumulate on the device; one host sync per epoch, not per step.
            loss_sum += loss.to_kind(Kind::Double);
            correct += logits
                .argmax(-1, false)
                .eq_tensor(&batch.y)
                .to_kind(Kind::Double)
                .sum(Kind::Double);
        }
        let train = evaluate_parts(model, &split.train, noisy_mask.as_ref());
        let (train_loss, train_acc) = (train.loss, train.acc);
        if let Some((noisy, clean)) = train.parts {
            curves.noisy_acc.push(noisy);
            curves.clean_acc.push(clean);
        }
        let (val_loss, val_acc) = evaluate(model, &split.val);
        curves.epoch.push(epoch as i64 + 1);
        curves
            .minibatch_loss
            .push(loss_sum.double_value(&[]) / steps as f64);
        curves
            .minibatch_acc
            .push(correct.double_value(&[]) / (steps * s) as f64);
        curves.train_loss.push(train_loss);
        curves.train_acc.push(train_acc);
        curves.val_loss.push(val_loss);
        curves.val_acc.push(val_acc);
        curves.lr.push(lr_at(cfg, epoch as f64));
        curves.batch_size.push(s as i64);
        curves
            .wall_time_s
            .push(offset_s + start.elapsed().as_secs_f64());
        stop = stop_after(&curves, cfg);
        // Ties keep the earlier epoch; a diverged epoch is never the best.
        let finite = stop != Some(StopReason::Diverged) && val_acc.is_finite();
        if cfg.keep_best_val && finite && best.as_ref().is_none_or(|b| val_acc > b.val_acc) {
            best = Some(Best::capture(epoch as i64 + 1, val_acc, model)?);
        }
        on_epoch(&EpochEnd {
            curves: &curves,
            stop,
            rng: &rng,
            model,
            sgd: &sgd,
            best: best.as_ref(),
        })?;
    }
    Ok(Trained {
        best,
        steps: steps_taken(&curves, n),
        stop: stop.unwrap_or(StopReason::Epochs),
        curves,
    })
}

/// How far above its starting value a run's final training loss may be before the run counts as
/// diverged. Ours (the paper marks divergence, `*`, without defining it): SGD on this
/// cross-entropy starts near the chance loss ln(classes) (2.30 for ten classes); a run that ends
/// ten times above it has lost every trace of a fit. Only the loss a run ends with counts:
/// Fig. 5's quick runs at η = 1.6 and 3.2 reach whole-set losses of 30 to 718 after their first
/// epoch and recover to below 1.
pub const BLOWUP_FACTOR: f64 = 10.0;

/// Whether a training loss is far above its starting value, the chance loss ln(classes): more
/// than [`BLOWUP_FACTOR`] times it.
pub fn blown_up(loss: f64) -> bool {
    loss > BLOWUP_FACTOR * (crate::data::CLASSES as f64).ln()
}

/// Whether training stops after the epochs in `curves`: a loss is not finite, the target
/// training loss is reached, the random labels are memorised, or every epoch has run (diverged
/// when the final training loss is [`blown_up`]).
fn stop_after(curves: &Curves, cfg: &SgdConfig) -> Option<StopReason> {
    let last = |v: &[f64]| v.last().copied();
    let done = curves.epoch.len();
    let losses = [
        last(&curves.minibatch_loss),
        last(&curves.train_loss),
        last(&curves.val_loss),
    ];
    if done == 0 {
        None
    } else if losses.iter().any(|l| l.is_some_and(|l| !l.is_finite())) {
        Some(StopReason::Diverged)
    } else if cfg
        .target_train_loss
        .is_some_and(|t| last(&curves.train_loss).is_some_and(|l| l <= t))
    {
        Some(StopReason::TargetLoss)
    } else if cfg
        .stop_at_noisy_acc
        .is_some_and(|t| last(&curves.noisy_acc).is_some_and(|a| a >= t))
    {
        Some(StopReason::Memorised)
    } else if done >= cfg.epochs && last(&curves.train_loss).is_some_and(blown_up) {
        Some(StopReason::Diverged)
    } else if done >= cfg.epochs {
        Some(StopReason::Epochs)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::model::MlpShape;
    use tch::Device;

    /// The fused update against PyTorch's SGD formula written out per parameter, in float64:
    /// two steps with momentum and weight decay.
    #[test]
    fn fused_update_matches_the_sgd_formula() {
        let shape = MlpShape {
            input: 5,
            width: 4,
            classes: 3,
            hidden: 3,
        };
        let model = Mlp::new(shape, 1, Kind::Double, Device::Cpu);
        let mut rng = Rng::new(2);
        let x = Tensor::from_slice(&(0..40).map(|_| rng.normal()).collect::<Vec<_>>()).view([8, 5]);
        let y = Tensor::from_slice(&(0..8).map(|_| rng.below(3) as i64).collect::<Vec<_>>());
        let cfg = SgdConfig {
            momentum: 0.9,
            weight_decay: 0.01,
            ..RunConfig::adhoc().sgd
        };
        let (lr, mu, wd) = (0.1, 0.9, 0.01);
        // Reference: an identical model updated by hand.
        let reference = Mlp::new(shape, 1, Kind::Double, Device::Cpu);
        let mut v: Vec<Option<Tensor>> = (0..reference.params.len()).map(|_| None).collect();
        let mut sgd = Sgd::new(&cfg);
        for _ in 0..2 {
            let _ = sgd.step(&model, &x, &y, lr).unwrap();
            let loss = crate::model::cross_entropy(&reference.forward(&x, Mode::Train), &y);
            let ps = reference.param_tensors();
            let gs = Tensor::run_backward(&[&loss], &ps, false, false);
            tch::no_grad(|| {
                for (i, (p, g)) in ps.iter().zip(gs).enumerate() {
                    let d = g + p * wd;
                    let d = match v[i].take() {
                        Some(old) => old * mu + d,
                        None => d,
                    };
                    v[i] = Some(d.shallow_clone());
                    let mut p = p.shallow_clone();
                    let _ = p.f_sub_(&(d * lr)).unwrap();
                }
            });
        }
        for ((name, a), (_, b)) in model.params.iter().zip(&reference.params) {
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(diff < 1e-12, "{name}: max |fused − reference| = {diff}");
        }
    }
}
