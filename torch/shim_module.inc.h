// shim_module.inc.h: layers as libtorch modules, their forward passes, modes,
// devices and named tensors.
// Part of the shim (shim.h): shim.cc includes this file, so that
// libtorch's headers are parsed once for the whole shim (see shim.cc).

#include "shim.h"

#include <torch/nn.h>

#include "shim_util.h"

namespace nn = torch::nn;

// TT_NEW_MODULE(m): a constructor's body: wrap the module m into *outm.
#define TT_NEW_MODULE(...) TT_GUARD(*outm = wrap_module(__VA_ARGS__))

extern "C" {

// ---- modules ----

void tt_module_free(tt_module m) { delete static_cast<torch::nn::AnyModule *>(m); }

tt_error tt_conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                   int64_t padding, int64_t groups, int bias, tt_module *outm) {
  TT_NEW_MODULE(nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(padding)
                               .groups(groups)
                               .bias(bias != 0)));
}
tt_error tt_batchnorm2d(int64_t features, double eps, double momentum, int affine,
                        tt_module *outm) {
  TT_NEW_MODULE(nn::BatchNorm2d(
      nn::BatchNorm2dOptions(features).eps(eps).momentum(momentum).affine(affine != 0)));
}
tt_error tt_batchnorm_cumulative(tt_module m, int cumulative, double momentum) {
  TT_TRY
  auto bn = std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(M(m).ptr());
  if (!bn) throw std::invalid_argument("not a BatchNorm2d");
  if (cumulative) {
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);
  } else {
    bn->options.momentum(momentum);
  }
  TT_CATCH
}
tt_error tt_dropout(double p, tt_module *outm) { TT_NEW_MODULE(nn::Dropout(nn::DropoutOptions(p))); }
tt_error tt_dropout2d(double p, tt_module *outm) { TT_NEW_MODULE(nn::Dropout2d(nn::Dropout2dOptions(p))); }
tt_error tt_silu(tt_module *outm) { TT_NEW_MODULE(nn::SiLU()); }
tt_error tt_gelu(int tanh, tt_module *outm) {
  TT_NEW_MODULE(nn::GELU(nn::GELUOptions().approximate(tanh ? "tanh" : "none")));
}
tt_error tt_relu(int inplace, tt_module *outm) { TT_NEW_MODULE(nn::ReLU(nn::ReLUOptions().inplace(inplace != 0))); }
tt_error tt_maxpool2d(int64_t kernel, int64_t stride, tt_module *outm) {
  TT_NEW_MODULE(nn::MaxPool2d(nn::MaxPool2dOptions(kernel).stride(stride)));
}
tt_error tt_avgpool2d(int64_t kernel, int64_t stride, tt_module *outm) {
  TT_NEW_MODULE(nn::AvgPool2d(nn::AvgPool2dOptions(kernel).stride(stride)));
}
tt_error tt_adaptive_avgpool2d(int64_t out_h, int64_t out_w, tt_module *outm) {
  TT_NEW_MODULE(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({out_h, out_w})));
}
tt_error tt_linear(int64_t in, int64_t out, int bias, tt_module *outm) {
  TT_NEW_MODULE(nn::Linear(nn::LinearOptions(in, out).bias(bias != 0)));
}
tt_error tt_flatten(int64_t start_dim, int64_t end_dim, tt_module *outm) {
  TT_NEW_MODULE(nn::Flatten(nn::FlattenOptions().start_dim(start_dim).end_dim(end_dim)));
}
tt_error tt_log_softmax(int64_t dim, tt_module *outm) { TT_NEW_MODULE(nn::LogSoftmax(nn::LogSoftmaxOptions(dim))); }

tt_error tt_module_forward(tt_module m, tt_tensor x, tt_tensor *out) {
  TT_GUARD(*out = wrap(M(m).forward(T(x))));
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

}  // extern "C"
