//go:build !shimlib

// shim.cc: the C++ of tinydigits implements shim.h over libtorch's C++ API,
// in files by subject: this one the library itself (version, threads,
// seeding, malloc, grad mode, the generators' state); shim_tensor.inc.h
// tensors, their ops and the classifier's tally; shim_module.inc.h layers;
// shim_optim.inc.h SGD and weight averaging; shim_serialize.inc.h dicts in
// PyTorch's file format; shim_cuda.inc.h devices and libtorch's CUDA
// backend, loaded at start-up; shim_graph.cc CUDA graphs. The subject files
// are included at the end of this one rather than compiled apart: parsing
// libtorch's headers is most of the shim's compile time (torch/nn.h alone
// about 20 s of CPU), and one translation unit parses them once. Every entry point that can fail
// runs inside TT_TRY/TT_CATCH (shim_util.h), so no C++ exception ever crosses
// into Go: it becomes a malloc'd message instead.

#include "shim.h"

#include <torch/types.h>
#include <torch/version.h>
#include <torch/cuda.h>
#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>

#include <malloc.h>
#include <mutex>

#include "shim_util.h"

extern "C" {

// ---- library ----

const char *tt_version(void) { return TORCH_VERSION; }
int tt_cuda_available(void) {
  try { return torch::cuda::is_available() ? 1 : 0; } catch (...) { return 0; }
}
int tt_cuda_device_count(void) {
  try { return static_cast<int>(torch::cuda::device_count()); } catch (...) { return 0; }
}
tt_error tt_manual_seed(uint64_t seed) { TT_GUARD(torch::manual_seed(seed)); }
tt_error tt_set_num_threads(int n) {
  TT_TRY
  if (n < 1) throw std::invalid_argument("thread count must be at least 1");
  at::set_num_threads(n);
  TT_CATCH
}
int tt_num_threads(void) { return at::get_num_threads(); }
int tt_malloc_keep(int mmap_threshold, int trim_threshold) {
#ifdef __GLIBC__
  return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
#else
  (void)mmap_threshold;
  (void)trim_threshold;
  return 0;
#endif
}
int tt_grad_enabled(void) { return torch::GradMode::is_enabled() ? 1 : 0; }
void tt_set_grad_enabled(int on) { torch::GradMode::set_enabled(on != 0); }

// ---- random number generator state ----

// The default generator of a device; for CUDA it comes through libtorch's
// CUDA hooks, so this file needs no CUDA headers.
namespace {
at::Generator default_generator(int device_type, int device_index) {
  if (device_type == TT_CPU) return at::detail::getDefaultCPUGenerator();
  return at::globalContext().defaultGenerator(device_of(device_type, device_index));
}
}  // namespace

tt_error tt_rng_state(int device_type, int device_index, tt_tensor *out) {
  TT_TRY
  auto gen = default_generator(device_type, device_index);
  std::lock_guard<std::mutex> lock(gen.mutex());
  *out = wrap(gen.get_state());
  TT_CATCH
}

tt_error tt_set_rng_state(int device_type, int device_index, tt_tensor state) {
  TT_TRY
  auto gen = default_generator(device_type, device_index);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(state));
  TT_CATCH
}

}  // extern "C"

// The subjects, in one translation unit with this file.
#include "shim_tensor.inc.h"
#include "shim_module.inc.h"
#include "shim_optim.inc.h"
#include "shim_serialize.inc.h"
#include "shim_cuda.inc.h"
