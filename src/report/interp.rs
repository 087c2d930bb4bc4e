//! The outputs of `interpolate`: the line as HDF5 (`three-factors-interp/1`), CSV and a figure
//! (loss and accuracy against α, training solid and validation dashed), and a text summary.
use super::plot::{self, LinePanel, Series};
use crate::artifact::line::{write_line as write_line_h5, LineMeta};
use crate::curvature::interpolate::{Basin, Line};
use crate::error::Result;
use std::fmt::Write as _;
use std::path::Path;

/// The header of a line's CSV.
pub const LINE_CSV_HEADER: &str = "alpha,train_loss,train_acc,val_loss,val_acc\n";

/// Writes `<stem>.csv`: `alpha,train_loss,train_acc,val_loss,val_acc`. Atomic.
pub fn write_line_csv(dest: &Path, line: &Line) -> Result<()> {
    let mut out = String::from(LINE_CSV_HEADER);
    for k in 0..line.alpha.len() {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            line.alpha[k], line.train_loss[k], line.train_acc[k], line.val_loss[k], line.val_acc[k]
        );
    }
    crate::files::write(dest, out.as_bytes())
}

/// The loss and accuracy panels of one or more lines (label, line).
pub fn line_panels(lines: &[(String, &Line)]) -> Vec<LinePanel> {
    let series = |train: fn(&Line) -> &Vec<f64>, val: fn(&Line) -> &Vec<f64>| -> Vec<Series> {
        lines
            .iter()
            .flat_map(|(label, l)| {
                let pts = |v: &Vec<f64>| l.alpha.iter().copied().zip(v.iter().copied()).collect();
                [
                    Series {
                        label: format!("{label} train"),
                        points: pts(train(l)),
                        dashed: false,
                        markers: false,
                    },
                    Series {
                        label: format!("{label} val"),
                        points: pts(val(l)),
                        dashed: true,
                        markers: false,
                    },
                ]
            })
            .collect()
    };
    vec![
        LinePanel {
            caption: "loss along θ(α) = (1 − α)·θ_A + α·θ_B".into(),
            x_desc: "α".into(),
            y_desc: "loss".into(),
            series: series(|l| &l.train_loss, |l| &l.val_loss),
            marks: vec![0.0, 1.0],
        },
        LinePanel {
            caption: "accuracy".into(),
            x_desc: "α".into(),
            y_desc: "accuracy".into(),
            series: series(|l| &l.train_acc, |l| &l.val_acc),
            marks: vec![0.0, 1.0],
        },
    ]
}

/// `<stem>.h5` (see [`crate::artifact::line`]), `<stem>.csv`, `<stem>.png`, `<stem>.svg`;
/// returns the h5 file's content hash.
pub fn write_line(stem: &Path, line: &Line, meta: &LineMeta, title: &str) -> Result<String> {
    // All four or none: `repro` reuses a line by its .h5, so it must not exist without the
    // rest, and a signal between two of them must not leave a figure without its data.
    let with = |ext: &str| crate::files::output::appended(stem, ext);
    crate::files::all_or_none(|| {
        write_line_csv(&with("csv"), line)?;
        plot::lines(stem, title, &line_panels(&[(String::new(), line)]))?;
        write_line_h5(&with("h5"), line, meta)
    })
}

fn basin_text(b: &Basin) -> String {
    let w = |v: f64, c: bool| format!("{}{v:.3}", if c { "≥" } else { "" });
    format!(
        "outer {:>7}  inner {:>7}",
        w(b.outer, b.outer_censored),
        w(b.inner, b.inner_censored)
    )
}

/// What `interpolate` prints.
pub fn render_line(line: &Line, meta: &LineMeta) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "‖θ_B − θ_A‖ = {:.4}; basin edge: training loss + {} above the endpoint's (widths in α)",
        line.distance, line.spec.rise
    );
    for (k, (name, end)) in [("A", &meta.a), ("B", &meta.b)].into_iter().enumerate() {
        let e = line.endpoints[k];
        let _ = writeln!(
            s,
            "{name} {end}\n  train loss: recorded {:.6}, stored BN stats {:.6}, recalibrated {:.6}\n  basin: {}",
            e.recorded,
            e.stored_bn,
            e.recalibrated,
            basin_text(&line.basins[k])
        );
    }
    let _ = writeln!(
        s,
        "{:>7} {:>10} {:>9} {:>10} {:>9}",
        "alpha", "train_loss", "train_acc", "val_loss", "val_acc"
    );
    for k in 0..line.alpha.len() {
        let _ = writeln!(
            s,
            "{:>7.3} {:>10.4} {:>9.4} {:>10.4} {:>9.4}",
            line.alpha[k], line.train_loss[k], line.train_acc[k], line.val_loss[k], line.val_acc[k]
        );
    }
    s
}

/// `<stem>.png` and `.svg`: one panel per interpolation of an experiment, the training loss
/// along each seed's line (the endpoints marked at α = 0 and 1).
pub fn lines_figure(
    stem: &Path,
    title: &str,
    specs: &[crate::config::Interpolation],
    lines: &[crate::artifact::line::LineRecord],
) -> Result<()> {
    let panels: Vec<LinePanel> = specs
        .iter()
        .map(|spec| LinePanel {
            caption: format!("{}: A = {} → B = {}", spec.name, spec.a, spec.b),
            x_desc: "α".into(),
            y_desc: "training loss".into(),
            series: lines
                .iter()
                .filter(|l| l.meta.interpolation == spec.name)
                .map(|l| Series {
                    label: format!("seed {}", l.meta.seed),
                    points: l
                        .alpha
                        .iter()
                        .copied()
                        .zip(l.train_loss.iter().copied())
                        .collect(),
                    dashed: false,
                    markers: false,
                })
                .collect(),
            marks: vec![0.0, 1.0],
        })
        .collect();
    plot::lines(stem, title, &panels)
}
