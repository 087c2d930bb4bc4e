//! Cross-cutting — files: the one atomic writer every output of the harness goes through (a
//! temporary file in the destination folder, renamed into place only when complete and removed on
//! any error), the HDF5 helpers, and hashing.
pub mod h5;

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// Renames a finished temporary file to `dest`, with the ordinary `rw-r--r--` mode (temporary
/// files are created owner-only).
pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::write(tmp.path(), e))?;
    }
    // On disk before the rename, so that a power cut never leaves an empty file under `dest`.
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::write(dest, e))?;
    tmp.persist(dest).map_err(|e| Error::write(dest, e.error))?;
    Ok(())
}

/// A temporary file next to `dest`: `.<name>.<random>.partial`, or with `keep_extension`
/// `.<name>.<random>.partial.<ext>` (for encoders that choose the format by extension). Hidden
/// and never ending in `.h5`, so folder scans for artifacts do not pick it up.
fn temp_for(dest: &Path, keep_extension: bool) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(dest);
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let suffix = match dest.extension().and_then(|e| e.to_str()) {
        Some(ext) if keep_extension => format!(".partial.{ext}"),
        _ => ".partial".to_string(),
    };
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(&suffix)
        .tempfile_in(dir)
        .map_err(|e| Error::write(dir, e))
}

/// Writes `dest` atomically through `fill`, which writes the file at the temporary path it is
/// given. `keep_extension`: the temporary path ends in `dest`'s extension.
pub fn write_with<T>(
    dest: &Path,
    keep_extension: bool,
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let tmp = temp_for(dest, keep_extension)?;
    let out = fill(tmp.path())?;
    persist(tmp, dest)?;
    Ok(out)
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

/// Takes the lock at `path` (creating the file), or fails at once with [`Error::Invalid`]
/// naming `what` and the holder's pid when another process holds it.
pub fn lock(path: &Path, what: &str) -> Result<Lock> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::write(path, e))?;
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
