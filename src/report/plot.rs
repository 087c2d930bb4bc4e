//! The three-panel figure of the paper's Fig. 3: λ_max, ‖H‖_F and validation accuracy against
//! η/S on a log axis, one colour per batch size. Diverged runs are left out of the panels.
use super::{Metric, Row};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // DejaVu Sans (free licence, see assets/fonts/), embedded so PNG text needs no system fonts.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

const PANELS: [(Metric, &str); 3] = [
    (Metric::LambdaMax, "Hessian λ_max"),
    (Metric::FrobeniusNorm, "Hessian ‖H‖_F"),
    (Metric::ValAcc, "validation accuracy"),
];

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, title: &str, rows: &[Row]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Invalid(format!("plotting: {e:?}"));
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err)?;
    let ok: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.diverged && r.eta_over_s > 0.0)
        .collect();
    let mut sizes: Vec<i64> = ok.iter().map(|r| r.batch_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let (xmin, xmax) = ok.iter().fold((f64::INFINITY, 0.0f64), |(a, b), r| {
        (a.min(r.eta_over_s), b.max(r.eta_over_s))
    });
    if ok.is_empty() {
        return Ok(());
    }
    for (area, (metric, label)) in root.split_evenly((1, 3)).into_iter().zip(PANELS) {
        let ys: Vec<f64> = ok
            .iter()
            .map(|r| metric.of(r))
            .filter(|v| v.is_finite())
            .collect();
        let (lo, hi) = ys
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                (a.min(y), b.max(y))
            });
        let pad = ((hi - lo) * 0.08).max(1e-9);
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .caption(label, ("sans-serif", 18))
            .build_cartesian_2d((xmin / 1.5..xmax * 1.5).log_scale(), (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("η/S")
            .y_desc(metric.as_str())
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        for (k, s) in sizes.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let pts: Vec<(f64, f64)> = ok
                .iter()
                .filter(|r| r.batch_size == *s)
                .map(|r| (r.eta_over_s, metric.of(r)))
                .filter(|p| p.1.is_finite())
                .collect();
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))
                .map_err(err)?
                .label(format!("S = {s}"))
                .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
        }
        // The points crowd the upper left for curvature and the right for accuracy.
        let corner = if metric == Metric::ValAcc {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Writes `<stem>.png` and `<stem>.svg` atomically (temporary name, then rename).
pub fn fig3(dir: &Path, stem: &str, title: &str, rows: &[Row]) -> Result<()> {
    register_font();
    let size = (1500, 500);
    for ext in ["png", "svg"] {
        let dest = dir.join(format!("{stem}.{ext}"));
        // The image encoder picks the format from the extension, so it stays last.
        let tmp = dir.join(format!(".{stem}.partial.{ext}"));
        match ext {
            "png" => draw(
                BitMapBackend::new(&tmp, size).into_drawing_area(),
                title,
                rows,
            )?,
            _ => draw(SVGBackend::new(&tmp, size).into_drawing_area(), title, rows)?,
        }
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(())
}
