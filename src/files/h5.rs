//! Small typed helpers over hdf5-metno: datasets and attributes written without object
//! timestamps (so equal content gives equal files where HDF5 allows), atomic file creation, and
//! the canonical content hash.
use crate::error::{Error, Result};
use hdf5::types::{FloatSize, IntSize, TypeDescriptor, VarLenUnicode};
use hdf5::{Group, H5Type, Location};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Writes `data` with `shape` as dataset `name` in `g`.
pub fn write<T: H5Type>(
    path: &Path,
    g: &Group,
    name: &str,
    shape: &[usize],
    data: &[T],
) -> Result<()> {
    let err = || format!("{}/{name}", g.name().trim_end_matches('/'));
    let ds = g
        .new_dataset::<T>()
        .obj_track_times(false)
        .shape(shape)
        .create(name)
        .map_err(Error::hdf5(path, err()))?;
    if !data.is_empty() {
        ds.write_raw(data).map_err(Error::hdf5(path, err()))?;
    }
    Ok(())
}

pub fn scalar<T: H5Type>(path: &Path, g: &Group, name: &str, v: T) -> Result<()> {
    write(path, g, name, &[], &[v])
}

pub fn vector<T: H5Type>(path: &Path, g: &Group, name: &str, v: &[T]) -> Result<()> {
    write(path, g, name, &[v.len()], v)
}

pub fn group(path: &Path, parent: &Group, name: &str) -> Result<Group> {
    parent
        .create_group_builder()
        .obj_track_times(false)
        .create(name)
        .map_err(Error::hdf5(path, name))
}

/// `value` as an HDF5 string (`object` names where it was to go, for the error).
fn unicode(path: &Path, object: &str, value: &str) -> Result<VarLenUnicode> {
    value.parse().map_err(|e| Error::Hdf5 {
        path: path.to_path_buf(),
        object: object.to_string(),
        message: format!("string not storable: {e:?}"),
    })
}

/// Writes a UTF-8 string attribute (h5py reads it as `str`).
pub fn attr_str(path: &Path, loc: &Location, name: &str, value: &str) -> Result<()> {
    let v = unicode(path, &format!("@{name}"), value)?;
    let a = loc
        .new_attr::<VarLenUnicode>()
        .create(name)
        .map_err(Error::hdf5(path, format!("@{name}")))?;
    a.write_scalar(&v)
        .map_err(Error::hdf5(path, format!("@{name}")))
}

pub fn read_attr_str(path: &Path, loc: &Location, name: &str) -> Result<String> {
    let a = loc.attr(name).map_err(|_| Error::NotAnArtifact {
        path: path.to_path_buf(),
        reason: format!("attribute '{name}' is missing"),
    })?;
    Ok(a.read_scalar::<VarLenUnicode>()
        .map_err(Error::hdf5(path, format!("@{name}")))?
        .as_str()
        .to_string())
}

pub fn read_f64(path: &Path, g: &Group, name: &str) -> Result<f64> {
    g.dataset(name)
        .and_then(|d| d.read_scalar::<f64>())
        .map_err(Error::hdf5(
            path,
            format!("{}/{name}", g.name().trim_end_matches('/')),
        ))
}

pub fn read_vec<T: H5Type>(path: &Path, g: &Group, name: &str) -> Result<Vec<T>> {
    g.dataset(name)
        .and_then(|d| d.read_raw::<T>())
        .map_err(Error::hdf5(
            path,
            format!("{}/{name}", g.name().trim_end_matches('/')),
        ))
}

/// Creates `dest` atomically: `fill` builds the file in memory (HDF5's core driver, no backing
/// store; `fill` is given `dest` to name in its errors), and the finished image is written through
/// [`crate::files::write`]. HDF5 itself never writes to the disk, so a full disk or a failed
/// write is an ordinary I/O error (HDF5 crashes when its own flush fails), and no temporary file
/// survives an error.
pub fn create_atomic<T>(
    dest: &Path,
    fill: impl FnOnce(&hdf5::File, &Path) -> Result<T>,
) -> Result<T> {
    let file = hdf5::File::with_options()
        .with_fapl(|p| p.core_filebacked(false))
        .with_fcpl(|p| p.obj_track_times(false))
        .create(memory_name(dest))
        .map_err(Error::hdf5(dest, "/"))?;
    let out = fill(&file, dest)?;
    let bytes = image(&file, dest)?;
    // HDF5's copy is freed before the write: only one copy of a large file is held.
    drop(file);
    super::write(dest, &bytes)?;
    Ok(out)
}

/// Changes the HDF5 file `dest` atomically: `fill` edits an in-memory copy of it (a new empty
/// file when `dest` does not exist; told which), and the result replaces `dest` only when `fill`
/// succeeded. The old file is intact after any error or crash.
pub fn update_atomic<T>(
    dest: &Path,
    fill: impl FnOnce(&hdf5::File, &Path, bool) -> Result<T>,
) -> Result<T> {
    let existed = dest.exists();
    // HDF5 opens (and locks) the file it loads read-write even with no backing store, so it
    // loads a private scratch copy: readers of `dest` are never locked out, and only its folder
    // needs to be writable.
    let scratch = super::partial::Partial::create(tempfile::NamedTempFile::new)
        .map_err(|e| Error::write(dest, e))?;
    let file = if existed {
        std::fs::copy(dest, scratch.path()).map_err(|e| Error::io(dest, e))?;
        hdf5::File::with_options()
            .with_fapl(|p| p.core_filebacked(false))
            .open_rw(scratch.path())
            .map_err(|e| Error::NotAnArtifact {
                path: dest.to_path_buf(),
                reason: format!("not a readable HDF5 file (truncated or corrupt?): {e}"),
            })?
    } else {
        hdf5::File::with_options()
            .with_fapl(|p| p.core_filebacked(false))
            .with_fcpl(|p| p.obj_track_times(false))
            .create(memory_name(dest))
            .map_err(Error::hdf5(dest, "/"))?
    };
    let out = fill(&file, dest, existed)?;
    let bytes = image(&file, dest)?;
    drop(file);
    drop(scratch);
    super::write(dest, &bytes)?;
    Ok(out)
}

/// A name for an in-memory file that no file on disk has and no other in-memory file shares
/// (HDF5 treats two open files of one name as the same file).
fn memory_name(dest: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = dest.as_os_str().to_owned();
    name.push(format!(".in-memory-{}-{n}", std::process::id()));
    PathBuf::from(name)
}

/// The bytes of an in-memory HDF5 file, flushed: exactly what would be on disk.
fn image(file: &hdf5::File, dest: &Path) -> Result<Vec<u8>> {
    use hdf5_sys::h5f::H5Fget_file_image;
    file.flush().map_err(Error::hdf5(dest, "/"))?;
    let failed = || Error::Hdf5 {
        path: dest.to_path_buf(),
        object: "/".into(),
        message: "HDF5 could not produce the file image".into(),
    };
    hdf5::sync::sync(|| {
        // SAFETY: `file` is an open file id for the whole call; the first call only asks for the
        // size, the second writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { H5Fget_file_image(file.id(), std::ptr::null_mut(), 0) };
        let Ok(len) = usize::try_from(n) else {
            return Err(failed());
        };
        let mut buf = vec![0u8; len];
        let m = unsafe { H5Fget_file_image(file.id(), buf.as_mut_ptr().cast(), buf.len()) };
        if usize::try_from(m) != Ok(len) {
            return Err(failed());
        }
        Ok(buf)
    })
}

/// Every dataset under `g`, as (absolute path, dataset), recursively.
fn datasets(path: &Path, g: &Group, out: &mut Vec<(String, hdf5::Dataset)>) -> Result<()> {
    for name in g.member_names().map_err(Error::hdf5(path, g.name()))? {
        if let Ok(ds) = g.dataset(&name) {
            out.push((ds.name(), ds));
        } else if let Ok(sub) = g.group(&name) {
            datasets(path, &sub, out)?;
        }
    }
    Ok(())
}

/// The canonical content hash: SHA-256 over, for each dataset in sorted path order (skipping
/// `exclude`), its path, dtype, shape and little-endian bytes, then over each named string
/// attribute of the root. It depends only on content, never on HDF5's byte layout.
pub fn content_hash(
    path: &Path,
    file: &hdf5::File,
    exclude: &[&str],
    root_attrs: &[&str],
) -> Result<String> {
    let mut all = Vec::new();
    datasets(path, file, &mut all)?;
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, ds) in all.iter().filter(|(n, _)| !exclude.contains(&n.as_str())) {
        let desc = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(Error::hdf5(path, name.clone()))?;
        let rd = Error::hdf5(path, name.clone());
        let (tag, bytes): (&str, Vec<u8>) = match desc {
            TypeDescriptor::Float(FloatSize::U4) => (
                "f32",
                ds.read_raw::<f32>()
                    .map_err(rd)?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            TypeDescriptor::Float(FloatSize::U8) => (
                "f64",
                ds.read_raw::<f64>()
                    .map_err(rd)?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            TypeDescriptor::Integer(IntSize::U8) => (
                "i64",
                ds.read_raw::<i64>()
                    .map_err(rd)?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            TypeDescriptor::Unsigned(IntSize::U1) => ("u8", ds.read_raw::<u8>().map_err(rd)?),
            TypeDescriptor::VarLenUnicode => (
                "str",
                ds.read_raw::<VarLenUnicode>()
                    .map_err(rd)?
                    .iter()
                    .flat_map(|s| [s.as_bytes(), b"\0"].concat())
                    .collect(),
            ),
            other => {
                return Err(Error::NotAnArtifact {
                    path: path.to_path_buf(),
                    reason: format!("dataset {name} has unsupported type {other:?}"),
                })
            }
        };
        h.update(name.as_bytes());
        h.update([0]);
        h.update(tag.as_bytes());
        h.update([0]);
        for d in ds.shape() {
            h.update((d as u64).to_le_bytes());
        }
        h.update([0xff]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    for a in root_attrs {
        let v = read_attr_str(path, file, a)?;
        h.update(b"@");
        h.update(a.as_bytes());
        h.update([0]);
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    Ok(super::hex(&h.finalize()))
}

/// Whether `path` is an HDF5 file whose root attribute `format` is `format`.
pub fn has_format(path: &Path, format: &str) -> bool {
    open(path)
        .and_then(|f| read_attr_str(path, &f, "format"))
        .is_ok_and(|f| f == format)
}

/// Opens an existing file read-only whose root attribute `format` must be `expected`; another
/// format is [`Error::NotAnArtifact`] naming both.
pub fn open_format(path: &Path, expected: &str) -> Result<hdf5::File> {
    let f = open(path)?;
    let format = read_attr_str(path, &f, "format")?;
    if format != expected {
        return Err(Error::NotAnArtifact {
            path: path.to_path_buf(),
            reason: format!("format is '{format}', expected '{expected}'"),
        });
    }
    Ok(f)
}

/// Opens an existing file read-only, mapping "not HDF5 / truncated" to a clear error.
pub fn open(path: &Path) -> Result<hdf5::File> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    hdf5::File::open(path).map_err(|e| Error::NotAnArtifact {
        path: PathBuf::from(path),
        reason: format!("not a readable HDF5 file (truncated or corrupt?): {e}"),
    })
}

/// Writes a 1-D dataset of UTF-8 strings (h5py reads `bytes`/`str` objects).
pub fn strings(path: &Path, g: &Group, name: &str, v: &[String]) -> Result<()> {
    let v: Vec<VarLenUnicode> = v
        .iter()
        .map(|s| unicode(path, name, s))
        .collect::<Result<_>>()?;
    vector(path, g, name, &v)
}

/// Reads a dataset written by [`strings`] (or [`text`], as one string).
pub fn read_strings(path: &Path, g: &Group, name: &str) -> Result<Vec<String>> {
    Ok(read_vec::<VarLenUnicode>(path, g, name)?
        .iter()
        .map(|s| s.as_str().to_string())
        .collect())
}

/// Writes one UTF-8 string as a scalar dataset (h5py: `f[name][()].decode()`).
pub fn text(path: &Path, g: &Group, name: &str, value: &str) -> Result<()> {
    scalar(path, g, name, unicode(path, name, value)?)
}
