//! Command-line arguments (clap derive) and their dispatch to the library. Each subcommand
//! turns its raw arguments into a validated plan before anything runs.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use three_factors::data::{self, FashionMnist, Lookup};
use three_factors::determinism::NumericsCaps;

#[derive(Parser, Debug)]
#[command(
    name = "three-factors",
    version,
    about = "Reproducible experiments and benchmarks for 'Three Factors Influencing Minima in SGD'"
)]
pub struct Args {
    /// CPU numerics: `avx2` caps ATen, MKL and oneDNN at AVX2 so results are bit-identical on any
    /// x86-64 CPU with AVX2; `native` uses whatever the processor offers (faster, not portable).
    #[arg(long, global = true, default_value = "avx2", value_parser = ["avx2", "native"])]
    pub numerics: String,
    #[command(subcommand)]
    pub command: Command,
}

impl Args {
    pub fn numerics_caps(&self) -> NumericsCaps {
        match self.numerics.as_str() {
            "native" => NumericsCaps::native(),
            _ => NumericsCaps::default(),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fashion-MNIST: locate, verify and report the four files.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Print where each file came from, its size and SHA-256; exit 1 on any mismatch.
    Verify {
        /// Folder holding the four files (.gz or raw); searched first.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn parse() -> Args {
    Args::parse()
}

pub fn dispatch(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Data(DataCommand::Verify { data_dir }) => data_verify(data_dir),
    }
}

fn data_verify(data_dir: Option<PathBuf>) -> Result<ExitCode> {
    let lookup = Lookup::from_env(data_dir.as_deref());
    match FashionMnist::load(&lookup) {
        Ok(ds) => {
            println!(
                "{:<26} {:<18} {:>10}  {:<64}  path",
                "file", "source", "bytes", "sha256 (decompressed)"
            );
            for f in &ds.files {
                println!(
                    "{:<26} {:<18} {:>10}  {:<64}  {}",
                    f.spec.name,
                    f.source.as_str(),
                    f.size,
                    f.sha256,
                    f.path.display()
                );
            }
            println!(
                "ok: 4 files verified ({} train, {} test images)",
                ds.train_labels.len(),
                ds.test_labels.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (three_factors::Error::HashMismatch { .. }
            | three_factors::Error::CountMismatch { .. }),
        ) => {
            eprintln!("mismatch: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).context("loading Fashion-MNIST"),
    }
}

#[allow(dead_code)]
fn _unused() -> &'static str {
    data::DEFAULT_MIRROR
}
