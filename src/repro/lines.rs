//! An experiment's interpolation lines (Fig. 4): for each `[[analysis.interpolate]]` and each
//! seed whose two arms both have an included run, the line between them, written as
//! `<out>/interp/<name>_seed<k>.{h5,csv,png,svg}`. A line already there whose endpoint hashes
//! match the current artifacts is reused, so collecting again measures nothing twice.
use super::ReproPlan;
use crate::artifact::line::{self, LineMeta, LineRecord};
use crate::check::INTERP_DIR;
use crate::curvature::interpolate::{interpolate, Endpoint};
use crate::data::{Dataset, Lookup};
use crate::determinism::{self, Settings};
use crate::error::Result;
use crate::metrics::Row;
use crate::report::interp::write_line;
use std::path::PathBuf;

/// The line file of interpolation `name` at `seed` in `plan`'s output folder.
pub fn line_path(plan: &ReproPlan, name: &str, seed: i64) -> PathBuf {
    plan.out
        .join(INTERP_DIR)
        .join(format!("{name}_seed{seed}.h5"))
}

/// Measures (or reuses) every line the analysis asks for; `on_line` sees each line's name as it
/// is measured. Returns the lines in the folder that belong to the analysis.
pub fn interpolate_pairs(
    plan: &ReproPlan,
    rows: &[Row],
    mut on_line: impl FnMut(&str),
) -> Result<Vec<LineRecord>> {
    let mut data: Option<Dataset> = None;
    let mut out = Vec::new();
    let caps = plan.numerics.caps();
    for spec in &plan.experiment.analysis.interpolate {
        let arm = |variant: &str, seed: i64| {
            rows.iter()
                .find(|r| r.included() && r.seed == seed && r.text("variant") == variant)
        };
        let mut seeds: Vec<i64> = rows.iter().map(|r| r.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        for seed in seeds {
            let (Some(ra), Some(rb)) = (arm(&spec.a, seed), arm(&spec.b, seed)) else {
                continue;
            };
            let dest = line_path(plan, &spec.name, seed);
            let line_spec = spec.line_spec();
            // The line is measured in this process, under its numerics caps and the runs'
            // device and threads: that is its platform class.
            let Some(point) = plan.points.iter().find(|p| p.name() == ra.name) else {
                continue;
            };
            let class =
                determinism::platform_class(point.config.device(), &caps, point.config.threads);
            // Reused only when measured between these very artifacts on this very grid, under
            // the same platform class.
            let current = line::read_line(&dest).ok().filter(|l| {
                l.hash_ok()
                    && l.meta.a_hash == ra.content_sha256
                    && l.meta.b_hash == rb.content_sha256
                    && l.meta.platform_class == class
                    && l.rise == spec.rise
                    && l.alpha == line_spec.alphas()
            });
            if let Some(l) = current {
                out.push(l);
                continue;
            }
            let stem = dest.with_extension("");
            on_line(&stem.file_name().unwrap_or_default().to_string_lossy());
            let (pa, pb) = (
                plan.out.join(format!("{}.h5", ra.name)),
                plan.out.join(format!("{}.h5", rb.name)),
            );
            let (ea, eb) = (Endpoint::load(&pa)?, Endpoint::load(&pb)?);
            let cfg = &ea.summary.config;
            if data.as_ref().is_none_or(|d| d.name != cfg.data.dataset) {
                let lookup = Lookup::from_env(cfg.data.dataset, plan.data_dir.as_deref());
                data = Some(Dataset::load(&lookup)?);
            }
            determinism::seed_everything(&Settings {
                seed: cfg.seed,
                threads: cfg.threads,
                device: cfg.device(),
            })?;
            let measured = interpolate(
                &ea,
                &eb,
                data.as_ref().expect("loaded above"),
                &line_spec,
                cfg.device(),
                |_| {},
            )?;
            std::fs::create_dir_all(plan.out.join(INTERP_DIR))
                .map_err(|e| crate::Error::write(plan.out.join(INTERP_DIR), e))?;
            let meta = LineMeta {
                interpolation: spec.name.clone(),
                seed,
                a: format!("../{}.h5", ra.name),
                a_hash: ra.content_sha256.clone(),
                b: format!("../{}.h5", rb.name),
                b_hash: rb.content_sha256.clone(),
                platform_class: class,
            };
            let title = format!("{}: A = {} → B = {}", spec.name, ra.name, rb.name);
            write_line(&stem, &measured, &meta, &title)?;
            out.push(line::read_line(&dest)?);
        }
    }
    Ok(out)
}
