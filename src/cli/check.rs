//! `check` (compare artifacts with a golden file; exit 0 ok, 1 regression, 2 error) and
//! `golden bless` (the only writer of golden files).
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use three_factors::check;
use three_factors::config::Experiment;
use three_factors::files::Replace;
use three_factors::layout::Layout;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Run artifacts, experiment tables (<experiment>.h5) or folders holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Golden file (default golden/<experiment>/<profile>.toml for the artifacts' profile).
    #[arg(long)]
    pub golden: Option<PathBuf>,
    /// Also write the result as JUnit XML (one test case per comparison; a check that cannot
    /// run is one errored case), for CI systems' test reports.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct BlessArgs {
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Folder with the profile's complete set of artifacts (default runs/<experiment>/<profile>).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// The experiment file (default experiments/fig3.toml).
    #[arg(long)]
    pub experiment: Option<PathBuf>,
    /// Golden file to rewrite (default golden/<experiment>/<profile>.toml).
    #[arg(long)]
    pub golden: Option<PathBuf>,
    /// Only add the hashes of the artifacts' platform (e.g. a GPU) to the golden file: the runs
    /// may differ from the profile in `device` alone, nothing else in the file changes, and every
    /// band and claim must hold on them. Hashes already recorded are never replaced.
    #[arg(long)]
    pub add_platform: bool,
    /// A full bless that also drops the hashes of every other platform class: for a change of
    /// the code's arithmetic, after which hashes recorded on other machines no longer hold
    /// (re-record them there with --add-platform).
    #[arg(long, conflicts_with = "add_platform")]
    pub drop_other_platforms: bool,
}

/// A JUnit report as `check --junit` writes it.
const JUNIT: Replace = Replace::Ours {
    what: "a JUnit report",
    is: |p| {
        three_factors::files::output::starts_with(
            p,
            &[b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"three-factors check\""],
        )
    },
};

pub fn check(a: CheckArgs) -> Result<ExitCode> {
    if let Some(j) = &a.junit {
        // Before any work: never onto an artifact, table or golden file this check reads.
        let mut inputs = check::input_files(&a.paths);
        inputs.extend(a.golden.iter().cloned());
        let inputs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
        three_factors::files::vet_output(j, &inputs, JUNIT)?;
    }
    let (golden, report) = match check::check_paths(&a.paths, a.golden.clone(), &Layout::discover())
    {
        Ok(r) => r,
        Err(e) => {
            if let Some(j) = &a.junit {
                let suite = a.golden.as_deref().unwrap_or(std::path::Path::new("check"));
                let xml = check::junit::error(&suite.display().to_string(), &e.to_string());
                if let Err(w) = three_factors::files::write(j, xml.as_bytes()) {
                    errln!("error: {w}");
                }
            }
            return Err(e.into());
        }
    };
    if let Some(j) = &a.junit {
        let xml = check::junit::report(&golden.display().to_string(), &report);
        three_factors::files::write(j, xml.as_bytes())?;
    }
    outln!("golden: {}", golden.display());
    out!("{}", report.render());
    let failed = report.findings.iter().filter(|f| !f.ok).count();
    if failed == 0 {
        outln!("PASS: {} checks", report.findings.len());
        Ok(ExitCode::SUCCESS)
    } else {
        outln!("FAIL: {failed} of {} checks", report.findings.len());
        Ok(ExitCode::from(1))
    }
}

pub fn bless(a: BlessArgs) -> Result<ExitCode> {
    let layout = Layout::discover();
    let exp = Experiment::load(&a.experiment.unwrap_or_else(|| layout.experiment("fig3")))?;
    let from = a
        .from
        .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name).join(&a.profile));
    let path = a
        .golden
        .unwrap_or_else(|| layout.golden(&exp.name, &a.profile));
    let mode = if a.add_platform {
        check::BlessMode::AddPlatform
    } else if a.drop_other_platforms {
        check::BlessMode::DropOtherPlatforms
    } else {
        check::BlessMode::Full
    };
    let b = check::bless(&exp, &a.profile, &from, &path, mode)?;
    if b.diff.is_empty() {
        outln!("{}: unchanged", path.display());
    } else {
        outln!(
            "--- {}\n+++ blessed from {}\n{}",
            path.display(),
            from.display(),
            b.diff
        );
        outln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
