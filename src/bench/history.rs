//! The benchmark history: one HDF5 file, one group per fingerprint (`/<id>`, its fields as
//! attributes), one subgroup per run (`/<id>/run-20261130T113139Z-1a2b3c`, time and commit as
//! attributes) holding `kernel` (names), `work`, `median_s`, `mad_s`, `iterations`, `reps` and
//! the concatenated `times_s`. Appends and merges edit an in-memory copy and replace the file
//! atomically, so a crash never loses history.
//!
//! A run's id is its time and a digest of its content, so histories written on different
//! machines merge without renumbering: the same id means the same run. Older histories
//! numbered runs per file (`run-0001`); such ids are read as they are, ordered by time, and
//! re-keyed by content when a merge meets two different runs under one of them.
use super::{Fingerprint, Measurement};
use crate::error::{Error, Result};
use crate::files::h5;
use hdf5::types::VarLenUnicode;
use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Run {
    pub fingerprint_id: String,
    pub fingerprint: Fingerprint,
    pub run_id: String,
    pub time: String,
    /// The commit of the binary that measured it ("" when unknown).
    pub git_commit: String,
    pub measurements: Vec<Measurement>,
}

impl Run {
    pub fn key(&self) -> String {
        format!("{}/{}", self.fingerprint_id, self.run_id)
    }
    pub fn get(&self, kernel: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.kernel == kernel)
    }
    /// Runs in the order they were measured: by time, then id.
    pub fn chronological(&self, other: &Run) -> std::cmp::Ordering {
        self.time
            .cmp(&other.time)
            .then_with(|| self.run_id.cmp(&other.run_id))
    }
    /// Whether `other` is the same measurement (fingerprint, time and every time, bit for bit).
    pub fn same_content(&self, other: &Run) -> bool {
        self.fingerprint_id == other.fingerprint_id
            && self.time == other.time
            && self.measurements.len() == other.measurements.len()
            && self
                .measurements
                .iter()
                .zip(&other.measurements)
                .all(|(a, b)| {
                    a.kernel == b.kernel
                        && a.work.to_bits() == b.work.to_bits()
                        && a.iterations == b.iterations
                        && a.times_s.len() == b.times_s.len()
                        && a.times_s
                            .iter()
                            .zip(&b.times_s)
                            .all(|(x, y)| x.to_bits() == y.to_bits())
                })
    }
}

/// The id of a run measured at `time` (ISO 8601) with these measurements:
/// `run-<time, digits only>-<6 hex digits of SHA-256 over the fingerprint id and the content>`.
pub fn run_id(fingerprint_id: &str, time: &str, ms: &[Measurement]) -> String {
    let mut h = Sha256::new();
    for part in [fingerprint_id, time] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for m in ms {
        h.update(m.kernel.as_bytes());
        h.update([0]);
        h.update(m.work.to_le_bytes());
        h.update(m.iterations.to_le_bytes());
        h.update((m.times_s.len() as u64).to_le_bytes());
        for t in &m.times_s {
            h.update(t.to_le_bytes());
        }
    }
    let stamp: String = time.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("run-{stamp}-{}", &crate::files::hex(&h.finalize())[..6])
}

/// Why `run` cannot be a measurement this harness recorded, if it cannot: no kernels, a time or
/// count that no timer gives (NaN, negative, zero repetitions), an unreadable time, or an id
/// that is neither an older per-file number nor the digest of the run's own content.
pub fn invalid(run: &Run) -> Option<String> {
    let id_ok = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b) || extra.contains(&b))
    };
    if !id_ok(&run.fingerprint_id, b"") {
        return Some(format!(
            "fingerprint id {:?} is not a plain name",
            run.fingerprint_id
        ));
    }
    if !is_timestamp(&run.time) {
        return Some(format!(
            "time {:?} is not a UTC time like 2026-11-30T11:31:39Z",
            run.time
        ));
    }
    if run.measurements.is_empty() {
        return Some("no kernels measured".into());
    }
    for m in &run.measurements {
        if !id_ok(&m.kernel, b"./") {
            return Some(format!("kernel id {:?} is not a kernel name", m.kernel));
        }
        if m.times_s.is_empty() {
            return Some(format!("{}: no timed repetitions", m.kernel));
        }
        if let Some(t) = m.times_s.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Some(format!("{}: time {t} s is not a positive number", m.kernel));
        }
        // -1: a peer that cannot report its iteration count (PyHessian's eigenvalues()).
        if m.iterations < 1 && m.iterations != -1 {
            return Some(format!(
                "{}: {} iterations per repetition",
                m.kernel, m.iterations
            ));
        }
        if !(m.work.is_finite() && m.work >= 0.0) {
            return Some(format!("{}: work {} is not a count", m.kernel, m.work));
        }
    }
    let digest = run_id(&run.fingerprint_id, &run.time, &run.measurements);
    if !is_sequential(&run.run_id) && run.run_id != digest {
        return Some(format!(
            "run id {:?} is not the digest of its content ({digest}): the run was edited after it was recorded",
            run.run_id
        ));
    }
    None
}

/// `YYYY-MM-DDTHH:MM:SSZ` with fields in range, as [`crate::platform::now`] writes.
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| {
        b.get(r)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u32>().ok())
    };
    b.len() == 20
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c)
        && num(0..4).is_some()
        && num(5..7).is_some_and(|m| (1..=12).contains(&m))
        && num(8..10).is_some_and(|d| (1..=31).contains(&d))
        && num(11..13).is_some_and(|h| h < 24)
        && num(14..16).is_some_and(|m| m < 60)
        && num(17..19).is_some_and(|s| s < 61)
}

/// A per-file sequence number (`run-0001`), as older histories named runs.
fn is_sequential(run_id: &str) -> bool {
    run_id
        .strip_prefix("run-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Appends a run; returns its key `<fingerprint id>/<run id>`.
pub fn append(path: &Path, fp: &Fingerprint, time: &str, ms: &[Measurement]) -> Result<String> {
    let _lock = lock(path)?;
    h5::update_atomic(path, |file, t, existed| {
        refuse_other_kinds(path, file, t, existed)?;
        let id = fp.id();
        let run = Run {
            run_id: run_id(&id, time, ms),
            fingerprint_id: id,
            fingerprint: fp.clone(),
            time: time.to_string(),
            git_commit: fp.get("git_commit").to_string(),
            measurements: ms.to_vec(),
        };
        // What the reader would refuse is never written: one bad run would make the whole
        // history unreadable.
        if let Some(why) = invalid(&run) {
            return Err(Error::Invalid(format!(
                "{}: not recording run {}: {why}",
                path.display(),
                run.key()
            )));
        }
        write_run(file, t, &run)?;
        Ok(run.key())
    })
}

/// The lock every writer of the history at `path` holds for its whole read-modify-write
/// (`.<name>.lock` beside it), so that concurrent `bench` and `bench merge` runs into one file
/// queue instead of each replacing the file with its own copy and losing the others' runs. The
/// history's folder must exist: a mistyped path is an error, not a new folder.
fn lock(path: &Path) -> Result<crate::files::Lock> {
    crate::files::output::require_folder(path)?;
    crate::files::output::refuse_special(path)?;
    let dir = crate::files::parent_dir(path);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("history");
    crate::files::lock_wait(&dir.join(format!(".{name}.lock")))
}

fn refuse_other_kinds(path: &Path, file: &hdf5::File, t: &Path, existed: bool) -> Result<()> {
    if existed && h5::read_attr_str(t, file, "format").is_ok() {
        return Err(Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: "an HDF5 file of another kind (it has a `format`), not a benchmark history"
                .into(),
        });
    }
    Ok(())
}

/// Writes `run` under `/<fingerprint id>/<run id>`, creating the fingerprint's group (with its
/// fields as attributes) when it is new.
fn write_run(file: &hdf5::File, t: &Path, run: &Run) -> Result<()> {
    let id = &run.fingerprint_id;
    let g = match file.group(id) {
        Ok(g) => g,
        Err(_) => {
            let g = h5::group(t, file, id)?;
            for (k, v) in &run.fingerprint.fields {
                h5::attr_str(t, &g, k, v)?;
            }
            g
        }
    };
    let ms = &run.measurements;
    let r = h5::group(t, &g, &run.run_id)?;
    h5::attr_str(t, &r, "time", &run.time)?;
    h5::attr_str(t, &r, "git_commit", &run.git_commit)?;
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
    Ok(())
}

/// What [`merge`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Merged {
    /// Keys of the runs added.
    pub added: Vec<String>,
    /// Runs already present (the same content), left as they were.
    pub present: usize,
    /// (old key, new key) of runs with a per-file number that another run held in the target,
    /// added under their content id instead.
    pub rekeyed: Vec<(String, String)>,
}

/// Adds the runs of `sources` (histories, each read whole first) to the history `into`
/// (created when missing), atomically: a run already there (same fingerprint, time and
/// measurements) is skipped, a new one keeps its id, and a different run under an id the target
/// holds is an error (a content id) or re-keyed by content (a per-file number from an older
/// history). Nothing is written when nothing is new, or on any error.
pub fn merge(into: &Path, sources: &[&Path]) -> Result<Merged> {
    let _lock = lock(into)?;
    let mut incoming: Vec<(&Path, Run)> = Vec::new();
    for src in sources {
        for r in read(src)? {
            incoming.push((src, r));
        }
    }
    let mut have = if into.exists() {
        read(into)?
    } else {
        Vec::new()
    };
    let mut done = Merged::default();
    let mut new: Vec<Run> = Vec::new();
    for (src, mut r) in incoming {
        if have.iter().any(|h| h.same_content(&r)) {
            done.present += 1;
            continue;
        }
        if let Some(h) = have.iter().find(|h| h.key() == r.key()) {
            if !is_sequential(&r.run_id) {
                return Err(Error::Invalid(format!(
                    "{}: run {} differs from the run of that id in {}; a run id names one measurement, so one of the two files was edited",
                    src.display(),
                    r.key(),
                    if new.iter().any(|n| n.key() == h.key()) { "an earlier source" } else { "the target" }
                )));
            }
            let old = r.key();
            r.run_id = run_id(&r.fingerprint_id, &r.time, &r.measurements);
            done.rekeyed.push((old, r.key()));
        }
        if let Some(h) = have.iter().find(|h| h.fingerprint_id == r.fingerprint_id) {
            // One fingerprint, one set of fields: the target's (the id covers the fields that
            // identify the device; others, like the commit, are per run).
            r.fingerprint = h.fingerprint.clone();
        }
        done.added.push(r.key());
        have.push(r.clone());
        new.push(r);
    }
    if !new.is_empty() {
        h5::update_atomic(into, |file, t, existed| {
            refuse_other_kinds(into, file, t, existed)?;
            for r in &new {
                write_run(file, t, r)?;
            }
            Ok(())
        })?;
    }
    Ok(done)
}

/// The run with key `<fingerprint id>/<run id>`.
pub fn find<'a>(runs: &'a [Run], key: &str) -> Result<&'a Run> {
    runs.iter().find(|r| r.key() == key).ok_or_else(|| {
        Error::Invalid(format!(
            "no run '{key}' in the history (have: {})",
            runs.iter().map(|r| r.key()).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The newest run (by time, then id).
pub fn select_newest(runs: &[Run]) -> Result<&Run> {
    runs.iter()
        .max_by(|a, b| a.chronological(b))
        .ok_or_else(|| Error::Invalid("the history is empty".into()))
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
        None => select_newest(runs)?,
    };
    let base = match baseline {
        Some(k) => find(runs, k)?,
        None => runs
            .iter()
            .filter(|r| {
                r.fingerprint_id == current.fingerprint_id && r.chronological(current).is_lt()
            })
            .max_by(|a, b| a.chronological(b))
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
            Some(l) if l.chronological(r).is_lt() => *l = r,
            Some(_) => {}
            None => latest.push(r),
        }
    }
    latest
}

/// Every run in the file, ordered by fingerprint, then in the order they were measured.
pub fn read(path: &Path) -> Result<Vec<Run>> {
    let f = h5::open(path)?;
    refuse_other_kinds(path, &f, path, true)?;
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
            let run = Run {
                fingerprint_id: id.clone(),
                fingerprint: fingerprint.clone(),
                time: h5::read_attr_str(path, &r, "time")?,
                git_commit: h5::read_attr_str(path, &r, "git_commit").unwrap_or_default(),
                run_id,
                measurements,
            };
            if let Some(why) = invalid(&run) {
                return Err(bad(why));
            }
            runs.push(run);
        }
    }
    runs.sort_by(|a, b| {
        a.fingerprint_id
            .cmp(&b.fingerprint_id)
            .then_with(|| a.chronological(b))
    });
    Ok(runs)
}
