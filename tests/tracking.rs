//! Kernel tracking across machines and CI systems, through the real binary: `bench merge`, the
//! cross-device `bench report` (table, CSV, trend), `bench export` in the two JSON formats,
//! `check --junit`, and the completions and man pages. Outcomes only, never timings.
mod common;

use common::{repo, run_in, Run};
use serde_json::Value;
use std::path::Path;
use three_factors::bench::history;
use three_factors::check::Golden;

/// A one-kernel quick bench into `history` with `threads` threads (the thread count is part of
/// the fingerprint, so two thread counts are two devices of the report).
fn bench(dir: &Path, history: &str, threads: &str) {
    run_in(
        dir,
        &[
            "bench",
            "--quick",
            "--only",
            "matmul",
            "--warmup",
            "1",
            "--reps",
            "3",
            "--threads",
            threads,
            "--history",
            history,
        ],
        &[],
    )
    .expect(0);
}

/// `bench merge SOURCES --into h.h5`.
fn merge(dir: &Path, sources: &[&str]) -> Run {
    let mut args = vec!["bench", "merge"];
    args.extend_from_slice(sources);
    args.extend(["--into", "h.h5"]);
    run_in(dir, &args, &[])
}

/// Merging `sources` into h.h5 again adds nothing and leaves the file's bytes as they were;
/// returns those bytes.
fn merge_again_changes_nothing(dir: &Path, sources: &[&str], present: usize) -> Vec<u8> {
    let before = std::fs::read(dir.join("h.h5")).unwrap();
    let again = merge(dir, sources);
    again.expect(0);
    let want = format!("0 run(s) added, {present} already present; unchanged");
    assert!(again.stdout().contains(&want), "{}", again.stdout());
    assert_eq!(std::fs::read(dir.join("h.h5")).unwrap(), before);
    before
}

#[test]
fn merge_combines_devices_once_and_the_report_shows_both() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    bench(dir, "a.h5", "1");
    bench(dir, "a.h5", "1");
    bench(dir, "b.h5", "2");
    let a = history::read(&dir.join("a.h5")).unwrap();
    let b = history::read(&dir.join("b.h5")).unwrap();
    assert_ne!(a[0].fingerprint_id, b[0].fingerprint_id);

    let m = merge(dir, &["a.h5", "b.h5"]);
    m.expect(0);
    assert!(
        m.stdout()
            .contains("h.h5: 3 run(s) added, 0 already present"),
        "{}",
        m.stdout()
    );
    let merged = history::read(&dir.join("h.h5")).unwrap();
    let keys = |runs: &[history::Run]| {
        let mut k: Vec<String> = runs.iter().map(|r| r.key()).collect();
        k.sort();
        k
    };
    let mut want: Vec<String> = a.iter().chain(&b).map(|r| r.key()).collect();
    want.sort();
    assert_eq!(keys(&merged), want, "runs keep their ids");
    for r in &merged {
        let src = a.iter().chain(&b).find(|s| s.key() == r.key()).unwrap();
        assert!(r.same_content(src), "{}", r.key());
    }

    // The same histories again: nothing added, the file not even rewritten.
    let before = merge_again_changes_nothing(dir, &["a.h5", "b.h5"], 3);

    // One column per device, the reference named, and the CSV with one row per device.
    let ref_id = &b[0].fingerprint_id;
    let r = run_in(
        dir,
        &[
            "bench",
            "report",
            "--history",
            "h.h5",
            "--csv",
            "r.csv",
            "--reference",
            ref_id,
        ],
        &[],
    );
    r.expect(0);
    let out = r.stdout();
    assert!(out.contains(&format!("{} ", a[0].fingerprint_id)), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('[') && l.contains(ref_id) && l.ends_with("(reference)")),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("matmul/512"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains(" ref") && row.matches('±').count() == 2,
        "{row}"
    );
    let csv = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "kernel,fingerprint,device,label,run,time,median_ms,mad_ms,reps,speedup_vs_reference,reference"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    let ref_row: Vec<&str> = lines
        .iter()
        .find(|l| l.contains(&format!(",{ref_id},cpu,")))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(ref_row[9], "1", "the reference is 1× itself: {csv}");
    assert!(dir.join("report.png").exists());

    // The trend of one kernel: every run of each device, oldest first, and a figure.
    let t = run_in(
        dir,
        &[
            "bench",
            "report",
            "--history",
            "h.h5",
            "--trend",
            "matmul/512",
            "--plot",
            "t.png",
        ],
        &[],
    );
    t.expect(0);
    let runs_listed = t.stdout().lines().filter(|l| l.contains("/run-")).count();
    assert_eq!(runs_listed, 3, "{}", t.stdout());
    assert!(dir.join("t.png").exists() && dir.join("t.svg").exists());
    let none = run_in(
        dir,
        &["bench", "report", "--history", "h.h5", "--trend", "nope"],
        &[],
    );
    none.expect(2);
    assert!(
        none.stderr().contains("no run measured 'nope'"),
        "{}",
        none.stderr()
    );

    // A different run under an id the target holds is an error (its id is not the digest of
    // its content, so the reader refuses it), and nothing is written.
    let mut forged = b[0].clone();
    forged.fingerprint_id = a[0].fingerprint_id.clone();
    forged.fingerprint = a[0].fingerprint.clone();
    forged.run_id = a[0].run_id.clone();
    forged.measurements[0].times_s[0] *= 2.0;
    let path = dir.join("forged.h5");
    common::write_run(&path, &forged);
    let c = merge(dir, &["forged.h5"]);
    c.expect(2);
    assert!(
        c.stderr().contains(&forged.key())
            && c.stderr().contains("is not the digest of its content"),
        "{}",
        c.stderr()
    );
    assert_eq!(std::fs::read(dir.join("h.h5")).unwrap(), before);
}

/// `bench export --history h.h5` plus `args`.
fn export(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["bench", "export", "--history", "h.h5"];
    a.extend_from_slice(args);
    run_in(dir, &a, &[])
}

#[test]
fn export_writes_the_documented_json_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run_in(
        dir,
        &[
            "bench",
            "--quick",
            "--warmup",
            "1",
            "--reps",
            "3",
            "--threads",
            "1",
            "--history",
            "h.h5",
        ],
        &[],
    )
    .expect(0);
    let run = history::read(&dir.join("h.h5")).unwrap().pop().unwrap();
    let kernels: Vec<&str> = run.measurements.iter().map(|m| m.kernel.as_str()).collect();

    // Bencher Metric Format: {benchmark: {measure: {value (required), lower_value, upper_value}}},
    // latency in nanoseconds.
    let r = export(dir, &["--format", "bencher", "--out", "bmf.json"]);
    r.expect(0);
    let bmf: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bmf.json")).unwrap()).unwrap();
    let obj = bmf.as_object().expect("BMF is an object");
    assert_eq!(obj.len(), kernels.len());
    for (name, measures) in obj {
        assert!(kernels.contains(&name.as_str()), "{name}");
        let measures = measures
            .as_object()
            .expect("a benchmark is an object of measures");
        assert!(measures.contains_key("latency"), "{name}");
        for (measure, metric) in measures {
            let metric = metric.as_object().expect("a metric is an object");
            for k in metric.keys() {
                assert!(
                    ["value", "lower_value", "upper_value"].contains(&k.as_str()),
                    "{k}"
                );
            }
            let get = |k: &str| metric.get(k).and_then(Value::as_f64);
            let v = get("value").expect("value is a required number");
            let (lo, hi) = (
                get("lower_value").unwrap(),
                get("upper_value").unwrap_or(f64::INFINITY),
            );
            assert!(lo <= v && v <= hi, "{name} {measure}: {lo} {v} {hi}");
        }
        let m = run.get(name).unwrap();
        let ns = measures["latency"]["value"].as_f64().unwrap();
        assert!(
            (ns - m.median_s() * 1e9).abs() <= 1e-6 * ns,
            "{name}: latency is in ns"
        );
    }

    // github-action-benchmark customSmallerIsBetter: [{name, unit, value, range?, extra?}].
    let r = export(dir, &["--format", "github-action-benchmark"]);
    r.expect(0);
    let gab: Value = serde_json::from_str(&r.stdout()).unwrap();
    let entries = gab.as_array().expect("an array");
    assert_eq!(entries.len(), kernels.len());
    for e in entries {
        let e = e.as_object().unwrap();
        for k in e.keys() {
            assert!(
                ["name", "unit", "value", "range", "extra"].contains(&k.as_str()),
                "{k}"
            );
        }
        let name = e["name"].as_str().unwrap();
        assert_eq!(e["unit"], "ms");
        let v = e["value"].as_f64().unwrap();
        assert!(
            (v - run.get(name).unwrap().median_s() * 1e3).abs() <= 1e-9 * v,
            "{name}"
        );
        assert!(e["range"].as_str().unwrap().starts_with("± "));
        assert!(e["extra"].as_str().unwrap().contains(&run.fingerprint_id));
    }

    let bad = export(dir, &["--format", "csv"]);
    bad.expect(2);
    let missing = export(dir, &["--format", "bencher", "--run", "x/run-1"]);
    missing.expect(2);
    assert!(
        missing.stderr().contains("no run 'x/run-1'"),
        "{}",
        missing.stderr()
    );
}

#[test]
fn junit_of_a_failing_check_parses_and_names_the_failing_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::smoke(dir, "o", &[], &[]).expect(0);
    let mut g: Golden =
        toml::from_str(&std::fs::read_to_string(repo("golden/fig3/smoke.toml")).unwrap()).unwrap();
    g.bands
        .get_mut("lr0.02_bs32_seed0")
        .unwrap()
        .get_mut("lambda_max")
        .unwrap()
        .expected *= 0.2;
    let golden = dir.join("golden/fig3/smoke.toml");
    std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
    std::fs::write(&golden, g.to_toml()).unwrap();
    let r = run_in(
        dir,
        &[
            "check",
            "o",
            "--golden",
            "golden/fig3/smoke.toml",
            "--junit",
            "junit.xml",
        ],
        &[],
    );
    r.expect(1);
    let text = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(
        suite.attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    assert_eq!(suite.attribute("failures"), Some("1"));
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(failed.len(), 1);
    let f = failed[0];
    assert_eq!(
        f.attribute("classname"),
        Some("fig3.smoke.lr0.02_bs32_seed0")
    );
    assert_eq!(f.attribute("name"), Some("lambda_max"));
    let msg = f
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap()
        .attribute("message")
        .unwrap();
    assert!(
        msg.starts_with("expected ") && msg.contains(", got ") && msg.contains("×/÷2.4"),
        "{msg}"
    );

    // A check that cannot run is one errored case, and exit 2.
    let e = run_in(
        dir,
        &[
            "check",
            "o",
            "--golden",
            "absent.toml",
            "--junit",
            "error.xml",
        ],
        &[],
    );
    e.expect(2);
    let text = std::fs::read_to_string(dir.join("error.xml")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let err = doc.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert!(
        err.attribute("message").unwrap().contains("absent.toml"),
        "{text}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_clap_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bash = run_in(dir, &["completions", "bash"], &[]);
    bash.expect(0);
    for word in ["merge", "export", "--junit", "--add-platform", "--trend"] {
        assert!(bash.stdout().contains(word), "bash completion lacks {word}");
    }
    let zsh = run_in(dir, &["completions", "zsh"], &[]);
    zsh.expect(0);
    assert!(
        zsh.stdout().starts_with("#compdef three-factors"),
        "{}",
        zsh.stdout()
    );
    run_in(dir, &["completions", "tcsh"], &[]).expect(2);

    let m = run_in(dir, &["man", "--out", "man"], &[]);
    m.expect(0);
    let page = std::fs::read_to_string(dir.join("man/three-factors-bench-merge.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH three-factors-bench-merge"),
        "{page}"
    );
    assert!(page.contains("\\-\\-into"), "{page}");
    let top = std::fs::read_to_string(dir.join("man/three-factors.1")).unwrap();
    assert!(top.contains("three\\-factors\\-repro(1)"), "{top}");
}

/// Older histories numbered runs per file: two files of one device each with its own
/// `run-0001` (as `ci/gpu-bench` wrote them) merge, the second re-keyed by its content, once.
#[test]
fn per_file_run_numbers_are_re_keyed_by_content_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    bench(dir, "src.h5", "1");
    bench(dir, "src.h5", "1");
    let runs = history::read(&dir.join("src.h5")).unwrap();
    assert_eq!(runs.len(), 2);
    for (i, file) in ["one.h5", "two.h5"].iter().enumerate() {
        let mut r = runs[i].clone();
        r.run_id = "run-0001".into();
        common::write_run(&dir.join(file), &r);
    }
    let fp = &runs[0].fingerprint_id;
    let m = merge(dir, &["one.h5", "two.h5"]);
    m.expect(0);
    // The content id is the one `bench` itself gave the run.
    let rekeyed = format!("re-keyed {fp}/run-0001 -> {fp}/{}", runs[1].run_id);
    assert!(m.stdout().contains(&rekeyed), "{}", m.stdout());
    let merged = history::read(&dir.join("h.h5")).unwrap();
    let mut keys: Vec<String> = merged.iter().map(|r| r.key()).collect();
    keys.sort();
    let mut want = vec![format!("{fp}/run-0001"), runs[1].key()];
    want.sort();
    assert_eq!(keys, want);
    assert!(merged
        .iter()
        .any(|r| r.same_content(&runs[0]) && r.run_id == "run-0001"));
    assert!(merged
        .iter()
        .any(|r| r.same_content(&runs[1]) && r.run_id == runs[1].run_id));

    merge_again_changes_nothing(dir, &["one.h5", "two.h5"], 2);

    // A file of another kind is named as such, not read as a broken history.
    let art = dir.join("not-a-history.h5");
    let f = hdf5::File::create(&art).unwrap();
    f.new_attr::<hdf5::types::VarLenUnicode>()
        .create("format")
        .unwrap()
        .write_scalar(
            &"three-factors-run/3"
                .parse::<hdf5::types::VarLenUnicode>()
                .unwrap(),
        )
        .unwrap();
    drop(f);
    let bad = merge(dir, &["not-a-history.h5"]);
    bad.expect(2);
    assert!(
        bad.stderr().contains("not a benchmark history"),
        "{}",
        bad.stderr()
    );
}
