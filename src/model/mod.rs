//! Stage 2 — model: the paper's 4-layer batch-normalised ReLU MLP (784→h→h→h→10, BatchNorm1d +
//! ReLU after each hidden linear layer), held as named tensors so that parameter paths
//! (`l1.weight`, `bn1.running_mean`, ...) are reused verbatim as HDF5 dataset names and golden
//! keys. Input: widths and a seed; output: parameters, buffers, a functional forward pass.
use crate::determinism::Rng;
use tch::{Device, Kind, Tensor};

/// BatchNorm constants, PyTorch's defaults.
pub const BN_MOMENTUM: f64 = 0.1;
pub const BN_EPS: f64 = 1e-5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpShape {
    pub input: usize,
    pub width: usize,
    pub classes: usize,
    /// Hidden linear layers, each followed by BatchNorm and ReLU (the paper: 3).
    pub hidden: usize,
}

impl MlpShape {
    /// The paper's Fashion-MNIST model at width `width`.
    pub fn fashion(width: usize) -> Self {
        MlpShape {
            input: crate::data::PIXELS,
            width,
            classes: crate::data::CLASSES,
            hidden: 3,
        }
    }

    /// Trainable parameters (weights, biases, BatchNorm scales and shifts), D.
    pub fn num_params(&self) -> usize {
        let (i, w, c, h) = (self.input, self.width, self.classes, self.hidden);
        (i * w + w) + (h - 1) * (w * w + w) + h * 2 * w + (w * c + c)
    }
}

/// How BatchNorm normalises: with the batch's statistics, updating the running averages
/// (training), with the batch's statistics leaving them untouched (the training-mode loss as a
/// pure function of θ, for curvature), or with the running averages (evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Batch,
    Eval,
}

pub struct Mlp {
    pub shape: MlpShape,
    /// Trainable parameters (`requires_grad`), in a fixed order: per hidden layer `l{i}.weight`,
    /// `l{i}.bias`, `bn{i}.weight`, `bn{i}.bias`; then the output layer's weight and bias.
    pub params: Vec<(String, Tensor)>,
    /// BatchNorm running statistics: `bn{i}.running_mean`, `bn{i}.running_var`.
    pub buffers: Vec<(String, Tensor)>,
}

impl Mlp {
    /// Builds the model with PyTorch's default initialisation (Linear: weight and bias uniform in
    /// ±1/√fan_in; BatchNorm: weight 1, bias 0), drawn from the project RNG on the CPU and then
    /// moved, so a seed gives the same initial model on every device.
    pub fn new(shape: MlpShape, seed: u64, kind: Kind, device: Device) -> Mlp {
        let mut rng = Rng::stream(seed, "init");
        let mut params = Vec::new();
        let mut buffers = Vec::new();
        let mut uniform =
            |name: String, dims: &[usize], fan_in: usize, out: &mut Vec<(String, Tensor)>| {
                let bound = 1.0 / (fan_in as f64).sqrt();
                let n: usize = dims.iter().product();
                let v: Vec<f64> = (0..n)
                    .map(|_| (2.0 * rng.uniform() - 1.0) * bound)
                    .collect();
                let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
                out.push((name, Tensor::from_slice(&v).view(dims.as_slice())));
            };
        let mut fan_in = shape.input;
        for i in 1..=shape.hidden {
            uniform(
                format!("l{i}.weight"),
                &[shape.width, fan_in],
                fan_in,
                &mut params,
            );
            uniform(format!("l{i}.bias"), &[shape.width], fan_in, &mut params);
            params.push((
                format!("bn{i}.weight"),
                Tensor::ones([shape.width as i64], (Kind::Double, Device::Cpu)),
            ));
            params.push((
                format!("bn{i}.bias"),
                Tensor::zeros([shape.width as i64], (Kind::Double, Device::Cpu)),
            ));
            buffers.push((
                format!("bn{i}.running_mean"),
                Tensor::zeros([shape.width as i64], (Kind::Double, Device::Cpu)),
            ));
            buffers.push((
                format!("bn{i}.running_var"),
                Tensor::ones([shape.width as i64], (Kind::Double, Device::Cpu)),
            ));
            fan_in = shape.width;
        }
        let o = shape.hidden + 1;
        uniform(
            format!("l{o}.weight"),
            &[shape.classes, fan_in],
            fan_in,
            &mut params,
        );
        uniform(format!("l{o}.bias"), &[shape.classes], fan_in, &mut params);
        let prep = |(n, t): (String, Tensor), grad: bool| {
            (n, t.to_kind(kind).to_device(device).set_requires_grad(grad))
        };
        Mlp {
            shape,
            params: params.into_iter().map(|p| prep(p, true)).collect(),
            buffers: buffers.into_iter().map(|b| prep(b, false)).collect(),
        }
    }

    pub fn param_tensors(&self) -> Vec<Tensor> {
        self.params.iter().map(|(_, t)| t.shallow_clone()).collect()
    }

    /// Total number of trainable parameters, D.
    pub fn num_params(&self) -> i64 {
        self.params.iter().map(|(_, t)| t.numel() as i64).sum()
    }

    /// Forward pass with this model's own parameters.
    ///
    /// # Shapes
    /// `x`: `[n, input]` → logits `[n, classes]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let p: Vec<&Tensor> = self.params.iter().map(|(_, t)| t).collect();
        self.forward_with(&p, x, mode)
    }

    /// Forward pass with explicit parameters (same order as `params`), for finite-difference
    /// Hessian-vector products that evaluate the loss at perturbed parameters. In `Train` mode
    /// the BatchNorm running averages are updated in place; in `Batch` mode they are not read
    /// or written.
    ///
    /// # Shapes
    /// `x`: `[n, input]` → logits `[n, classes]`.
    pub fn forward_with(&self, p: &[&Tensor], x: &Tensor, mode: Mode) -> Tensor {
        let mut h = x.shallow_clone();
        for i in 0..self.shape.hidden {
            let (w, b, g, beta) = (p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]);
            h = h.linear(w, Some(b));
            let running = |k: usize| (mode != Mode::Batch).then_some(&self.buffers[k].1);
            h = Tensor::batch_norm(
                &h,
                Some(g),
                Some(beta),
                running(2 * i),
                running(2 * i + 1),
                mode != Mode::Eval,
                BN_MOMENTUM,
                BN_EPS,
                false,
            );
            h = h.relu();
        }
        let o = 4 * self.shape.hidden;
        h.linear(p[o], Some(p[o + 1]))
    }

    /// The parameters the loss does not depend on when BatchNorm uses batch statistics: the
    /// biases of the linear layers that feed a BatchNorm (it subtracts the batch mean, so a
    /// constant shift cancels). Their gradient is zero in that mode up to rounding, so SGD moves
    /// them only through rounding and weight decay.
    pub fn flat_with_batch_statistics(&self) -> Vec<String> {
        (1..=self.shape.hidden)
            .map(|i| format!("l{i}.bias"))
            .collect()
    }

    /// Replaces the BatchNorm running statistics by the exact statistics of `x`, layer by layer:
    /// each BatchNorm's running mean and (unbiased) variance become the mean and variance over
    /// all of `x` of that layer's input, where the input is computed with the layers below already
    /// recalibrated (eval mode). One deterministic full-batch pass per layer, in float64; the
    /// statistics a network whose weights were not trained together (an interpolation between
    /// two models) needs before its eval-mode loss means anything.
    ///
    /// # Shapes
    /// `x`: `[n, input]`, n ≥ 2.
    pub fn recalibrate_batchnorm(&self, x: &Tensor) {
        tch::no_grad(|| {
            let mut h = x.shallow_clone();
            for i in 0..self.shape.hidden {
                let p = |k: usize| &self.params[4 * i + k].1;
                h = h.linear(p(0), Some(p(1)));
                let wide = h.to_kind(Kind::Double);
                let mean = wide.mean_dim(0, false, Kind::Double);
                let var = wide.var_dim(0, true, false);
                for (k, stat) in [(2 * i, mean), (2 * i + 1, var)] {
                    let buf = &self.buffers[k].1;
                    buf.shallow_clone().copy_(&stat.to_kind(buf.kind()));
                }
                h = Tensor::batch_norm(
                    &h,
                    Some(p(2)),
                    Some(p(3)),
                    Some(&self.buffers[2 * i].1),
                    Some(&self.buffers[2 * i + 1].1),
                    false,
                    BN_MOMENTUM,
                    BN_EPS,
                    false,
                )
                .relu();
            }
        })
    }

    /// Every named tensor (parameters then buffers), as stored in artifacts.
    pub fn named_tensors(&self) -> impl Iterator<Item = &(String, Tensor)> {
        self.params.iter().chain(self.buffers.iter())
    }
}

/// A named tensor on the host: parameter path, shape, float32 values in row-major order (how
/// artifacts and checkpoints store model state).
pub type NamedValues = (String, Vec<usize>, Vec<f32>);

/// Copies `t` to the host as float32 [`NamedValues`] under `name`.
pub fn host_values(name: &str, t: &Tensor) -> crate::error::Result<NamedValues> {
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let values = Vec::<f32>::try_from(
        t.detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .reshape([-1]),
    )
    .map_err(crate::error::Error::torch(format!("copy {name} to host")))?;
    Ok((name.to_string(), shape, values))
}

/// Mean cross-entropy of `logits` against class indices `y`, in the logits' own precision
/// (tch's `cross_entropy_for_logits` always computes in float32).
///
/// # Shapes
/// `logits`: `[n, classes]`, `y`: `[n]` int64 → `[]`.
pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Mean, -100, 0.0)
}

/// Mean cross-entropy and accuracy of `logits` against `y`.
///
/// # Shapes
/// `logits`: `[n, classes]`, `y`: `[n]` int64.
pub fn loss_and_accuracy(logits: &Tensor, y: &Tensor) -> (Tensor, f64) {
    let loss = cross_entropy(logits, y);
    let acc = logits
        .argmax(-1, false)
        .eq_tensor(y)
        .to_kind(Kind::Double)
        .mean(Kind::Double)
        .double_value(&[]);
    (loss, acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_and_count() {
        let m = Mlp::new(MlpShape::fashion(16), 0, Kind::Float, Device::Cpu);
        let names: Vec<&str> = m.named_tensors().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            &["l1.weight", "l1.bias", "bn1.weight", "bn1.bias"]
        );
        assert_eq!(&names[12..14], &["l4.weight", "l4.bias"]);
        assert_eq!(names.last(), Some(&"bn3.running_var"));
        // 784·16+16 + 3·(16·16+16 − 272 + 272)… written out: l1 12560, bn 32 each, l2/l3 272, l4 170.
        assert_eq!(m.num_params(), 12560 + 32 + 272 + 32 + 272 + 32 + 170);
        assert_eq!(MlpShape::fashion(16).num_params(), m.num_params() as usize);
    }

    #[test]
    fn same_seed_same_init_different_seed_different() {
        let a = Mlp::new(MlpShape::fashion(8), 1, Kind::Float, Device::Cpu);
        let b = Mlp::new(MlpShape::fashion(8), 1, Kind::Float, Device::Cpu);
        let c = Mlp::new(MlpShape::fashion(8), 2, Kind::Float, Device::Cpu);
        assert!(a.params[0].1.equal(&b.params[0].1));
        assert!(!a.params[0].1.equal(&c.params[0].1));
        let bound = 1.0 / (784f64).sqrt();
        assert!(a.params[0].1.abs().max().double_value(&[]) <= bound);
    }
}
