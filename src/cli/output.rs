//! Printing that never panics. `println!` panics when stdout is a closed pipe
//! (`three-factors check DIR | head -1`); these macros stop writing to a stream that is gone and
//! let the command finish its work (its files are still written, its exit code unchanged).
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `args` to stdout (or stderr), unless that stream has failed before; a failure (a
/// closed pipe, a full disk) silences the stream for the rest of the process.
pub fn emit(to_stderr: bool, args: fmt::Arguments) {
    let gone = if to_stderr {
        &STDERR_GONE
    } else {
        &STDOUT_GONE
    };
    if gone.load(Ordering::Relaxed) {
        return;
    }
    let ok = if to_stderr {
        std::io::stderr().lock().write_fmt(args).is_ok()
    } else {
        let mut o = std::io::stdout().lock();
        o.write_fmt(args).and_then(|_| o.flush()).is_ok()
    };
    if !ok {
        gone.store(true, Ordering::Relaxed);
    }
}

/// `print!` that ends quietly on a closed stdout.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::output::emit(false, format_args!($($t)*)) };
}

/// `println!` that ends quietly on a closed stdout.
macro_rules! outln {
    () => { $crate::cli::output::emit(false, format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::output::emit(false, format_args!("{}\n", format_args!($($t)*))) };
}

/// `eprintln!` that ends quietly on a closed stderr.
macro_rules! errln {
    ($($t:tt)*) => { $crate::cli::output::emit(true, format_args!("{}\n", format_args!($($t)*))) };
}
