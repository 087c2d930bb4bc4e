//! `completions` and `man`: shell completion scripts and man pages generated from the clap
//! definitions, so they never drift from the commands.
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::Path;
use std::process::ExitCode;

/// Prints the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = super::Args::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "three-factors", &mut buf);
    out!("{}", String::from_utf8_lossy(&buf));
    Ok(ExitCode::SUCCESS)
}

/// Writes `three-factors.1` and one page per subcommand (`three-factors-bench-merge.1`, ...)
/// into `dir` (created when missing), each atomically.
pub fn man(dir: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = super::Args::command();
    cmd.build();
    let mut written = 0;
    write_pages(&cmd, "three-factors", dir, &mut written)?;
    outln!("wrote {written} man pages to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path, written: &mut usize) -> Result<()> {
    let page = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .with_context(|| format!("rendering the man page of {name}"))?;
    three_factors::files::write(&dir.join(format!("{name}.1")), &buf)?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
