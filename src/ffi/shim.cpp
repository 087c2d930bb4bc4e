// What tch 0.24 does not expose: parts of libtorch's global context, and fused multi-tensor ops.
#include <ATen/Context.h>
#include <ATen/Version.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_mul.h>
#include <torch/headeronly/version.h>
#include <c10/core/GradMode.h>
#include <cstring>
#include <vector>
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
// libtorch's own description of how it was built (`torch.__config__.show()` in Python).
size_t tf_show_config(char* out, size_t len) { return copy_out(at::show_config(), out, len); }

// The SGD update as three fused multi-tensor kernels instead of two ops per parameter:
//   d = g + wd·p;  v = μ·v + d (when μ > 0, v given);  p -= lr·(v or d).
// The pointers are tch's `C_tensor*` (libtch's `torch::Tensor*`). Runs without autograd.
void tf_sgd_update(at::Tensor** params, at::Tensor** grads, at::Tensor** velocity, size_t n, double lr,
                   double momentum, double weight_decay) {
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> p, g, v;
  for (size_t i = 0; i < n; ++i) {
    p.push_back(*params[i]);
    g.push_back(*grads[i]);
    if (velocity) v.push_back(*velocity[i]);
  }
  if (weight_decay != 0.0) at::_foreach_add_(g, p, weight_decay);
  if (velocity) {
    at::_foreach_mul_(v, momentum);
    at::_foreach_add_(v, g);
    at::_foreach_add_(p, v, -lr);
  } else {
    at::_foreach_add_(p, g, -lr);
  }
}

}  // extern "C"
