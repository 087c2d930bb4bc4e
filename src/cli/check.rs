//! `check` (compare artifacts with a golden file; exit 0 ok, 1 regression, 2 error) and
//! `golden bless` (the only writer of golden files).
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use three_factors::artifact::{self, ArtifactSummary};
use three_factors::check::{self, Golden, Widths, GRID_KEY};
use three_factors::config::Experiment;
use three_factors::repro::grid::{self, Status};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Run artifacts, grid tables (fig3.h5) or folders holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Golden file (default golden/<experiment>/<profile>.toml for the artifacts' profile).
    #[arg(long)]
    pub golden: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct BlessArgs {
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Folder with the profile's complete grid (default runs/<experiment>/<profile>).
    #[arg(long)]
    pub from: Option<PathBuf>,
    #[arg(long, default_value = "experiments/fig3.toml")]
    pub experiment: PathBuf,
    /// Golden file to rewrite (default golden/<experiment>/<profile>.toml).
    #[arg(long)]
    pub golden: Option<PathBuf>,
}

fn default_golden(experiment: &str, profile: &str) -> PathBuf {
    PathBuf::from("golden")
        .join(experiment)
        .join(format!("{profile}.toml"))
}

pub fn check(a: CheckArgs) -> Result<ExitCode> {
    let mut runs: Vec<ArtifactSummary> = Vec::new();
    let mut grids: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for p in &a.paths {
        if p.is_dir() {
            dirs.push(p.clone());
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "h5"))
                .collect();
            entries.sort();
            for f in entries {
                if f.file_name().is_some_and(|n| n == GRID_KEY) {
                    grids.push(f);
                } else {
                    runs.push(artifact::read_summary(&f)?);
                }
            }
        } else if p.file_name().is_some_and(|n| n == GRID_KEY) {
            grids.push(p.clone());
        } else if !p.exists() {
            bail!("{}: artifact does not exist", p.display());
        } else {
            runs.push(artifact::read_summary(p)?);
        }
    }
    let Some(first) = runs.first() else {
        bail!(
            "no run artifacts found in {}",
            a.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let golden_path = a
        .golden
        .clone()
        .unwrap_or_else(|| default_golden(&first.config.experiment, &first.config.profile));
    let golden = Golden::load(&golden_path)?;
    let grid = match grids.first() {
        Some(g) => Some((g.as_path(), check::grid_hash(g)?)),
        None => None,
    };
    // A folder is expected to hold the whole grid the golden file describes.
    let report = golden.check(&runs, grid, !dirs.is_empty())?;
    println!("golden: {}", golden_path.display());
    print!("{}", report.render());
    let failed = report.findings.iter().filter(|f| !f.ok).count();
    if failed == 0 {
        println!("PASS: {} checks", report.findings.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("FAIL: {failed} of {} checks", report.findings.len());
        Ok(ExitCode::from(1))
    }
}

pub fn bless(a: BlessArgs) -> Result<ExitCode> {
    let exp = Experiment::load(&a.experiment)?;
    let from = a
        .from
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name).join(&a.profile));
    let path = a
        .golden
        .clone()
        .unwrap_or_else(|| default_golden(&exp.name, &a.profile));
    let mut runs = Vec::new();
    for p in exp.resolve(&a.profile)? {
        match grid::status(&from, &p) {
            Status::Done(s) => runs.push(*s),
            Status::Missing => bail!("{}: no artifact for {}; run `three-factors repro fig3 --profile {} --out {}` first", from.display(), p.config.run_name(), a.profile, from.display()),
            Status::Invalid(why) => bail!("{}: {}", grid::artifact_path(&from, &p).display(), why),
        }
    }
    let grid_file = from.join(GRID_KEY);
    let grid_hash = check::grid_hash(&grid_file)
        .with_context(|| format!("{}: run `repro fig3` to write it", grid_file.display()))?;
    let old = if path.exists() {
        Golden::load(&path)?
    } else {
        Golden {
            experiment: exp.name.clone(),
            profile: a.profile.clone(),
            widths: Widths {
                accuracy_abs: 0.02,
                curvature_rel: 0.25,
                justification: "default widths; replace with measured seed-to-seed spread".into(),
            },
            hashes: Default::default(),
            bands: Default::default(),
            science: Default::default(),
            reproduced_on: Default::default(),
        }
    };
    let new = old.bless(&runs, &grid_hash);
    let old_text = if path.exists() {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
    } else {
        String::new()
    };
    let diff = check::line_diff(&old_text, &new.to_toml());
    if diff.is_empty() {
        println!("{}: unchanged", path.display());
    } else {
        println!(
            "--- {}\n+++ blessed from {}\n{diff}",
            path.display(),
            from.display()
        );
        new.save(&path)?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
