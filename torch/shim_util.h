// shim_util.h: what the shim's C++ files share: errors as malloc'd
// messages, the TT_TRY/TT_CATCH guard that keeps C++ exceptions out of Go,
// and tensor handles. Included by shim.cc and shim_graph.cc only.
#ifndef TINYDIGITS_SHIM_UTIL_H
#define TINYDIGITS_SHIM_UTIL_H

#include "shim.h"

#include <ATen/ATen.h>

#include <cstdlib>
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

inline at::Tensor &T(tt_tensor t) { return *static_cast<at::Tensor *>(t); }
inline tt_tensor wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }
}  // namespace

#endif
