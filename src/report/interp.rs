//! The outputs of `interpolate`: the line as HDF5 (`three-factors-interp/1`), CSV and a figure
//! (loss and accuracy against α, training solid and validation dashed), and a text summary.
use super::plot::{self, LinePanel};
use crate::artifact::line::{write_line as write_line_h5, LineMeta};
use crate::curvature::interpolate::{Basin, Line};
use crate::error::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `<stem>.csv`: `alpha,train_loss,train_acc,val_loss,val_acc`. Atomic.
pub fn write_line_csv(dest: &Path, line: &Line) -> Result<()> {
    let mut out = String::from("alpha,train_loss,train_acc,val_loss,val_acc\n");
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
    let series = |get: &dyn Fn(&Line) -> (&Vec<f64>, &Vec<f64>)| {
        lines
            .iter()
            .flat_map(|(label, l)| {
                let (train, val) = get(l);
                let pts = |v: &Vec<f64>| l.alpha.iter().copied().zip(v.iter().copied()).collect();
                [
                    (format!("{label} train"), pts(train), false),
                    (format!("{label} val"), pts(val), true),
                ]
            })
            .collect()
    };
    vec![
        LinePanel {
            caption: "loss along θ(α) = (1 − α)·θ_A + α·θ_B".into(),
            x_desc: "α".into(),
            y_desc: "loss".into(),
            series: series(&|l| (&l.train_loss, &l.val_loss)),
            marks: vec![0.0, 1.0],
        },
        LinePanel {
            caption: "accuracy".into(),
            x_desc: "α".into(),
            y_desc: "accuracy".into(),
            series: series(&|l| (&l.train_acc, &l.val_acc)),
            marks: vec![0.0, 1.0],
        },
    ]
}

/// `<stem>.h5` (see [`crate::artifact::line`]), `<stem>.csv`, `<stem>.png`, `<stem>.svg`;
/// returns the h5 file's content hash.
pub fn write_line(stem: &Path, line: &Line, meta: &LineMeta, title: &str) -> Result<String> {
    let hash = write_line_h5(&stem.with_extension("h5"), line, meta)?;
    write_line_csv(&stem.with_extension("csv"), line)?;
    plot::lines(stem, title, &line_panels(&[(String::new(), line)]))?;
    Ok(hash)
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
