//! The benchmark history: one HDF5 file, one group per fingerprint (`/<id>`, its fields as
//! attributes), one subgroup per run (`/<id>/run-0001`, time and commit as attributes) holding
//! `kernel` (names), `work`, `median_s`, `mad_s`, `iterations`, `reps` and the concatenated
//! `times_s`. Appends edit an in-memory copy and replace the file atomically, so a crash never loses history.
use super::{Fingerprint, Measurement};
use crate::error::{Error, Result};
use crate::files::h5;
use hdf5::types::VarLenUnicode;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Run {
    pub fingerprint_id: String,
    pub fingerprint: Fingerprint,
    pub run_id: String,
    pub time: String,
    pub measurements: Vec<Measurement>,
}

impl Run {
    pub fn key(&self) -> String {
        format!("{}/{}", self.fingerprint_id, self.run_id)
    }
    pub fn get(&self, kernel: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.kernel == kernel)
    }
}

/// Appends a run; returns its key `<fingerprint id>/run-NNNN`.
pub fn append(path: &Path, fp: &Fingerprint, time: &str, ms: &[Measurement]) -> Result<String> {
    h5::update_atomic(path, |file, t, existed| {
        if existed && h5::read_attr_str(t, file, "format").is_ok() {
            return Err(Error::NotAnArtifact {
                path: path.to_path_buf(),
                reason: "an HDF5 file of another kind (it has a `format`), not a benchmark history"
                    .into(),
            });
        }
        let id = fp.id();
        let g = match file.group(&id) {
            Ok(g) => g,
            Err(_) => {
                let g = h5::group(t, file, &id)?;
                for (k, v) in &fp.fields {
                    h5::attr_str(t, &g, k, v)?;
                }
                g
            }
        };
        let n = g.member_names().map_err(Error::hdf5(t, id.clone()))?.len();
        let run_id = format!("run-{:04}", n + 1);
        let r = h5::group(t, &g, &run_id)?;
        h5::attr_str(t, &r, "time", time)?;
        h5::attr_str(t, &r, "git_commit", fp.get("git_commit"))?;
        let names: Vec<String> = ms.iter().map(|m| m.kernel.clone()).collect();
        h5::strings(t, &r, "kernel", &names)?;
        let col = |f: fn(&Measurement) -> f64| ms.iter().map(f).collect::<Vec<_>>();
        h5::vector(t, &r, "work", &col(|m| m.work))?;
        h5::vector(t, &r, "median_s", &col(|m| m.median_s()))?;
        h5::vector(t, &r, "mad_s", &col(|m| m.mad_s()))?;
        let ints = |f: fn(&Measurement) -> i64| ms.iter().map(f).collect::<Vec<_>>();
        h5::vector(t, &r, "iterations", &ints(|m| m.iterations))?;
        h5::vector(t, &r, "reps", &ints(|m| m.times_s.len() as i64))?;
        let times: Vec<f64> = ms.iter().flat_map(|m| m.times_s.iter().copied()).collect();
        h5::vector(t, &r, "times_s", &times)?;
        Ok(format!("{id}/{run_id}"))
    })
}

/// The run with key `<fingerprint id>/run-NNNN`.
pub fn find<'a>(runs: &'a [Run], key: &str) -> Result<&'a Run> {
    runs.iter().find(|r| r.key() == key).ok_or_else(|| {
        Error::Invalid(format!(
            "no run '{key}' in the history (have: {})",
            runs.iter().map(|r| r.key()).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The run to judge (`key`, default the newest) and its baseline (`baseline`, default the previous
/// run of the same fingerprint).
pub fn select<'a>(
    runs: &'a [Run],
    key: Option<&str>,
    baseline: Option<&str>,
) -> Result<(&'a Run, &'a Run)> {
    let current = match key {
        Some(k) => find(runs, k)?,
        None => runs
            .iter()
            .max_by(|a, b| a.time.cmp(&b.time).then(a.run_id.cmp(&b.run_id)))
            .ok_or_else(|| Error::Invalid("the history is empty".into()))?,
    };
    let base = match baseline {
        Some(k) => find(runs, k)?,
        None => runs
            .iter()
            .filter(|r| r.fingerprint_id == current.fingerprint_id && r.run_id < current.run_id)
            .max_by(|a, b| a.run_id.cmp(&b.run_id))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "no earlier run of fingerprint {} to compare with; pass --baseline",
                    current.fingerprint_id
                ))
            })?,
    };
    Ok((current, base))
}

/// The latest run of each fingerprint, in fingerprint order.
pub fn latest_per_fingerprint(runs: &[Run]) -> Vec<&Run> {
    let mut latest: Vec<&Run> = Vec::new();
    for r in runs {
        match latest
            .iter_mut()
            .find(|l| l.fingerprint_id == r.fingerprint_id)
        {
            Some(l) if l.run_id < r.run_id => *l = r,
            Some(_) => {}
            None => latest.push(r),
        }
    }
    latest
}

/// Every run in the file, ordered by fingerprint then run.
pub fn read(path: &Path) -> Result<Vec<Run>> {
    let f = h5::open(path)?;
    let mut runs = Vec::new();
    let mut ids = f.member_names().map_err(Error::hdf5(path, "/"))?;
    ids.sort();
    for id in ids {
        let g = f.group(&id).map_err(Error::hdf5(path, id.clone()))?;
        let mut fields = Vec::new();
        for k in g.attr_names().map_err(Error::hdf5(path, id.clone()))? {
            fields.push((k.clone(), h5::read_attr_str(path, &g, &k)?));
        }
        let fingerprint = Fingerprint { fields };
        let mut run_ids = g.member_names().map_err(Error::hdf5(path, id.clone()))?;
        run_ids.sort();
        for run_id in run_ids {
            let r = g
                .group(&run_id)
                .map_err(Error::hdf5(path, format!("{id}/{run_id}")))?;
            let names: Vec<VarLenUnicode> = h5::read_vec(path, &r, "kernel")?;
            let work: Vec<f64> = h5::read_vec(path, &r, "work")?;
            let iters: Vec<i64> = h5::read_vec(path, &r, "iterations")?;
            let reps: Vec<i64> = h5::read_vec(path, &r, "reps")?;
            let times: Vec<f64> = h5::read_vec(path, &r, "times_s")?;
            let at = format!("{id}/{run_id}");
            let bad = |reason: String| Error::NotAnArtifact {
                path: path.to_path_buf(),
                reason: format!("benchmark history {at}: {reason}"),
            };
            if [work.len(), iters.len(), reps.len()] != [names.len(); 3] {
                return Err(bad(format!(
                    "{} kernels but {} work, {} iterations, {} reps",
                    names.len(),
                    work.len(),
                    iters.len(),
                    reps.len()
                )));
            }
            let mut off = 0usize;
            let mut measurements = Vec::new();
            for i in 0..names.len() {
                let n = usize::try_from(reps[i])
                    .ok()
                    .filter(|n| off + n <= times.len())
                    .ok_or_else(|| {
                        bad(format!(
                            "reps[{i}] = {} does not fit the {} times in times_s",
                            reps[i],
                            times.len()
                        ))
                    })?;
                measurements.push(Measurement {
                    kernel: names[i].as_str().to_string(),
                    work: work[i],
                    times_s: times[off..off + n].to_vec(),
                    iterations: iters[i],
                });
                off += n;
            }
            runs.push(Run {
                fingerprint_id: id.clone(),
                fingerprint: fingerprint.clone(),
                time: h5::read_attr_str(path, &r, "time")?,
                run_id,
                measurements,
            });
        }
    }
    Ok(runs)
}
