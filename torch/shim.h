/*
 * shim.h: the C ABI between Go and libtorch.
 *
 * Plain C only: opaque handles and scalar types. Every function that can fail
 * returns its error as a malloc'd, NUL-terminated message (NULL on success)
 * from the same call; results come back through out-parameters. Errors are
 * never kept in thread-local state, because a goroutine may move to another OS
 * thread between two cgo calls. The caller frees a message with free().
 *
 * Ownership: every tt_tensor / tt_module handle returned here is owned by the
 * caller and released with tt_tensor_free / tt_module_free. A tensor handle is
 * a reference to a libtorch tensor; freeing it never frees storage that
 * another handle (or the autograd graph) still uses.
 */
#ifndef TINYDIGITS_SHIM_H
#define TINYDIGITS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *tt_tensor;
typedef void *tt_module;
typedef char *tt_error; /* NULL on success; free() it otherwise */

/* Data types, with the values of c10::ScalarType. */
enum {
  TT_UINT8 = 0,
  TT_INT64 = 4,
  TT_FLOAT32 = 6,
  TT_FLOAT64 = 7,
  TT_BOOL = 11,
};

/* Device types, with the values of c10::DeviceType. */
enum { TT_CPU = 0, TT_CUDA = 1 };

/* ---- library ---- */
const char *tt_version(void); /* static string, not freed */
int tt_cuda_available(void);
int tt_cuda_device_count(void);
tt_error tt_manual_seed(uint64_t seed);
tt_error tt_set_num_threads(int n);
int tt_num_threads(void);
/* Asks glibc's malloc to serve allocations below mmap_threshold bytes from
 * its heap and to keep up to trim_threshold bytes of freed memory for reuse
 * (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). Returns 1 when applied,
 * 0 where the C library is not glibc or refused. */
int tt_malloc_keep(int mmap_threshold, int trim_threshold);
/* Grad mode is per OS thread; callers lock their goroutine to a thread. */
int tt_grad_enabled(void);
void tt_set_grad_enabled(int on);

/* ---- tensors ---- */
void tt_tensor_free(tt_tensor t);
/* Copies n elements of dtype from data into a new CPU tensor of the shape. */
tt_error tt_tensor_from_data(const void *data, int dtype, const int64_t *shape,
                             int ndim, tt_tensor *out);
tt_error tt_tensor_zeros(const int64_t *shape, int ndim, int dtype,
                         tt_tensor *out);
/* Copies the tensor's elements (converted to dtype, on the CPU, contiguous)
 * into dst, which holds n elements. */
tt_error tt_tensor_copy_to(tt_tensor t, int dtype, void *dst, int64_t n);
/* Overwrites the tensor's elements in place from host data (n elements of
 * dtype), outside autograd. A GPU tensor is written through pinned memory
 * without waiting for the copy. */
tt_error tt_tensor_copy_from(tt_tensor t, const void *src, int dtype,
                             int64_t n);
/* Sets every element to v, in place, outside autograd. */
tt_error tt_tensor_fill(tt_tensor t, double v);
/* Copies src's values into dst in place (shapes must match), outside autograd;
 * src may live on another device or have another dtype. */
tt_error tt_tensor_assign(tt_tensor dst, tt_tensor src);
int tt_tensor_dim(tt_tensor t);
void tt_tensor_shape(tt_tensor t, int64_t *dims); /* dims holds dim() values */
int64_t tt_tensor_numel(tt_tensor t);
int tt_tensor_dtype(tt_tensor t);
void tt_tensor_device(tt_tensor t, int *type, int *index);
tt_error tt_tensor_item(tt_tensor t, double *out);
tt_error tt_tensor_to(tt_tensor t, int device_type, int device_index,
                      int dtype, tt_tensor *out);
tt_error tt_tensor_clone(tt_tensor t, tt_tensor *out);
int tt_tensor_requires_grad(tt_tensor t);
tt_error tt_tensor_set_requires_grad(tt_tensor t, int on);
/* *out is NULL when the tensor has no gradient. */
tt_error tt_tensor_grad(tt_tensor t, tt_tensor *out);
tt_error tt_tensor_backward(tt_tensor t);

/* ---- ops the training loop needs outside modules ---- */
tt_error tt_argmax(tt_tensor t, int64_t dim, int keepdim, tt_tensor *out);
tt_error tt_eq(tt_tensor a, tt_tensor b, tt_tensor *out);
tt_error tt_sum(tt_tensor t, tt_tensor *out);
tt_error tt_mean(tt_tensor t, tt_tensor *out);
/* reduction: 0 none, 1 mean, 2 sum (at::Reduction). */
tt_error tt_nll_loss(tt_tensor logp, tt_tensor target, int reduction,
                     tt_tensor *out);
tt_error tt_nll_loss_smoothed(tt_tensor logp, tt_tensor target, double eps, int reduction,
                              tt_tensor *out);
tt_error tt_cross_entropy(tt_tensor logits, tt_tensor target, int reduction,
                          tt_tensor *out);

/* ---- modules (libtorch's torch::nn modules behind one handle type) ---- */
void tt_module_free(tt_module m);
tt_error tt_conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                   int64_t padding, int64_t groups, int bias, tt_module *outm);
tt_error tt_batchnorm2d(int64_t features, double eps, double momentum,
                        int affine, tt_module *outm);
tt_error tt_dropout(double p, tt_module *outm);
tt_error tt_relu(int inplace, tt_module *outm);
tt_error tt_dropout2d(double p, tt_module *outm);
tt_error tt_silu(tt_module *outm);
tt_error tt_gelu(int tanh, tt_module *outm);
tt_error tt_maxpool2d(int64_t kernel, int64_t stride, tt_module *outm);
tt_error tt_avgpool2d(int64_t kernel, int64_t stride, tt_module *outm);
tt_error tt_adaptive_avgpool2d(int64_t out_h, int64_t out_w, tt_module *outm);
tt_error tt_linear(int64_t in, int64_t out, int bias, tt_module *outm);
tt_error tt_flatten(int64_t start_dim, int64_t end_dim, tt_module *outm);
tt_error tt_log_softmax(int64_t dim, tt_module *outm);

tt_error tt_module_forward(tt_module m, tt_tensor x, tt_tensor *out);
/* Runs n modules one after another on x in one call. With inference set,
 * under c10::InferenceMode (no autograd, no version counters), for
 * evaluation. */
tt_error tt_forward_chain(tt_module *mods, int64_t n, tt_tensor x, int inference, tt_tensor *out);
void tt_module_train(tt_module m, int on);
int tt_module_is_training(tt_module m);
/* dtype < 0 keeps the module's floating point type. */
tt_error tt_module_to(tt_module m, int device_type, int device_index, int dtype);
/* Named parameters (kind 0) or buffers (kind 1), in registration order.
 * *names is one malloc'd block of n NUL-terminated strings back to back;
 * *tensors is a malloc'd array of n handles. The caller frees both blocks
 * (and owns the handles). */
tt_error tt_module_named(tt_module m, int kind, char **names,
                         tt_tensor **tensors, int64_t *n);

/* Switches a BatchNorm2d between its momentum (cumulative == 0) and a
 * cumulative average of the batches that follow (cumulative != 0: the
 * running statistics and the batch count are reset, momentum None), as
 * torch.optim.swa_utils.update_bn does. */
tt_error tt_batchnorm_cumulative(tt_module m, int cumulative, double momentum);

/* ---- optimizer ---- */
/* One SGD step over n parameters, with PyTorch's update rule. bufs holds one
 * momentum buffer handle per parameter (NULL before the first step; the step
 * creates it and stores the new handle). Parameters without a gradient are
 * skipped. With lr_t (a scalar tensor on the parameters' device) the rate is
 * read from it when the step runs, not taken from lr: a captured CUDA graph
 * replays with the rate the tensor holds then. */
tt_error tt_sgd_step(tt_tensor *params, tt_tensor *bufs, int64_t n, double lr,
                     tt_tensor lr_t, double momentum, double dampening,
                     double weight_decay, int nesterov);
/* Sets every parameter's gradient to none (PyTorch's zero_grad default). */
tt_error tt_zero_grad(tt_tensor *params, int64_t n);
/* Moves each of n averaged tensors toward its source, in place and without
 * autograd: avg += weight * (src - avg) for floating-point tensors (weight 1
 * copies exactly), a plain copy for integer ones (BatchNorm's
 * num_batches_tracked). An EMA with decay d passes weight 1 - d; an equal
 * average of k + 1 models passes 1 / (k + 1). With weight_t (a scalar tensor on
 * the tensors' device) the weight is read from it when the update runs. */
tt_error tt_average(tt_tensor *avg, tt_tensor *src, int64_t n, double weight,
                    tt_tensor weight_t);

/* ---- serialization (PyTorch's torch.save format) ---- */
/* Pickles a dict into a malloc'd buffer (*data, *len): n tensor entries
 * (tnames, NUL-separated, and tensors), then m string entries (snames and
 * svalues, both NUL-separated). */
tt_error tt_save_dict(const char *tnames, tt_tensor *tensors, int64_t n,
                      const char *snames, const char *svalues, int64_t m,
                      char **data, int64_t *len);
/* Unpickles a dict whose values are tensors or strings. Tensor entries come
 * out as tt_module_named's; string entries as two malloc'd NUL-separated
 * blocks (*snames, *svalues) of *m strings. */
tt_error tt_load_dict(const char *data, int64_t len, char **tnames,
                      tt_tensor **tensors, int64_t *n, char **snames,
                      char **svalues, int64_t *m);

/* ---- random number generator state ---- */
/* The state of libtorch's default generator of a device (CPU: dropout on the
 * CPU and initialisation; CUDA: dropout on that GPU) as a uint8 tensor, and
 * its restoration. */
tt_error tt_rng_state(int device_type, int device_index, tt_tensor *out);
tt_error tt_set_rng_state(int device_type, int device_index, tt_tensor state);

/* ---- devices ---- */
/* A batch from host memory straight onto a device: on a GPU the data goes
 * through pinned host memory (libtorch's caching host allocator, which keeps
 * the block until the copy is done) and the copy does not block the host. */
tt_error tt_tensor_from_data_on(const void *data, int dtype,
                                const int64_t *shape, int ndim,
                                int device_type, int device_index,
                                tt_tensor *out);
/* Waits for the device's queued work (no-op on the CPU). */
tt_error tt_synchronize(int device_type, int device_index);
/* The GPU's name, and its memory in use (by every process, -1 where this
 * thread has no CUDA context on it yet) and in all, in bytes, from the CUDA
 * driver (libcuda.so.1, looked up at run time). index -1: the GPU of this
 * thread's context. Errors where there is no driver. */
tt_error tt_cuda_device_name(int device_index, char **name);
tt_error tt_cuda_memory(int device_index, int64_t *used, int64_t *total);
/* Why CUDA is unavailable, in one line (a malloc'd message: no CUDA
 * libtorch, its CUDA library did not load, no driver, no GPU, a driver
 * too old for the runtime), or NULL when it is available. libtorch_cuda
 * is loaded at start-up from libtorch_cpu's folder when it is there. */
char *tt_cuda_unavailable_reason(void);

/* ---- CUDA graphs ---- */
/* A captured CUDA graph (shim_graph.cc). Capture and replay need a binary
 * compiled against CUDA's headers with TINYDIGITS_CUDA_GRAPHS defined and
 * linked with libtorch_cuda (third_party/install-libtorch.sh sets that up);
 * other builds answer with a message saying so. */
typedef void *tt_graph;
/* Why this build cannot capture CUDA graphs (malloc'd), or NULL when it can. */
char *tt_cuda_graphs_unsupported(void);
tt_error tt_graph_new(tt_graph *out);
/* Starts capturing the calling thread's work on GPU device_index: a side
 * stream becomes this thread's current stream (capture needs one), capture
 * mode is thread-local, and memory comes from the graph's private pool.
 * Everything queued before is waited for first. */
tt_error tt_graph_capture_begin(tt_graph g, int device_index);
/* Ends the capture, restores the thread's stream and instantiates the graph.
 * On error the capture is abandoned and the graph cannot be replayed. */
tt_error tt_graph_capture_end(tt_graph g);
/* Launches the captured work on the current stream, without waiting. */
tt_error tt_graph_replay(tt_graph g);
void tt_graph_free(tt_graph g);

/* ---- classifier tally ---- */
/* Adds a batch to device-side running sums: loss_sum (float64 scalar) +=
 * loss * n, correct (int64 scalar) += number of rows of logp whose argmax
 * is y. Nothing is read back to the host. */
tt_error tt_tally_add(tt_tensor loss_sum, tt_tensor correct, tt_tensor loss,
                      tt_tensor logp, tt_tensor y, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
