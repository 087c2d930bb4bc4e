//! `noise`: the per-sample gradient covariance C of already trained runs (Assumption 2 of the
//! paper, C = H), printed as a table and written as a CSV.
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use three_factors::metrics::Row;
use three_factors::repro::noise::{artifacts, csv, measure, NOISE_COLUMNS};

/// The most probes per run, as for `curvature.noise_probes` in a config.
const MAX_PROBES: usize = 10_000;

#[derive(clap::Args, Debug)]
pub struct NoiseArgs {
    /// Run artifacts, or folders of them (e.g. a Fig. 3 output folder).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Rademacher probes per run (each: one Jv, one Jᵀw, one HVP).
    #[arg(long, default_value_t = 8)]
    pub probes: usize,
    /// The derived table (CSV, written atomically; an existing file is replaced only when it is
    /// such a table).
    #[arg(long, default_value = "noise.csv")]
    pub out: PathBuf,
    #[command(flatten)]
    pub on: super::MeasureOn,
}

pub fn noise(a: NoiseArgs) -> Result<ExitCode> {
    a.on.validate()?;
    three_factors::config::bounds::count(
        a.probes,
        2,
        MAX_PROBES,
        "probes (a standard error needs two)",
    )
    .map_err(|why| anyhow::anyhow!("--probes: {why}"))?;
    let files = artifacts(&a.paths)?;
    let inputs: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    three_factors::files::vet_output(
        &a.out,
        &inputs,
        three_factors::files::Replace::Ours {
            what: "a noise table",
            is: |p| three_factors::files::output::starts_with(p, &[b"run,eta_over_s,"]),
        },
    )?;
    let mut data = None;
    let mut measured = Vec::new();
    for (k, f) in files.iter().enumerate() {
        errln!("measuring C of {} ({}/{})", f.display(), k + 1, files.len());
        measured.push(measure(
            f,
            a.probes,
            a.on.data_dir.as_deref(),
            a.on.threads,
            a.on.device.device(),
            &mut data,
        )?);
    }
    let mut table = format!("{:<32} {:>10}", "run", "eta/S");
    for m in NOISE_COLUMNS {
        table += &format!(" {:>22}", m.as_str());
    }
    outln!("{table}");
    for s in &measured {
        let r = Row::from_summary(s, None, &[]);
        let mut line = format!("{:<32} {:>10.3e}", r.name, r.eta_over_s);
        for m in NOISE_COLUMNS {
            line += &format!(" {:>22.4}", m.of(&r));
        }
        outln!("{line}");
    }
    three_factors::files::write(&a.out, csv(&measured).as_bytes())?;
    outln!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
