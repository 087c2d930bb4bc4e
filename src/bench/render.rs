//! Presenting benchmark results: the measurement table, the side-by-side ratios, a comparison's
//! verdicts, the per-fingerprint report table and its plot.
use super::history::{self, Run};
use super::{kernel_flops, Measurement, Ratio, Verdict};
use crate::error::{Error, Result};
use crate::report::plot::{LinePanel, Series};
use std::fmt::Write as _;
use std::path::Path;

/// One line per kernel: median, MAD, samples/s, and the FLOP/s of its matrix products
/// ([`kernel_flops`]) with their share of the run's matmul rate.
pub fn measurements(ms: &[Measurement]) -> String {
    // The device's matmul rate: the Rust side's matmul kernel of the same run.
    let matmul = ms
        .iter()
        .find(|m| m.kernel.starts_with("matmul/"))
        .map(|m| m.throughput());
    let mut s = format!(
        "{:<44} {:>12} {:>10} {:>12} {:>9} {:>10}\n",
        "kernel", "median ms", "MAD ms", "samples/s", "GFLOP/s", "of matmul"
    );
    for m in ms {
        let flops = kernel_flops(&m.kernel, m.iterations).map(|f| f / m.median_s());
        let samples = if m.kernel.contains("matmul/") {
            "-".to_string()
        } else {
            format!("{:.0}", m.throughput())
        };
        let gflops = flops.map_or("-".into(), |f| format!("{:.1}", f / 1e9));
        let share = match (flops, matmul) {
            (Some(f), Some(mm)) => format!("{:.0} %", 100.0 * f / mm),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "{:<44} {:>12.3} {:>10.3} {:>12} {:>9} {:>10}",
            m.kernel,
            m.median_s() * 1e3,
            m.mad_s() * 1e3,
            samples,
            gflops,
            share
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

/// A cross-device view of a history: the latest run of each fingerprint (one column each) and
/// the column the others are compared with.
pub struct CrossDevice<'a> {
    pub columns: Vec<&'a Run>,
    /// Index into `columns`.
    pub reference: usize,
    /// Every kernel any column measured, in first-seen order.
    pub kernels: Vec<String>,
    /// Runs recorded per column's fingerprint.
    pub runs_per_column: Vec<usize>,
}

impl<'a> CrossDevice<'a> {
    /// `reference` picks the reference column by fingerprint id prefix or by a case-insensitive
    /// part of its label (e.g. `H200`, `EPYC`); default the first column.
    pub fn new(runs: &'a [Run], reference: Option<&str>) -> Result<CrossDevice<'a>> {
        let columns = history::latest_per_fingerprint(runs);
        if columns.is_empty() {
            return Err(Error::Invalid("the history is empty".into()));
        }
        let reference = match reference {
            None => 0,
            Some(want) => {
                let lower = want.to_lowercase();
                let hits: Vec<usize> = (0..columns.len())
                    .filter(|&i| {
                        columns[i].fingerprint_id.starts_with(want)
                            || columns[i]
                                .fingerprint
                                .label()
                                .to_lowercase()
                                .contains(&lower)
                    })
                    .collect();
                let list = || {
                    columns
                        .iter()
                        .map(|c| format!("{} {}", c.fingerprint_id, c.fingerprint.label()))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                match hits.as_slice() {
                    [i] => *i,
                    [] => {
                        return Err(Error::Invalid(format!(
                            "--reference '{want}' matches no device (have: {})",
                            list()
                        )))
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                        "--reference '{want}' matches {} devices; use a fingerprint id (have: {})",
                        hits.len(),
                        list()
                    )))
                    }
                }
            }
        };
        let runs_per_column = columns
            .iter()
            .map(|c| {
                runs.iter()
                    .filter(|r| r.fingerprint_id == c.fingerprint_id)
                    .count()
            })
            .collect();
        Ok(CrossDevice {
            kernels: kernels(&columns),
            columns,
            reference,
            runs_per_column,
        })
    }

    /// How many times faster column `i` runs `kernel` than the reference (reference median /
    /// its median), when both measured it.
    pub fn speedup(&self, i: usize, kernel: &str) -> Option<f64> {
        let r = self.columns[self.reference].get(kernel)?.median_s();
        let m = self.columns[i].get(kernel)?.median_s();
        Some(r / m).filter(|v| v.is_finite())
    }
}

/// The cross-device table: a legend (one line per device), then one row per kernel with each
/// device's median ± MAD (ms) and its speed-up over the reference device.
pub fn report(x: &CrossDevice) -> String {
    let mut s = String::new();
    for (i, r) in x.columns.iter().enumerate() {
        let _ = writeln!(
            s,
            "[{i}] {} {} — {}, {} ({} runs){}",
            r.fingerprint_id,
            r.fingerprint.label(),
            r.run_id,
            r.time,
            x.runs_per_column[i],
            if i == x.reference {
                "  (reference)"
            } else {
                ""
            }
        );
    }
    let _ = write!(s, "{:<40}", "kernel: median ± MAD ms, × reference");
    for i in 0..x.columns.len() {
        let _ = write!(s, " {:>27}", format!("[{i}]"));
    }
    s.push('\n');
    for k in &x.kernels {
        let _ = write!(s, "{k:<40}");
        for (i, r) in x.columns.iter().enumerate() {
            let cell = match r.get(k) {
                Some(m) => {
                    let ratio = match x.speedup(i, k) {
                        _ if i == x.reference => "ref".to_string(),
                        Some(v) => format!("×{v:.2}"),
                        None => "".to_string(),
                    };
                    format!(
                        "{:.3} ± {:.3} {:>6}",
                        m.median_s() * 1e3,
                        m.mad_s() * 1e3,
                        ratio
                    )
                }
                None => "-".to_string(),
            };
            let _ = write!(s, " {cell:>27}");
        }
        s.push('\n');
    }
    s
}

/// The cross-device table in long form, one row per (kernel, device): `kernel, fingerprint,
/// device, label, run, time, median_ms, mad_ms, reps, speedup_vs_reference, reference`.
/// `pd.read_csv(path)` reads it; `.pivot(index="kernel", columns="label", values="median_ms")`
/// gives the table's shape.
pub fn report_csv(x: &CrossDevice) -> String {
    let quote = crate::report::csv_field;
    let reference = x.columns[x.reference].fingerprint_id.as_str();
    let mut s = String::from(
        "kernel,fingerprint,device,label,run,time,median_ms,mad_ms,reps,speedup_vs_reference,reference\n",
    );
    for k in &x.kernels {
        for (i, r) in x.columns.iter().enumerate() {
            let Some(m) = r.get(k) else { continue };
            let speedup = x.speedup(i, k).map(|v| v.to_string()).unwrap_or_default();
            let cells = [
                quote(k),
                r.fingerprint_id.clone(),
                quote(r.fingerprint.get("device")),
                quote(&r.fingerprint.label()),
                r.run_id.clone(),
                r.time.clone(),
                (m.median_s() * 1e3).to_string(),
                (m.mad_s() * 1e3).to_string(),
                m.times_s.len().to_string(),
                speedup,
                reference.to_string(),
            ];
            s += &cells.join(",");
            s.push('\n');
        }
    }
    s
}

/// Days since 1970-01-01 of an ISO 8601 UTC time (`2026-11-30T11:31:39Z`), if it is one.
fn days(time: &str) -> Option<f64> {
    let (date, clock) = time.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.splitn(3, ':').map(|p| p.parse::<f64>().ok());
    let (hh, mm, ss) = (c.next()??, c.next()??, c.next()??);
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 + (hh * 3600.0 + mm * 60.0 + ss) / 86_400.0)
}

/// One kernel over time: (label, [(run key, time, median ms, MAD ms)]) per device that measured it,
/// oldest run first.
pub type Trend = Vec<(String, Vec<(String, String, f64, f64)>)>;

/// Every run's median and MAD of `kernel`, per fingerprint.
pub fn trend(runs: &[Run], kernel: &str) -> Trend {
    let mut out: Trend = Vec::new();
    for r in runs {
        let Some(m) = r.get(kernel) else { continue };
        let label = format!("{} [{}]", r.fingerprint.label(), r.fingerprint_id);
        let point = (r.key(), r.time.clone(), m.median_s() * 1e3, m.mad_s() * 1e3);
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.push(point),
            None => out.push((label, vec![point])),
        }
    }
    for (_, v) in &mut out {
        v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    }
    out
}

/// The trend as text: one line per run.
pub fn trend_table(kernel: &str, t: &Trend) -> String {
    let mut s = format!("{kernel}: median ± MAD ms per run, oldest first\n");
    for (label, points) in t {
        let _ = writeln!(s, "{label}");
        for (key, time, med, mad) in points {
            let _ = writeln!(s, "  {time}  {med:>10.3} ± {mad:<8.3} {key}");
        }
    }
    s
}

/// The trend as a figure (`<stem>.png` and `.svg`): median per run against days since the
/// first run, one line per device, dashed at median ± MAD.
pub fn trend_plot(kernel: &str, t: &Trend, stem: &Path) -> Result<()> {
    let t0 = t
        .iter()
        .flat_map(|(_, v)| v.iter().filter_map(|p| days(&p.1)))
        .fold(f64::INFINITY, f64::min);
    if !t0.is_finite() {
        return Err(Error::Invalid(format!(
            "no run of {kernel} has a readable time to plot"
        )));
    }
    let mut series = Vec::new();
    for (label, points) in t {
        let at = |f: &dyn Fn(f64, f64) -> f64| -> Vec<(f64, f64)> {
            points
                .iter()
                .filter_map(|p| Some((days(&p.1)? - t0, f(p.2, p.3))))
                .collect()
        };
        series.push(Series {
            label: label.clone(),
            points: at(&|m, _| m),
            dashed: false,
            markers: true,
        });
        for sign in [1.0, -1.0] {
            series.push(Series {
                label: String::new(),
                points: at(&|m, d| m + sign * d),
                dashed: true,
                markers: false,
            });
        }
    }
    crate::report::plot::lines(
        stem,
        &format!("{kernel} over time"),
        &[LinePanel {
            caption: "median per run (dashed: ± MAD)".into(),
            x_desc: "days since the first run".into(),
            y_desc: "ms".into(),
            series,
            marks: Vec::new(),
        }],
    )
}

/// The cross-device figure (PNG): each device's median time per kernel on a log axis, one row
/// per kernel, so devices read off side by side (lower is faster).
pub fn report_plot(x: &CrossDevice, dest: &Path) -> Result<()> {
    let series: Vec<(String, Vec<(String, f64)>)> = x
        .columns
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let values = r
                .measurements
                .iter()
                .map(|m| (m.kernel.clone(), m.median_s() * 1e3))
                .collect();
            let tag = if i == x.reference { ", reference" } else { "" };
            (format!("[{i}] {}{tag}", r.fingerprint.label()), values)
        })
        .collect();
    crate::report::dot_chart(
        dest,
        "median time per kernel by device (latest run each)",
        "ms per repetition (log)",
        &x.kernels,
        &series,
    )
}
