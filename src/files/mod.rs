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
