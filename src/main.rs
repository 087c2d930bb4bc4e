//! The `three-factors` binary: parse arguments, resolve them into a validated plan, call the
//! library, and map the outcome to an exit code (0 ok, 1 regression or mismatch, 2 error).
mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything can touch libtorch: the numerics caps and the CUDA workspace setting are
    // read lazily by libtorch's first kernel, so they go into the environment while this process
    // is still single-threaded.
    three_factors::platform::keep_freed_memory();
    let args = cli::parse();
    // SAFETY: no other thread exists yet.
    unsafe {
        args.numerics.caps().apply_to_env();
        three_factors::determinism::apply_cuda_env();
    }
    // A signal removes the temporary files of writes in progress before the process dies of it.
    three_factors::files::clean_up_on_signals();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            cli::output::emit(true, format_args!("error: {e:#}\n"));
            ExitCode::from(2)
        }
    }
}
