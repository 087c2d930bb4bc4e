//! The seeded train/validation split of the 60k training images, the test subset, and their
//! conversion to normalised float tensors.
use super::{Dataset, CLASSES, PIXELS};
use crate::determinism::Rng;
use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

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

    fn from_indices(
        data: &Dataset,
        test: bool,
        idx: &[usize],
        noise: Option<&LabelNoise>,
        device: Device,
    ) -> Subset {
        let (images, labels) = if test {
            (&data.test_images, &data.test_labels)
        } else {
            (&data.train_images, &data.train_labels)
        };
        let (mean, std) = data.name.mean_std();
        let mut px = Vec::with_capacity(idx.len() * PIXELS);
        let mut ys = Vec::with_capacity(idx.len());
        for &i in idx {
            px.extend(
                images[i * PIXELS..(i + 1) * PIXELS]
                    .iter()
                    .map(|&p| ((p as f64 / 255.0 - mean) / std) as f32),
            );
            ys.push(labels[i] as i64);
        }
        if let Some(n) = noise {
            for (&pos, &label) in n.positions.iter().zip(&n.labels) {
                ys[pos] = label as i64;
            }
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

/// Training labels replaced by random ones (the paper's Fig. 6, after Zhang et al. and Arpit et
/// al.): `round(fraction · n_train)` positions of the training subset, drawn from the run's
/// seed, each given a label drawn uniformly from the nine *other* classes (ours: so that every
/// replaced label is wrong, and accuracy on them measures memorisation only). Validation and
/// test labels are never changed.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelNoise {
    /// Positions in the training subset, ascending.
    pub positions: Vec<usize>,
    /// The labels they carry now.
    pub labels: Vec<u8>,
    /// Their true labels.
    pub original: Vec<u8>,
}

impl LabelNoise {
    /// The corrupted positions for a training subset whose true labels are `true_labels`.
    pub fn draw(true_labels: &[u8], fraction: f64, seed: u64) -> LabelNoise {
        let n = true_labels.len();
        let count = ((fraction * n as f64).round() as usize).min(n);
        let mut rng = Rng::stream(seed, "label_noise");
        let mut positions = rng.permutation(n)[..count].to_vec();
        positions.sort_unstable();
        let original: Vec<u8> = positions.iter().map(|&p| true_labels[p]).collect();
        let labels = original
            .iter()
            .map(|&y| ((y as u64 + 1 + rng.below(CLASSES as u64 - 1)) % CLASSES as u64) as u8)
            .collect();
        LabelNoise {
            positions,
            labels,
            original,
        }
    }

    /// A `[n]` bool tensor, true at the corrupted positions.
    pub fn mask(&self, n: usize, device: Device) -> Tensor {
        let mut m = vec![false; n];
        for &p in &self.positions {
            m[p] = true;
        }
        Tensor::from_slice(&m).to_device(device)
    }
}

pub struct Split {
    pub train: Subset,
    pub val: Subset,
    pub test: Subset,
    /// Indices into the 60k training images, in the order of `train` then `val`.
    pub permutation: Vec<usize>,
    /// The training labels replaced by random ones, when `label_noise > 0`.
    pub noise: Option<LabelNoise>,
}

impl Split {
    /// The split of `data` for `seed`; with `label_noise > 0` that fraction of the training
    /// labels is replaced (see [`LabelNoise`]).
    pub fn new(
        data: &Dataset,
        spec: SplitSpec,
        seed: u64,
        label_noise: f64,
        device: Device,
    ) -> Result<Split> {
        if !(0.0..1.0).contains(&label_noise) {
            return Err(Error::config(
                "split",
                "data.label_noise",
                format!("must be a fraction in [0, 1), got {label_noise}"),
            ));
        }
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
        let noise = (label_noise > 0.0).then(|| {
            let truth: Vec<u8> = tr.iter().map(|&i| data.train_labels[i]).collect();
            LabelNoise::draw(&truth, label_noise, seed)
        });
        Ok(Split {
            train: Subset::from_indices(data, false, tr, noise.as_ref(), device),
            val: Subset::from_indices(data, false, va, None, device),
            test: Subset::from_indices(data, true, &test_idx, None, device),
            permutation: perm[..spec.train + spec.val].to_vec(),
            noise,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_noise_is_seeded_wrong_and_of_the_asked_size() {
        let truth: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let a = LabelNoise::draw(&truth, 0.25, 3);
        assert_eq!(a, LabelNoise::draw(&truth, 0.25, 3));
        assert_ne!(a.positions, LabelNoise::draw(&truth, 0.25, 4).positions);
        assert_eq!(a.positions.len(), 250);
        assert!(a.positions.windows(2).all(|w| w[0] < w[1]));
        for ((&p, &l), &o) in a.positions.iter().zip(&a.labels).zip(&a.original) {
            assert_eq!(truth[p], o);
            assert!(l != o && (l as usize) < CLASSES, "position {p}: {o} -> {l}");
        }
        // All nine wrong classes occur.
        let mut seen = [false; CLASSES];
        for (&l, &o) in a.labels.iter().zip(&a.original) {
            seen[(l as usize + CLASSES - o as usize) % CLASSES] = true;
        }
        assert_eq!(seen.iter().filter(|&&s| s).count(), 9);
        assert_eq!(LabelNoise::draw(&truth, 0.0, 3).positions.len(), 0);
    }
}
