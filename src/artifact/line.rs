//! The HDF5 file of one interpolation line (`three-factors-interp/1`, written by `interpolate`
//! and by experiments with an `[[analysis.interpolate]]`), and reading it back for `check`.
//!
//! Root attributes: `format`, `content_sha256`, `interpolation` and `seed` (empty / −1 from the
//! command line), `a`, `b` (artifact paths), `a_content_sha256`, `b_content_sha256` and
//! `platform_class`; all but the two paths are inside the content hash.
//! Datasets: `alpha`, `train_loss`, `train_acc`, `val_loss`, `val_acc`, `distance`, `rise`;
//! `/endpoints/{a,b}/{recorded,stored_bn,recalibrated}` (training loss three ways);
//! `/basin/{a,b}/{outer,inner,outer_censored,inner_censored}` (widths in α).
use crate::curvature::interpolate::{Basin, EndpointLoss, Line};
use crate::error::{Error, Result};
use crate::files::h5;
use std::path::{Path, PathBuf};

pub const LINE_FORMAT: &str = "three-factors-interp/1";
/// Root attributes inside a line's content hash: everything that says which claim, seed,
/// endpoints and platform class it belongs to (the endpoint *paths* are left out: they differ
/// from folder to folder).
pub const LINE_HASH_ATTRS: [&str; 5] = [
    "interpolation",
    "seed",
    "a_content_sha256",
    "b_content_sha256",
    "platform_class",
];

/// What a line file says about where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LineMeta {
    /// The analysis' interpolation name ("" from the command line).
    pub interpolation: String,
    /// The seed of both endpoints (−1 from the command line).
    pub seed: i64,
    pub a: String,
    pub a_hash: String,
    pub b: String,
    pub b_hash: String,
    /// The platform class the line was measured under (the process that measured it: its
    /// numerics caps, threads and device), which decides which golden hashes apply.
    pub platform_class: String,
}

/// Writes `line` to `dest` atomically; returns its content hash (datasets and
/// [`LINE_HASH_ATTRS`]).
pub fn write_line(dest: &Path, line: &Line, meta: &LineMeta) -> Result<String> {
    h5::create_atomic(dest, |f, p| {
        h5::attr_str(p, f, "format", LINE_FORMAT)?;
        h5::attr_str(p, f, "interpolation", &meta.interpolation)?;
        h5::attr_str(p, f, "seed", &meta.seed.to_string())?;
        h5::attr_str(p, f, "a", &meta.a)?;
        h5::attr_str(p, f, "a_content_sha256", &meta.a_hash)?;
        h5::attr_str(p, f, "b", &meta.b)?;
        h5::attr_str(p, f, "b_content_sha256", &meta.b_hash)?;
        h5::attr_str(p, f, "platform_class", &meta.platform_class)?;
        for (name, v) in [
            ("alpha", &line.alpha),
            ("train_loss", &line.train_loss),
            ("train_acc", &line.train_acc),
            ("val_loss", &line.val_loss),
            ("val_acc", &line.val_acc),
        ] {
            h5::vector(p, f, name, v)?;
        }
        h5::scalar(p, f, "distance", line.distance)?;
        h5::scalar(p, f, "rise", line.spec.rise)?;
        let eg = h5::group(p, f, "endpoints")?;
        let bg = h5::group(p, f, "basin")?;
        for (k, side) in ["a", "b"].into_iter().enumerate() {
            let e = line.endpoints[k];
            let g = h5::group(p, &eg, side)?;
            h5::scalar(p, &g, "recorded", e.recorded)?;
            h5::scalar(p, &g, "stored_bn", e.stored_bn)?;
            h5::scalar(p, &g, "recalibrated", e.recalibrated)?;
            let b = line.basins[k];
            let g = h5::group(p, &bg, side)?;
            h5::scalar(p, &g, "outer", b.outer)?;
            h5::scalar(p, &g, "inner", b.inner)?;
            h5::scalar(p, &g, "outer_censored", b.outer_censored as u8)?;
            h5::scalar(p, &g, "inner_censored", b.inner_censored as u8)?;
        }
        let hash = h5::content_hash(p, f, &[], &LINE_HASH_ATTRS)?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}

/// A line file as `check` and the analyses read it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRecord {
    pub path: PathBuf,
    pub meta: LineMeta,
    pub alpha: Vec<f64>,
    pub train_loss: Vec<f64>,
    pub distance: f64,
    pub rise: f64,
    pub endpoints: [EndpointLoss; 2],
    /// Per-endpoint basin widths, recomputed from `alpha`, `train_loss` and `rise` when read.
    pub basins: [Basin; 2],
    pub stored_hash: String,
    pub recomputed_hash: String,
}

impl LineRecord {
    pub fn hash_ok(&self) -> bool {
        self.stored_hash == self.recomputed_hash
    }
    /// The file's name without `.h5`: its key in golden files (under `interp/`).
    pub fn stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Whether `path` is a line file.
pub fn is_line(path: &Path) -> bool {
    h5::has_format(path, LINE_FORMAT)
}

/// Reads a line file and recomputes its content hash.
pub fn read_line(path: &Path) -> Result<LineRecord> {
    let f = h5::open_format(path, LINE_FORMAT)?;
    let attr = |k: &str| h5::read_attr_str(path, &f, k);
    let seed_text = attr("seed")?;
    let meta = LineMeta {
        interpolation: attr("interpolation")?,
        seed: seed_text.parse().map_err(|_| Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!("attribute seed is '{seed_text}', not an integer"),
        })?,
        a: attr("a")?,
        a_hash: attr("a_content_sha256")?,
        b: attr("b")?,
        b_hash: attr("b_content_sha256")?,
        platform_class: attr("platform_class")?,
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let expected = format!("{}_seed{}", meta.interpolation, meta.seed);
    if !meta.interpolation.is_empty() && stem.as_deref() != Some(expected.as_str()) {
        return Err(Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!(
                "holds interpolation '{}' seed {}, so it must be named {expected}.h5",
                meta.interpolation, meta.seed
            ),
        });
    }
    let group = |parent: &hdf5::Group, g: &str| {
        parent.group(g).map_err(|_| Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!("group {}/{g} is missing", parent.name()),
        })
    };
    let eg = group(&f, "endpoints")?;
    let mut endpoints = Vec::new();
    for side in ["a", "b"] {
        let g = group(&eg, side)?;
        endpoints.push(EndpointLoss {
            recorded: h5::read_f64(path, &g, "recorded")?,
            stored_bn: h5::read_f64(path, &g, "stored_bn")?,
            recalibrated: h5::read_f64(path, &g, "recalibrated")?,
        });
    }
    // The basin widths are recomputed from the stored curve, not trusted from `/basin`: what
    // decides a claim is derived by the reader (a line whose stored widths disagree with its own
    // curve also fails its content hash).
    let alpha: Vec<f64> = h5::read_vec(path, &f, "alpha")?;
    let train_loss: Vec<f64> = h5::read_vec(path, &f, "train_loss")?;
    let rise = h5::read_f64(path, &f, "rise")?;
    let at = |v: f64| alpha.iter().position(|a| (a - v).abs() < 1e-9);
    let (Some(ia), Some(ib)) = (at(0.0), at(1.0)) else {
        return Err(Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: "/alpha holds no 0 or no 1: not a line between two endpoints".into(),
        });
    };
    if train_loss.len() != alpha.len() {
        return Err(Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!(
                "/train_loss has {} values for {} α",
                train_loss.len(),
                alpha.len()
            ),
        });
    }
    let basins = crate::curvature::interpolate::basins(&alpha, &train_loss, ia, ib, rise);
    Ok(LineRecord {
        path: path.to_path_buf(),
        meta,
        alpha,
        train_loss,
        distance: h5::read_f64(path, &f, "distance")?,
        rise,
        endpoints: [endpoints[0], endpoints[1]],
        basins,
        stored_hash: attr("content_sha256")?,
        recomputed_hash: h5::content_hash(path, &f, &[], &LINE_HASH_ATTRS)?,
    })
}
