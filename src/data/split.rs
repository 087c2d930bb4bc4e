//! The seeded train/validation split of the 60k training images, the test subset, and their
//! conversion to normalised float tensors.
use super::{FashionMnist, PIXELS};
use crate::determinism::Rng;
use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Per-pixel normalisation: the mean and standard deviation of the Fashion-MNIST training
/// images on the [0, 1] scale (the constants torchvision examples use).
const MEAN: f64 = 0.2860;
const STD: f64 = 0.3530;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitSpec {
    /// Training examples: the first `train` of the seeded permutation of the 60k.
    pub train: usize,
    /// Validation examples: the next `val` of the same permutation (disjoint from train).
    pub val: usize,
    /// Test examples: the first `test` of the 10k test set.
    pub test: usize,
}

/// A labelled subset on a device.
///
/// # Shapes
/// `x`: `[n, 784]` float32, normalised; `y`: `[n]` int64 class indices.
pub struct Subset {
    pub x: Tensor,
    pub y: Tensor,
}

impl Subset {
    pub fn len(&self) -> usize {
        self.y.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn from_indices(images: &[u8], labels: &[u8], idx: &[usize], device: Device) -> Subset {
        let mut px = Vec::with_capacity(idx.len() * PIXELS);
        let mut ys = Vec::with_capacity(idx.len());
        for &i in idx {
            px.extend(
                images[i * PIXELS..(i + 1) * PIXELS]
                    .iter()
                    .map(|&p| ((p as f64 / 255.0 - MEAN) / STD) as f32),
            );
            ys.push(labels[i] as i64);
        }
        Subset {
            x: Tensor::from_slice(&px)
                .view([idx.len() as i64, PIXELS as i64])
                .to_device(device),
            y: Tensor::from_slice(&ys).to_device(device),
        }
    }

    /// Rows `idx` of this subset (used for minibatches and the curvature subset).
    pub fn select(&self, idx: &Tensor) -> Subset {
        Subset {
            x: self.x.index_select(0, idx),
            y: self.y.index_select(0, idx),
        }
    }
}

pub struct Split {
    pub train: Subset,
    pub val: Subset,
    pub test: Subset,
    /// Indices into the 60k training images, in the order of `train` then `val`.
    pub permutation: Vec<usize>,
}

impl Split {
    pub fn new(data: &FashionMnist, spec: SplitSpec, seed: u64, device: Device) -> Result<Split> {
        let n_train_pool = data.train_labels.len();
        if spec.train == 0 || spec.train + spec.val > n_train_pool {
            return Err(Error::config(
                "split",
                "train + val",
                format!(
                    "{} + {} must be in 1..={n_train_pool}",
                    spec.train, spec.val
                ),
            ));
        }
        if spec.test > data.test_labels.len() {
            return Err(Error::config(
                "split",
                "test",
                format!(
                    "{} exceeds the {} test images",
                    spec.test,
                    data.test_labels.len()
                ),
            ));
        }
        let perm = Rng::stream(seed, "split").permutation(n_train_pool);
        let (tr, rest) = perm.split_at(spec.train);
        let va = &rest[..spec.val];
        let test_idx: Vec<usize> = (0..spec.test).collect();
        Ok(Split {
            train: Subset::from_indices(&data.train_images, &data.train_labels, tr, device),
            val: Subset::from_indices(&data.train_images, &data.train_labels, va, device),
            test: Subset::from_indices(&data.test_images, &data.test_labels, &test_idx, device),
            permutation: perm[..spec.train + spec.val].to_vec(),
        })
    }
}

/// Used by tests and the model: the index tensor for a list of positions.
pub fn index_tensor(idx: &[usize], device: Device) -> Tensor {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_slice(&v)
        .to_kind(Kind::Int64)
        .to_device(device)
}
