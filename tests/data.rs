//! Fashion-MNIST: the verified look-up, `data verify`, every bad-input case, and the download
//! path against a loopback HTTP server serving the real files.
mod common;

use common::{run_in, SYSTEM_DATA};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use three_factors::data::{self, DatasetName, FileSpec, Lookup, Source, FILES};
use three_factors::Error;

fn system_file(spec: FileSpec) -> PathBuf {
    Path::new(SYSTEM_DATA).join(format!("{}.gz", spec.name))
}

#[test]
fn verify_reports_four_files_with_hash_and_source() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_in(tmp.path(), &["data", "verify"], &[]);
    r.expect(0);
    let out = r.stdout();
    for spec in FILES {
        let line = out
            .lines()
            .find(|l| l.starts_with(spec.name))
            .expect(spec.name);
        assert!(line.contains(spec.sha256), "{line}");
        assert!(line.contains("system package"), "{line}");
        assert!(line.contains(&spec.size.to_string()), "{line}");
    }
    assert!(out.contains("ok: 4 files verified (60000 train, 10000 test images)"));
}

#[test]
fn data_dir_wins_and_raw_files_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fm");
    std::fs::create_dir(&dir).unwrap();
    for spec in FILES {
        // Two gzip files and two raw files: both forms are read.
        if spec.name.contains("labels") {
            let payload = data::verify(spec, &system_file(spec)).unwrap();
            std::fs::write(dir.join(spec.name), payload.bytes).unwrap();
        } else {
            std::fs::copy(system_file(spec), dir.join(format!("{}.gz", spec.name))).unwrap();
        }
    }
    let r = run_in(
        tmp.path(),
        &["data", "verify", "--data-dir", dir.to_str().unwrap()],
        &[],
    );
    r.expect(0);
    assert_eq!(
        r.stdout().matches("--data-dir").count(),
        4,
        "{}",
        r.stdout()
    );
}

#[test]
fn corrupt_copy_is_a_mismatch_and_is_not_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fm");
    std::fs::create_dir(&dir).unwrap();
    for spec in FILES {
        std::fs::copy(system_file(spec), dir.join(format!("{}.gz", spec.name))).unwrap();
    }
    // A valid IDX label file with one label changed: right format, wrong hash.
    let labels = dir.join("train-labels-idx1-ubyte.gz");
    std::fs::remove_file(&labels).unwrap();
    let mut payload = data::verify(FILES[1], &system_file(FILES[1]))
        .unwrap()
        .bytes;
    payload[100] = (payload[100] + 1) % 10;
    let raw = dir.join("train-labels-idx1-ubyte");
    std::fs::write(&raw, &payload).unwrap();
    let r = run_in(
        tmp.path(),
        &["data", "verify", "--data-dir", dir.to_str().unwrap()],
        &[],
    );
    r.expect(1);
    assert!(
        r.stderr()
            .contains("train-labels-idx1-ubyte: SHA-256 of the decompressed payload is"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        std::fs::read(&raw).unwrap(),
        payload,
        "the user's file must be left as it was"
    );
}

#[test]
fn bad_inputs_are_typed_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let labels_payload = data::verify(FILES[3], &system_file(FILES[3]))
        .unwrap()
        .bytes;
    let images_payload = data::verify(FILES[2], &system_file(FILES[2]))
        .unwrap()
        .bytes;

    // Truncated gzip: the first half of a real .gz file.
    let gz = std::fs::read(system_file(FILES[3])).unwrap();
    let truncated = d.join("labels-truncated.gz");
    std::fs::write(&truncated, &gz[..gz.len() / 2]).unwrap();
    let e = data::verify(FILES[3], &truncated).unwrap_err();
    assert!(
        matches!(&e, Error::Truncated { path, .. } if path == &truncated),
        "{e}"
    );
    assert!(
        e.to_string().contains("labels-truncated.gz: truncated"),
        "{e}"
    );

    // Wrong magic: an image file where labels are expected.
    let images = d.join("images");
    std::fs::write(&images, &images_payload).unwrap();
    let e = data::read_pair(&images, &images).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMagic {
                found: 0x803,
                expected: 0x801,
                ..
            }
        ),
        "{e}"
    );

    // Label out of range.
    let mut bad = labels_payload.clone();
    bad[8 + 42] = 11;
    let bad_labels = d.join("labels-out-of-range");
    std::fs::write(&bad_labels, &bad).unwrap();
    let e = data::read_pair(&images, &bad_labels).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LabelOutOfRange {
                index: 42,
                label: 11,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("labels-out-of-range: label 11 at index 42"),
        "{e}"
    );

    // Image count not matching label count: 10000 images, 9999 labels.
    let short = data::encode_idx(data::LABELS_MAGIC, &[9999], &labels_payload[8..8 + 9999]);
    let short_labels = d.join("labels-short");
    std::fs::write(&short_labels, short).unwrap();
    let e = data::read_pair(&images, &short_labels).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CountMismatch {
                n_images: 10000,
                n_labels: 9999,
                ..
            }
        ),
        "{e}"
    );

    // Unreadable: the name exists but is a directory.
    let dir_as_file = d.join("not-a-file");
    std::fs::create_dir(&dir_as_file).unwrap();
    let e = data::read_pair(&images, &dir_as_file).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path == &dir_as_file),
        "{e}"
    );

    // Every input is still there, unchanged.
    assert_eq!(std::fs::read(&truncated).unwrap().len(), gz.len() / 2);
    assert_eq!(std::fs::read(&bad_labels).unwrap(), bad);
}

#[test]
fn unreadable_data_dir_is_an_error_exit_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fm");
    std::fs::create_dir(&dir).unwrap();
    for spec in FILES {
        // Every "file" is a directory: found, but cannot be read.
        std::fs::create_dir(dir.join(format!("{}.gz", spec.name))).unwrap();
    }
    let r = run_in(
        tmp.path(),
        &["data", "verify", "--data-dir", dir.to_str().unwrap()],
        &[],
    );
    r.expect(2);
    assert!(
        r.stderr()
            .contains("train-images-idx3-ubyte.gz: cannot read"),
        "{}",
        r.stderr()
    );
}

/// A loopback HTTP/1.1 server that answers each request from `routes` (path → body, and whether
/// to cut the body short after announcing its full length), then stops after `max` requests.
fn serve(
    routes: Vec<(String, Vec<u8>, bool)>,
    max: usize,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            match routes.iter().find(|(p, _, _)| *p == path) {
                Some((_, body, cut)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes());
                    let end = if *cut { body.len() / 3 } else { body.len() };
                    let _ = s.write_all(&body[..end]);
                }
                None => {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (url, handle)
}

fn lookup(url: &str, cache: &Path) -> Lookup {
    Lookup {
        dataset: DatasetName::FashionMnist,
        dirs: vec![(Source::Cache, cache.to_path_buf())],
        cache: cache.to_path_buf(),
        mirror: url.to_string(),
        offline: false,
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn download_good_files_verifies_and_renames_into_place() {
    let routes = FILES
        .iter()
        .map(|s| {
            (
                format!("/{}.gz", s.name),
                std::fs::read(system_file(*s)).unwrap(),
                false,
            )
        })
        .collect();
    let (url, server) = serve(routes, 4);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let ds = data::Dataset::load(&lookup(&url, &cache)).unwrap();
    server.join().unwrap();
    assert_eq!(ds.train_labels.len(), 60000);
    assert!(ds.files.iter().all(|f| f.source == Source::Downloaded));
    let mut names = leftovers(&cache);
    names.sort();
    assert_eq!(
        names,
        vec![
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
    // A second load finds them in the cache without any server.
    let again = data::Dataset::load(&lookup("http://127.0.0.1:9", &cache)).unwrap();
    assert!(again.files.iter().all(|f| f.source == Source::Cache));
}

#[test]
fn truncated_download_leaves_nothing_behind() {
    let spec = FILES[3];
    let body = std::fs::read(system_file(spec)).unwrap();
    let (url, server) = serve(vec![(format!("/{}.gz", spec.name), body, true)], 1);
    let tmp = tempfile::tempdir().unwrap();
    let e = data::download(&lookup(&url, tmp.path()), spec).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(&e, Error::Download { url: u, .. } if u.ends_with("t10k-labels-idx1-ubyte.gz")),
        "{e}"
    );
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}

#[test]
fn wrong_file_download_is_a_hash_mismatch_and_leaves_nothing_behind() {
    // The server answers for the test labels with the (valid gzip, valid IDX) training labels.
    let spec = FILES[3];
    let wrong = std::fs::read(system_file(FILES[1])).unwrap();
    let (url, server) = serve(vec![(format!("/{}.gz", spec.name), wrong, false)], 1);
    let tmp = tempfile::tempdir().unwrap();
    let e = data::download(&lookup(&url, tmp.path()), spec).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(&e, Error::HashMismatch { expected, .. } if expected.starts_with(spec.sha256)),
        "{e}"
    );
    assert_eq!(leftovers(tmp.path()), Vec::<String>::new());
}

#[test]
fn offline_without_a_copy_names_every_place_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let l = Lookup {
        dataset: DatasetName::FashionMnist,
        // Optional places only: a folder the user named must hold the data (tested below).
        dirs: vec![
            (Source::Cache, tmp.path().join("a")),
            (Source::System, tmp.path().join("b")),
        ],
        cache: tmp.path().join("a"),
        mirror: "http://127.0.0.1:9".into(),
        offline: true,
    };
    let e = data::Dataset::load(&l).err().expect("must fail");
    let msg = e.to_string();
    assert!(
        matches!(e, Error::DataNotFound { ref looked, .. } if looked.len() == 2),
        "{msg}"
    );
    assert!(
        msg.contains(&tmp.path().join("a").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("dataset-fashion-mnist") && msg.contains("FASHION_MNIST_DIR"),
        "{msg}"
    );

    // Not offline, but nothing listens on the mirror: the same error, with the download reason.
    let l = Lookup {
        offline: false,
        ..l
    };
    let e = data::Dataset::load(&l).err().expect("must fail");
    assert!(matches!(e, Error::DataNotFound { .. }), "{e}");
    assert!(
        e.to_string().contains("Download from http://127.0.0.1:9/"),
        "{e}"
    );
}

/// MNIST-shaped IDX files generated here (MNIST itself is not on these machines): the right
/// format, sizes and counts, but not MNIST's bytes.
fn generated_mnist(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::create_dir_all(dir).unwrap();
    data::MNIST_FILES
        .iter()
        .map(|spec| {
            let n = if spec.name.starts_with("train") {
                60_000
            } else {
                10_000
            };
            let bytes = if spec.name.contains("images") {
                data::encode_idx(
                    data::IMAGES_MAGIC,
                    &[n, 28, 28],
                    &vec![7u8; n as usize * 784],
                )
            } else {
                let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
                data::encode_idx(data::LABELS_MAGIC, &[n], &labels)
            };
            assert_eq!(bytes.len() as u64, spec.size, "{}", spec.name);
            std::fs::write(dir.join(spec.name), &bytes).unwrap();
            (format!("/{}.gz", spec.name), bytes)
        })
        .collect()
}

#[test]
fn mnist_has_its_own_lookup_variables_and_pinned_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let verify = ["data", "verify", "--dataset", "mnist"];
    // Nowhere to be found, offline: the message names MNIST's own variables and cache folder,
    // and no Debian package (MNIST has none).
    let r = run_in(tmp.path(), &verify, &[("THREE_FACTORS_OFFLINE", "1")]);
    r.expect(2);
    let e = r.stderr();
    for needle in [
        "MNIST not found",
        "MNIST_DIR",
        "MNIST_MIRROR",
        "three-factors/mnist",
    ] {
        assert!(e.contains(needle), "missing '{needle}':\n{e}");
    }
    assert!(
        !e.contains("dataset-fashion-mnist") && !e.contains("Fashion"),
        "{e}"
    );

    // MNIST_DIR with files of the right shape but other bytes: a mismatch (exit 1) against the
    // pinned hash of the decompressed payload.
    let fake = tmp.path().join("fake");
    let routes = generated_mnist(&fake);
    let r = run_in(
        tmp.path(),
        &verify,
        &[("MNIST_DIR", fake.to_str().unwrap())],
    );
    r.expect(1);
    assert!(
        r.stderr().contains("mismatch") && r.stderr().contains(data::MNIST_FILES[0].sha256),
        "{}",
        r.stderr()
    );
    // Fashion-MNIST's files are not MNIST's either.
    let r = run_in(tmp.path(), &verify, &[("MNIST_DIR", SYSTEM_DATA)]);
    r.expect(1);

    // A download from MNIST's mirror variable (a loopback server with the generated files) is
    // verified before it is kept: the cache holds nothing afterwards.
    let routes = routes.into_iter().map(|(p, b)| (p, b, false)).collect();
    let (url, server) = serve(routes, 1);
    let r = run_in(tmp.path(), &verify, &[("MNIST_MIRROR", url.as_str())]);
    server.join().unwrap();
    r.expect(1);
    assert!(
        r.stderr()
            .contains(&format!("{url}/train-images-idx3-ubyte.gz")),
        "{}",
        r.stderr()
    );
    let cache = tmp.path().join(".cache/three-factors/mnist");
    assert_eq!(leftovers(&cache), Vec::<String>::new());
}
