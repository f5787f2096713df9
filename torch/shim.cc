//go:build !shimlib

// shim.cc: with shim_graph.cc (CUDA graphs), the only C++ in tinydigits. It
// implements shim.h over libtorch's C++ API. Every entry point that can fail
// runs inside TT_TRY/TT_CATCH (shim_util.h), so no C++ exception ever crosses
// into Go: it becomes a malloc'd message instead.

#include "shim.h"

#include <torch/nn.h>
#include <torch/serialize.h>
#include <torch/version.h>
#include <torch/cuda.h>
#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <stdexcept>

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstring>
#include <string>
#include <vector>

#include "shim_util.h"

namespace {

// Every module handle is a type-erased libtorch module.
inline torch::nn::AnyModule &M(tt_module m) {
  return *static_cast<torch::nn::AnyModule *>(m);
}
template <typename Holder>
tt_module wrap_module(Holder h) {
  return new torch::nn::AnyModule(std::move(h));
}

torch::ScalarType dtype_of(int d) {
  switch (d) {
    case TT_UINT8: return torch::kUInt8;
    case TT_INT64: return torch::kInt64;
    case TT_FLOAT32: return torch::kFloat32;
    case TT_FLOAT64: return torch::kFloat64;
    case TT_BOOL: return torch::kBool;
  }
  throw std::invalid_argument("unsupported dtype code " + std::to_string(d));
}

torch::Device device_of(int type, int index) {
  switch (type) {
    case TT_CPU: return torch::Device(torch::kCPU);
    case TT_CUDA: return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("unsupported device type code " + std::to_string(type));
}

// Packs names and tensors into the malloc'd blocks that shim.h describes.
tt_error export_named(const std::vector<std::pair<std::string, torch::Tensor>> &items,
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

extern "C" {

// ---- library ----

const char *tt_version(void) { return TORCH_VERSION; }
int tt_cuda_available(void) {
  try { return torch::cuda::is_available() ? 1 : 0; } catch (...) { return 0; }
}
int tt_cuda_device_count(void) {
  try { return static_cast<int>(torch::cuda::device_count()); } catch (...) { return 0; }
}
tt_error tt_manual_seed(uint64_t seed) {
  TT_TRY
  torch::manual_seed(seed);
  TT_CATCH
}
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

// ---- tensors ----

void tt_tensor_free(tt_tensor t) { delete static_cast<torch::Tensor *>(t); }

tt_error tt_tensor_from_data(const void *data, int dtype, const int64_t *shape,
                             int ndim, tt_tensor *out) {
  TT_TRY
  std::vector<int64_t> dims(shape, shape + ndim);
  auto opts = torch::TensorOptions().dtype(dtype_of(dtype));
  int64_t numel = 1;
  for (auto d : dims) numel *= d;
  if (numel == 0 || data == nullptr) {
    if (numel != 0) throw std::invalid_argument("no data for a non-empty tensor");
    *out = wrap(torch::empty(dims, opts));
  } else {
    // from_blob borrows Go's memory; clone copies it so Go keeps ownership.
    *out = wrap(torch::from_blob(const_cast<void *>(data), dims, opts).clone());
  }
  TT_CATCH
}

tt_error tt_tensor_zeros(const int64_t *shape, int ndim, int dtype, tt_tensor *out) {
  TT_TRY
  std::vector<int64_t> dims(shape, shape + ndim);
  *out = wrap(torch::zeros(dims, torch::TensorOptions().dtype(dtype_of(dtype))));
  TT_CATCH
}

tt_error tt_tensor_copy_to(tt_tensor t, int dtype, void *dst, int64_t n) {
  TT_TRY
  auto c = T(t).detach().to(torch::kCPU, dtype_of(dtype)).contiguous();
  if (c.numel() != n)
    throw std::invalid_argument("tensor has " + std::to_string(c.numel()) +
                                " elements, destination holds " + std::to_string(n));
  if (n > 0) std::memcpy(dst, c.data_ptr(), static_cast<size_t>(n) * c.element_size());
  TT_CATCH
}

tt_error tt_tensor_copy_from(tt_tensor t, const void *src, int dtype, int64_t n) {
  TT_TRY
  auto &dst = T(t);
  if (dst.numel() != n)
    throw std::invalid_argument("tensor has " + std::to_string(dst.numel()) +
                                " elements, source holds " + std::to_string(n));
  if (n == 0) return nullptr;
  auto opts = torch::TensorOptions().dtype(dtype_of(dtype));
  auto s = torch::from_blob(const_cast<void *>(src), dst.sizes(), opts);
  torch::NoGradGuard ng;
  if (dst.is_cuda()) {
    // Through pinned memory, without waiting: libtorch's pinned-memory
    // cache keeps the block until the copy is done.
    auto host = torch::empty(dst.sizes(), opts.pinned_memory(true));
    host.copy_(s);
    dst.copy_(host, /*non_blocking=*/true);
  } else {
    dst.copy_(s);
  }
  TT_CATCH
}

tt_error tt_tensor_fill(tt_tensor t, double v) {
  TT_TRY
  torch::NoGradGuard ng;
  T(t).fill_(v);
  TT_CATCH
}

tt_error tt_tensor_assign(tt_tensor dst, tt_tensor src) {
  TT_TRY
  if (!T(dst).sizes().equals(T(src).sizes()))
    throw std::invalid_argument("shape " + c10::str(T(src).sizes()) +
                                " does not match " + c10::str(T(dst).sizes()));
  torch::NoGradGuard ng;
  T(dst).copy_(T(src));
  TT_CATCH
}

int tt_tensor_dim(tt_tensor t) { return static_cast<int>(T(t).dim()); }
void tt_tensor_shape(tt_tensor t, int64_t *dims) {
  auto s = T(t).sizes();
  for (size_t i = 0; i < s.size(); i++) dims[i] = s[i];
}
int64_t tt_tensor_numel(tt_tensor t) { return T(t).numel(); }
int tt_tensor_dtype(tt_tensor t) { return static_cast<int>(T(t).scalar_type()); }
void tt_tensor_device(tt_tensor t, int *type, int *index) {
  auto d = T(t).device();
  *type = static_cast<int>(d.type());
  *index = d.has_index() ? d.index() : -1;
}

tt_error tt_tensor_item(tt_tensor t, double *out) {
  TT_TRY
  *out = T(t).item<double>();
  TT_CATCH
}

tt_error tt_tensor_to(tt_tensor t, int device_type, int device_index, int dtype,
                      tt_tensor *out) {
  TT_TRY
  auto dt = dtype < 0 ? T(t).scalar_type() : dtype_of(dtype);
  *out = wrap(T(t).to(device_of(device_type, device_index), dt));
  TT_CATCH
}

tt_error tt_tensor_clone(tt_tensor t, tt_tensor *out) {
  TT_TRY
  *out = wrap(T(t).detach().clone());
  TT_CATCH
}

int tt_tensor_requires_grad(tt_tensor t) { return T(t).requires_grad() ? 1 : 0; }
tt_error tt_tensor_set_requires_grad(tt_tensor t, int on) {
  TT_TRY
  T(t).set_requires_grad(on != 0);
  TT_CATCH
}

tt_error tt_tensor_grad(tt_tensor t, tt_tensor *out) {
  TT_TRY
  const auto &g = T(t).grad();
  *out = g.defined() ? wrap(g) : nullptr;
  TT_CATCH
}

tt_error tt_tensor_backward(tt_tensor t) {
  TT_TRY
  T(t).backward();
  TT_CATCH
}

// ---- ops ----

tt_error tt_argmax(tt_tensor t, int64_t dim, int keepdim, tt_tensor *out) {
  TT_TRY
  *out = wrap(T(t).argmax(dim, keepdim != 0));
  TT_CATCH
}
tt_error tt_eq(tt_tensor a, tt_tensor b, tt_tensor *out) {
  TT_TRY
  *out = wrap(T(a).eq(T(b)));
  TT_CATCH
}
tt_error tt_sum(tt_tensor t, tt_tensor *out) {
  TT_TRY
  *out = wrap(T(t).sum());
  TT_CATCH
}
tt_error tt_mean(tt_tensor t, tt_tensor *out) {
  TT_TRY
  *out = wrap(T(t).mean());
  TT_CATCH
}
tt_error tt_nll_loss(tt_tensor logp, tt_tensor target, int reduction, tt_tensor *out) {
  TT_TRY
  *out = wrap(at::nll_loss(T(logp), T(target), {}, reduction));
  TT_CATCH
}
// As torch.nn.functional.cross_entropy with label_smoothing on
// log-probabilities: (1 - eps) · NLL + eps · (the mean of -logp over the
// classes), per sample, then reduced.
tt_error tt_nll_loss_smoothed(tt_tensor logp, tt_tensor target, double eps, int reduction,
                              tt_tensor *out) {
  TT_TRY
  const at::Tensor &lp = T(logp);
  if (eps == 0) {  // exactly NLLLoss, by the same kernel
    *out = wrap(at::nll_loss(lp, T(target), {}, reduction));
    return nullptr;
  }
  at::Tensor per = at::nll_loss(lp, T(target), {}, at::Reduction::None) * (1 - eps) -
                   lp.mean(1) * eps;
  *out = wrap(reduction == at::Reduction::None ? per
              : reduction == at::Reduction::Sum ? per.sum()
                                                : per.mean());
  TT_CATCH
}
tt_error tt_cross_entropy(tt_tensor logits, tt_tensor target, int reduction,
                          tt_tensor *out) {
  TT_TRY
  *out = wrap(at::cross_entropy_loss(T(logits), T(target), {}, reduction));
  TT_CATCH
}

// ---- modules ----

void tt_module_free(tt_module m) { delete static_cast<torch::nn::AnyModule *>(m); }

tt_error tt_conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                   int64_t padding, int64_t groups, int bias, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                            .stride(stride)
                                            .padding(padding)
                                            .groups(groups)
                                            .bias(bias != 0)));
  TT_CATCH
}
tt_error tt_batchnorm2d(int64_t features, double eps, double momentum, int affine,
                        tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::BatchNorm2d(
      torch::nn::BatchNorm2dOptions(features).eps(eps).momentum(momentum).affine(affine != 0)));
  TT_CATCH
}
tt_error tt_batchnorm_cumulative(tt_module m, int cumulative, double momentum) {
  TT_TRY
  auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(M(m).ptr());
  if (!bn) throw std::invalid_argument("not a BatchNorm2d");
  if (cumulative) {
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);
  } else {
    bn->options.momentum(momentum);
  }
  TT_CATCH
}
tt_error tt_dropout(double p, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::Dropout(torch::nn::DropoutOptions(p)));
  TT_CATCH
}
tt_error tt_dropout2d(double p, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::Dropout2d(torch::nn::Dropout2dOptions(p)));
  TT_CATCH
}
tt_error tt_silu(tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::SiLU());
  TT_CATCH
}
tt_error tt_gelu(int tanh, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::GELU(torch::nn::GELUOptions().approximate(tanh ? "tanh" : "none")));
  TT_CATCH
}
tt_error tt_relu(int inplace, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(inplace != 0)));
  TT_CATCH
}
tt_error tt_maxpool2d(int64_t kernel, int64_t stride, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(kernel).stride(stride)));
  TT_CATCH
}
tt_error tt_avgpool2d(int64_t kernel, int64_t stride, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(kernel).stride(stride)));
  TT_CATCH
}
tt_error tt_adaptive_avgpool2d(int64_t out_h, int64_t out_w, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::AdaptiveAvgPool2d(
      torch::nn::AdaptiveAvgPool2dOptions({out_h, out_w})));
  TT_CATCH
}
tt_error tt_linear(int64_t in, int64_t out, int bias, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias != 0)));
  TT_CATCH
}
tt_error tt_flatten(int64_t start_dim, int64_t end_dim, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(
      torch::nn::Flatten(torch::nn::FlattenOptions().start_dim(start_dim).end_dim(end_dim)));
  TT_CATCH
}
tt_error tt_log_softmax(int64_t dim, tt_module *outm) {
  TT_TRY
  *outm = wrap_module(torch::nn::LogSoftmax(torch::nn::LogSoftmaxOptions(dim)));
  TT_CATCH
}

tt_error tt_module_forward(tt_module m, tt_tensor x, tt_tensor *out) {
  TT_TRY
  *out = wrap(M(m).forward(T(x)));
  TT_CATCH
}
tt_error tt_forward_chain(tt_module *mods, int64_t n, tt_tensor x, int inference, tt_tensor *out) {
  TT_TRY
  c10::optional<c10::InferenceMode> guard;
  if (inference != 0) guard.emplace();
  torch::Tensor cur = T(x);
  for (int64_t i = 0; i < n; i++) {
    try {
      cur = M(mods[i]).forward(cur);
    } catch (const c10::Error &e) {
      throw std::runtime_error("layer " + std::to_string(i) + ": " + e.what_without_backtrace());
    }
  }
  *out = wrap(cur);
  TT_CATCH
}

void tt_module_train(tt_module m, int on) { M(m).ptr()->train(on != 0); }
int tt_module_is_training(tt_module m) { return M(m).ptr()->is_training() ? 1 : 0; }
tt_error tt_module_to(tt_module m, int device_type, int device_index, int dtype) {
  TT_TRY
  if (dtype < 0) {
    M(m).ptr()->to(device_of(device_type, device_index));
  } else {
    // As Python's Module.to: only floating point tensors change dtype (a
    // BatchNorm's num_batches_tracked stays int64).
    auto dev = device_of(device_type, device_index);
    auto dt = dtype_of(dtype);
    torch::NoGradGuard ng;
    for (auto &p : M(m).ptr()->parameters()) p.set_data(p.to(dev, dt));
    for (auto &b : M(m).ptr()->buffers())
      b.set_data(b.is_floating_point() ? b.to(dev, dt) : b.to(dev));
  }
  TT_CATCH
}

tt_error tt_module_named(tt_module m, int kind, char **names, tt_tensor **tensors,
                         int64_t *n) {
  TT_TRY
  auto dict = kind == 0 ? M(m).ptr()->named_parameters() : M(m).ptr()->named_buffers();
  std::vector<std::pair<std::string, torch::Tensor>> items;
  for (const auto &it : dict) items.emplace_back(it.key(), it.value());
  return export_named(items, names, tensors, n);
  TT_CATCH
}

// ---- optimizer ----

tt_error tt_sgd_step(tt_tensor *params, tt_tensor *bufs, int64_t n, double lr,
                     tt_tensor lr_t, double momentum, double dampening,
                     double weight_decay, int nesterov) {
  TT_TRY
  // The update rule of torch.optim.SGD (single-tensor path).
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < n; i++) {
    auto &p = T(params[i]);
    const auto &g = p.grad();
    if (!g.defined()) continue;
    auto d_p = g;
    if (weight_decay != 0) d_p = d_p.add(p, weight_decay);
    if (momentum != 0) {
      if (bufs[i] == nullptr) {
        bufs[i] = wrap(d_p.clone().detach());
      } else {
        T(bufs[i]).mul_(momentum).add_(d_p, 1 - dampening);
      }
      auto &buf = T(bufs[i]);
      d_p = nesterov ? d_p.add(buf, momentum) : buf;
    }
    if (lr_t != nullptr) {
      // The rate read from a device scalar when the step runs: a captured
      // CUDA graph replays with whatever rate the tensor holds then.
      p.addcmul_(d_p, T(lr_t), -1);
    } else {
      p.add_(d_p, -lr);
    }
  }
  TT_CATCH
}

tt_error tt_zero_grad(tt_tensor *params, int64_t n) {
  TT_TRY
  for (int64_t i = 0; i < n; i++) T(params[i]).mutable_grad().reset();
  TT_CATCH
}

tt_error tt_average(tt_tensor *avg, tt_tensor *src, int64_t n, double weight,
                    tt_tensor weight_t) {
  TT_TRY
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < n; i++) {
    auto &a = T(avg[i]);
    const auto &s = T(src[i]);
    if (!a.is_floating_point() || (weight_t == nullptr && weight == 1)) {
      a.copy_(s);
    } else if (weight_t != nullptr) {
      a.lerp_(s, T(weight_t));
    } else {
      a.lerp_(s, weight);
    }
  }
  TT_CATCH
}

// ---- serialization ----

tt_error tt_save_dict(const char *tnames, tt_tensor *tensors, int64_t n, const char *snames,
                      const char *svalues, int64_t m, char **data, int64_t *len) {
  TT_TRY
  // A dict of tensors alone keeps the Dict[str, Tensor] type that
  // model.load_state_dict expects; strings make it Dict[str, Any].
  c10::TypePtr value_type = c10::TensorType::get();
  if (m > 0) value_type = c10::AnyType::get();
  c10::impl::GenericDict dict(c10::StringType::get(), value_type);
  const char *p = tnames;
  for (int64_t i = 0; i < n; i++) {
    std::string name(p);
    p += name.size() + 1;
    // Saved from the CPU, detached, so the file loads anywhere.
    dict.insert(name, T(tensors[i]).detach().to(torch::kCPU).contiguous());
  }
  const char *k = snames, *v = svalues;
  for (int64_t i = 0; i < m; i++) {
    std::string key(k), value(v);
    k += key.size() + 1;
    v += value.size() + 1;
    dict.insert(key, value);
  }
  std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  char *buf = static_cast<char *>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  if (buf == nullptr) return tt_err("out of memory");
  std::memcpy(buf, bytes.data(), bytes.size());
  *data = buf;
  *len = static_cast<int64_t>(bytes.size());
  TT_CATCH
}

namespace {
// Packs strings into one malloc'd NUL-separated block.
char *pack_strings(const std::vector<std::string> &items) {
  size_t bytes = 1;
  for (const auto &s : items) bytes += s.size() + 1;
  char *block = static_cast<char *>(std::malloc(bytes));
  if (block == nullptr) return nullptr;
  char *p = block;
  for (const auto &s : items) {
    std::memcpy(p, s.c_str(), s.size() + 1);
    p += s.size() + 1;
  }
  return block;
}
}  // namespace

tt_error tt_load_dict(const char *data, int64_t len, char **tnames, tt_tensor **tensors,
                      int64_t *n, char **snames, char **svalues, int64_t *m) {
  TT_TRY
  std::vector<char> bytes(data, data + len);
  c10::IValue v = torch::pickle_load(bytes);
  if (!v.isGenericDict()) throw std::invalid_argument("the file does not hold a dict");
  std::vector<std::pair<std::string, torch::Tensor>> items;
  std::vector<std::string> keys, values;
  for (const auto &it : v.toGenericDict()) {
    if (!it.key().isString()) throw std::invalid_argument("a dict key is not a string");
    const auto &key = it.key().toStringRef();
    if (it.value().isTensor()) {
      items.emplace_back(key, it.value().toTensor());
    } else if (it.value().isString()) {
      keys.push_back(key);
      values.push_back(it.value().toStringRef());
    } else {
      throw std::invalid_argument("entry " + key + " is neither a tensor nor a string");
    }
  }
  char *kb = pack_strings(keys), *vb = pack_strings(values);
  if (kb == nullptr || vb == nullptr) {
    std::free(kb);
    std::free(vb);
    return tt_err("out of memory");
  }
  tt_error err = export_named(items, tnames, tensors, n);
  if (err != nullptr) {
    std::free(kb);
    std::free(vb);
    return err;
  }
  *snames = kb;
  *svalues = vb;
  *m = static_cast<int64_t>(keys.size());
  TT_CATCH
}

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

// ---- devices ----

tt_error tt_tensor_from_data_on(const void *data, int dtype, const int64_t *shape,
                                int ndim, int device_type, int device_index,
                                tt_tensor *out) {
  if (device_type == TT_CPU) return tt_tensor_from_data(data, dtype, shape, ndim, out);
  TT_TRY
  std::vector<int64_t> dims(shape, shape + ndim);
  auto opts = torch::TensorOptions().dtype(dtype_of(dtype));
  torch::Tensor host = torch::empty(dims, opts.pinned_memory(true));
  if (host.numel() > 0) {
    if (data == nullptr) throw std::invalid_argument("no data for a non-empty tensor");
    std::memcpy(host.data_ptr(), data, host.nbytes());
  }
  *out = wrap(host.to(torch::TensorOptions().device(device_of(device_type, device_index)),
                      /*non_blocking=*/true));
  TT_CATCH
}

tt_error tt_synchronize(int device_type, int device_index) {
  TT_TRY
  if (device_type == TT_CUDA) torch::cuda::synchronize(device_index);
  TT_CATCH
}

// The GPU's name and memory come from the CUDA driver API, looked up at run
// time in the driver's libcuda.so.1 (which every CUDA libtorch already
// uses), so the shim needs neither CUDA headers nor CUDA link flags, and a
// build without CUDA just reports that there is no driver.
namespace {
typedef int (*cu_init_fn)(unsigned int);
typedef int (*cu_device_get_fn)(int *, int);
typedef int (*cu_device_get_name_fn)(char *, int, int);
typedef int (*cu_device_total_mem_fn)(size_t *, int);
typedef int (*cu_ctx_get_current_fn)(void **);
typedef int (*cu_ctx_get_device_fn)(int *);
typedef int (*cu_mem_get_info_fn)(size_t *, size_t *);
typedef int (*cu_device_get_count_fn)(int *);
typedef int (*cu_get_error_string_fn)(int, const char **);

struct CudaDriver {
  cu_init_fn init = nullptr;
  cu_device_get_fn device_get = nullptr;
  cu_device_get_name_fn device_get_name = nullptr;
  cu_device_total_mem_fn device_total_mem = nullptr;
  cu_ctx_get_current_fn ctx_get_current = nullptr;
  cu_ctx_get_device_fn ctx_get_device = nullptr;
  cu_mem_get_info_fn mem_get_info = nullptr;
  cu_device_get_count_fn device_get_count = nullptr;
  cu_get_error_string_fn get_error_string = nullptr;
  bool found = false;   // libcuda.so.1 loaded
  int init_result = -1; // cuInit's CUresult
  bool ok = false;
};

const CudaDriver &cuda_driver() {
  static const CudaDriver d = [] {
    CudaDriver d;
    void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (h == nullptr) return d;
    d.init = reinterpret_cast<cu_init_fn>(dlsym(h, "cuInit"));
    d.device_get = reinterpret_cast<cu_device_get_fn>(dlsym(h, "cuDeviceGet"));
    d.device_get_name = reinterpret_cast<cu_device_get_name_fn>(dlsym(h, "cuDeviceGetName"));
    d.device_total_mem = reinterpret_cast<cu_device_total_mem_fn>(dlsym(h, "cuDeviceTotalMem_v2"));
    d.ctx_get_current = reinterpret_cast<cu_ctx_get_current_fn>(dlsym(h, "cuCtxGetCurrent"));
    d.ctx_get_device = reinterpret_cast<cu_ctx_get_device_fn>(dlsym(h, "cuCtxGetDevice"));
    d.mem_get_info = reinterpret_cast<cu_mem_get_info_fn>(dlsym(h, "cuMemGetInfo_v2"));
    d.device_get_count = reinterpret_cast<cu_device_get_count_fn>(dlsym(h, "cuDeviceGetCount"));
    d.get_error_string = reinterpret_cast<cu_get_error_string_fn>(dlsym(h, "cuGetErrorString"));
    d.found = true;
    if (d.init != nullptr) d.init_result = d.init(0);
    d.ok = d.init && d.device_get && d.device_get_name && d.device_total_mem &&
           d.ctx_get_current && d.ctx_get_device && d.mem_get_info && d.init_result == 0;
    return d;
  }();
  return d;
}

void need_driver(const CudaDriver &d) {
  if (!d.ok) throw std::runtime_error("no CUDA driver (libcuda.so.1) on this machine");
}

// cuda_ordinal resolves index -1 to the GPU of the calling thread's CUDA
// context, or 0.
int cuda_ordinal(const CudaDriver &d, int index) {
  if (index >= 0) return index;
  void *ctx = nullptr;
  int dev = 0;
  if (d.ctx_get_current(&ctx) == 0 && ctx != nullptr && d.ctx_get_device(&dev) == 0) return dev;
  return 0;
}
}  // namespace

tt_error tt_cuda_device_name(int device_index, char **name) {
  TT_TRY
  const CudaDriver &d = cuda_driver();
  need_driver(d);
  int dev = 0;
  if (d.device_get(&dev, cuda_ordinal(d, device_index)) != 0) throw std::runtime_error("no such GPU");
  char buf[256] = {0};
  if (d.device_get_name(buf, sizeof buf - 1, dev) != 0) throw std::runtime_error("cuDeviceGetName failed");
  *name = tt_err(buf);
  TT_CATCH
}

tt_error tt_cuda_memory(int device_index, int64_t *used, int64_t *total) {
  TT_TRY
  const CudaDriver &d = cuda_driver();
  need_driver(d);
  int ordinal = cuda_ordinal(d, device_index), dev = 0, ctx_dev = -1;
  if (d.device_get(&dev, ordinal) != 0) throw std::runtime_error("no such GPU");
  size_t total_b = 0, free_b = 0;
  if (d.device_total_mem(&total_b, dev) != 0) throw std::runtime_error("cuDeviceTotalMem failed");
  // Memory in use needs a context on that GPU on this thread; libtorch's
  // CUDA runtime makes its primary context current on a thread when the
  // thread first asks it for anything, so ask it to wait for the GPU.
  void *ctx = nullptr;
  if (torch::cuda::is_available() && ordinal < static_cast<int>(torch::cuda::device_count()))
    torch::cuda::synchronize(ordinal);
  if (d.ctx_get_current(&ctx) != 0 || ctx == nullptr || d.ctx_get_device(&ctx_dev) != 0 ||
      ctx_dev != dev) {
    *used = -1;
  } else {
    if (d.mem_get_info(&free_b, &total_b) != 0) throw std::runtime_error("cuMemGetInfo failed");
    *used = static_cast<int64_t>(total_b - free_b);
  }
  *total = static_cast<int64_t>(total_b);
  TT_CATCH
}

// ---- libtorch's CUDA backend, loaded at start-up ----

// libtorch registers its CUDA backend (the CUDA hooks, the kernels, the
// allocator) from static initialisers in libtorch_cuda, a library nothing
// names by symbol, so a binary linked with --as-needed drops it and CUDA
// reports unavailable. The constructor below loads it from the folder
// libtorch_cpu was loaded from, when it is there, before anything can ask
// libtorch about CUDA: libtorch answers that question once per process
// (getCUDAHooks() caches its first answer). One build of the binary thus
// serves a CPU libtorch and a CUDA one; where the binary links libtorch_cuda
// already (CUDA graphs, see shim_graph.cc), the load is a no-op.
namespace {
struct CudaBackend {
  std::string cpu_lib;  // libtorch_cpu's path as loaded ("" when not found)
  std::string cuda_lib; // where libtorch_cuda is (or would be)
  bool present = false; // that file exists
  bool loaded = false;  // libtorch_cuda is in the process
  std::string error;    // dlopen's message when loading failed
  void *handle = nullptr;
};

CudaBackend &cuda_backend() {
  static CudaBackend b;
  return b;
}

int find_libtorch_cpu(struct dl_phdr_info *info, size_t, void *data) {
  if (info->dlpi_name == nullptr) return 0;
  std::string path(info->dlpi_name);
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.rfind("libtorch_cpu.so", 0) != 0) return 0;
  *static_cast<std::string *>(data) = path;
  return 1;
}

__attribute__((constructor)) void load_cuda_backend() {
  CudaBackend &b = cuda_backend();
  dl_iterate_phdr(find_libtorch_cpu, &b.cpu_lib);
  if (b.cpu_lib.empty()) {
    b.error = "libtorch_cpu is not among the loaded libraries";
    return;
  }
  // libtorch_cpu.so.2.6 -> libtorch_cuda.so.2.6: the same version suffix,
  // for Debian's packages; the zip and PyTorch's wheel have none.
  auto slash = b.cpu_lib.rfind('/');
  std::string dir = slash == std::string::npos ? "." : b.cpu_lib.substr(0, slash);
  std::string base = slash == std::string::npos ? b.cpu_lib : b.cpu_lib.substr(slash + 1);
  b.cuda_lib = dir + "/libtorch_cuda" + base.substr(std::strlen("libtorch_cpu"));
  if ((b.handle = dlopen(b.cuda_lib.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) != nullptr) {
    b.present = b.loaded = true;
    return;
  }
  if (access(b.cuda_lib.c_str(), F_OK) != 0) return;
  b.present = true;
  if ((b.handle = dlopen(b.cuda_lib.c_str(), RTLD_NOW | RTLD_GLOBAL)) != nullptr) {
    b.loaded = true;
  } else {
    const char *e = dlerror();
    b.error = e != nullptr ? e : "dlopen failed";
  }
}

std::string cuda_driver_error(const CudaDriver &d, int code) {
  const char *s = nullptr;
  if (d.get_error_string != nullptr && d.get_error_string(code, &s) == 0 && s != nullptr) return s;
  return "CUresult " + std::to_string(code);
}

// Why CUDA is not available, in one line; "" when it is.
std::string cuda_unavailable_reason() {
  const CudaBackend &b = cuda_backend();
  std::string version = TORCH_VERSION;
  if (b.cpu_lib.empty()) return "libtorch " + version + ": " + b.error;
  if (!b.present)
    return "libtorch " + version + " (" + b.cpu_lib + ") is a CPU-only build: there is no " +
           b.cuda_lib.substr(b.cuda_lib.rfind('/') + 1) + " beside it";
  if (!b.loaded) return "libtorch " + version + "'s CUDA library did not load: " + b.error;
  bool available = false;
  try { available = torch::cuda::is_available(); } catch (...) {}
  if (available) return "";
  const CudaDriver &d = cuda_driver();
  if (!d.found) return "no NVIDIA driver: libcuda.so.1 is not on this machine";
  if (d.init_result != 0)
    return "the NVIDIA driver does not start: " + cuda_driver_error(d, d.init_result);
  int count = 0;
  if (d.device_get_count != nullptr && d.device_get_count(&count) == 0 && count == 0)
    return "the NVIDIA driver sees no GPU";
  // The driver works but libtorch's CUDA runtime refuses it: ask the runtime.
  typedef int (*count_fn)(int *);
  typedef const char *(*string_fn)(int);
  auto rt_count = reinterpret_cast<count_fn>(dlsym(b.handle, "cudaGetDeviceCount"));
  auto rt_string = reinterpret_cast<string_fn>(dlsym(b.handle, "cudaGetErrorString"));
  if (rt_count != nullptr && rt_string != nullptr) {
    int n = 0;
    int code = rt_count(&n);
    if (code != 0) return std::string("libtorch's CUDA runtime: ") + rt_string(code);
  }
  return "libtorch " + version + " has CUDA and the driver sees " + std::to_string(count) +
         " GPU(s), but libtorch reports none usable";
}
}  // namespace

char *tt_cuda_unavailable_reason(void) {
  std::string why;
  try { why = cuda_unavailable_reason(); } catch (const std::exception &e) { why = e.what(); }
  return why.empty() ? nullptr : tt_err(why.c_str());
}

// ---- classifier tally ----

tt_error tt_tally_add(tt_tensor loss_sum, tt_tensor correct, tt_tensor loss,
                      tt_tensor logp, tt_tensor y, int64_t n) {
  TT_TRY
  torch::NoGradGuard no_grad;
  // float64(loss) * n, then the sum: the same arithmetic as a host-side
  // float64 running sum of per-batch losses.
  T(loss_sum).add_(T(loss).detach().to(torch::kFloat64).mul(static_cast<double>(n)));
  T(correct).add_(T(logp).argmax(1).eq(T(y)).sum());
  TT_CATCH
}

}  // extern "C"
