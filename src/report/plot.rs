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

/// Benchmark history plot: for every kernel (x, in order) the throughput of each fingerprint's
/// latest run (log y: samples/s, or FLOP/s for matmul), one colour per fingerprint.
pub fn bench(
    dest: &Path,
    kernels: &[String],
    series: &[(String, Vec<crate::bench::Measurement>)],
) -> Result<()> {
    register_font();
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(".report.partial.png");
    {
        let root = BitMapBackend::new(&tmp, (1400, 700)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<_>| Error::Invalid(format!("plotting: {e:?}"));
        root.fill(&WHITE).map_err(err)?;
        let vals: Vec<f64> = series
            .iter()
            .flat_map(|(_, ms)| ms.iter().map(|m| m.throughput()))
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let (lo, hi) = vals
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        if vals.is_empty() {
            return Err(Error::Invalid("nothing to plot".into()));
        }
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .caption(
                "kernel throughput by device (latest run each)",
                ("sans-serif", 22),
            )
            .x_label_area_size(200)
            .y_label_area_size(80)
            .build_cartesian_2d(
                -0.5f64..kernels.len() as f64 - 0.5,
                (lo / 2.0..hi * 2.0).log_scale(),
            )
            .map_err(err)?;
        let names = kernels.to_vec();
        chart
            .configure_mesh()
            .x_labels(kernels.len())
            .x_label_formatter(&|x| names.get(x.round() as usize).cloned().unwrap_or_default())
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_desc("samples/s (matmul: FLOP/s)")
            .draw()
            .map_err(err)?;
        for (k, (label, ms)) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let pts: Vec<(f64, f64)> = ms
                .iter()
                .filter_map(|m| {
                    Some((
                        kernels.iter().position(|n| *n == m.kernel)? as f64,
                        m.throughput(),
                    ))
                })
                .collect();
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 6, color.filled())))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| Circle::new((x, y), 6, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
    Ok(())
}
