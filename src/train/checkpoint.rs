//! Training state at the end of an epoch: everything the next epoch reads (model tensors,
//! momentum buffers, the batch-order RNG) plus the curves so far, so that training resumed from
//! it continues bit for bit as if it had never stopped.
use super::{Curves, Sgd};
use crate::determinism::Rng;
use crate::error::{Error, Result};
use crate::model::{host_values, Mlp, NamedValues};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// State of the batch-order RNG stream.
    pub rng: [u64; 4],
    /// The curves so far: one entry per completed epoch.
    pub curves: Curves,
    /// Every model tensor (parameters, then BatchNorm buffers) under its parameter path.
    pub model: Vec<NamedValues>,
    /// Momentum buffers under their parameter's path; empty before the first step.
    pub velocity: Vec<NamedValues>,
    /// With `sgd.keep_best_val`: the best-validation model so far.
    pub best: Option<Best>,
}

/// The model of the epoch with the best validation accuracy so far (`sgd.keep_best_val`).
#[derive(Debug, Clone, PartialEq)]
pub struct Best {
    /// 1-based epoch whose end state this is.
    pub epoch: i64,
    pub val_acc: f64,
    /// Every model tensor under its parameter path.
    pub model: Vec<NamedValues>,
}

impl Best {
    pub(super) fn capture(epoch: i64, val_acc: f64, model: &Mlp) -> Result<Best> {
        Ok(Best {
            epoch,
            val_acc,
            model: model
                .named_tensors()
                .map(|(name, t)| host_values(name, t))
                .collect::<Result<_>>()?,
        })
    }

    /// Loads this state into `model`.
    pub fn restore(&self, model: &Mlp) -> Result<()> {
        restore_model(model, &self.model)
    }
}

fn find(list: &[NamedValues], name: &str) -> Result<usize> {
    list.iter()
        .position(|(n, _, _)| n == name)
        .ok_or_else(|| Error::Checkpoint(format!("{name} is missing")))
}

fn restore_model(model: &Mlp, saved: &[NamedValues]) -> Result<()> {
    for (name, t) in model.named_tensors() {
        restore_into(t, &saved[find(saved, name)?])?;
    }
    Ok(())
}

/// Copies saved values into `t` in place, after checking the shape.
fn restore_into(t: &Tensor, (name, shape, values): &NamedValues) -> Result<()> {
    let want: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    if &want != shape {
        return Err(Error::Checkpoint(format!(
            "{name} has shape {shape:?} in the checkpoint, {want:?} in the model"
        )));
    }
    let src = Tensor::from_slice(values)
        .view(t.size().as_slice())
        .to_device(t.device());
    tch::no_grad(|| t.shallow_clone().f_copy_(&src))
        .map_err(Error::torch(format!("restore {name}")))
}

impl Checkpoint {
    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.curves.epoch.len()
    }

    pub(super) fn capture(
        rng: &Rng,
        curves: &Curves,
        model: &Mlp,
        sgd: &Sgd,
        best: Option<&Best>,
    ) -> Result<Checkpoint> {
        let velocity = match &sgd.velocity {
            Some(v) => model
                .params
                .iter()
                .zip(v)
                .map(|((name, _), t)| host_values(name, t))
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        Ok(Checkpoint {
            rng: rng.state(),
            curves: curves.clone(),
            model: model
                .named_tensors()
                .map(|(name, t)| host_values(name, t))
                .collect::<Result<_>>()?,
            velocity,
            best: best.cloned(),
        })
    }

    /// Loads the state into `model` and `sgd`; returns the batch-order RNG to continue with.
    pub(super) fn restore(&self, model: &Mlp, sgd: &mut Sgd) -> Result<Rng> {
        restore_model(model, &self.model)?;
        sgd.velocity = if self.velocity.is_empty() {
            None
        } else {
            let v = model
                .params
                .iter()
                .map(|(name, p)| {
                    let t = p.detach().zeros_like();
                    restore_into(&t, &self.velocity[find(&self.velocity, name)?])?;
                    Ok(t)
                })
                .collect::<Result<Vec<_>>>()?;
            Some(v)
        };
        Ok(Rng::from_state(self.rng))
    }
}
