//! Output paths a command may write: never a special file (a device, FIFO, socket, folder or
//! symbolic link, which a rename would destroy), never one of the command's own inputs, never a
//! file of the user's that the command did not write, and never in a folder that does not exist.
use crate::error::{Error, Result};
use std::path::Path;

/// What an existing file at an output path may be.
#[derive(Clone, Copy)]
pub enum Replace {
    /// Only a file this kind of output wrote before (`is` recognises it by its content, e.g. a
    /// CSV header); anything else is the user's and stays.
    Ours {
        /// What the command writes there, for the message ("a JUnit report").
        what: &'static str,
        is: fn(&Path) -> bool,
    },
}

/// Refuses `dest` when it exists and is not a regular file: renaming a finished file onto a
/// device, FIFO or symbolic link replaces it (as root, `/dev/null` itself).
pub fn refuse_special(dest: &Path) -> Result<()> {
    let Ok(m) = std::fs::symlink_metadata(dest) else {
        return Ok(());
    };
    let t = m.file_type();
    if t.is_file() {
        return Ok(());
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(Error::output(
        dest,
        format!("is {kind}; outputs replace only regular files, so choose another path"),
    ))
}

/// Refuses `dest` when its folder does not exist: a mistyped path is an error, not a new folder.
pub fn require_folder(dest: &Path) -> Result<()> {
    let dir = super::parent_dir(dest);
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::output(
        dest,
        format!(
            "the folder {} does not exist (outputs do not create folders; make it first)",
            dir.display()
        ),
    ))
}

/// Whether `a` and `b` are the same file on disk (same device and inode), however named.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Whether the file at `path` starts with one of `prefixes`.
pub fn starts_with(path: &Path, prefixes: &[&[u8]]) -> bool {
    use std::io::Read;
    let want = prefixes.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut head = Vec::with_capacity(want);
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(want as u64).read_to_end(&mut head))
        .is_ok();
    read && prefixes.iter().any(|p| head.starts_with(p))
}

/// A PNG image (its signature).
pub fn is_png(path: &Path) -> bool {
    starts_with(path, &[b"\x89PNG\r\n\x1a\n"])
}

/// An SVG image, as plotters writes it.
pub fn is_svg(path: &Path) -> bool {
    starts_with(path, &[b"<svg", b"<?xml"])
}

/// An image this harness draws: PNG or SVG.
pub const FIGURE: Replace = Replace::Ours {
    what: "a figure",
    is: |p| is_png(p) || is_svg(p),
};

/// `stem` with `.ext` appended (not substituted: `run.v1` gives `run.v1.csv`).
pub fn appended(stem: &Path, ext: &str) -> std::path::PathBuf {
    let mut name = stem.as_os_str().to_os_string();
    name.push(format!(".{ext}"));
    name.into()
}

/// Checks a user-named output path before any work is done: its folder exists, it is not a
/// special file, not one of `inputs` (under any name), and, when it exists, one that `replace`
/// recognises as this command's own output.
pub fn vet(dest: &Path, inputs: &[&Path], replace: Replace) -> Result<()> {
    require_folder(dest)?;
    refuse_special(dest)?;
    if let Some(input) = inputs.iter().find(|i| same_file(dest, i)) {
        return Err(Error::output(
            dest,
            format!(
                "is one of this command's inputs ({}); writing there would destroy it",
                input.display()
            ),
        ));
    }
    if dest.exists() {
        let Replace::Ours { what, is } = replace;
        if !is(dest) {
            return Err(Error::output(
                dest,
                format!(
                    "exists and is not {what} this command wrote; remove it or choose another path"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(p: &Path) -> bool {
        starts_with(p, &[b"a,b\n"])
    }
    const CSV: Replace = Replace::Ours {
        what: "a CSV table",
        is: csv,
    };

    #[test]
    fn refuses_devices_links_inputs_user_files_and_missing_folders() {
        let dir = tempfile::tempdir().unwrap();
        let err = |r: Result<()>| r.unwrap_err().to_string();
        assert!(err(vet(Path::new("/dev/null"), &[], CSV)).contains("is a device"));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
        assert!(err(vet(&link, &[], CSV)).contains("symbolic link"));
        let input = dir.path().join("in.h5");
        std::fs::write(&input, b"a,b\n").unwrap();
        let alias = dir.path().join("alias.h5");
        std::fs::hard_link(&input, &alias).unwrap();
        assert!(err(vet(&alias, &[&input], CSV)).contains("inputs"));
        let user = dir.path().join("notes.csv");
        std::fs::write(&user, b"precious").unwrap();
        assert!(err(vet(&user, &[], CSV)).contains("not a CSV table this command wrote"));
        assert!(err(vet(&dir.path().join("no/x.csv"), &[], CSV)).contains("does not exist"));
        // Ours, or new: fine.
        vet(&alias, &[], CSV).unwrap();
        vet(&dir.path().join("new.csv"), &[&input], CSV).unwrap();
    }
}
