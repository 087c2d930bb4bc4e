//! Figures: an experiment's panels (each metric against its x, one colour per value of a column;
//! the paper's Fig. 3 for fig3) and a dot chart of values per category (the benchmark report).
//! Both written atomically as PNG (and SVG) through `files`.
use crate::config::{Analysis, FigureKind};
use crate::error::{Error, Result};
use crate::metrics::{Metric, Row};
use image::ImageEncoder;
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

/// Draws a PNG of `size` pixels in memory with `draw`, encodes it, and writes it to `dest`
/// through the atomic writer: every I/O error is the writer's, named by its path, and the
/// encoder never touches the disk.
fn png(
    dest: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    draw(BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area()).map_err(
        |e| match e {
            Error::Invalid(reason) => Error::output(dest, reason),
            e => e,
        },
    )?;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&pixels, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| Error::output(dest, format!("cannot encode the PNG: {e}")))?;
    crate::files::write(dest, &bytes)
}

/// A drawing error, in words (the atomic writer adds the file it was drawing).
fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Invalid(format!("cannot draw the figure: {e}"))
}

/// A panel's legend, where its data leave room: accuracies sit high (lower right), curvature and
/// losses low or to the left (upper right).
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    accuracy: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(if accuracy {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(plot_err)
}

/// The rows that can be drawn, split by the value of the colour column (numeric order when
/// numeric).
fn series<'a>(rows: &'a [Row], a: &Analysis) -> Vec<(String, Vec<&'a Row>)> {
    let ok: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            !r.diverged
                && r.number(&a.x)
                    .is_some_and(|x| x.is_finite() && (!a.log_x || x > 0.0))
        })
        .collect();
    let mut keys: Vec<(Option<f64>, String)> = Vec::new();
    for r in &ok {
        let k = (r.number(&a.figure.colour), r.text(&a.figure.colour));
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.1.cmp(&b.1),
    });
    keys.into_iter()
        .map(|(_, k)| {
            let members = ok
                .iter()
                .copied()
                .filter(|r| r.text(&a.figure.colour) == k)
                .collect();
            (k, members)
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    rows: &[Row],
    a: &Analysis,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(plot_err)?;
    let groups = series(rows, a);
    let xs: Vec<f64> = groups
        .iter()
        .flat_map(|(_, g)| g.iter().filter_map(|r| r.number(&a.x)))
        .collect();
    if xs.is_empty() {
        return root.present().map_err(plot_err);
    }
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let panels = a.figure.panels.len().max(1);
    for (area, metric) in root
        .split_evenly((1, panels))
        .into_iter()
        .zip(&a.figure.panels)
    {
        let m = Metric::named(metric).map_err(Error::Invalid)?;
        let ys: Vec<f64> = groups
            .iter()
            .flat_map(|(_, g)| g.iter().map(|r| m.of(r)))
            .filter(|v| v.is_finite())
            .collect();
        let (lo, hi) = ys
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                (a.min(y), b.max(y))
            });
        let (lo, hi) = if ys.is_empty() { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.08).max(1e-9);
        let mut builder = ChartBuilder::on(&area);
        builder
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .caption(metric, ("sans-serif", 18));
        let y_range = (lo - pad)..(hi + pad);
        // One drawing routine for both axis kinds.
        macro_rules! panel {
            ($chart:expr, $fmt:expr) => {{
                let mut chart = $chart.map_err(plot_err)?;
                chart
                    .configure_mesh()
                    .x_desc(a.x.as_str())
                    .y_desc(metric.as_str())
                    .x_label_formatter($fmt)
                    .label_style(("sans-serif", 12))
                    .draw()
                    .map_err(plot_err)?;
                for (k, (label, members)) in groups.iter().enumerate() {
                    let color = Palette99::pick(k).to_rgba();
                    let pts = |included: bool| -> Vec<(f64, f64)> {
                        members
                            .iter()
                            .filter(|r| r.included() == included)
                            .filter_map(|r| Some((r.number(&a.x)?, m.of(r))))
                            .filter(|p| p.1.is_finite())
                            .collect()
                    };
                    // Excluded runs are drawn hollow: visible, but not part of any statistic.
                    chart
                        .draw_series(
                            pts(false)
                                .into_iter()
                                .map(|p| Circle::new(p, 5, color.stroke_width(2))),
                        )
                        .map_err(plot_err)?;
                    chart
                        .draw_series(
                            pts(true)
                                .into_iter()
                                .map(|p| Circle::new(p, 5, color.filled())),
                        )
                        .map_err(plot_err)?
                        .label(format!("{} = {label}", a.figure.colour))
                        .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
                }
                let accuracy = m == Metric::ValAcc || m == Metric::TestAcc || m == Metric::TrainAcc;
                legend(&mut chart, accuracy)?;
            }};
        }
        if a.log_x {
            panel!(
                builder.build_cartesian_2d((xmin / 1.5..xmax * 1.5).log_scale(), y_range),
                &|x: &f64| format!("{x:.0e}")
            );
        } else {
            let pad = ((xmax - xmin) * 0.08).max(1e-9);
            panel!(
                builder.build_cartesian_2d((xmin - pad)..(xmax + pad), y_range),
                &|x: &f64| format!("{x}")
            );
        }
    }
    root.present().map_err(plot_err)
}

/// (epoch, mean, sd) per epoch.
type MeanCurve = Vec<(f64, f64, f64)>;

/// Per epoch (1-based), the mean and sd over `runs` of a curve, over the runs that reached that
/// epoch with a finite value.
fn mean_curve(runs: &[&Row], curve: &str) -> MeanCurve {
    let curves: Vec<Vec<f64>> = runs.iter().filter_map(|r| r.curve(curve)).collect();
    let len = curves.iter().map(Vec::len).max().unwrap_or(0);
    (0..len)
        .filter_map(|e| {
            let v: Vec<f64> = curves.iter().filter_map(|c| c.get(e).copied()).collect();
            let (m, sd) = crate::metrics::mean_sd(&v);
            m.is_finite()
                .then_some((e as f64 + 1.0, m, if sd.is_nan() { 0.0 } else { sd }))
        })
        .collect()
}

/// The values of `column` among `rows`, numeric order when numeric, else first-seen order.
fn values_of(rows: &[Row], column: &str) -> Vec<String> {
    let mut keys: Vec<(Option<f64>, String)> = Vec::new();
    for r in rows {
        let k = (r.number(column), r.text(column));
        if !keys.iter().any(|x| x.1 == k.1) {
            keys.push(k);
        }
    }
    if keys.iter().all(|k| k.0.is_some()) {
        keys.sort_by(|a, b| a.0.unwrap_or(0.0).total_cmp(&b.0.unwrap_or(0.0)));
    }
    keys.into_iter().map(|k| k.1).collect()
}

/// Learning curves: per facet value a row of panels, one per curve, one line per colour value
/// (mean over its seeds, band ± sd). Diverged seeds count up to their last finite epoch.
fn draw_curves<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    rows: &[Row],
    a: &Analysis,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(plot_err)?;
    let f = &a.figure;
    let facets = if f.facet.is_empty() {
        vec![String::new()]
    } else {
        values_of(rows, &f.facet)
    };
    let colours = values_of(rows, &f.colour);
    let areas = root.split_evenly((facets.len(), f.panels.len().max(1)));
    let mut areas = areas.into_iter();
    for facet in &facets {
        let in_facet: Vec<&Row> = rows
            .iter()
            .filter(|r| f.facet.is_empty() || r.text(&f.facet) == *facet)
            .collect();
        for (panel, curve) in f.panels.iter().enumerate() {
            let area = areas.next().expect("one area per panel");
            let lines: Vec<(usize, String, MeanCurve)> = colours
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let runs: Vec<&Row> = in_facet
                        .iter()
                        .copied()
                        .filter(|r| r.text(&f.colour) == *c)
                        .collect();
                    let diverged = runs.iter().filter(|r| r.diverged).count();
                    let label =
                        format!("{} = {c}{}", f.colour, if diverged > 0 { " *" } else { "" });
                    (k, label, mean_curve(&runs, curve))
                })
                .filter(|l| !l.2.is_empty())
                .collect();
            let pts = lines.iter().flat_map(|l| l.2.iter());
            let (mut lo, mut hi, mut xmax) = (f64::INFINITY, f64::NEG_INFINITY, 1.0f64);
            for &(x, m, sd) in pts {
                lo = lo.min(m - sd);
                hi = hi.max(m + sd);
                xmax = xmax.max(x);
            }
            if !lo.is_finite() {
                (lo, hi) = (0.0, 1.0);
            }
            let pad = ((hi - lo) * 0.05).max(1e-9);
            let caption = if f.facet.is_empty() {
                curve.clone()
            } else {
                format!("{curve} ({} = {facet})", f.facet)
            };
            let mut chart = ChartBuilder::on(&area)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .caption(caption, ("sans-serif", 18))
                .build_cartesian_2d(0.5f64..xmax + 0.5, (lo - pad)..(hi + pad))
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(curve.as_str())
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(plot_err)?;
            for (k, label, pts) in &lines {
                let color = Palette99::pick(*k).to_rgba();
                let band: Vec<(f64, f64)> = pts
                    .iter()
                    .map(|p| (p.0, p.1 + p.2))
                    .chain(pts.iter().rev().map(|p| (p.0, p.1 - p.2)))
                    .collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(band, color.mix(0.15))))
                    .map_err(plot_err)?;
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (p.0, p.1)),
                        color.stroke_width(2),
                    ))
                    .map_err(plot_err)?
                    .label(label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
            }
            if panel > 0 {
                // The colours are the same in every panel: one legend per row.
                continue;
            }
            legend(&mut chart, curve.ends_with("acc"))?;
        }
    }
    root.present().map_err(plot_err)
}

/// Writes `<dir>/<stem>.png` and `<dir>/<stem>.svg`. A scatter figure: one panel per metric of
/// the analysis' figure against its x, one colour per value of its colour column; diverged runs
/// are left out, runs excluded from the analysis for another reason are drawn hollow. A curves
/// figure: learning curves per epoch (see [`draw_curves`]).
pub fn figure(dir: &Path, stem: &str, title: &str, rows: &[Row], a: &Analysis) -> Result<()> {
    register_font();
    let f = &a.figure;
    let facets = if f.kind == FigureKind::Curves && !f.facet.is_empty() {
        values_of(rows, &f.facet).len().max(1) as u32
    } else {
        1
    };
    let size = (500 * f.panels.len().max(1) as u32, 40 + 460 * facets);
    png(&dir.join(format!("{stem}.png")), size, |area| {
        match f.kind {
            FigureKind::Scatter => draw(area, title, rows, a),
            FigureKind::Curves => draw_curves(area, title, rows, a),
        }
    })?;
    crate::files::write_with(&dir.join(format!("{stem}.svg")), true, |tmp| {
        let area = SVGBackend::new(tmp, size).into_drawing_area();
        match f.kind {
            FigureKind::Scatter => draw(area, title, rows, a),
            FigureKind::Curves => draw_curves(area, title, rows, a),
        }
    })
}

/// A horizontal dot chart: one row per category (top to bottom, in order), the value of each
/// series on a log x axis, one colour per series, the legend below the chart. Written as PNG to
/// `dest`.
pub fn dot_chart(
    dest: &Path,
    title: &str,
    x_desc: &str,
    categories: &[String],
    series: &[(String, Vec<(String, f64)>)],
) -> Result<()> {
    register_font();
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|(_, v)| v.iter().map(|(_, y)| *y))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if vals.is_empty() {
        return Err(Error::Invalid("nothing to plot".into()));
    }
    let (lo, hi) = vals
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let n = categories.len();
    let longest = categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let legend_h = 20 + 22 * series.len() as u32;
    let height = 140 + 26 * n.max(1) as u32 + legend_h;
    // Row i is drawn at y = n - 1 - i, so the first category is on top.
    let row = |c: &str| {
        categories
            .iter()
            .position(|n| n == c)
            .map(|i| (n - 1 - i) as f64)
    };
    png(dest, (1200, height), |root| {
        root.fill(&WHITE).map_err(plot_err)?;
        let (upper, lower) = root.split_vertically(height - legend_h);
        let mut chart = ChartBuilder::on(&upper)
            .margin(20)
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(50)
            .y_label_area_size(40 + 7 * longest)
            .build_cartesian_2d((lo / 1.5..hi * 1.5).log_scale(), -0.5f64..n as f64 - 0.5)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .y_labels(n)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() > 1e-6 || i < 0.0 || i as usize >= n {
                    return String::new();
                }
                categories[n - 1 - i as usize].clone()
            })
            .x_label_formatter(&|x| {
                if *x >= 1e4 || *x < 1e-2 {
                    format!("{x:.0e}")
                } else {
                    format!("{x}")
                }
            })
            .label_style(("sans-serif", 13))
            .x_desc(x_desc)
            .draw()
            .map_err(plot_err)?;
        for (k, (label, values)) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let pts: Vec<(f64, f64)> = values
                .iter()
                .filter(|(_, v)| v.is_finite() && *v > 0.0)
                .filter_map(|(c, v)| Some((*v, row(c)?)))
                .collect();
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 6, color.filled())))
                .map_err(plot_err)?;
            let y = 10 + 22 * k as i32;
            lower
                .draw(&Circle::new((60, y + 8), 6, color.filled()))
                .map_err(plot_err)?;
            lower
                .draw(&Text::new(label.clone(), (75, y), ("sans-serif", 14)))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)
    })
}

/// One line of a [`LinePanel`]: (x, y) points under a label; a dashed series takes the colour
/// of the solid one before it (e.g. validation beside training).
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// Also mark each point (for sparse series, e.g. one point per benchmark run).
    pub markers: bool,
}

/// One panel of [`lines`].
pub struct LinePanel {
    pub caption: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    /// Vertical markers (e.g. the endpoints α = 0 and α = 1).
    pub marks: Vec<f64>,
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    panels: &[LinePanel],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(plot_err)?;
    for (area, panel) in root.split_evenly((1, panels.len())).into_iter().zip(panels) {
        let pts = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|p| p.1.is_finite())
        };
        let (mut x0, mut x1, mut lo, mut hi) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in pts() {
            (x0, x1, lo, hi) = (x0.min(x), x1.max(x), lo.min(y), hi.max(y));
        }
        if !lo.is_finite() {
            (x0, x1, lo, hi) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 <= x0 {
            // One point, or all at one x (e.g. a single benchmark run).
            (x0, x1) = (x0 - 0.5, x1 + 0.5);
        }
        let pad = ((hi - lo) * 0.05).max(1e-9);
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .caption(&panel.caption, ("sans-serif", 16))
            .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(panel.x_desc.as_str())
            .y_desc(panel.y_desc.as_str())
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        for &m in &panel.marks {
            chart
                .draw_series(LineSeries::new(
                    [(m, lo - pad), (m, hi + pad)],
                    BLACK.mix(0.3).stroke_width(1),
                ))
                .map_err(plot_err)?;
        }
        let mut colour = 0;
        for Series {
            label,
            points,
            dashed,
            markers,
        } in &panel.series
        {
            if !dashed {
                colour += 1;
            }
            let color = Palette99::pick(colour.max(1) - 1).to_rgba();
            let finite: Vec<(f64, f64)> =
                points.iter().copied().filter(|p| p.1.is_finite()).collect();
            let style = color.stroke_width(if *dashed { 1 } else { 2 });
            if *markers {
                chart
                    .draw_series(finite.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(plot_err)?;
            }
            let series = if *dashed {
                chart.draw_series(DashedLineSeries::new(finite, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(finite, style))
            };
            let series = series.map_err(plot_err)?;
            // An empty label stays out of the legend.
            if !label.is_empty() {
                series
                    .label(label.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
            }
        }
        legend(
            &mut chart,
            panel.y_desc.ends_with("acc") || panel.y_desc.contains("accuracy"),
        )?;
    }
    root.present().map_err(plot_err)
}

/// Writes `<stem>.png` and `<stem>.svg`: panels side by side, each a set of line series.
pub fn lines(stem: &Path, title: &str, panels: &[LinePanel]) -> Result<()> {
    register_font();
    let size = (520 * panels.len().max(1) as u32, 480);
    // Appended, not substituted: a stem with a dot (`trend.hvp`) keeps its name.
    let with = |ext: &str| crate::files::output::appended(stem, ext);
    png(&with("png"), size, |area| draw_lines(area, title, panels))?;
    crate::files::write_with(&with("svg"), true, |tmp| {
        draw_lines(
            SVGBackend::new(tmp, size).into_drawing_area(),
            title,
            panels,
        )
    })
}
