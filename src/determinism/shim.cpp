// Reaches the parts of libtorch's global context that tch 0.24 does not expose.
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <torch/headeronly/version.h>
#include <cstring>
#include <string>

extern "C" {

// Deterministic kernels (errors on ops that have none), cuDNN without autotuning.
void tf_set_deterministic(bool on) {
  at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(on);
  at::globalContext().setBenchmarkCuDNN(false);
}

bool tf_deterministic_algorithms() {
  return at::globalContext().deterministicAlgorithms();
}

// The CPU capability ATen's dispatcher selected ("DEFAULT", "AVX2", "AVX512", ...): reading it back
// is how the harness verifies that ATEN_CPU_CAPABILITY took effect. Writes a NUL-terminated string.
static size_t copy_out(const std::string& s, char* out, size_t len) {
  if (len > 0) {
    std::strncpy(out, s.c_str(), len - 1);
    out[len - 1] = '\0';
  }
  return s.size();
}

size_t tf_cpu_capability(char* out, size_t len) { return copy_out(at::get_cpu_capability(), out, len); }

// Versions of the libtorch this binary was compiled against and of its bundled MKL / oneDNN.
size_t tf_libtorch_version(char* out, size_t len) { return copy_out(std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH), out, len); }
size_t tf_mkl_version(char* out, size_t len) { return copy_out(at::get_mkl_version(), out, len); }
size_t tf_onednn_version(char* out, size_t len) { return copy_out(at::get_mkldnn_version(), out, len); }

}  // extern "C"
