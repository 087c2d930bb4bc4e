//! three-factors: a reproducible harness for "Three Factors Influencing Minima in SGD"
//! (Jastrzębski et al.). The pipeline, one module per stage:
//!
//! `data → model → train → curvature → artifact → check → report`, plus `bench` and
//! `determinism`. `config` holds experiments declared as TOML data.
pub mod artifact;
pub mod atomic;
pub mod bench;
pub mod check;
pub mod config;
pub mod curvature;
pub mod data;
pub mod determinism;
pub mod error;
mod ffi;
pub mod model;
pub mod report;
pub mod repro;
pub mod train;

pub use error::{Error, Result};
