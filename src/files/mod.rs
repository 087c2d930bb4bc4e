//! Cross-cutting — files: the one atomic writer every output of the harness goes through (a
//! temporary file in the destination folder, renamed into place only when complete and removed on
//! any error), the HDF5 helpers, and hashing.
pub mod h5;
pub mod output;
pub mod partial;

pub use output::{vet as vet_output, Replace};
pub use partial::{all_or_none, clean_up_on_signals};

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why `name` cannot be used as one component of a path the harness writes (an experiment,
/// profile, interpolation or artifact name), if it cannot: empty, `.`/`..` or hidden, a path
/// separator, or a control character. Every such name is checked here before it is joined to a
/// folder, so that no name in a file or on the command line writes outside that folder.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('.') {
        Some("starts with '.' (hidden, or a parent folder)")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name.len() > 200 {
        Some("is longer than 200 bytes")
    } else {
        None
    }
}

/// SHA-256 of `bytes`, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The folder a file at `dest` lives in ("." for a bare file name).
pub fn parent_dir(dest: &Path) -> &Path {
    dest.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A temporary file next to `dest`: `.<name>.<random>.partial`, or with `keep_extension`
/// `.<name>.<random>.partial.<ext>` (for encoders that choose the format by extension). Hidden
/// and never ending in `.h5`, so folder scans for artifacts do not pick it up; registered so
/// that a signal removes it (see [`partial`]).
fn temp_for(dest: &Path, keep_extension: bool) -> Result<partial::Partial> {
    let dir = parent_dir(dest);
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let suffix = match dest.extension().and_then(|e| e.to_str()) {
        Some(ext) if keep_extension => format!(".partial.{ext}"),
        _ => ".partial".to_string(),
    };
    partial::Partial::create(|| {
        tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(&suffix)
            .tempfile_in(dir)
    })
    .map_err(|e| Error::write(dir, e))
}

/// Writes `dest` atomically through `fill`, which writes the file at the temporary path it is
/// given. `keep_extension`: the temporary path ends in `dest`'s extension. Refuses a `dest`
/// that exists and is not a regular file (a device, FIFO, folder or symbolic link). Errors of
/// `fill` that do not name a file are reported against `dest`.
pub fn write_with<T>(
    dest: &Path,
    keep_extension: bool,
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    output::refuse_special(dest)?;
    let tmp = temp_for(dest, keep_extension)?;
    let out = fill(tmp.path()).map_err(|e| match e {
        Error::Invalid(reason) => Error::output(dest, reason),
        e => e,
    })?;
    partial::put_in_place(tmp, dest)?;
    Ok(out)
}

/// A file written bit by bit as something runs (a child's log), under a hidden temporary name
/// until [`Streamed::finish`] puts it in place: a file under its final name is always complete,
/// and one whose writing failed (a full disk) never appears there.
pub struct Streamed {
    tmp: partial::Partial,
    dest: PathBuf,
}

impl Streamed {
    pub fn create(dest: &Path) -> Result<Streamed> {
        output::refuse_special(dest)?;
        Ok(Streamed {
            tmp: temp_for(dest, false)?,
            dest: dest.to_path_buf(),
        })
    }

    /// Another handle on the temporary file, for a writer (it shares the file's offset).
    pub fn handle(&self) -> Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.tmp.path())
            .map_err(|e| Error::write(&self.dest, e))
    }

    /// Renames the finished file to its final name.
    pub fn finish(self) -> Result<()> {
        partial::put_in_place(self.tmp, &self.dest)
    }
}

/// Writes `contents` to `dest` atomically.
pub fn write(dest: &Path, contents: &[u8]) -> Result<()> {
    write_with(dest, false, |tmp| {
        std::fs::write(tmp, contents).map_err(|e| Error::write(dest, e))
    })
}

/// An exclusive advisory lock on a file (`flock`), held until dropped; the kernel releases it
/// when the process ends, however it ends.
#[derive(Debug)]
pub struct Lock {
    _file: std::fs::File,
    held: bool,
}

impl Lock {
    /// False where the file system does not support `flock` (some NFS, Lustre and FUSE mounts):
    /// the caller goes on without mutual exclusion and should say so.
    pub fn held(&self) -> bool {
        self.held
    }
}

/// The file a lock is taken on, opened (created when missing, never truncated: it may hold the
/// holder's pid).
fn lock_file(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::write(path, e))
}

/// Takes the lock at `path` (creating the file), or fails at once with [`Error::Invalid`]
/// naming `what` and the holder's pid when another process holds it.
pub fn lock(path: &Path, what: &str) -> Result<Lock> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let mut file = lock_file(path)?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            // Locking is not supported here: not a reason to refuse the work.
            return Ok(Lock {
                _file: file,
                held: false,
            });
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        return Err(Error::Invalid(format!(
            "{}: {what} (pid {}); wait for it to finish or stop it",
            path.display(),
            holder.trim()
        )));
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(pid.as_bytes()))
        .map_err(|e| Error::write(path, e))?;
    Ok(Lock {
        _file: file,
        held: true,
    })
}

/// Waits for the exclusive lock on `path` (creating the file), for read-modify-write cycles
/// that must not interleave (two writers of one benchmark history). Held until dropped.
pub fn lock_wait(path: &Path) -> Result<Lock> {
    use std::os::fd::AsRawFd;
    let file = lock_file(path)?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(Lock {
                _file: file,
                held: true,
            });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            // Locking is not supported here: go on without mutual exclusion.
            return Ok(Lock {
                _file: file,
                held: false,
            });
        }
    }
}

/// How old a temporary file must be before it counts as left behind: the writer writes a
/// finished image in one go and renames it, so a live one is seconds old.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Removes the temporary files [`write_with`] leaves in `dir` only when a process is killed
/// mid-write (`.<name>.<random>.partial[.<ext>]`) once they are [`STALE_AFTER`] old; returns
/// how many.
pub fn remove_stale_partials(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with('.')
            && (name.ends_with(".partial") || name.contains(".partial."))
            && e.file_type().is_ok_and(|t| t.is_file());
        // Another process (a Slurm task, a manual `run`) may be writing a fresh one.
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if ours && stale {
            std::fs::remove_file(e.path()).map_err(|err| Error::write(e.path(), err))?;
            n += 1;
        }
    }
    Ok(n)
}

/// `p` as an absolute path (relative to the working directory), without touching the disk.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_writes_leave_neither_the_file_nor_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.png");
        let r: Result<()> = write_with(&dest, true, |tmp| {
            assert!(tmp.to_str().unwrap().ends_with(".partial.png"));
            std::fs::write(tmp, b"half").unwrap();
            Err(Error::Invalid("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write(&dest, b"whole").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
