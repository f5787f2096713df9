// shim_optim.inc.h: the SGD update and the zeroing of gradients, and the weight
// average's update.
// Part of the shim (shim.h): shim.cc includes this file, so that
// libtorch's headers are parsed once for the whole shim (see shim.cc).

#include "shim.h"

#include <torch/types.h>

#include "shim_util.h"

extern "C" {

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

}  // extern "C"
