//! The HDF5 file of an experiment's theory checks (`three-factors-theory/1`, `<out>/theory.h5`,
//! written by `repro` for profiles with a `[theory]` table), and reading it back for `check`.
//!
//! Root attributes: `format`, `content_sha256`, `config_toml` (the profile's theory table; inside
//! the hash). Datasets (one entry per point, in the config's order):
//! `/quadratic/{lr,batch_size,steps,mean,se,eq9,exact}`,
//! `/finite_sum/{lr,batch_size,steps_per_epoch,epochs,independent_mean,independent_se,
//! reshuffle_mean,reshuffle_se,eq9,lyapunov_additive,lyapunov}`, `/finite_sum/trace_h`,
//! `/finite_sum/trace_c`, `/gibbs/{temperature,steps,mean,se,exponent,exponent_lo,exponent_hi}`.
//! The predictions are stored for readers (h5py, pandas); `check` recomputes them.
use crate::config::TheoryConfig;
use crate::error::{Error, Result};
use crate::files::h5;
use crate::theory::{
    eq9, exact_discrete, Estimate, FiniteSumPoint, GibbsResult, LeastSquares, QuadraticPoint,
    TheoryRecord,
};
use std::path::{Path, PathBuf};

pub const THEORY_FORMAT: &str = "three-factors-theory/1";
/// The theory file's name in an experiment's output folder, and its key in golden hashes.
pub const THEORY_FILE: &str = "theory.h5";
const HASH_ATTRS: [&str; 1] = ["config_toml"];

/// Writes `rec` to `dest` atomically; returns its content hash.
pub fn write_theory(dest: &Path, rec: &TheoryRecord) -> Result<String> {
    let cfg = &rec.config;
    let toml = toml::to_string(cfg).expect("theory config serialises");
    let lambdas = cfg.quadratic.spectrum.eigenvalues();
    let ls = LeastSquares::generate(&cfg.finite_sum, cfg.seed)?;
    h5::create_atomic(dest, |f, p| {
        h5::attr_str(p, f, "format", THEORY_FORMAT)?;
        h5::attr_str(p, f, "config_toml", &toml)?;
        let q = &rec.quadratic;
        let g = h5::group(p, f, "quadratic")?;
        let col = |get: &dyn Fn(&QuadraticPoint) -> f64| q.iter().map(get).collect::<Vec<_>>();
        for (name, v) in [
            ("lr", col(&|x| x.lr)),
            ("mean", col(&|x| x.measured.mean)),
            ("se", col(&|x| x.measured.se)),
            ("eq9", col(&|x| eq9(x.lr, x.batch_size as f64, &lambdas))),
            (
                "exact",
                col(&|x| exact_discrete(x.lr, x.batch_size as f64, &lambdas)),
            ),
        ] {
            h5::vector(p, &g, name, &v)?;
        }
        let ints = |v: Vec<usize>| v.into_iter().map(|x| x as i64).collect::<Vec<i64>>();
        h5::vector(
            p,
            &g,
            "batch_size",
            &ints(q.iter().map(|x| x.batch_size).collect()),
        )?;
        h5::vector(p, &g, "steps", &ints(q.iter().map(|x| x.steps).collect()))?;
        let fs = &rec.finite_sum;
        let g = h5::group(p, f, "finite_sum")?;
        let col = |get: &dyn Fn(&FiniteSumPoint) -> f64| fs.iter().map(get).collect::<Vec<_>>();
        for (name, v) in [
            ("lr", col(&|x| x.lr)),
            ("independent_mean", col(&|x| x.independent.mean)),
            ("independent_se", col(&|x| x.independent.se)),
            ("reshuffle_mean", col(&|x| x.reshuffle.mean)),
            ("reshuffle_se", col(&|x| x.reshuffle.se)),
            ("eq9", col(&|x| ls.eq9(x.lr, x.batch_size))),
            (
                "lyapunov_additive",
                col(&|x| ls.lyapunov_excess(x.lr, x.batch_size, false)),
            ),
            (
                "lyapunov",
                col(&|x| ls.lyapunov_excess(x.lr, x.batch_size, true)),
            ),
        ] {
            h5::vector(p, &g, name, &v)?;
        }
        h5::vector(
            p,
            &g,
            "batch_size",
            &ints(fs.iter().map(|x| x.batch_size).collect()),
        )?;
        h5::vector(
            p,
            &g,
            "steps_per_epoch",
            &ints(fs.iter().map(|x| x.steps_per_epoch).collect()),
        )?;
        h5::vector(
            p,
            &g,
            "epochs",
            &ints(fs.iter().map(|x| x.epochs).collect()),
        )?;
        h5::scalar(p, &g, "trace_h", ls.trace_h())?;
        h5::scalar(p, &g, "trace_c", ls.trace_c())?;
        let gb = &rec.gibbs;
        let g = h5::group(p, f, "gibbs")?;
        for (name, v) in [
            ("temperature", gb.temperature),
            ("mean", gb.measured.mean),
            ("se", gb.measured.se),
            ("exponent", gb.exponent),
            ("exponent_lo", gb.exponent_interval.0),
            ("exponent_hi", gb.exponent_interval.1),
        ] {
            h5::scalar(p, &g, name, v)?;
        }
        h5::scalar(p, &g, "steps", gb.steps as i64)?;
        let hash = h5::content_hash(p, f, &[], &HASH_ATTRS)?;
        h5::attr_str(p, f, "content_sha256", &hash)?;
        Ok(hash)
    })
}

/// A theory file as `check` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryFile {
    pub path: PathBuf,
    pub record: TheoryRecord,
    pub stored_hash: String,
    pub recomputed_hash: String,
}

impl TheoryFile {
    pub fn hash_ok(&self) -> bool {
        self.stored_hash == self.recomputed_hash
    }
}

/// Whether `path` is a theory file.
pub fn is_theory(path: &Path) -> bool {
    h5::has_format(path, THEORY_FORMAT)
}

pub fn read_theory(path: &Path) -> Result<TheoryFile> {
    let f = h5::open_format(path, THEORY_FORMAT)?;
    let toml_text = h5::read_attr_str(path, &f, "config_toml")?;
    let config: TheoryConfig = toml::from_str(&toml_text).map_err(|e| Error::Toml {
        path: path.to_path_buf(),
        message: format!("attribute config_toml: {e}"),
    })?;
    let bad = |what: String| Error::NotAnArtifact {
        path: path.to_path_buf(),
        reason: what,
    };
    let group = |name: &str| {
        f.group(name)
            .map_err(|_| bad(format!("group /{name} is missing")))
    };
    let v = |g: &hdf5::Group, n: &str| h5::read_vec::<f64>(path, g, n);
    let ints = |g: &hdf5::Group, n: &str| -> Result<Vec<usize>> {
        Ok(h5::read_vec::<i64>(path, g, n)?
            .into_iter()
            .map(|x| x.max(0) as usize)
            .collect())
    };
    let g = group("quadratic")?;
    let (lr, bs, steps, mean, se) = (
        v(&g, "lr")?,
        ints(&g, "batch_size")?,
        ints(&g, "steps")?,
        v(&g, "mean")?,
        v(&g, "se")?,
    );
    let n = config.quadratic.points.len();
    if [lr.len(), bs.len(), steps.len(), mean.len(), se.len()] != [n; 5] {
        return Err(bad(format!(
            "/quadratic has not one entry per configured point ({n})"
        )));
    }
    let quadratic = (0..n)
        .map(|i| QuadraticPoint {
            lr: lr[i],
            batch_size: bs[i],
            steps: steps[i],
            measured: Estimate {
                mean: mean[i],
                se: se[i],
            },
        })
        .collect();
    let g = group("finite_sum")?;
    let cols = [
        v(&g, "lr")?,
        v(&g, "independent_mean")?,
        v(&g, "independent_se")?,
        v(&g, "reshuffle_mean")?,
        v(&g, "reshuffle_se")?,
    ];
    let icols = [
        ints(&g, "batch_size")?,
        ints(&g, "steps_per_epoch")?,
        ints(&g, "epochs")?,
    ];
    let n = config.finite_sum.points.len();
    if cols.iter().any(|c| c.len() != n) || icols.iter().any(|c| c.len() != n) {
        return Err(bad(format!(
            "/finite_sum has not one entry per configured point ({n})"
        )));
    }
    let finite_sum = (0..n)
        .map(|i| FiniteSumPoint {
            lr: cols[0][i],
            batch_size: icols[0][i],
            steps_per_epoch: icols[1][i],
            epochs: icols[2][i],
            independent: Estimate {
                mean: cols[1][i],
                se: cols[2][i],
            },
            reshuffle: Estimate {
                mean: cols[3][i],
                se: cols[4][i],
            },
        })
        .collect();
    let g = group("gibbs")?;
    let r = |n: &str| h5::read_f64(path, &g, n);
    let gibbs = GibbsResult {
        temperature: r("temperature")?,
        steps: ints(&g, "steps")?.first().copied().unwrap_or(0),
        measured: Estimate {
            mean: r("mean")?,
            se: r("se")?,
        },
        exponent: r("exponent")?,
        exponent_interval: (r("exponent_lo")?, r("exponent_hi")?),
    };
    Ok(TheoryFile {
        path: path.to_path_buf(),
        record: TheoryRecord {
            config,
            quadratic,
            finite_sum,
            gibbs,
        },
        stored_hash: h5::read_attr_str(path, &f, "content_sha256")?,
        recomputed_hash: h5::content_hash(path, &f, &[], &HASH_ATTRS)?,
    })
}
