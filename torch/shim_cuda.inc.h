// shim_cuda.inc.h: devices: copies through pinned memory, synchronising, the
// GPU's name and memory from the CUDA driver, and libtorch's CUDA backend,
// loaded at start-up.
// Part of the shim (shim.h): shim.cc includes this file, so that
// libtorch's headers are parsed once for the whole shim (see shim.cc).

#include "shim.h"

#include <torch/types.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>
#include <cstring>
#include <mutex>

#include "shim_util.h"

extern "C" {

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

}  // extern "C"
