//! The validated plan of an experiment run: which experiment file and profile, its resolved
//! points, the output folder, numerics and data folder every point runs with, and the program
//! that runs them. Every way of running points (the local pool, `--plan` lines, Slurm tasks)
//! uses the same self-contained `three-factors run` line from [`ReproPlan::run_args`].
use crate::config::{DeviceSpec, Experiment, GridPoint};
use crate::determinism::Numerics;
use crate::error::{Error, Result};
use crate::files;
use crate::metrics::check_analysis;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ReproPlan {
    pub experiment: Experiment,
    pub profile: String,
    pub points: Vec<GridPoint>,
    /// The profile's varied config fields besides η, S and seed (extra table columns).
    pub fields: Vec<String>,
    pub out: PathBuf,
    pub numerics: Numerics,
    pub data_dir: Option<PathBuf>,
    /// The `three-factors` binary that runs each point.
    pub program: PathBuf,
    /// Local multi-GPU: one device per running point, round-robin.
    pub devices: Vec<DeviceSpec>,
}

impl ReproPlan {
    /// Resolves `profile` (default: the experiment's) and checks the experiment's analysis
    /// against the table it will produce. `out` defaults to `runs/<experiment>/<profile>`.
    pub fn new(
        experiment: Experiment,
        profile: Option<&str>,
        out: Option<PathBuf>,
        numerics: Numerics,
        data_dir: Option<PathBuf>,
        program: PathBuf,
    ) -> Result<ReproPlan> {
        let profile = profile
            .map(str::to_string)
            .unwrap_or_else(|| experiment.default_profile.clone());
        let points = experiment.resolve(&profile)?;
        let fields = experiment.profile(&profile)?.varied_fields();
        check_analysis(
            &experiment.analysis,
            &fields,
            &experiment.source.display().to_string(),
        )?;
        let out =
            out.unwrap_or_else(|| PathBuf::from("runs").join(&experiment.name).join(&profile));
        Ok(ReproPlan {
            experiment,
            profile,
            points,
            fields,
            out,
            numerics,
            data_dir,
            program,
            devices: Vec::new(),
        })
    }

    /// Runs on these GPUs, one per running point (each point sees only its own device).
    pub fn with_devices(mut self, devices: Vec<DeviceSpec>) -> Result<ReproPlan> {
        if let Some(d) = devices.iter().find(|d| !d.is_cuda()) {
            return Err(Error::config(
                "--devices",
                "devices",
                format!("'{d}' is not a GPU (expected cuda:N)"),
            ));
        }
        if let Some(p) = self.points.iter().find(|p| !p.config.device.is_cuda()) {
            if !devices.is_empty() {
                return Err(Error::config(
                    "--devices",
                    "devices",
                    format!(
                        "point {} of profile {} runs on {}; GPUs are for profiles with device = \"cuda\"",
                        p.name(),
                        self.profile,
                        p.config.device
                    ),
                ));
            }
        }
        self.devices = devices;
        Ok(self)
    }

    /// Takes the output folder's lock (`<out>/.repro.lock`, creating the folder) for as long as
    /// the returned value lives, so that two `repro`s never work in one folder at once, then
    /// removes the temporary files a killed writer left there. Returns the lock and how many
    /// such files were removed.
    pub fn lock(&self) -> Result<(files::Lock, usize)> {
        std::fs::create_dir_all(&self.out).map_err(|e| Error::write(&self.out, e))?;
        let lock = files::lock(
            &self.out.join(".repro.lock"),
            "another three-factors repro is working in this folder",
        )?;
        let mut removed = 0;
        for dir in [
            self.out.clone(),
            self.out.join(crate::check::INTERP_DIR),
            self.out.join("logs"),
        ] {
            removed += files::remove_stale_partials(&dir)?;
        }
        Ok((lock, removed))
    }

    /// The same plan with every path absolute (for tasks that run elsewhere, in another working
    /// directory). Creates the output folder.
    pub fn absolute(mut self) -> Result<ReproPlan> {
        std::fs::create_dir_all(&self.out).map_err(|e| Error::write(&self.out, e))?;
        self.out = files::absolute(&self.out)?;
        self.experiment.source = files::absolute(&self.experiment.source)?;
        self.data_dir = self.data_dir.as_deref().map(files::absolute).transpose()?;
        Ok(self)
    }

    /// Intra-op threads per run (the largest of any point).
    pub fn threads(&self) -> usize {
        self.points
            .iter()
            .map(|p| p.config.threads)
            .max()
            .unwrap_or(1)
    }

    pub fn artifact(&self, p: &GridPoint) -> PathBuf {
        self.out.join(p.file_name())
    }

    /// `<out>/<experiment>.<ext>`: the table (h5, csv) and figure (png, svg).
    pub fn output(&self, ext: &str) -> PathBuf {
        self.out.join(format!("{}.{ext}", self.experiment.name))
    }

    /// The command-line arguments (after the program name) that run point `p`.
    pub fn run_args(&self, p: &GridPoint) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--numerics".into(),
            self.numerics.as_str().into(),
            "run".into(),
            "--experiment".into(),
            self.experiment.source.display().to_string(),
            "--profile".into(),
            self.profile.clone(),
            "--point".into(),
            p.name(),
            "--out".into(),
            self.artifact(p).display().to_string(),
        ];
        if let Some(d) = &self.data_dir {
            args.extend(["--data-dir".to_string(), d.display().to_string()]);
        }
        args.push("--quiet".into());
        args
    }

    /// `program` and [`Self::run_args`] of `p`, shell-quoted, as one line.
    pub fn command_line(&self, program: &str, p: &GridPoint) -> String {
        std::iter::once(program.to_string())
            .chain(self.run_args(p))
            .map(|s| shell_quote(&s))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Quotes an argument for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
