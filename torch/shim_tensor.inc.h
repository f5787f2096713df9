// shim_tensor.inc.h: tensors, the ops the training needs, and the classifier's tally.
// Part of the shim (shim.h): shim.cc includes this file, so that
// libtorch's headers are parsed once for the whole shim (see shim.cc).

#include "shim.h"

#include <torch/types.h>
#include <torch/nn/functional/loss.h>
#include <cstring>

#include "shim_util.h"

extern "C" {

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

tt_error tt_tensor_item(tt_tensor t, double *out) { TT_GUARD(*out = T(t).item<double>()); }

tt_error tt_tensor_to(tt_tensor t, int device_type, int device_index, int dtype,
                      tt_tensor *out) {
  TT_TRY
  auto dt = dtype < 0 ? T(t).scalar_type() : dtype_of(dtype);
  *out = wrap(T(t).to(device_of(device_type, device_index), dt));
  TT_CATCH
}

tt_error tt_tensor_clone(tt_tensor t, tt_tensor *out) {
  TT_GUARD(*out = wrap(T(t).detach().clone()));
}

int tt_tensor_requires_grad(tt_tensor t) { return T(t).requires_grad() ? 1 : 0; }
tt_error tt_tensor_set_requires_grad(tt_tensor t, int on) {
  TT_GUARD(T(t).set_requires_grad(on != 0));
}

tt_error tt_tensor_grad(tt_tensor t, tt_tensor *out) {
  TT_TRY
  const auto &g = T(t).grad();
  *out = g.defined() ? wrap(g) : nullptr;
  TT_CATCH
}

tt_error tt_tensor_backward(tt_tensor t) { TT_GUARD(T(t).backward()); }

// ---- ops ----

tt_error tt_argmax(tt_tensor t, int64_t dim, int keepdim, tt_tensor *out) {
  TT_GUARD(*out = wrap(T(t).argmax(dim, keepdim != 0)));
}
tt_error tt_eq(tt_tensor a, tt_tensor b, tt_tensor *out) { TT_GUARD(*out = wrap(T(a).eq(T(b)))); }
tt_error tt_sum(tt_tensor t, tt_tensor *out) { TT_GUARD(*out = wrap(T(t).sum())); }
tt_error tt_mean(tt_tensor t, tt_tensor *out) { TT_GUARD(*out = wrap(T(t).mean())); }
tt_error tt_nll_loss(tt_tensor logp, tt_tensor target, int reduction, tt_tensor *out) {
  TT_GUARD(*out = wrap(at::nll_loss(T(logp), T(target), {}, reduction)));
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
