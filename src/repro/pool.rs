//! The local process pool: every pending point runs as its own `three-factors run` process (the
//! plan's line), `jobs` at a time, its output in `<out>/logs/<point>.log`.
use super::ReproPlan;
use crate::config::GridPoint;
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What the pool reports while it works.
pub enum PoolEvent<'a> {
    /// The points now running (after a start or a finish).
    Running(Vec<String>),
    /// A point's process ended.
    Finished {
        point: &'a str,
        ok: bool,
        status: String,
        log: &'a Path,
        /// Why its log could not be kept (it is then absent), if it could not.
        log_error: Option<&'a str>,
    },
}

/// Makes the child get SIGTERM when this process ends, however it ends (a signal, SIGKILL
/// included, or a panic): an interrupted `repro` leaves no run training on (its checkpoint lets
/// the next `repro` resume it).
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure calls only async-signal-safe functions
    // (prctl, getppid, _exit).
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(143);
            }
            Ok(())
        });
    }
}

/// A child's output on its way into `<out>/logs/<point>.log`: copied through this process into a
/// hidden temporary, put in place when the child has ended and every byte was written. A write
/// that fails (a full disk) leaves no log under the final name, and is reported with the point.
struct Log {
    stream: crate::files::Streamed,
    copies: [std::thread::JoinHandle<std::io::Result<u64>>; 2],
    path: PathBuf,
}

impl Log {
    fn finish(self) -> Result<()> {
        for c in self.copies {
            c.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("log copy panicked")))
                .map_err(|e| Error::write(&self.path, e))?;
        }
        self.stream.finish()
    }
}

/// Copies a child's pipe into `to` on a thread of its own, until the child closes it.
fn copy(
    from: Option<impl std::io::Read + Send + 'static>,
    mut to: std::fs::File,
) -> std::thread::JoinHandle<std::io::Result<u64>> {
    std::thread::spawn(move || match from {
        Some(mut from) => std::io::copy(&mut from, &mut to),
        None => Ok(0),
    })
}

/// Runs `todo` (points of `plan`) locally, `jobs` at a time; returns the names of the points
/// whose process failed. The children die with this process.
pub fn run_local(
    plan: &ReproPlan,
    todo: &[GridPoint],
    jobs: usize,
    mut on: impl FnMut(PoolEvent),
) -> Result<Vec<String>> {
    let logs = plan.out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::write(&logs, e))?;
    let mut queue: VecDeque<&GridPoint> = todo.iter().collect();
    let mut running: Vec<(String, Child, Log)> = Vec::new();
    let mut failed = Vec::new();
    let mut started = 0usize;
    while !queue.is_empty() || !running.is_empty() {
        let mut changed = false;
        while running.len() < jobs.max(1) {
            let Some(p) = queue.pop_front() else { break };
            let log = logs.join(format!("{}.log", p.name()));
            let stream = crate::files::Streamed::create(&log)?;
            let mut cmd = Command::new(&plan.program);
            if !plan.devices.is_empty() {
                if let tch::Device::Cuda(i) = plan.devices[started % plan.devices.len()].device() {
                    cmd.env("CUDA_VISIBLE_DEVICES", i.to_string());
                }
            }
            started += 1;
            die_with_parent(&mut cmd);
            let mut child = cmd
                .args(plan.run_args(p))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| Error::io(&plan.program, e))?;
            let copies = [
                copy(child.stdout.take(), stream.handle()?),
                copy(child.stderr.take(), stream.handle()?),
            ];
            running.push((
                p.name(),
                child,
                Log {
                    stream,
                    copies,
                    path: log,
                },
            ));
            changed = true;
        }
        if changed {
            on(PoolEvent::Running(
                running.iter().map(|r| r.0.clone()).collect(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut still = Vec::new();
        for (name, mut child, log) in running.drain(..) {
            match child.try_wait().map_err(|e| Error::io(&plan.program, e))? {
                None => still.push((name, child, log)),
                Some(status) => {
                    let path = log.path.clone();
                    let log_error = log.finish().err().map(|e| e.to_string());
                    on(PoolEvent::Finished {
                        point: &name,
                        ok: status.success(),
                        status: status.to_string(),
                        log: &path,
                        log_error: log_error.as_deref(),
                    });
                    if !status.success() {
                        failed.push(name);
                    }
                }
            }
        }
        running = still;
    }
    Ok(failed)
}
