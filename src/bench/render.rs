//! Presenting benchmark results: the measurement table, the side-by-side ratios, a comparison's
//! verdicts, the per-fingerprint report table and its plot.
use super::history::{self, Run};
use super::{Measurement, Ratio, Verdict};
use crate::error::Result;
use std::fmt::Write as _;
use std::path::Path;

/// One line per kernel: median, MAD and throughput (GFLOP/s for matmul, else samples/s).
pub fn measurements(ms: &[Measurement]) -> String {
    let mut s = format!(
        "{:<44} {:>12} {:>10} {:>16}\n",
        "kernel", "median ms", "MAD ms", "samples/s"
    );
    for m in ms {
        let rate = if m.kernel.contains("matmul/") {
            format!("{:.1} GFLOP/s", m.throughput() / 1e9)
        } else {
            format!("{:.0}", m.throughput())
        };
        let _ = writeln!(
            s,
            "{:<44} {:>12.3} {:>10.3} {:>16}",
            m.kernel,
            m.median_s() * 1e3,
            m.mad_s() * 1e3,
            rate
        );
    }
    s
}

/// The side-by-side ratios with their targets.
pub fn ratios(rs: &[Ratio]) -> String {
    let mut s = String::new();
    for r in rs {
        let verdict = match r.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        let _ = writeln!(
            s,
            "  {:<58} {:>7.2}  {:<7} {verdict}",
            r.what, r.value, r.target
        );
    }
    s
}

/// A comparison's verdicts, one line per kernel.
pub fn verdicts(vs: &[Verdict]) -> String {
    let mut s = format!(
        "{:<44} {:>12} {:>12} {:>8} {:>12}  verdict\n",
        "kernel", "baseline ms", "current ms", "ratio", "allowed ms"
    );
    for v in vs {
        let _ = writeln!(
            s,
            "{:<44} {:>12.3} {:>12.3} {:>8.3} {:>12.3}  {}",
            v.kernel,
            v.baseline_s * 1e3,
            v.current_s * 1e3,
            v.ratio,
            v.allowed_s * 1e3,
            if v.slower { "SLOWER" } else { "ok" }
        );
    }
    s
}

/// A comparison: what was compared, the verdicts, and the conclusion.
pub fn comparison(current: &Run, base: &Run, threshold: f64, vs: &[Verdict]) -> String {
    let slower = vs.iter().filter(|v| v.slower).count();
    format!(
        "{} vs baseline {} (slower if Δ > max({:.0} %, 3 × combined MAD))\n{}{}\n",
        current.key(),
        base.key(),
        threshold * 100.0,
        verdicts(vs),
        if slower > 0 {
            format!("REGRESSION: {slower} kernel(s) slower")
        } else {
            "ok: no kernel slower".to_string()
        }
    )
}

/// Every kernel measured by any of `latest`, in first-seen order.
fn kernels(latest: &[&Run]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in latest {
        for m in &r.measurements {
            if !out.contains(&m.kernel) {
                out.push(m.kernel.clone());
            }
        }
    }
    out
}

/// The latest run of each fingerprint (a legend, then one column per fingerprint).
pub fn report(runs: &[Run]) -> String {
    let latest = history::latest_per_fingerprint(runs);
    let mut s = String::new();
    for (i, r) in latest.iter().enumerate() {
        let n = runs
            .iter()
            .filter(|x| x.fingerprint_id == r.fingerprint_id)
            .count();
        let _ = writeln!(
            s,
            "[{i}] {} {} — {} ({n} runs), {}",
            r.fingerprint_id,
            r.run_id,
            r.fingerprint.label(),
            r.time
        );
    }
    let _ = write!(s, "{:<44}", "kernel (median ms)");
    for i in 0..latest.len() {
        let _ = write!(s, " {:>12}", format!("[{i}]"));
    }
    s.push('\n');
    for k in kernels(&latest) {
        let _ = write!(s, "{k:<44}");
        for r in &latest {
            match r.get(&k) {
                Some(m) => {
                    let _ = write!(s, " {:>12.3}", m.median_s() * 1e3);
                }
                None => {
                    let _ = write!(s, " {:>12}", "-");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// The throughput of every kernel in each fingerprint's latest run, as a PNG dot chart.
pub fn report_plot(runs: &[Run], dest: &Path) -> Result<()> {
    let latest = history::latest_per_fingerprint(runs);
    let series: Vec<(String, Vec<(String, f64)>)> = latest
        .iter()
        .map(|r| {
            let values = r
                .measurements
                .iter()
                .map(|m| (m.kernel.clone(), m.throughput()))
                .collect();
            (r.fingerprint.label(), values)
        })
        .collect();
    crate::report::dot_chart(
        dest,
        "kernel throughput by device (latest run each)",
        "samples/s (matmul: FLOP/s)",
        &kernels(&latest),
        &series,
    )
}
