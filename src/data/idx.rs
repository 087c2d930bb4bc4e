//! IDX files (the MNIST container): read gzip or raw bytes, check magic number, dimensions,
//! counts and label range, and hash the decompressed payload.
use crate::error::{Error, Result};
use crate::files::sha256_hex;
use std::io::Read;
use std::path::Path;

pub const IMAGES_MAGIC: u32 = 0x0000_0803;
pub const LABELS_MAGIC: u32 = 0x0000_0801;
pub const ROWS: usize = 28;
pub const COLS: usize = 28;
pub const PIXELS: usize = ROWS * COLS;
pub const CLASSES: usize = 10;

/// The decompressed bytes of one file, and the SHA-256 of exactly those bytes.
pub struct Payload {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Payload({} bytes, sha256 {})",
            self.bytes.len(),
            self.sha256
        )
    }
}

/// The largest payload a gzip file may decompress to: the biggest IDX file here is 47 MB (the
/// training images), so anything beyond this is not one of them (and may be a gzip bomb).
pub const MAX_PAYLOAD: u64 = 64 << 20;

/// Reads a file, transparently gunzipping it when it starts with the gzip magic.
pub fn read_payload(path: &Path) -> Result<Payload> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out =
            Vec::with_capacity((raw.len().saturating_mul(4)).min(MAX_PAYLOAD as usize + 1));
        flate2::read::GzDecoder::new(&raw[..])
            .take(MAX_PAYLOAD + 1)
            .read_to_end(&mut out)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::Truncated {
                    path: path.to_path_buf(),
                    what: "gzip stream ends early".into(),
                },
                _ => Error::Truncated {
                    path: path.to_path_buf(),
                    what: format!("corrupt gzip stream: {e}"),
                },
            })?;
        if out.len() as u64 > MAX_PAYLOAD {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                what: format!(
                    "gzip stream decompresses to more than {MAX_PAYLOAD} bytes, more than any IDX file of these datasets"
                ),
            });
        }
        out
    } else {
        raw
    };
    let sha256 = sha256_hex(&bytes);
    Ok(Payload { bytes, sha256 })
}

fn header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    kind: &'static str,
    ndims: usize,
) -> Result<Vec<u32>> {
    let need = 4 + 4 * ndims;
    if bytes.len() < need {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            what: format!(
                "{} bytes, shorter than the {need}-byte IDX header",
                bytes.len()
            ),
        });
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let found = word(0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            kind,
        });
    }
    Ok((1..=ndims).map(word).collect())
}

fn body<'a>(path: &Path, bytes: &'a [u8], offset: usize, len: usize) -> Result<&'a [u8]> {
    let have = bytes.len() - offset;
    if have != len {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            what: format!("header promises {len} data bytes, file has {have}"),
        });
    }
    Ok(&bytes[offset..])
}

/// Parses an IDX3 image file of 28×28 ubyte images; returns the pixels, row-major, `n × 784`.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let dims = header(path, bytes, IMAGES_MAGIC, "idx3 ubyte images", 3)?;
    if dims[1] as usize != ROWS || dims[2] as usize != COLS {
        return Err(Error::BadDimensions {
            path: path.to_path_buf(),
            found: dims,
            expected: format!("[n, {ROWS}, {COLS}]"),
        });
    }
    Ok(body(path, bytes, 16, dims[0] as usize * PIXELS)?.to_vec())
}

/// Parses an IDX1 label file; every label must be a class index 0..=9.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let dims = header(path, bytes, LABELS_MAGIC, "idx1 ubyte labels", 1)?;
    let labels = body(path, bytes, 8, dims[0] as usize)?;
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= CLASSES)
    {
        return Err(Error::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label,
        });
    }
    Ok(labels.to_vec())
}

/// Serialises images or labels back into IDX bytes (used to build test fixtures and subsets).
pub fn encode(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&magic.to_be_bytes());
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x-idx")
    }

    #[test]
    fn parses_labels_and_images() {
        let l = encode(LABELS_MAGIC, &[3], &[0, 9, 4]);
        assert_eq!(parse_labels(p(), &l).unwrap(), vec![0, 9, 4]);
        let img = encode(IMAGES_MAGIC, &[2, 28, 28], &vec![7; 2 * PIXELS]);
        assert_eq!(parse_images(p(), &img).unwrap().len(), 2 * PIXELS);
    }

    #[test]
    fn rejects_bad_magic_dims_range_and_length() {
        let l = encode(IMAGES_MAGIC, &[1], &[0]);
        assert!(matches!(
            parse_labels(p(), &l),
            Err(Error::BadMagic {
                found: IMAGES_MAGIC,
                ..
            })
        ));
        let l = encode(LABELS_MAGIC, &[2], &[3, 10]);
        assert!(matches!(
            parse_labels(p(), &l),
            Err(Error::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            })
        ));
        let l = encode(LABELS_MAGIC, &[5], &[1, 2]);
        assert!(matches!(
            parse_labels(p(), &l),
            Err(Error::Truncated { .. })
        ));
        let img = encode(IMAGES_MAGIC, &[1, 32, 32], &vec![0; 1024]);
        assert!(matches!(
            parse_images(p(), &img),
            Err(Error::BadDimensions { .. })
        ));
        assert!(matches!(
            parse_images(p(), &[0, 0]),
            Err(Error::Truncated { .. })
        ));
    }
}
