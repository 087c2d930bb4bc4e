//! Bounds on the numeric options several commands share (threads, device, probe and point
//! counts), in one place: `run`'s config validation, `bench`, `interpolate` and `noise` ask
//! these, so that no command panics, aborts on an allocation or hangs on a value another one
//! refuses. Each returns why a value is refused, for the caller to name its field.
use super::DeviceSpec;

/// The most intra-op threads any command may ask for.
pub const MAX_THREADS: usize = 1024;
/// The most power iterations, and the most probes of a stochastic estimator.
pub const MAX_ITERATIONS: usize = 100_000;
/// The most α values of one interpolation line (each is two full passes over its subsets).
pub const MAX_LINE_POINTS: usize = 10_001;

/// Intra-op threads: each is an OS thread libtorch starts up front.
pub fn threads(n: usize) -> Result<(), String> {
    if n == 0 || n > MAX_THREADS {
        return Err(format!(
            "must be in 1..={MAX_THREADS}, got {n} (each is an OS thread libtorch starts up \
             front; more than the machine's cores only slows it down)"
        ));
    }
    Ok(())
}

/// A device libtorch can see now (a CUDA device needs a CUDA build and a GPU).
pub fn device(d: &DeviceSpec) -> Result<(), String> {
    if let tch::Device::Cuda(i) = d.device() {
        let n = tch::Cuda::device_count();
        if !tch::Cuda::is_available() || i as i64 >= n {
            return Err(format!(
                "{d} requested but libtorch sees {n} CUDA device(s) (a GPU needs the `cuda` build \
                 against a CUDA libtorch)"
            ));
        }
    }
    Ok(())
}

/// A count in `lo..=hi`; `what` says what one is.
pub fn count(n: usize, lo: usize, hi: usize, what: &str) -> Result<(), String> {
    if n < lo || n > hi {
        return Err(format!("must be in {lo}..={hi} {what}, got {n}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_zero_huge_and_absent() {
        assert!(threads(0).is_err());
        assert!(threads(100_000).is_err());
        assert!(threads(2).is_ok());
        assert!(count(usize::MAX, 2, 10, "probes")
            .unwrap_err()
            .contains("2..=10"));
        let cpu: DeviceSpec = "cpu".parse().unwrap();
        assert!(device(&cpu).is_ok());
        if !tch::Cuda::is_available() {
            let cuda: DeviceSpec = "cuda".parse().unwrap();
            assert!(device(&cuda).unwrap_err().contains("0 CUDA device"));
        }
    }
}
