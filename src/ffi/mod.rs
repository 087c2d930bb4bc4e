//! Cross-cutting — the C++ shim (`shim.cpp`, built by build.rs against libtorch's headers) for
//! what tch 0.24 does not expose. Only `determinism` and `train` call it.
use std::ffi::c_char;

extern "C" {
    pub fn tf_set_deterministic(on: bool);
    pub fn tf_deterministic_algorithms() -> bool;
    pub fn tf_cpu_capability(out: *mut c_char, len: usize) -> usize;
    pub fn tf_libtorch_version(out: *mut c_char, len: usize) -> usize;
    pub fn tf_mkl_version(out: *mut c_char, len: usize) -> usize;
    pub fn tf_onednn_version(out: *mut c_char, len: usize) -> usize;
    pub fn tf_show_config(out: *mut c_char, len: usize) -> usize;
    /// `params`, `grads` (and `velocity` unless null) point to `n` tch tensors each.
    pub fn tf_sgd_update(
        params: *const *mut torch_sys::C_tensor,
        grads: *const *mut torch_sys::C_tensor,
        velocity: *const *mut torch_sys::C_tensor,
        n: usize,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    );
}

/// Calls a shim function that writes a NUL-terminated string into a buffer.
pub fn string(f: unsafe extern "C" fn(*mut c_char, usize) -> usize) -> String {
    let mut buf = vec![0u8; 256];
    // SAFETY: the shim writes at most `len` bytes including the NUL terminator and returns the
    // full length, so a second call with that much room gets all of it.
    let full = unsafe { f(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    if full >= buf.len() {
        buf = vec![0u8; full + 1];
        // SAFETY: as above.
        unsafe { f(buf.as_mut_ptr() as *mut c_char, buf.len()) };
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
