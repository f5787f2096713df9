// shim_util.h: what the shim's C++ files share: errors as malloc'd
// messages, the TT_TRY/TT_CATCH guard that keeps C++ exceptions out of Go,
// tensor and module handles, the dtype and device codes, and the packing of
// named tensors for Go. Included by the shim's .cc files only.
#ifndef TINYDIGITS_SHIM_UTIL_H
#define TINYDIGITS_SHIM_UTIL_H

#include "shim.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/any.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <cstring>
#include <exception>

namespace {
tt_error tt_err(const char *msg) {
  size_t n = std::strlen(msg);
  char *s = static_cast<char *>(std::malloc(n + 1));
  if (s != nullptr) std::memcpy(s, msg, n + 1);
  return s;
}

// c10::Error carries a C++ backtrace in what(); Go users get libtorch's
// message alone.
#define TT_TRY try {
#define TT_CATCH                                               \
  }                                                            \
  catch (const c10::Error &e) {                                \
    return tt_err(e.what_without_backtrace());                 \
  }                                                            \
  catch (const std::exception &e) {                            \
    return tt_err(e.what());                                   \
  }                                                            \
  catch (...) {                                                \
    return tt_err("libtorch: unknown C++ exception");          \
  }                                                            \
  return nullptr;

// TT_GUARD(stmt) is a function body of one statement between TT_TRY and
// TT_CATCH: the shape of most of the shim's thin wrappers.
#define TT_GUARD(...) TT_TRY __VA_ARGS__; TT_CATCH

inline at::Tensor &T(tt_tensor t) { return *static_cast<at::Tensor *>(t); }
inline tt_tensor wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }

// Every module handle is a type-erased libtorch module.
inline torch::nn::AnyModule &M(tt_module m) {
  return *static_cast<torch::nn::AnyModule *>(m);
}
template <typename Holder>
inline tt_module wrap_module(Holder h) {
  return new torch::nn::AnyModule(std::move(h));
}

inline torch::ScalarType dtype_of(int d) {
  switch (d) {
    case TT_UINT8: return torch::kUInt8;
    case TT_INT64: return torch::kInt64;
    case TT_FLOAT32: return torch::kFloat32;
    case TT_FLOAT64: return torch::kFloat64;
    case TT_BOOL: return torch::kBool;
  }
  throw std::invalid_argument("unsupported dtype code " + std::to_string(d));
}

inline torch::Device device_of(int type, int index) {
  switch (type) {
    case TT_CPU: return torch::Device(torch::kCPU);
    case TT_CUDA: return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("unsupported device type code " + std::to_string(type));
}

// Packs names and tensors into the malloc'd blocks that shim.h describes.
inline tt_error export_named(const std::vector<std::pair<std::string, torch::Tensor>> &items,
                      char **names, tt_tensor **tensors, int64_t *n) {
  size_t bytes = 0;
  for (const auto &it : items) bytes += it.first.size() + 1;
  char *nb = static_cast<char *>(std::malloc(bytes > 0 ? bytes : 1));
  tt_tensor *tb = static_cast<tt_tensor *>(
      std::malloc(items.empty() ? sizeof(tt_tensor) : items.size() * sizeof(tt_tensor)));
  if (nb == nullptr || tb == nullptr) {
    std::free(nb);
    std::free(tb);
    return tt_err("out of memory");
  }
  char *p = nb;
  for (size_t i = 0; i < items.size(); i++) {
    std::memcpy(p, items[i].first.c_str(), items[i].first.size() + 1);
    p += items[i].first.size() + 1;
    tb[i] = wrap(items[i].second);
  }
  *names = nb;
  *tensors = tb;
  *n = static_cast<int64_t>(items.size());
  return nullptr;
}
}  // namespace

#endif
