//! The state of an output folder: which points have a verified artifact of their own config, and
//! which must (still or again) run.
use super::ReproPlan;
use crate::artifact::{self, ArtifactSummary};
use crate::config::GridPoint;
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Debug)]
pub enum Status {
    /// The artifact exists, its hash verifies and it holds this point's config.
    Done(Box<ArtifactSummary>),
    Missing,
    /// Present but unusable (partial, corrupt, tampered or another config); it will be re-run.
    Invalid(String),
}

/// Checks one point's artifact in `out`.
pub fn status(out: &Path, p: &GridPoint) -> Status {
    status_with(out, p, false)
}

/// [`status`], accepting an artifact whose config differs from the point's in `device` alone
/// (the same experiment run on another device, for `golden bless --add-platform`).
pub fn status_on_any_device(out: &Path, p: &GridPoint) -> Status {
    status_with(out, p, true)
}

fn status_with(out: &Path, p: &GridPoint, any_device: bool) -> Status {
    let path = out.join(p.file_name());
    if !path.exists() {
        return Status::Missing;
    }
    let same = |s: &ArtifactSummary| {
        let mut planned = p.config.clone();
        if any_device {
            planned.device = s.config.device.clone();
        }
        s.config == planned
    };
    match artifact::verify(&path) {
        Ok(s) if same(&s) => Status::Done(Box::new(s)),
        Ok(s) => Status::Invalid(format!(
            "holds another configuration ({} / {}, {})",
            s.config.experiment,
            s.config.profile,
            s.config.run_name()
        )),
        Err(Error::ContentHashMismatch { .. }) => {
            Status::Invalid("content hash does not verify".into())
        }
        Err(e) => Status::Invalid(e.to_string()),
    }
}

/// What a plan's output folder still needs.
#[derive(Debug, Default)]
pub struct Pending {
    /// Points with a verified artifact.
    pub done: usize,
    /// Points to run, in plan order.
    pub todo: Vec<GridPoint>,
    /// (point name, why) for artifacts present but unusable; they are in `todo`.
    pub invalid: Vec<(String, String)>,
}

impl Pending {
    /// What a runner says before it starts: the points it re-runs and why, then the counts;
    /// `how` ends the count line (e.g. "to run, 2 at a time").
    pub fn render(&self, plan: &ReproPlan, how: &str) -> String {
        let mut s = String::new();
        for (name, why) in &self.invalid {
            s += &format!("re-running {name}: {why}\n");
        }
        s + &format!(
            "{}/{}: {} grid points, {} already done, {} {how} -> {}\n",
            plan.experiment.name,
            plan.profile,
            plan.points.len(),
            self.done,
            self.todo.len(),
            plan.out.display()
        )
    }
}

/// What `plan`'s output folder still needs. A point's file that its run would refuse to
/// replace (not an artifact of that point: unreadable, truncated, not HDF5) is renamed to
/// `<name>.h5.unusable[.N]` rather than deleted, so nothing is lost, when `set_aside_unusable`
/// (not for a dry run); call it while holding the folder's lock.
pub fn pending(plan: &ReproPlan, set_aside_unusable: bool) -> Result<Pending> {
    let mut out = Pending::default();
    for p in &plan.points {
        match status(&plan.out, p) {
            Status::Done(_) => out.done += 1,
            Status::Missing => out.todo.push(p.clone()),
            Status::Invalid(mut why) => {
                let path = plan.out.join(p.file_name());
                // Files only: a folder in the way is the user's to move (its run fails).
                if set_aside_unusable
                    && path.is_file()
                    && super::run::may_replace(&path, &p.config).is_err()
                {
                    let aside = set_aside(&path)?;
                    why += &format!("; kept as {}", aside.display());
                }
                out.invalid.push((p.name(), why));
                out.todo.push(p.clone());
            }
        }
    }
    Ok(out)
}

/// Renames `path` to the first free `<path>.unusable`, `<path>.unusable.1`, ...
fn set_aside(path: &Path) -> Result<std::path::PathBuf> {
    let base = format!("{}.unusable", path.display());
    let aside = (0..)
        .map(|n| match n {
            0 => std::path::PathBuf::from(&base),
            n => std::path::PathBuf::from(format!("{base}.{n}")),
        })
        .find(|p| !p.exists())
        .expect("a free name");
    std::fs::rename(path, &aside).map_err(|e| Error::write(path, e))?;
    Ok(aside)
}
