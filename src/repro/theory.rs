//! An experiment's theory checks (profiles with a `[theory]` table): simulated once and written
//! as `<out>/theory.h5` (+ `theory.csv`); a file already there with the same configuration and a
//! valid hash is reused, so collecting again simulates nothing twice.
use super::ReproPlan;
use crate::artifact::theory::{read_theory, write_theory, TheoryFile, THEORY_FILE};
use crate::config::TheoryConfig;
use crate::error::Result;
use crate::theory::simulate;

/// The theory file of `plan`, simulated (or reused) for `cfg`; `on_part` sees each part that is
/// simulated.
pub fn simulate_or_reuse(
    plan: &ReproPlan,
    cfg: &TheoryConfig,
    on_part: impl FnMut(&str),
) -> Result<TheoryFile> {
    let dest = plan.out.join(THEORY_FILE);
    if let Ok(t) = read_theory(&dest) {
        if t.hash_ok() && t.record.config == *cfg {
            return Ok(t);
        }
    }
    let rec = simulate(cfg, on_part)?;
    write_theory(&dest, &rec)?;
    crate::report::theory::write_csv(&dest.with_extension("csv"), &rec)?;
    read_theory(&dest)
}
