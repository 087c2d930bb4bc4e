//! Stage 1 — data: locate, verify and decode Fashion-MNIST or MNIST (IDX, gzip or raw), then
//! split it into seeded train/validation/test subsets as tensors, optionally replacing a seeded
//! fraction of the training labels by random ones. Input: a [`Lookup`]; output: [`Split`].
mod idx;
mod locate;
mod split;

pub use idx::{encode as encode_idx, CLASSES, IMAGES_MAGIC, LABELS_MAGIC, PIXELS};
pub use locate::{
    download, verify, DatasetName, FileRecord, FileSpec, Lookup, Source, DEFAULT_MIRROR, FILES,
    MNIST_FILES, MNIST_MIRROR, SYSTEM_DIR,
};
pub use split::{index_tensor, LabelNoise, Split, SplitSpec, Subset};

use crate::error::{Error, Result};

/// Training images of either dataset (train and validation subsets are drawn from these).
pub const TRAIN_IMAGES: usize = 60_000;
/// Test images of either dataset.
pub const TEST_IMAGES: usize = 10_000;

/// A decoded dataset: 60k training and 10k test images (`n × 784` bytes) with labels, and
/// where each file came from.
pub struct Dataset {
    pub name: DatasetName,
    pub train_images: Vec<u8>,
    pub train_labels: Vec<u8>,
    pub test_images: Vec<u8>,
    pub test_labels: Vec<u8>,
    pub files: Vec<FileRecord>,
}

impl Dataset {
    /// What `data verify` prints: each file's name, source, size, SHA-256 and path.
    pub fn render_files(&self) -> String {
        let mut s = format!(
            "{:<26} {:<18} {:>10}  {:<64}  path\n",
            "file", "source", "bytes", "sha256 (decompressed)"
        );
        for f in &self.files {
            s += &format!(
                "{:<26} {:<18} {:>10}  {:<64}  {}\n",
                f.spec.name,
                f.source.describe(self.name),
                f.size,
                f.sha256,
                f.path.display()
            );
        }
        s + &format!(
            "ok: 4 files verified ({} train, {} test images)\n",
            self.train_labels.len(),
            self.test_labels.len()
        )
    }

    pub fn load(lookup: &Lookup) -> Result<Self> {
        let mut fetched = locate::fetch_all(lookup)?;
        let files: Vec<FileRecord> = fetched.iter().map(|(r, _)| r.clone()).collect();
        let mut take = |i: usize| std::mem::take(&mut fetched[i].1.bytes);
        let (tri, trl, tei, tel) = (take(0), take(1), take(2), take(3));
        let train_images = idx::parse_images(&files[0].path, &tri)?;
        let train_labels = idx::parse_labels(&files[1].path, &trl)?;
        let test_images = idx::parse_images(&files[2].path, &tei)?;
        let test_labels = idx::parse_labels(&files[3].path, &tel)?;
        for (imgs, labels, ip, lp) in [
            (&train_images, &train_labels, &files[0].path, &files[1].path),
            (&test_images, &test_labels, &files[2].path, &files[3].path),
        ] {
            if imgs.len() / PIXELS != labels.len() {
                return Err(Error::CountMismatch {
                    images: ip.clone(),
                    n_images: imgs.len() / PIXELS,
                    labels: lp.clone(),
                    n_labels: labels.len(),
                });
            }
        }
        Ok(Dataset {
            name: lookup.dataset,
            train_images,
            train_labels,
            test_images,
            test_labels,
            files,
        })
    }
}

/// Reads images and labels from explicit paths, checking format and counts but not the pinned
/// hashes (for experiments on other IDX data and for the bad-input tests).
pub fn read_pair(images: &std::path::Path, labels: &std::path::Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let i = idx::parse_images(images, &idx::read_payload(images)?.bytes)?;
    let l = idx::parse_labels(labels, &idx::read_payload(labels)?.bytes)?;
    if i.len() / PIXELS != l.len() {
        return Err(Error::CountMismatch {
            images: images.to_path_buf(),
            n_images: i.len() / PIXELS,
            labels: labels.to_path_buf(),
            n_labels: l.len(),
        });
    }
    Ok((i, l))
}
