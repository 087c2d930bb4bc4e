//! The benchmark history: one HDF5 file, one group per fingerprint (`/<id>`, its fields as
//! attributes), one subgroup per run (`/<id>/run-0001`, time and commit as attributes) holding
//! `kernel` (names), `work`, `median_s`, `mad_s`, `iterations`, `reps` and the concatenated
//! `times_s`. Appends copy the file, add the run and rename, so a crash never loses history.
use super::{Fingerprint, Measurement};
use crate::artifact::h5;
use crate::error::{Error, Result};
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
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".history.")
        .suffix(".h5")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let t = tmp.path().to_path_buf();
    let file = if path.exists() {
        std::fs::copy(path, &t).map_err(|e| Error::io(path, e))?;
        hdf5::File::open_rw(&t).map_err(|e| Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!("not a readable benchmark history: {e}"),
        })?
    } else {
        hdf5::File::with_options()
            .with_fcpl(|p| p.obj_track_times(false))
            .create(&t)
            .map_err(Error::hdf5(&t, "/"))?
    };
    let id = fp.id();
    let g = match file.group(&id) {
        Ok(g) => g,
        Err(_) => {
            let g = h5::group(&t, &file, &id)?;
            for (k, v) in &fp.fields {
                h5::attr_str(&t, &g, k, v)?;
            }
            g
        }
    };
    let n = g.member_names().map_err(Error::hdf5(&t, id.clone()))?.len();
    let run_id = format!("run-{:04}", n + 1);
    let r = h5::group(&t, &g, &run_id)?;
    h5::attr_str(&t, &r, "time", time)?;
    h5::attr_str(&t, &r, "git_commit", fp.get("git_commit"))?;
    let names: Vec<VarLenUnicode> = ms
        .iter()
        .map(|m| m.kernel.parse().expect("ascii kernel name"))
        .collect();
    h5::vector(&t, &r, "kernel", &names)?;
    h5::vector(
        &t,
        &r,
        "work",
        &ms.iter().map(|m| m.work).collect::<Vec<_>>(),
    )?;
    h5::vector(
        &t,
        &r,
        "median_s",
        &ms.iter().map(|m| m.median_s()).collect::<Vec<_>>(),
    )?;
    h5::vector(
        &t,
        &r,
        "mad_s",
        &ms.iter().map(|m| m.mad_s()).collect::<Vec<_>>(),
    )?;
    h5::vector(
        &t,
        &r,
        "iterations",
        &ms.iter().map(|m| m.iterations).collect::<Vec<_>>(),
    )?;
    h5::vector(
        &t,
        &r,
        "reps",
        &ms.iter()
            .map(|m| m.times_s.len() as i64)
            .collect::<Vec<_>>(),
    )?;
    h5::vector(
        &t,
        &r,
        "times_s",
        &ms.iter()
            .flat_map(|m| m.times_s.iter().copied())
            .collect::<Vec<_>>(),
    )?;
    file.flush().map_err(Error::hdf5(&t, "/"))?;
    drop(file);
    crate::atomic::persist(tmp, path)?;
    Ok(format!("{id}/{run_id}"))
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
            let mut off = 0;
            let mut measurements = Vec::new();
            for i in 0..names.len() {
                let n = reps[i] as usize;
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
