//! Cross-cutting — atomic writes: every file the harness produces is written under a temporary
//! name in its destination folder and renamed into place only when complete.
use crate::error::{Error, Result};
use std::path::Path;

/// Renames a finished temporary file to `dest`, with the ordinary `rw-r--r--` mode (temporary
/// files are created owner-only).
pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    Ok(())
}

/// Writes `contents` to `dest` atomically.
pub fn write(dest: &Path, contents: &[u8]) -> Result<()> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::write(tmp.path(), contents).map_err(|e| Error::io(tmp.path(), e))?;
    persist(tmp, dest)
}
