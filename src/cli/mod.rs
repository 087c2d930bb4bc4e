//! Command-line arguments (clap derive) and their dispatch to the library. Each subcommand
//! turns its raw arguments into a validated plan, calls the library and prints what comes back.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[macro_use]
pub mod output;
mod bench;
mod check;
mod interp;
mod noise;
mod repro;
mod run;
mod shell;

use three_factors::config::DeviceSpec;
use three_factors::data::{Dataset, DatasetName, Lookup};
use three_factors::determinism::Numerics;

#[derive(Parser, Debug)]
#[command(
    name = "three-factors",
    version,
    about = "Reproducible experiments and benchmarks for 'Three Factors Influencing Minima in SGD'"
)]
pub struct Args {
    /// CPU numerics: `avx2` caps ATen, MKL and oneDNN at AVX2 so results are bit-identical on any
    /// x86-64 CPU with AVX2; `native` uses whatever the processor offers (faster, not portable).
    #[arg(long, global = true, default_value = "avx2", value_parser = parse_numerics)]
    pub numerics: Numerics,
    #[command(subcommand)]
    pub command: Command,
}

fn parse_numerics(s: &str) -> std::result::Result<Numerics, String> {
    s.parse()
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fashion-MNIST or MNIST: locate, verify and report the four files.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train one configuration, measure its curvature, write one HDF5 artifact.
    #[command(args_override_self = true, allow_negative_numbers = true)]
    Run(Box<RunArgs>),
    /// Run an experiment (`experiments/<name>.toml`) over its points and collect its table and
    /// figure; `repro list` lists the experiments.
    Repro(Box<repro::ReproArgs>),
    /// Compare artifacts with a golden file: exit 0 when all holds, 1 on a regression, 2 on error.
    Check(check::CheckArgs),
    /// Golden files: `bless` rewrites one from fresh artifacts, showing the diff.
    #[command(subcommand)]
    Golden(GoldenCommand),
    /// Benchmark the SGD step, the HVP and power iteration; `compare` and `report` the history.
    Bench(bench::BenchArgs),
    /// The loss and accuracy along the line between two trained models (paper Fig. 4), with
    /// BatchNorm statistics recomputed at every α, and each endpoint's basin width; writes
    /// <out>.h5, .csv, .png and .svg.
    #[command(allow_negative_numbers = true)]
    Interpolate(interp::InterpolateArgs),
    /// The per-sample gradient covariance C of trained runs against their Hessian (Tr C,
    /// Tr C / Tr H, alignment, E(L) over Eq. 9): a table, and a CSV (--out).
    Noise(noise::NoiseArgs),
    /// Print an artifact's provenance, final metrics and whether its content hash verifies.
    Inspect {
        /// Artifact files (.h5).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (three-factors.1 and one per subcommand) into a folder.
    Man {
        /// The folder (created when missing).
        #[arg(long, default_value = "man")]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum GoldenCommand {
    /// Rewrite golden/<experiment>/<profile>.toml from a complete set of artifacts.
    Bless(check::BlessArgs),
}

/// Where `interpolate` and `noise` measure stored models: the dataset, threads and device.
#[derive(clap::Args, Debug)]
pub struct MeasureOn {
    /// Folder holding the dataset's four files (searched first).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: three_factors::config::DeviceSpec,
}

impl MeasureOn {
    /// The shared bounds (see `config::bounds`): a thread count libtorch can start, a device it
    /// sees.
    pub fn validate(&self) -> Result<()> {
        use three_factors::config::bounds;
        bounds::threads(self.threads).map_err(|why| anyhow::anyhow!("--threads: {why}"))?;
        bounds::device(&self.device).map_err(|why| anyhow::anyhow!("--device: {why}"))?;
        Ok(())
    }
}

/// Overrides on top of `--config`/`--profile`/`--point` (or the built-in ad-hoc defaults).
#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// A complete run config (TOML, as stored in artifacts as `config_toml`).
    #[arg(long, conflicts_with = "profile")]
    pub config: Option<PathBuf>,
    /// Start from a profile's base config in the experiment file.
    #[arg(long)]
    pub profile: Option<String>,
    /// Run this point of the profile (its name, e.g. lr0.1_bs50_seed0), as `repro --plan` does.
    #[arg(long, requires = "profile", conflicts_with_all = [
        "lr", "batch_size", "epochs", "seed", "momentum", "weight_decay", "schedule",
        "cycle_epochs", "width", "train_samples", "val_samples", "test_samples", "eval_samples",
        "hvp", "threads", "device", "target_train_loss", "bn_mode", "milestones",
        "decay_factor", "keep_best_val", "dataset", "label_noise", "stop_at_noisy_acc",
        "sampler", "noise_probes",
    ])]
    pub point: Option<String>,
    /// The experiment file that `--profile` refers to (default: experiments/fig3.toml).
    #[arg(long)]
    pub experiment: Option<PathBuf>,
    /// Learning rate η.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size S.
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub momentum: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// constant, step_decay, cyclic_lr_discrete, cyclic_lr_triangular, cyclic_batch_discrete,
    /// milestones.
    #[arg(long)]
    pub schedule: Option<String>,
    #[arg(long)]
    pub cycle_epochs: Option<usize>,
    /// Epochs at which the milestones schedule multiplies η by --decay-factor (e.g. 15,25).
    #[arg(long, value_delimiter = ',')]
    pub milestones: Option<Vec<usize>>,
    /// The factor of step_decay and milestones.
    #[arg(long)]
    pub decay_factor: Option<f64>,
    /// Measure the model of the epoch with the best validation accuracy, not the last one.
    #[arg(long)]
    pub keep_best_val: bool,
    /// Hidden width h.
    #[arg(long)]
    pub width: Option<usize>,
    /// fashion_mnist or mnist.
    #[arg(long)]
    pub dataset: Option<DatasetName>,
    /// Replace this fraction of the training labels by seeded random (wrong) ones, in [0, 1).
    #[arg(long)]
    pub label_noise: Option<f64>,
    /// Stop once accuracy on the replaced labels reaches this (memorisation; needs
    /// --label-noise); `--epochs` becomes the cap.
    #[arg(long)]
    pub stop_at_noisy_acc: Option<f64>,
    /// How minibatches are drawn: reshuffle (a permutation per epoch, the default) or
    /// independent (each step S distinct samples drawn afresh).
    #[arg(long)]
    pub sampler: Option<three_factors::config::Sampler>,
    /// Estimate the per-sample gradient covariance C (Tr C, ‖C‖_F, its alignment with H) with
    /// this many probes after training (0: not measured).
    #[arg(long)]
    pub noise_probes: Option<usize>,
    /// Training samples (the first N of the seeded permutation of the 60k).
    #[arg(long)]
    pub train_samples: Option<usize>,
    #[arg(long)]
    pub val_samples: Option<usize>,
    #[arg(long)]
    pub test_samples: Option<usize>,
    /// Curvature evaluation subset size.
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// exact, double_backward or finite_difference.
    #[arg(long)]
    pub hvp: Option<String>,
    /// Stop at the first epoch whose loss on the whole training subset (eval mode) is at or below
    /// this; `--epochs` becomes the cap.
    #[arg(long)]
    pub target_train_loss: Option<f64>,
    /// BatchNorm reading of the Hessian: eval (running averages), batch (the evaluation
    /// subset's own statistics) or both.
    #[arg(long, value_parser = ["eval", "batch", "both"])]
    pub bn_mode: Option<String>,
    #[arg(long)]
    pub threads: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// Output folder (the artifact is <out>/<name>.h5) or a path ending in .h5.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Artifact name, a plain file name without `/` (default: the run's name,
    /// lr<η>_bs<S>_seed<seed>, plus every field given on the command line that changed the
    /// config, e.g. lr0.1_bs32_width32_seed0).
    #[arg(long)]
    pub name: Option<String>,
    /// Folder holding the dataset's four files (searched first).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Do not print the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Save the training state (next to the artifact, as <artifact>.ckpt) at the end of an
    /// epoch once this many seconds have passed since the last save; 0 saves every epoch. A
    /// rerun of the same command resumes from it and gives the same content hash.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub checkpoint_secs: f64,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Print where each file came from, its size and SHA-256; exit 1 on any mismatch.
    Verify {
        /// Folder holding the four files (.gz or raw); searched first.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// fashion_mnist (default) or mnist.
        #[arg(long, default_value = "fashion_mnist")]
        dataset: DatasetName,
    },
}

pub fn parse() -> Args {
    Args::parse()
}

pub fn dispatch(args: Args) -> Result<ExitCode> {
    let numerics = args.numerics;
    match args.command {
        Command::Data(DataCommand::Verify { data_dir, dataset }) => data_verify(dataset, data_dir),
        Command::Run(r) => run::run(*r, numerics),
        Command::Inspect { files } => run::inspect(&files),
        Command::Interpolate(a) => interp::interpolate(a, numerics),
        Command::Noise(a) => noise::noise(a),
        Command::Repro(a) => repro::repro(*a, numerics),
        Command::Check(a) => check::check(a),
        Command::Bench(a) => bench::bench(a, numerics),
        Command::Golden(GoldenCommand::Bless(a)) => check::bless(a),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man { out } => shell::man(&out),
    }
}

fn data_verify(dataset: DatasetName, data_dir: Option<PathBuf>) -> Result<ExitCode> {
    let lookup = Lookup::from_env(dataset, data_dir.as_deref());
    match Dataset::load(&lookup) {
        Ok(ds) => {
            out!("{}", ds.render_files());
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (three_factors::Error::HashMismatch { .. }
            | three_factors::Error::CountMismatch { .. }),
        ) => {
            errln!("mismatch: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e).with_context(|| format!("loading {}", dataset.title())),
    }
}
