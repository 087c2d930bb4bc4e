//! Orchestration, as library code that takes a validated plan: one run end to end through the
//! pipeline (`run`: `data → model → train → curvature → artifact`, resumable), and experiments
//! over many points — the plan and its `run` lines (`plan`), the state of an output folder
//! (`grid`), the local process pool (`pool`), Slurm job arrays (`slurm`), collecting the table,
//! correlations and figure (`collect`), and the catalogue of experiments (`catalog`).
mod catalog;
mod collect;
pub mod grid;
pub mod lines;
pub mod noise;
mod plan;
mod pool;
mod run;
pub mod slurm;
pub mod theory;

pub use catalog::{catalog, Entry, ProfileWork};
pub use collect::{collect, Collected};
pub use plan::ReproPlan;
pub use pool::{run_local, PoolEvent};
pub use run::{artifact_path, base_provenance, execute, run_one, RunEvent, RunRequest};
