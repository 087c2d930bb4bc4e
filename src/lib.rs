//! three-factors: a reproducible harness for "Three Factors Influencing Minima in SGD"
//! (Jastrzębski et al.). The pipeline, one module per stage:
//!
//! `data → model → train → curvature → artifact → check → report`, plus `bench` and
//! `determinism`; `theory` tests the paper's equations by simulation. `config` holds experiments declared as TOML data; `repro` orchestrates runs
//! and experiments from a validated plan; `metrics` holds the results' rows and statistics that
//! `check` and `report` share. Cross-cutting homes: `files` (atomic writes, HDF5, hashing),
//! `platform` (machine facts), `layout` (where shipped files are found).
pub mod artifact;
pub mod bench;
pub mod check;
pub mod config;
pub mod curvature;
pub mod data;
pub mod determinism;
pub mod error;
mod ffi;
pub mod files;
pub mod layout;
pub mod metrics;
pub mod model;
pub mod platform;
pub mod report;
pub mod repro;
pub mod theory;
pub mod train;

pub use error::{Error, Result};
